package autorate

import "time"

// How far and when the rates go down (docs/autorate.md, "The cut"), as
// fractions of a rate unless said otherwise.
const (
	minMargin        = 0.08        // the smallest margin below an estimate; also "clearly below" for load
	drainingOK       = time.Second // a repeat waits while the queue drains by itself within this long
	climbShare       = 0.5         // the estimate kept blames this share of the growth (one round trip, two queues)
	holdMargin       = 0.1         // the hold level is this far below the estimate
	cutLatencyWeight = 0.2         // each cut's weight in the cut latency average: one slow write does not decide
	overshootMin     = 0.05        // a smaller overshooting raise grows the queue too slowly to tell from noise
	probeJump        = 0.05        // raise after an own probe's overshoot: a fifth of a 25 % probe's queue
	trustedJitter    = 0.4         // of target_bloat: above this jitter floor the overshoot test is not trusted
	probeBlame       = 2           // slots: a YELLOW cut this soon after d's own unheld raise is its overshoot
)

// The drain margin, exported for the simulator's bound, which drains as
// the cut aims.
const (
	DrainTime      = 200 * time.Millisecond // the drain margin empties the queue in this long: a few round trips
	MaxDrainMargin = 0.5                    // the largest drain margin; RED through silence halves the base
)

// cutState is the last decrease.
type cutState struct {
	done       bool
	at, landed time.Time // decided; first on the router (zero: not yet)
	zone       Zone
	delay      float64 // ns, the raw delta it was decided on
	greenSince bool    // a GREEN cycle since: the next cut is a new episode
}

// capacityView is what the direction knows of the capacity (0: nothing).
type capacityView struct {
	est  int64   // the estimate of the last cut that made one
	hold int64   // holdMargin below est: where GREEN returns at once
	safe int64   // the highest rate that held since: an idle direction relaxes to it
	jump float64 // the next raise after an own probe's overshoot (0: maxJump)
}

// setEstimate sets the estimate and the hold level below it.
func (cv *capacityView) setEstimate(est int64) {
	cv.est, cv.hold = est, int64(float64(est)*(1-holdMargin))
}

// cut applies zone z's decrease to d (blind: without a signal) and reports
// whether the rate went down (docs/autorate.md, "The cut").
func (c *Controller) cut(d *direction, z Zone, now time.Time, blind bool) bool {
	cs := &d.cut
	repeat := cs.done && z <= cs.zone
	if repeat && now.Sub(cs.at) < c.p.refractory {
		return false
	}
	repeat = repeat && !cs.greenSince // GREEN since: a new episode
	base := d.rate
	if a := d.router.applied; a > 0 && a < base {
		base = a
	}
	target, est := c.capacityTarget(d, z, now, base)
	if blind && z == Red {
		// The delay has outgrown the ping timeout: far more than DrainTime.
		target, est = int64(float64(base)*(1-MaxDrainMargin)), 0
	}
	if repeat && !blind && !(target > 0 && target < base) && c.draining(d, now) {
		return false
	}
	var floor, next int64
	switch z {
	case Red:
		floor, next = d.p.redFloor, int64(float64(base)*d.p.factorDown)
	case Yellow:
		floor, next = d.p.yellowFloor, int64(float64(base)*d.p.factorDownYellow)
	case SoftRed:
		floor, next = d.p.softRedFloor, target
		if target <= 0 {
			if repeat {
				return false // clamped once already: hold, no repeated decay
			}
			next = floor
		}
	default:
		return false
	}
	if target > 0 {
		next = min(next, target)
	}
	if d.rate <= floor {
		return false
	}
	prev := d.rate
	d.rate = max(floor, min(next, d.rate))
	if d.rate >= prev {
		return false
	}
	*cs = cutState{done: true, at: now, zone: z, delay: c.leg(d).raw}
	d.raise.calm = false
	cv := &d.capacity
	if est > 0 {
		cv.setEstimate(est)
		if cv.safe > cv.hold {
			cv.safe = cv.hold
		}
	}
	return true
}

