package autorate

import (
	"time"

	"github.com/wanctl/wanctl/config"
)

// Verdict is a WritePolicy's answer for one desired rate.
type Verdict uint8

// Verdicts.
const (
	Write        Verdict = iota // send it now
	SkipSame                    // the router already has (or is being sent) this rate
	SkipSmall                   // change below min_change, no floor or ceiling hit
	HoldIncrease                // increase coalesced: one per increase_interval
	HoldCap                     // max_per_minute reached
)

var verdictNames = [...]string{"write", "same", "small", "coalesced", "capped"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// WritePolicy decides for one queue whether a desired rate is written to
// the router now (router_writes). It is pure: the caller passes the time,
// and a rate it is told to write counts as written (the writer retries until
// it lands). Offer the controller's rate every cycle: a held rate is
// written by a later offer once the policy allows it.
//
// Rules, in order: the first offer is always written (the router must match
// the controller); an unchanged rate is skipped; a change smaller than
// min_change of the last written rate is skipped unless the new rate is the
// ceiling or one of the floors; increases are written at most once per
// increase_interval; at most max_per_minute writes in any 60 s window, and
// increases stop a tenth of that budget early so a decrease always finds a
// slot: decreases are never held behind increases.
type WritePolicy struct {
	minChange        float64
	increaseInterval time.Duration
	maxPerMinute     int
	ceiling          int64
	floors           [3]int64

	written      int64 // 0: nothing written yet
	lastIncrease time.Time
	increased    bool
	window       []time.Time // ring of the last maxPerMinute write times
	head, n      int
}

// NewWritePolicy builds the policy for direction d under rw.
func NewWritePolicy(rw config.RouterWrites, d *config.Direction) *WritePolicy {
	p := &WritePolicy{}
	p.Reconfigure(rw, d)
	return p
}

// Reconfigure applies new router_writes settings and rates (SIGHUP), keeping
// the last written rate and the write history.
func (p *WritePolicy) Reconfigure(rw config.RouterWrites, d *config.Direction) {
	p.minChange = rw.MinChange
	p.increaseInterval = rw.IncreaseInterval
	p.ceiling = d.Ceiling
	p.floors = [3]int64{d.Floor.Red, d.Floor.SoftRed, d.Floor.Yellow}
	limit := max(rw.MaxPerMinute, 0)
	if limit == p.maxPerMinute && p.window != nil {
		return
	}
	old := p.times()
	p.maxPerMinute = limit
	p.window = make([]time.Time, limit)
	p.head, p.n = 0, 0
	if len(old) > limit {
		old = old[len(old)-limit:]
	}
	for _, t := range old {
		p.push(t)
	}
}

// times returns the recorded write times, oldest first.
func (p *WritePolicy) times() []time.Time {
	out := make([]time.Time, 0, p.n)
	for i := range p.n {
		out = append(out, p.window[(p.head+len(p.window)-p.n+i)%len(p.window)])
	}
	return out
}

func (p *WritePolicy) push(t time.Time) {
	if len(p.window) == 0 {
		return
	}
	p.window[p.head] = t
	p.head = (p.head + 1) % len(p.window)
	if p.n < len(p.window) {
		p.n++
	}
}

// recent counts the writes in the 60 s before now, forgetting older ones
// (oldest first, so the cost is amortised O(1)).
func (p *WritePolicy) recent(now time.Time) int {
	for p.n > 0 {
		oldest := (p.head + len(p.window) - p.n) % len(p.window)
		if now.Sub(p.window[oldest]) < time.Minute {
			break
		}
		p.n--
	}
	return p.n
}

func (p *WritePolicy) bound(r int64) bool {
	if r == p.ceiling {
		return true
	}
	for _, f := range p.floors {
		if f > 0 && r == f {
			return true
		}
	}
	return false
}

// Offer asks whether desired is written at now; on Write it is recorded as
// the last written rate.
func (p *WritePolicy) Offer(now time.Time, desired int64) Verdict {
	if desired <= 0 {
		return SkipSame
	}
	if p.written != 0 {
		if desired == p.written {
			return SkipSame
		}
		diff := desired - p.written
		if diff < 0 {
			diff = -diff
		}
		if float64(diff) < p.minChange*float64(p.written) && !p.bound(desired) {
			return SkipSmall
		}
	}
	increase := p.written != 0 && desired > p.written
	recent := p.recent(now)
	if increase {
		if p.increased && now.Sub(p.lastIncrease) < p.increaseInterval {
			return HoldIncrease
		}
		if recent >= p.maxPerMinute-p.maxPerMinute/10 {
			return HoldCap
		}
	} else if recent >= p.maxPerMinute {
		return HoldCap
	}
	if increase {
		p.increased = true
		p.lastIncrease = now
	}
	p.written = desired
	p.push(now)
	return Write
}

// Written returns the last rate the policy let through (0: none yet).
func (p *WritePolicy) Written() int64 { return p.written }

// Forget makes the next offer a write whatever its size, e.g. when the
// queue's max-limit may have been changed behind our back.
func (p *WritePolicy) Forget() { p.written = 0 }
