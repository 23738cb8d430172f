package autorate

import "time"

// The load signal: how much traffic each direction's shaper passes, from
// the router's queue byte counters (docs/autorate.md, "Load").

// LoadReading is one reading of a direction's queue counter: the bytes its
// shaper has passed since the counter was last reset, and when the reply
// carrying it arrived.
type LoadReading struct {
	Bytes uint64
	At    time.Time
}

// LoadSource gives a WAN's newest counter readings (download, upload); a
// zero At means none yet. It must not block: the Loop calls it every
// cycle.
type LoadSource interface {
	Load() [2]LoadReading
}

// loadState turns counter readings into the achieved throughput.
type loadState struct {
	prev     LoadReading // the previous reading (zero: none)
	achieved float64     // bits/s between the last two readings
	from, at time.Time   // the window achieved was measured over
	valid    bool
}

// observe takes a reading; an older or repeated one is ignored, a counter
// that went backwards (router reboot, queue re-created) restarts the
// measurement.
func (l *loadState) observe(r LoadReading) {
	if r.At.IsZero() || (!l.prev.At.IsZero() && !r.At.After(l.prev.At)) {
		return
	}
	if !l.prev.At.IsZero() && r.Bytes >= l.prev.Bytes {
		dt := r.At.Sub(l.prev.At).Seconds()
		l.achieved = float64(r.Bytes-l.prev.Bytes) * 8 / dt
		l.from, l.at = l.prev.At, r.At
		l.valid = true
	} else {
		l.valid = false
	}
	l.prev = r
}

// ObserveLoad records a counter reading of download's (false) or upload's
// (true) queue.
func (c *Controller) ObserveLoad(upload bool, r LoadReading) {
	c.dirs[dirIndex(upload)].load.observe(r)
}

// Achieved is the throughput download (false) or upload (true) last
// measured and when; ok is false before two readings.
func (c *Controller) Achieved(upload bool) (bps float64, at time.Time, ok bool) {
	l := &c.dirs[dirIndex(upload)].load
	return l.achieved, l.at, l.valid
}
