package autorate

import "time"

// The load signal: what each shaper passes, from the queue byte counters
// (docs/autorate.md, "Achieved throughput").
const (
	loadedShare    = 0.75                                          // of the router's rate: a direction carrying this is loaded
	idleAfter      = 2 * time.Second                               // not loaded this long: idle, relax to the safe rate
	loadStale      = 2*LoadReadInterval + time.Second              // an older throughput tells nothing (two calm reads may fail)
	loadBusyHold   = 3 * time.Second                               // busy read cadence after a cut: the climb back is judged by load
	estimateWindow = LoadReadIntervalBusy + LoadReadIntervalBusy/2 // a longer window from before the onset averages the queue with what came before
)

// loadState turns counter readings into the achieved throughput.
type loadState struct {
	prev     LoadReading // the previous reading (zero: none)
	achieved float64     // bits/s between the last two readings
	from, at time.Time   // the window achieved was measured over
	valid    bool
}

// observe takes a reading; an older or repeated one is ignored, a counter
// that went backwards (reboot, queue re-created) restarts the measurement.
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

// fresh reports whether the throughput is known and not stale.
func (l *loadState) fresh(now time.Time) bool {
	return l.valid && now.Sub(l.at) <= loadStale
}

// ObserveLoad records a counter reading of download's (false) or upload's
// (true) queue.
func (c *Controller) ObserveLoad(upload bool, r LoadReading) {
	c.dirs[dirIndex(upload)].load.observe(r)
}

// LoadBusy reports whether the counters should be read at the busy
// cadence: a direction is out of GREEN or was cut recently.
func (c *Controller) LoadBusy(now time.Time) bool {
	for i := range c.dirs {
		d := &c.dirs[i]
		if d.zone != Green || (d.cut.done && now.Sub(d.cut.at) < loadBusyHold) {
			return true
		}
	}
	return false
}

// loaded reports whether the direction carries at least loadedShare of the
// router's rate; known is false without a fresh throughput.
func (d *direction) loaded(now time.Time) (loaded, known bool) {
	if !d.load.fresh(now) {
		return true, false
	}
	return d.load.achieved >= loadedShare*float64(d.routerRate()), true
}

// achievedUnderQueue is the throughput d delivered while the queue stood,
// over a short window or one wholly after the queue's onset (slow writes
// delay the reads: every window is long then), when it was clearly
// (minMargin) below the router's rate then: the capacity beyond the shaper.
func (d *direction) achievedUnderQueue(now, onset time.Time) (float64, bool) {
	l := &d.load
	if !l.fresh(now) || (l.at.Sub(l.from) > estimateWindow && (onset.IsZero() || l.from.Before(onset))) {
		return 0, false
	}
	r := float64(d.router.at(l.at))
	if r <= 0 || l.achieved >= r*(1-minMargin) || l.achieved <= 0 {
		return 0, false
	}
	return l.achieved, true
}
