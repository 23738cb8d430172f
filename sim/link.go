package sim

import (
	"fmt"
	"time"
)

// Link plays a scenario step by step for a driver outside the simulator
// (wanctl demo: the real daemon writes max-limit to the RouterOS emulator,
// the driver copies it into the link with SetRate and feeds the replies
// to the daemon's measurer). It has the policy run's physics and pings;
// there is no policy and no write latency: a rate applies when set.
type Link struct {
	e        *engine
	replies  []Reply
	timedOut []int
}

// LinkStatus is one direction's state at the current virtual time.
type LinkStatus struct {
	Capacity   float64       // bits/s
	Rate       float64       // shaper rate, bits/s
	Loaded     bool          // in a loaded phase
	QueueDelay time.Duration // the ISP queue's delay
	AddedDelay time.Duration // ISP queue + CAKE: the delay above base RTT
}

// NewLink starts sc at virtual time zero, both shapers at opt's ceilings.
func NewLink(sc *Scenario, opt Options) (*Link, error) {
	opt = opt.WithDefaults()
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	events := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	return &Link{e: newEngine(sc, &opt, modePolicy, nil, events)}, nil
}

// Now is the virtual time simulated so far.
func (l *Link) Now() time.Time { return Epoch.Add(time.Duration(l.e.ran) * time.Millisecond) }

// Done reports whether the scenario has been played to its end.
func (l *Link) Done() bool { return l.e.ran >= l.e.steps }

// Advance simulates d more (whole milliseconds; it stops at the scenario's
// end) and returns the replies received and the echoes given up
// (reflector indexes, see Input.TimedOut) meanwhile. The slices are reused
// by the next Advance.
func (l *Link) Advance(d time.Duration) (replies []Reply, timedOut []int) {
	l.replies, l.timedOut = l.replies[:0], l.timedOut[:0]
	e := l.e
	for n := int64(d / time.Millisecond); n > 0 && e.ran < e.steps; n-- {
		e.step()
		// Hand over what arrived, as a tick would, so the engine's
		// buffers stay bounded however long the step.
		l.replies = append(l.replies, e.replies...)
		e.replies = e.replies[:0]
		l.timedOut = e.expire(l.timedOut)
	}
	return l.replies, l.timedOut
}

// SetRate sets dir's shaper rate at once (counted as a write).
func (l *Link) SetRate(dir Dir, bps int64) error {
	if bps <= 0 || (dir != Download && dir != Upload) {
		return fmt.Errorf("simulator: %s rate %d bits/s must be > 0", dir, bps)
	}
	ds := &l.e.dirs[dir]
	ds.rate = float64(bps)
	ds.writes++
	return nil
}

// Status returns dir's state after the last simulated millisecond.
func (l *Link) Status(dir Dir) LinkStatus {
	ds := &l.e.dirs[dir]
	t := time.Duration(max(l.e.ran-1, 0)) * time.Millisecond
	c := ds.capCur.p.At(t)
	return LinkStatus{
		Capacity:   c,
		Rate:       ds.rate,
		Loaded:     spanAt(ds.load.spans, t),
		QueueDelay: time.Duration(ds.q / c * 1e9),
		AddedDelay: time.Duration(ds.added * 1e9),
	}
}

func spanAt(spans []Span, t time.Duration) bool {
	for _, s := range spans {
		if s.Start <= t && t < s.End {
			return true
		}
	}
	return false
}

// Finish scores what has been simulated so far (as the policy run of
// Evaluate). The Link must not be used afterwards.
func (l *Link) Finish() *Run { return l.e.finish() }

// Outstanding appends the echoes sent and neither answered nor given up
// yet, oldest first, as Input.Outstanding has them for a policy.
func (l *Link) Outstanding(dst []Outstanding) []Outstanding { return l.e.outstanding(dst) }
