package autorate

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/ping"
)

// Calibration rules (docs/autorate.md).
const (
	// CalibrationMaxLoss flags a reflector losing more than this fraction.
	CalibrationMaxLoss = 0.05
	// A reflector's jitter is high above this floor and twice the median
	// jitter of the WAN's reflectors.
	calibrationJitterFloor = 2 * time.Millisecond
	// A reflector is far when its baseline is both 50 % and 10 ms above the
	// median baseline.
	calibrationFarRatio = 1.5
	calibrationFarAbs   = 10 * time.Millisecond
	// The baseline is this percentile of a reflector's RTTs: robust to one
	// lucky low sample, below the noise of an idle link.
	calibrationBaselinePercentile = 0.10
)

// ReflectorCalibration is one reflector's idle measurement.
type ReflectorCalibration struct {
	Addr     netip.Addr
	Sent     uint64
	Replies  uint64
	Loss     float64 // fraction of Sent
	Min      time.Duration
	Median   time.Duration
	P95      time.Duration
	Jitter   time.Duration // mean absolute difference of consecutive RTTs
	Baseline time.Duration // 10th percentile; 0 without replies
	// Flags name what is wrong with the reflector ("no replies", "loss
	// 12.0%", "high jitter", "far: ..."); empty when it is good.
	Flags []string
}

// Calibration is the idle measurement of one WAN's reflectors.
type Calibration struct {
	WAN        string
	Duration   time.Duration
	Reflectors []ReflectorCalibration
	// Baseline is the median of the reflectors' baselines (those that
	// answered).
	Baseline time.Duration
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func medianDur(s []time.Duration) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	n := len(c)
	if n%2 == 1 {
		return c[n/2]
	}
	return (c[n/2-1] + c[n/2]) / 2
}

// Calibrate analyses the replies and counters of an idle ping burst to w's
// reflectors.
func Calibrate(w *config.WAN, d time.Duration, replies []ping.Reply, stats ping.Stats) Calibration {
	c := Calibration{WAN: w.Name, Duration: d}
	for _, a := range w.Measurement.Reflectors {
		rc := ReflectorCalibration{Addr: a}
		if ts, ok := stats.Target(a); ok {
			rc.Sent, rc.Replies = ts.Sent, ts.Replies
		}
		var rtts []time.Duration
		for _, r := range replies {
			if !r.TCP && r.Target.Unmap() == a.Unmap() {
				rtts = append(rtts, r.RTT)
			}
		}
		if rc.Replies < uint64(len(rtts)) {
			rc.Replies = uint64(len(rtts))
		}
		if rc.Sent < rc.Replies {
			rc.Sent = rc.Replies
		}
		if rc.Sent > 0 {
			rc.Loss = 1 - float64(rc.Replies)/float64(rc.Sent)
		}
		if len(rtts) > 1 {
			var sum time.Duration
			for i := 1; i < len(rtts); i++ {
				sum += (rtts[i] - rtts[i-1]).Abs()
			}
			rc.Jitter = sum / time.Duration(len(rtts)-1)
		}
		slices.Sort(rtts)
		if len(rtts) > 0 {
			rc.Min = rtts[0]
			rc.Median = percentile(rtts, 0.5)
			rc.P95 = percentile(rtts, 0.95)
			rc.Baseline = percentile(rtts, calibrationBaselinePercentile)
		}
		c.Reflectors = append(c.Reflectors, rc)
	}
	var bases, jitters []time.Duration
	for _, r := range c.Reflectors {
		if r.Replies > 0 {
			bases = append(bases, r.Baseline)
			jitters = append(jitters, r.Jitter)
		}
	}
	c.Baseline = medianDur(bases)
	medJitter := medianDur(jitters)
	for i := range c.Reflectors {
		r := &c.Reflectors[i]
		switch {
		case r.Replies == 0:
			r.Flags = append(r.Flags, "no replies")
			continue
		case r.Loss > CalibrationMaxLoss:
			r.Flags = append(r.Flags, fmt.Sprintf("loss %.1f%%", 100*r.Loss))
		}
		if r.Jitter > calibrationJitterFloor && r.Jitter > 2*medJitter && len(jitters) > 1 {
			r.Flags = append(r.Flags, fmt.Sprintf("high jitter (%.1fms, median %.1fms)", DurationMs(r.Jitter), DurationMs(medJitter)))
		}
		if len(bases) > 1 && float64(r.Baseline) > calibrationFarRatio*float64(c.Baseline) && r.Baseline-c.Baseline > calibrationFarAbs {
			r.Flags = append(r.Flags, fmt.Sprintf("far (%.1fms above the median baseline)", DurationMs(r.Baseline-c.Baseline)))
		}
	}
	return c
}

// ApplyCalibration writes c's baselines into the state file at path,
// creating it if needed (rates then start at the ceilings). A corrupt file
// is moved aside and replaced. The timestamp, the daemon's heartbeat, is
// left as it was (zero in a new file) so that steer never takes a
// calibration for a live daemon; calibrated_at records the calibration.
// note says what was done ("created", "updated", or why it was replaced).
func ApplyCalibration(path string, w *config.WAN, c *Calibration, now time.Time) (note string, err error) {
	st, found, lerr := LoadState(path)
	note = "updated"
	switch {
	case lerr != nil:
		// A corrupt file was moved aside by LoadState.
		note = fmt.Sprintf("created (%v)", lerr)
		found = false
	case !found:
		note = "created"
	case st.WAN != w.Name:
		note = fmt.Sprintf("replaced (it belonged to wan %q)", st.WAN)
		found = false
	}
	if !found {
		st = State{Version: StateVersion, WAN: w.Name,
			Download: DirectionState{Queue: w.Download.Queue, Zone: Green},
			Upload:   DirectionState{Queue: w.Upload.Queue, Zone: Green}}
	}
	st.PID = os.Getpid()
	st.Writer = "calibrate"
	cal := now.UTC().Round(0)
	st.CalibratedAt = &cal
	for _, rc := range c.Reflectors {
		if rc.Replies == 0 {
			continue
		}
		addr := rc.Addr.String()
		done := false
		for i := range st.Reflectors {
			if st.Reflectors[i].Address == addr {
				st.Reflectors[i].BaselineRTTMs = DurationMs(rc.Baseline)
				done = true
			}
		}
		if !done {
			st.Reflectors = append(st.Reflectors, ReflectorState{Address: addr, BaselineRTTMs: DurationMs(rc.Baseline)})
		}
	}
	if c.Baseline > 0 {
		st.BaselineRTTMs = DurationMs(c.Baseline)
	}
	if err := WriteState(path, &st); err != nil {
		return "", err
	}
	return note, nil
}
