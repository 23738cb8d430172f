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
	HoldBudget                  // an increase waits for a token of the write budget
)

var verdictNames = [...]string{"write", "same", "small", "coalesced", "budget"}

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
// increase_interval; and every write spends a token of the write budget, a
// bucket of burst tokens refilled at writes_per_minute. An increase waits
// for a whole token; a decrease (and a first write) is written whatever the
// bucket holds, so the budget never keeps a congested link congested: it
// may take the bucket into debt, at most one burst deep, which later
// increases repay by waiting. The budget knows nothing of the controller:
// it only tells increases from decreases.
type WritePolicy struct {
	minChange        float64
	increaseInterval time.Duration
	ceiling          int64
	floors           [3]int64
	bucket           bucket

	written      int64 // 0: nothing written yet
	lastIncrease time.Time
	increased    bool
}

// bucket is the write budget, in exact integer arithmetic so that a token
// is due exactly 60 s / perMinute after the last: credit counts
// token-minutes (one token is time.Minute of credit) and each nanosecond
// adds perMinute of them.
type bucket struct {
	perMinute int64
	burst     int64
	credit    int64     // within [-burst, burst] tokens
	at        time.Time // when credit was last brought up to date
}

const token = int64(time.Minute)

func (b *bucket) configure(perMinute, burst int) {
	first := b.perMinute == 0
	b.perMinute, b.burst = max(int64(perMinute), 1), max(int64(burst), 1)
	if first {
		b.credit = b.burst * token
	}
	// A reload keeps the balance: it neither refills an empty bucket nor
	// forgives a debt, only holds them within the new burst.
	b.credit = min(max(b.credit, -b.burst*token), b.burst*token)
}

func (b *bucket) refill(now time.Time) {
	if !now.After(b.at) {
		return // a clock stepped back credits nothing
	}
	elapsed := int64(now.Sub(b.at)) // the first time, from the zero time: saturated
	b.at = now
	full := b.burst * token
	// Compared before multiplying: elapsed × perMinute overflows after
	// a few idle weeks.
	if elapsed >= (full-b.credit)/b.perMinute+1 {
		b.credit = full
		return
	}
	b.credit = min(full, b.credit+elapsed*b.perMinute)
}

// spend takes one token at now; force spends it even without one (into
// debt, at most one burst deep). It reports whether it spent.
func (b *bucket) spend(now time.Time, force bool) bool {
	b.refill(now)
	if b.credit < token && !force {
		return false
	}
	b.credit = max(b.credit-token, -b.burst*token)
	return true
}

// tokens returns the budget's balance (negative: debt) as of the last
// offer.
func (p *WritePolicy) tokens() float64 { return float64(p.bucket.credit) / float64(token) }

// NewWritePolicy builds the policy for direction d under rw.
func NewWritePolicy(rw config.RouterWrites, d *config.Direction) *WritePolicy {
	p := &WritePolicy{}
	p.Reconfigure(rw, d)
	return p
}

// Reconfigure applies new router_writes settings and rates (SIGHUP), keeping
// the last written rate, the increase coalescing and the budget's balance.
func (p *WritePolicy) Reconfigure(rw config.RouterWrites, d *config.Direction) {
	p.minChange = rw.MinChange
	p.increaseInterval = rw.IncreaseInterval
	p.ceiling = d.Ceiling
	p.floors = [3]int64{d.Floor.Red, d.Floor.SoftRed, d.Floor.Yellow}
	p.bucket.configure(rw.WritesPerMinute, rw.Burst)
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
	// Refilled every offer, so that a reload's new rate counts from the
	// reload on.
	p.bucket.refill(now)
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
	if increase && p.increased && now.Sub(p.lastIncrease) < p.increaseInterval {
		return HoldIncrease
	}
	if !p.bucket.spend(now, !increase) {
		return HoldBudget
	}
	if increase {
		p.increased = true
		p.lastIncrease = now
	}
	p.written = desired
	return Write
}

// Written returns the last rate the policy let through (0: none yet).
func (p *WritePolicy) Written() int64 { return p.written }

// Forget makes the next offer a write whatever its size, e.g. when the
// queue's max-limit may have been changed behind our back.
func (p *WritePolicy) Forget() { p.written = 0 }
