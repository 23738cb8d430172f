package autorate

import (
	"math"
	"time"
)

// How far and how often GREEN raises (docs/autorate.md, "The raise"), as
// fractions of a rate unless said otherwise.
const (
	maxJump              = 0.25                   // the climb limit above the router's rate: how far a probe may overshoot
	refPingRate          = 20                     // pings/s; below it the limit shrinks in proportion (overshoots show later)
	refCutLatency        = 100 * time.Millisecond // slower cuts shrink the limit in proportion: an overshoot lasts until its cut lands
	minRaise             = 0.05                   // the smallest limit slow cuts leave
	minJumpOverMinChange = 0.005                  // the limit stays this far above min_change: a raise survives rounding
	nearHold             = 0.99                   // of the hold level: from here to nearBand above the estimate is "near"
	nearBand             = 0.05                   // near the estimate a direction raises once per nearEvery slots
	nearEvery            = 2                      // slots
	probeGrowth          = 1.5                    // each raise that holds grows the probe jump, back to maxJump
	fallbackReturn       = 0.9                    // of the last rate that held: GREEN's return under the TCP fallback
	calmShare            = 0.5                    // of target_bloat: a raise holds while the queue stays under it
	estLifetime          = 10 * time.Second       // an older estimate is history: probing near it stops being careful
)

// raiseState is the router's last higher rate.
type raiseState struct {
	at   time.Time // when it landed
	by   float64   // by how much (a fraction of the rate before)
	calm bool      // every cycle since was GREEN with the queue under calmShare
	held bool      // a reply to a request sent half a slot after it came back calm
}

// green is a GREEN cycle's raise, steps 2–9 of docs/autorate.md, "The
// raise" (step 1 is checkHeld).
func (c *Controller) green(d *direction, now time.Time) Action {
	if loaded, known := d.loaded(now); known && !loaded && c.on(RuleLoadGate) {
		d.climb = d.rate
		if d.idleSince.IsZero() {
			d.idleSince = now
		}
		safe := d.capacity.safe
		if !c.on(RuleIdleRelax) || safe <= 0 || now.Sub(d.idleSince) < idleAfter || safe == d.rate {
			return Hold
		}
		prev := d.rate
		d.setRate(safe)
		switch {
		case d.rate > prev:
			return Increase
		case d.rate < prev:
			return Decrease
		}
		return Hold
	}
	d.idleSince = time.Time{}
	if cv := &d.capacity; cv.est > 0 && d.cut.done && now.Sub(d.cut.at) > estLifetime {
		cv.est, cv.hold, cv.jump = 0, 0, 0
	}
	if d.greenStreak < c.p.greenRequired || d.rate >= d.p.ceiling {
		d.climb = d.rate
		return Hold
	}
	if c.fallbackOnly() && c.on(RuleFallbackReturn) {
		d.climb = d.rate
		if g := min(int64(float64(d.good)*fallbackReturn), d.p.ceiling); g > d.rate {
			d.rate, d.climb = g, g
			return Increase
		}
		return Hold
	}
	// The climb steps step_up a cycle within the climb limit; the rate
	// offered waits while it is the other direction's turn.
	base := max(d.rate, d.climb)
	next := min(d.p.ceiling, base+d.p.stepUp)
	if d.router.applied > 0 {
		next = min(next, max(base, c.climbLimit(d)))
	}
	d.climb = next
	if d.router.applied > 0 && c.othersTurn(d, now) {
		next = min(d.rate, d.router.applied)
	}
	act := Hold
	if next > d.rate {
		act = Increase
	}
	d.rate = next
	return act
}

// climbLimit is the highest rate GREEN may offer now (steps 7 and 8).
func (c *Controller) climbLimit(d *direction) int64 {
	if !c.on(RuleClimbLimit) {
		return math.MaxInt64
	}
	a := float64(d.router.applied)
	j := c.maxJump
	if c.cutLatency > float64(refCutLatency) {
		j = max(j*float64(refCutLatency)/c.cutLatency, c.minRaise)
	}
	cv := &d.capacity
	if cv.jump > 0 && c.on(RuleProbeJump) {
		j = min(j, cv.jump)
	}
	limit := int64(a * (1 + j))
	if cv.est > 0 && a < float64(cv.hold) && c.on(RuleHoldReturn) {
		limit = max(limit, cv.hold)
	}
	return limit
}

// othersTurn reports whether d leaves the next raise to the other (step 9):
// an overshooting raise is then the newer one's.
func (c *Controller) othersTurn(d *direction, now time.Time) bool {
	o := c.other(d)
	if d.router.applied <= 0 || o.router.applied <= 0 || !c.on(RuleTurns) {
		return false
	}
	if c.fallbackOnly() {
		return true
	}
	if d.rate > d.router.applied {
		return false // an increase already offered keeps its turn
	}
	a := float64(d.router.applied)
	cv := &d.capacity
	switch {
	case cv.est > 0 && a >= float64(cv.hold)*nearHold && a < float64(cv.est)*(1+nearBand) && now.Sub(d.raise.at) < nearEvery*c.probeSlot:
		return true
	case !o.raise.at.IsZero() && now.Sub(o.raise.at) < c.probeSlot/2:
		return true
	case o.rate > o.router.applied && now.Sub(o.offeredAt) < 2*c.probeSlot:
		return true // at most two slots: one that never lands must not stop d
	}
	return o.climb > o.router.applied && o.raise.at.Before(d.raise.at) && now.Sub(d.raise.at) < 2*c.probeSlot
}

// checkHeld notes when d's last raise has held (see raiseState): it is the
// new safe rate, and one at or above the estimate drops the estimate.
func (c *Controller) checkHeld(d *direction) {
	r := &d.raise
	if !r.calm || r.held || r.at.IsZero() || c.leg(d).est.newestSent().sent.Sub(r.at) < c.probeSlot/2 {
		return
	}
	r.held = true
	d.good = d.router.applied
	cv := &d.capacity
	cv.safe = max(cv.safe, d.router.applied)
	if cv.jump > 0 {
		if cv.jump *= probeGrowth; cv.jump >= c.maxJump {
			cv.jump = 0
		}
	}
	if cv.est > 0 && d.router.applied >= cv.est {
		cv.est, cv.hold = 0, 0
	}
}

// fallbackOnly reports whether the newest reply is a TCP fallback
// connect: the reflectors are silent.
func (c *Controller) fallbackOnly() bool {
	e := &c.legs[0].est
	return e.n > 0 && c.refl[e.back(0).src].addr.Port() != 0
}

// shared reports whether both directions read one signal, the round trip:
// a queue that grows may be either's. With one-way delays it still is under
// the TCP fallback, whose connects only time round trips.
func (c *Controller) shared() bool {
	return !c.oneWay || c.fallbackOnly()
}
