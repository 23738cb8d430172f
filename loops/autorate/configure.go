package autorate

import (
	"net/netip"
	"time"

	"github.com/wanctl/wanctl/config"
)

// Derived from the configuration (docs/autorate.md, "Constants").
const (
	staleIntervals  = 2.5                    // a source is stale after this many of its ping intervals...
	minStale        = 500 * time.Millisecond // ...and never sooner (ten cycles at high ping rates)
	fallbackMaxRate = 5                      // connects/s: the TCP fallback's probe rate cap
	pendingPerRate  = 4                      // requests in flight held: pendingPerRate × ping_rate + pendingSpare,
	pendingSpare    = 16                     // four times what a 1 s ping timeout leaves, with room
)

// params are the WAN's thresholds in the controller's units (ns).
type params struct {
	target, warn, hardRed      float64 // ns
	deadband                   float64
	baselineTC, riseTC, loadTC float64 // ns
	baselineThreshold          float64
	refractory                 time.Duration
	greenRequired, dwell       int
}

// dirParams are one direction's rates and factors.
type dirParams struct {
	ceiling, stepUp              int64
	factorDown, factorDownYellow float64
	redFloor, softRedFloor       int64
	yellowFloor                  int64
	upload                       bool
}

func newDirParams(d *config.Direction, upload bool) dirParams {
	return dirParams{
		ceiling:          d.Ceiling,
		stepUp:           d.StepUp,
		factorDown:       d.FactorDown,
		factorDownYellow: d.FactorDownYellow,
		redFloor:         d.Floor.Red,
		softRedFloor:     d.Floor.SoftRed,
		yellowFloor:      d.Floor.Yellow,
		upload:           upload,
	}
}

// clampRate keeps r within [red floor, ceiling]; 0 (unknown) is the ceiling.
func clampRate(r int64, p dirParams) int64 {
	if r <= 0 || r > p.ceiling {
		return p.ceiling
	}
	return max(r, p.redFloor)
}

// NewController builds a controller for w, starting at the ceilings in
// GREEN with no baselines.
func NewController(w *config.WAN) *Controller {
	c := &Controller{}
	c.configure(w)
	for i := range c.dirs {
		d := &c.dirs[i]
		d.rate, d.climb = d.p.ceiling, d.p.ceiling
	}
	return c
}

// Reconfigure applies new thresholds, rates and reflectors (SIGHUP) while
// keeping the learned state: zones, streaks, the loaded delta and the
// baselines of reflectors still in the list. Rates are clamped to the new
// [red floor, ceiling].
func (c *Controller) Reconfigure(w *config.WAN) {
	c.configure(w)
	for i := range c.dirs {
		d := &c.dirs[i]
		d.setRate(d.rate)
		d.setZone(d.zone)
	}
}

func (c *Controller) configure(w *config.WAN) {
	t := w.Thresholds
	c.p = params{
		target:            float64(t.TargetBloat),
		warn:              float64(t.WarnBloat),
		hardRed:           float64(t.HardRedBloat),
		deadband:          float64(t.Deadband),
		baselineTC:        float64(t.BaselineTimeConstant),
		riseTC:            float64(t.BaselineRiseTimeConstant),
		loadTC:            float64(t.LoadTimeConstant),
		baselineThreshold: float64(t.BaselineUpdateThreshold),
		refractory:        t.Refractory,
		greenRequired:     t.GreenRequired,
		dwell:             t.DwellCycles,
	}
	c.dirs[0].p = newDirParams(&w.Download, false)
	c.dirs[1].p = newDirParams(&w.Upload, true)

	// Keep what was learned about sources that stay in the list.
	m := &w.Measurement
	old := c.refl
	c.refl = make([]reflector, 0, len(m.Reflectors)+len(m.TCPFallback))
	add := func(a netip.AddrPort, stale time.Duration) {
		r := reflector{addr: a}
		for j := range old {
			if old[j].addr == a {
				r = old[j]
				break
			}
		}
		r.stale = stale
		c.refl = append(c.refl, r)
	}
	for _, a := range m.Reflectors {
		add(netip.AddrPortFrom(a, 0), StaleAfter(m))
	}
	for _, a := range m.TCPFallback {
		add(a, fallbackStaleAfter(m))
	}
	c.scratch = make([]float64, 0, max(len(c.refl), rawSamples))
	if c.oneWay != m.Timestamps {
		c.oneWay, c.legs = m.Timestamps, [2]leg{} // the other kind of delta: start afresh
		c.Disable(c.off)
	}
	for k := range c.legs {
		if cp := pendingPerRate*m.PingRate + pendingSpare; cap(c.legs[k].est.pend) < cp {
			c.legs[k].est.pend = make([]pendingReq, 0, cp)
		}
	}
	c.probeSlot = w.RouterWrites.IncreaseInterval
	if c.probeSlot <= 0 {
		c.probeSlot = time.Second
	}
	// Below refPingRate an overshoot shows later: the climb per write
	// shrinks in proportion, but stays above min_change or it is not written.
	jump := maxJump
	if r := w.Measurement.PingRate; r > 0 && r < refPingRate {
		jump = maxJump * float64(r) / refPingRate
	}
	c.maxJump = max(jump, w.RouterWrites.MinChange+minJumpOverMinChange)
	c.minRaise = max(minRaise, w.RouterWrites.MinChange+minJumpOverMinChange)
	c.pingInterval = time.Second
	if m.PingRate > 0 && len(m.Reflectors) > 0 {
		c.pingInterval = time.Duration(float64(len(m.Reflectors)) / float64(m.PingRate) * float64(time.Second))
	}
}

// StaleAfter is how long a reflector's freshest reply counts for the
// aggregate (docs/autorate.md, "Sources and baselines").
func StaleAfter(m *config.Measurement) time.Duration {
	return staleWindow(len(m.Reflectors), float64(m.PingRate))
}

// fallbackStaleAfter is StaleAfter for the TCP fallback targets, probed
// at min(ping_rate, fallbackMaxRate)/s all together.
func fallbackStaleAfter(m *config.Measurement) time.Duration {
	return staleWindow(len(m.TCPFallback), min(float64(m.PingRate), fallbackMaxRate))
}

// staleWindow is the staleness window of n sources probed at rate in turn.
func staleWindow(n int, rate float64) time.Duration {
	if n == 0 || rate <= 0 {
		return minStale
	}
	return max(time.Duration(staleIntervals*float64(n)/rate*float64(time.Second)), minStale)
}
