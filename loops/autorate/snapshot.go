package autorate

import (
	"net/netip"
	"time"
)

// DirSnapshot is one direction's persistent state.
type DirSnapshot struct {
	Zone         Zone
	Rate         int64
	GreenStreak  int
	YellowStreak int
}

// ReflectorSnapshot is one measurement source's learned baseline.
type ReflectorSnapshot struct {
	// Addr is the reflector (port 0) or the TCP fallback target.
	Addr     netip.AddrPort
	Baseline time.Duration // 0 = none learned
	// LastReply is when it last answered (zero if never).
	LastReply time.Time
	Replies   uint64
}

// Snapshot is the controller's persistent state (see State for the file).
type Snapshot struct {
	Download, Upload DirSnapshot
	Reflectors       []ReflectorSnapshot
	// Baseline is the median of the reflector baselines.
	Baseline    time.Duration
	LoadedDelta time.Duration
	Signal      bool
}

// Snapshot returns the controller's state. It allocates; call it for
// persistence and health, not per cycle.
func (c *Controller) Snapshot() Snapshot {
	s := Snapshot{
		Download:    c.dirSnapshot(0),
		Upload:      c.dirSnapshot(1),
		Reflectors:  make([]ReflectorSnapshot, len(c.refl)),
		Baseline:    c.medianBaseline(),
		LoadedDelta: time.Duration(max(c.legs[0].load, c.legs[1].load)),
		Signal:      c.signal,
	}
	for i := range c.refl {
		r := &c.refl[i]
		rs := ReflectorSnapshot{Addr: r.addr, Replies: r.replies}
		if r.base.ok {
			rs.Baseline = time.Duration(r.base.v)
		}
		if r.heard {
			rs.LastReply = r.lastAt
		}
		s.Reflectors[i] = rs
	}
	return s
}

func (c *Controller) dirSnapshot(i int) DirSnapshot {
	d := &c.dirs[i]
	return DirSnapshot{Zone: d.zone, Rate: d.rate, GreenStreak: d.greenStreak, YellowStreak: d.yellowStreak}
}

// Restore loads persisted state: rates clamped to [red floor, ceiling]
// (0 means unknown: the ceiling), zones and streaks, the baselines of
// reflectors (matched by address) still configured. Refractory timers start
// clear.
func (c *Controller) Restore(s Snapshot) {
	for i, ds := range [2]DirSnapshot{s.Download, s.Upload} {
		d := &c.dirs[i]
		d.setRate(ds.Rate)
		d.setZone(ds.Zone)
		d.greenStreak = max(ds.GreenStreak, 0)
		d.yellowStreak = max(ds.YellowStreak, 0)
		d.cut = cutState{}
	}
	for _, rs := range s.Reflectors {
		if rs.Baseline <= 0 {
			continue
		}
		for i := range c.refl {
			if c.refl[i].addr == rs.Addr {
				c.refl[i].setBaseline(rs.Baseline)
			}
		}
	}
	// The persisted loaded delta is of unknown age: it is reported until the
	// first fresh Step restarts the EWMA from its own raw delta.
	for k := range c.legs {
		c.legs[k].load = float64(s.LoadedDelta)
		c.legs[k].hasLoad = false
	}
}

// SetBaseline sets reflector i's baseline (calibration).
func (c *Controller) SetBaseline(i int, b time.Duration) {
	if i < 0 || i >= len(c.refl) || b <= 0 {
		return
	}
	c.refl[i].setBaseline(b)
}

// setBaseline sets a restored or calibrated baseline, of unknown age.
func (r *reflector) setBaseline(b time.Duration) {
	r.base = baseline{v: float64(b), ok: true}
}
