package autorate

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/ping"
)

// burst builds replies: for reflector i, rtts[i] in arrival order, and
// sent[i] requests.
func burst(w []netip.Addr, sent []uint64, rtts [][]time.Duration) ([]ping.Reply, ping.Stats) {
	var rs []ping.Reply
	var st ping.Stats
	for i, a := range w {
		for _, r := range rtts[i] {
			rs = append(rs, ping.Reply{Target: a, RTT: r})
		}
		st.Targets = append(st.Targets, ping.TargetStats{Target: a, Sent: sent[i], Replies: uint64(len(rtts[i]))})
	}
	return rs, st
}

func series(n int, f func(i int) time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestCalibrate(t *testing.T) {
	w := testWAN()
	refl := w.Measurement.Reflectors
	steady := func(base time.Duration) []time.Duration {
		return series(100, func(i int) time.Duration { return base + time.Duration(i%10)*100*time.Microsecond })
	}
	rs, st := burst(refl, []uint64{100, 100, 100, 100}, [][]time.Duration{
		steady(10 * ms),
		series(90, func(i int) time.Duration { return 11*ms + time.Duration(i%10)*100*time.Microsecond }), // 10 % loss
		series(100, func(i int) time.Duration { return 10*ms + time.Duration(i%2)*8*ms }),                 // jittery
		steady(40 * ms), // far
	})
	c := Calibrate(w, 20*time.Second, rs, st)
	r := c.Reflectors
	if r[0].Sent != 100 || r[0].Replies != 100 || r[0].Loss != 0 || r[0].Min != 10*ms || r[0].Baseline != 10*ms ||
		r[0].Median != 10400*time.Microsecond || r[0].P95 != 10900*time.Microsecond || len(r[0].Flags) != 0 {
		t.Fatalf("good reflector %+v", r[0])
	}
	if r[0].Jitter < 150*time.Microsecond || r[0].Jitter > 200*time.Microsecond {
		t.Fatalf("jitter %v", r[0].Jitter)
	}
	if len(r[1].Flags) != 1 || r[1].Flags[0] != "loss 10.0%" {
		t.Fatalf("lossy %+v", r[1])
	}
	if len(r[2].Flags) != 1 || !strings.HasPrefix(r[2].Flags[0], "high jitter") {
		t.Fatalf("jittery %+v", r[2])
	}
	if len(r[3].Flags) != 1 || !strings.HasPrefix(r[3].Flags[0], "far") {
		t.Fatalf("far %+v", r[3])
	}
	// Median of baselines 10, 11, 10, 40 -> 10.5 ms.
	if c.Baseline != 10500*time.Microsecond {
		t.Fatalf("baseline %v", c.Baseline)
	}

	dead, st2 := burst(refl, []uint64{5, 5, 5, 5}, [][]time.Duration{nil, {20 * ms}, nil, nil})
	c2 := Calibrate(w, time.Second, dead, st2)
	if c2.Reflectors[0].Flags[0] != "no replies" || c2.Reflectors[0].Baseline != 0 || c2.Baseline != 20*ms {
		t.Fatalf("dead %+v", c2)
	}

	// Written into a new state file: baselines, zero timestamp; the
	// daemon restores them.
	p := filepath.Join(t.TempDir(), "autorate-spectrum.json")
	note, err := ApplyCalibration(p, w, &c, t0)
	if err != nil || note != "created" {
		t.Fatal(note, err)
	}
	s, err := ReadState(p)
	if err != nil || !s.Timestamp.IsZero() || s.CalibratedAt == nil || !s.CalibratedAt.Equal(t0) || s.BaselineRTTMs != 10.5 || s.Reflectors[3].BaselineRTTMs != 40 {
		t.Fatalf("state %+v %v", s, err)
	}
	ctrl := NewController(w)
	ctrl.Restore(s.Snapshot())
	if snap := ctrl.Snapshot(); snap.Reflectors[1].Baseline != 11*ms || snap.Download.Rate != 940e6 {
		t.Fatalf("restored %+v", snap)
	}
	// An existing daemon state keeps its rates and timestamp.
	s.Download.Rate, s.Timestamp = 500e6, t0.Add(-time.Hour)
	WriteState(p, &s)
	if note, err := ApplyCalibration(p, w, &c2, t0); err != nil || note != "updated" {
		t.Fatal(note, err)
	}
	s, _ = ReadState(p)
	if s.Download.Rate != 500e6 || !s.Timestamp.Equal(t0.Add(-time.Hour)) || s.Reflectors[1].BaselineRTTMs != 20 || s.Reflectors[0].BaselineRTTMs != 10 {
		t.Fatalf("updated %+v", s)
	}
	os.WriteFile(p, []byte("{"), 0o600)
	if note, err := ApplyCalibration(p, w, &c, t0); err != nil || !strings.Contains(note, "moved aside") {
		t.Fatal(note, err)
	}
}