// capacityTarget is where a cut from base in zone z aims and the estimate
// it keeps (0: none): docs/autorate.md, "How far", "What a cut remembers".
func (c *Controller) capacityTarget(d *direction, z Zone, now time.Time, base int64) (target, est int64) {
	var capEst, ret float64
	l := c.leg(d)
	if g, mid, ok := l.est.capacityGrowth(now); ok && c.signal && c.on(RuleCapacityCut) && (g > minGrowth || (z >= SoftRed && g > -minGrowth)) {
		r := float64(d.router.at(mid))
		if r <= 0 {
			r = float64(base)
		}
		capEst = r / (1 + max(g, 0))
		if g > 0 {
			ret = r / (1 + climbShare*g)
		}
	}
	// While the other's raise is the suspect of a YELLOW, d's shortfall is
	// more likely that raise's queue slowing d's flows than d's capacity.
	innocent := z == Yellow && c.shared() && c.ownProbe(c.other(d), now)
	if a, ok := d.achievedUnderQueue(now, l.onset); ok && !innocent && c.on(RuleLoadEstimate) && (capEst == 0 || a < capEst) {
		capEst, ret = a, a
	}
	ret = min(ret, capEst*(1+minMargin)) // what the cut blamed, within reason
	if capEst == 0 {
		return 0, 0
	}
	margin := min(max(max(l.queue, l.raw-c.wireTime(dirIndex(d.p.upload)))/float64(DrainTime), minMargin), MaxDrainMargin)
	if !c.on(RuleDrain) {
		margin = minMargin
	}
	return int64(capEst * (1 - margin)), int64(ret)
}

// draining reports whether d's last cut may still be enough
// (docs/autorate.md, "Repeats").
func (c *Controller) draining(d *direction, now time.Time) bool {
	if !c.on(RuleRepeatGate) {
		return false
	}
	since := d.cut.at
	if !d.cut.landed.IsZero() {
		since = d.cut.landed
	}
	l := c.leg(d)
	g, _, n, ok := l.est.growth(now, since)
	switch {
	case n == 0:
		var slowest float64
		for i := range c.refl {
			slowest = max(slowest, c.refl[i].base.v)
		}
		return now.Sub(since) <= time.Duration(slowest+d.cut.delay)+2*c.pingInterval
	case !ok:
		// Too few to fit a growth yet, for a while: the TCP fallback's
		// connects are never enough, and a queue they show may grow for a
		// whole blackout.
		return now.Sub(since) < drainingOK
	}
	return g < -minGrowth && l.load/(-g) < float64(drainingOK)
}

// probeOvershot reports whether d's last raise went beyond the capacity
// (docs/autorate.md, "Own probe overshooting").
func (c *Controller) probeOvershot(d *direction, now time.Time) bool {
	r, o, l := &d.raise, c.other(d), c.leg(d)
	if r.held || r.at.IsZero() || now.Sub(r.at) >= c.probeSlot || r.by < overshootMin || l.raw <= c.p.target/2 || (c.shared() && !o.raise.at.Before(r.at)) {
		return false
	}
	// The TCP fallback's replies are too few to fit a growth to; without a
	// queue above the jitter floor the growth is noise.
	if c.fallbackOnly() || l.queue <= 0 {
		return false
	}
	g, _, ok := l.est.capacityGrowth(now)
	return ok && g > minGrowth
}

// cutOwnProbe cuts an overshooting probe of d as YELLOW would; where the
// overshoot test is not trusted, not below the rate the raise started from.
func (c *Controller) cutOwnProbe(d *direction, now time.Time) bool {
	pre := int64(float64(d.router.applied) / (1 + d.raise.by))
	if !c.cut(d, Yellow, now, false) {
		return false
	}
	if c.on(RuleProbeFloor) && !c.overshootTrusted(d) && d.rate < pre {
		d.rate = pre
		if cv := &d.capacity; cv.est > 0 && cv.est < pre {
			cv.setEstimate(pre)
		}
	}
	c.probeCut(d)
	return true
}

// ownProbe reports whether a queue that builds now is d's last raise's:
// recent (probeBlame), unheld and, where the directions share the signal,
// newer than the other's.
func (c *Controller) ownProbe(d *direction, now time.Time) bool {
	r, o := &d.raise, c.other(d)
	return !r.at.IsZero() && !r.held && now.Sub(r.at) < probeBlame*c.probeSlot && (!c.shared() || !o.raise.at.After(r.at))
}

// probeCut notes that d's raise overshot and was cut: the next raises
// beyond the hold level are small, where the overshoot test is trusted.
func (c *Controller) probeCut(d *direction) {
	if c.overshootTrusted(d) && c.on(RuleProbeJump) {
		d.capacity.jump = probeJump
	}
}

// overshootTrusted reports whether d's jitter floor is low enough.
func (c *Controller) overshootTrusted(d *direction) bool {
	return c.leg(d).jitter.floor < trustedJitter*c.p.target
}
