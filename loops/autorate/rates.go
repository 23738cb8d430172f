package autorate

import (
	"math"
	"time"

	"github.com/wanctl/wanctl/config"
)

// How far and how often the rates move (docs/autorate.md, "Rates"). Rates
// are fractions of a rate unless said otherwise.
const (
	// mtuBits is the packet a ping waits for in a busy shaper (1500 bytes).
	mtuBits = 1500 * 8
	// appliedHistLen changes of the router's rate are kept (at least 1.6 s
	// at 50 ms): a growth measured from replies is judged against the rate
	// the router had when their requests were sent.
	appliedHistLen = 32
	// A cut aims below the capacity estimate by the margin that drains the
	// standing queue in drainTime: delay / drainTime, within [minMargin,
	// maxMargin]. 500 ms is a few round trips of reaction, short enough
	// that a drop's queue is gone before the p99 notices it.
	drainTime = 500 * time.Millisecond
	minMargin = 0.08
	maxMargin = 0.5
	// drainingOK: a repeated cut waits while the queue drains by itself
	// within this long at the measured rate.
	drainingOK = time.Second
	// After a cut GREEN returns at once to holdMargin below the capacity
	// estimated with climbShare of the growth blamed on the direction (one
	// round trip carries both directions' queues; the cut blamed all).
	climbShare = 0.5
	holdMargin = 0.1
	// A raise lands at most maxJump above the router's rate (at
	// refPingRate echoes a second or more; in proportion below). Within
	// nearBand of the estimate a direction raises once per nearEvery slots.
	maxJump     = 0.25
	refPingRate = 20
	// A raise's overshoot lasts until the cut reaches the router: while
	// cuts take longer than refCutLatency (the default 30 ms write and the
	// wait for the next cycle) the climb per write shrinks in proportion,
	// to no less than minRaise. cutLatencyWeight is the weight of each new
	// cut's latency in their moving average.
	refCutLatency    = 100 * time.Millisecond
	minRaise         = 0.05
	cutLatencyWeight = 0.2
	nearEvery        = 2
	nearBand         = 0.05
	// After a raise of the direction's own overshot (an own-probe cut, or a
	// YELLOW cut it caused: probeBlame), the capacity lies
	// between the cut and that raise: the next raises beyond the hold
	// level are probeJump, growing by probeGrowth with each one that
	// holds, back to maxJump. A 25 % raise above a known capacity costs a
	// queue of about its overshoot times the time to undo it (a few
	// hundred ms) every time; 5 % costs a fifth of that. Only while the
	// jitter floor is under trustedJitter of target_bloat: above it the
	// overshoot test takes noise for overshoots as often as not, and slow
	// raises after false ones cost more throughput than they save delay;
	// there its cuts stop at the raise's start (cutOwnProbe).
	probeJump     = 0.05
	probeGrowth   = 1.5
	trustedJitter = 0.4
	// A YELLOW cut less than probeBlame slots after a raise of the
	// direction's own that has not held, and newer than the other's, is
	// that raise's overshoot (one slow enough to miss the own-probe test:
	// elastic flows fill a raise over several round trips).
	probeBlame = 2
	// While only the TCP fallback measures, GREEN does not probe (an
	// overshoot would show too late) but returns at once to fallbackReturn
	// of the last rate that held: the reflectors' silence may have begun
	// with cuts on requests that were lost, not late.
	fallbackReturn = 0.9
	// A raise holds while the loaded delta stays under calmShare of
	// target_bloat.
	calmShare = 0.5
	// A capacity estimate older than estLifetime is history: the probing
	// near it stops being careful.
	estLifetime = 10 * time.Second
	// A raise of at least overshootMin under which the queue grows is cut
	// at once.
	overshootMin = 0.05
	// minJumpOverMinChange keeps the smallest raise clear of
	// router_writes.min_change after rounding.
	minJumpOverMinChange = 0.005
	// A direction carrying less than loadedShare of its rate for idleAfter
	// is idle: it relaxes to its safe rate. A counter reading older than
	// loadStale tells nothing (the direction counts as loaded).
	idleAfter = 2 * time.Second
	loadStale = 2*LoadReadInterval + time.Second
	// After a cut the counters are read at the busy cadence for
	// loadBusyHold: the climb back is judged by the load too.
	loadBusyHold = 3 * time.Second
	// A throughput measured over more than estimateWindow (a calm read's
	// second) averages the moment a queue built with what came before
	// (flows still ramping up, an idle spell): it estimates nothing.
	estimateWindow = LoadReadIntervalBusy + LoadReadIntervalBusy/2
	// loadedShare of the router's rate is what counts as loaded.
	loadedShare = 0.75
)

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

func clampRate(r int64, p dirParams) int64 {
	if r <= 0 || r > p.ceiling {
		return p.ceiling
	}
	return max(r, p.redFloor)
}

// direction is one direction's state: its zone and rate, what the router
// has, its last raise and cut, what it knows of the capacity and the load.
type direction struct {
	p                         dirParams
	zone                      Zone
	rate                      int64 // the rate offered to the router
	greenStreak, yellowStreak int
	// climb is where GREEN's steps have got to while the rate offered
	// waits for the other direction's turn.
	climb int64
	// offeredAt: since when rate has been above the router's (an increase
	// on its way); zero while it is not.
	offeredAt time.Time
	idleSince time.Time // zero while loaded

	good     int64 // the router's rate when a raise of d's last held (0: none)
	router   routerView
	raise    raiseState
	cut      cutState
	capacity capacityView
	load     loadState
}

// routerView is what the router has: its rate now (0: unknown) and recently.
type routerView struct {
	applied int64
	hist    [appliedHistLen]ratePoint
	head    int
}

// ratePoint is the router's rate from at on.
type ratePoint struct {
	at   time.Time
	rate int64
}

// at is the rate the router had at t (0: unknown).
func (r *routerView) at(t time.Time) int64 {
	var rate int64
	for k := range appliedHistLen {
		pt := r.hist[(r.head-1-k+appliedHistLen)%appliedHistLen]
		if pt.at.IsZero() {
			break
		}
		rate = pt.rate
		if !pt.at.After(t) {
			break
		}
	}
	return rate
}

// raiseState is the router's last higher rate: when it landed and by how
// much. calm: every cycle since was
// GREEN with the delay at most half of target_bloat; held: a reply to a
// request sent half a slot after it landed came back while still calm.
type raiseState struct {
	at         time.Time
	by         float64
	calm, held bool
}

// cutState is the last decrease: decided at, in zone, with the raw delta
// delay (ns), first on the router at landed; greenSince: the zone was
// GREEN since.
type cutState struct {
	done       bool
	at, landed time.Time
	zone       Zone
	delay      float64
	greenSince bool
}

// capacityView is what the direction knows of the capacity: est, the
// estimate of the last cut that made one (0: none); hold, where GREEN
// returns to at once; safe, the highest rate that held since (an idle
// direction relaxes to it; 0: none); jump, the size of the next raise
// after an own probe's overshoot (0: maxJump).
type capacityView struct {
	est, hold, safe int64
	jump            float64
}

// setEstimate makes est the capacity estimate and holdMargin below it the
// hold level.
func (cv *capacityView) setEstimate(est int64) {
	cv.est, cv.hold = est, int64(float64(est)*(1-holdMargin))
}

// noteOffer keeps offeredAt: since when the rate has been above the
// router's.
func (d *direction) noteOffer(now time.Time) {
	switch {
	case d.router.applied <= 0 || d.rate <= d.router.applied:
		d.offeredAt = time.Time{}
	case d.offeredAt.IsZero():
		d.offeredAt = now
	}
}

// loaded reports whether the direction carries at least loadedShare of the
// router's rate; known is false without a recent counter reading.
func (d *direction) loaded(now time.Time) (loaded, known bool) {
	l := &d.load
	if !l.valid || now.Sub(l.at) > loadStale {
		return true, false
	}
	r := d.router.applied
	if r <= 0 {
		r = d.rate
	}
	return l.achieved >= loadedShare*float64(r), true
}

// SetApplied tells the controller the rate the router has for download
// (false) or upload (true) at now: the last rate it accepted, 0 if
// unknown. The Loop calls it before each Step.
func (c *Controller) SetApplied(upload bool, bps int64, now time.Time) {
	d := &c.dirs[dirIndex(upload)]
	bps = max(bps, 0)
	rv := &d.router
	if rv.applied > 0 && bps > rv.applied {
		d.raise = raiseState{at: now, by: float64(bps-rv.applied) / float64(rv.applied), calm: true}
	}
	rv.applied = bps
	if d.cut.done && d.cut.landed.IsZero() && bps > 0 && bps <= d.rate {
		d.cut.landed = now
		if lat := float64(now.Sub(d.cut.at)); lat >= 0 {
			if c.cutLatency == 0 {
				c.cutLatency = lat
			} else {
				c.cutLatency += cutLatencyWeight * (lat - c.cutLatency)
			}
		}
	}
	if last := rv.hist[(rv.head-1+appliedHistLen)%appliedHistLen]; !last.at.IsZero() && last.rate == bps {
		return
	}
	rv.hist[rv.head] = ratePoint{at: now, rate: bps}
	rv.head = (rv.head + 1) % appliedHistLen
}

// stepDir is one direction's cycle with a fresh measurement.
func (c *Controller) stepDir(d *direction, now time.Time) DirDecision {
	z := c.zoneFor(d)
	d.zone = z
	prev := d.rate
	act := Hold
	if z == Green && c.queue <= c.p.target {
		d.greenStreak++
	} else {
		d.greenStreak = 0
	}
	if z != Green || c.queue > c.p.target*calmShare {
		d.raise.calm = false
	}
	if z != Green {
		probe := z == Yellow && c.ownProbe(d, now)
		if c.cut(d, z, now, false) {
			act = Decrease
			if probe {
				c.probeCut(d)
			}
		}
		d.climb = d.rate
	} else {
		d.cut.greenSince = true
		c.checkHeld(d)
		act = c.green(d, now)
		if act != Increase && c.on(RuleOwnProbeCut) && c.probeOvershot(d, now) && c.cutOwnProbe(d, now) {
			act = Decrease
			d.climb = d.rate
		}
	}
	return DirDecision{Zone: z, Rate: d.rate, Prev: prev, Changed: d.rate != prev, Action: act,
		GreenStreak: d.greenStreak, YellowStreak: d.yellowStreak}
}

// green is GREEN's rule: an idle direction relaxes to its safe rate, a
// loaded one climbs after green_required cycles.
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
		d.rate = clampRate(safe, d.p)
		d.climb = d.rate
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
	// GREEN steps step_up a cycle; the rate offered stays within one jump
	// of the router's (increases are coalesced into one write per slot)
	// and waits while it is the other direction's turn.
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

// climbLimit is the highest rate GREEN may offer now: maxJump above the
// router's rate, and at once back to the hold level after a cut (a cut
// blamed on the wrong direction, or too deep, is undone in one write).
func (c *Controller) climbLimit(d *direction) int64 {
	if !c.on(RuleClimbLimit) {
		return math.MaxInt64
	}
	a := float64(d.router.applied)
	j := c.maxJump
	if c.cutLatency > float64(refCutLatency) {
		j = max(j*float64(refCutLatency)/c.cutLatency, c.minRaise)
	}
	if cv := &d.capacity; cv.jump > 0 && c.on(RuleProbeJump) {
		j = min(j, cv.jump)
	}
	limit := int64(a * (1 + j))
	if cv := &d.capacity; cv.est > 0 && a < float64(cv.hold) && c.on(RuleHoldReturn) {
		limit = max(limit, cv.hold)
	}
	return limit
}

// othersTurn reports whether d leaves the next raise to the other
// direction, so that an overshooting raise can be told to be d's own: d
// waits while the other's raise is less than half a slot old or on its way
// (for at most two slots: one that never lands must not stop d for good),
// while the other waits to climb and raised less recently, and near its
// estimate between two slots' raises. While only the TCP fallback measures
// nobody raises: an overshoot would show too late.
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
	case cv.est > 0 && a >= float64(cv.hold)*0.99 && a < float64(cv.est)*(1+nearBand) && now.Sub(d.raise.at) < nearEvery*c.probeSlot:
		return true
	case !o.raise.at.IsZero() && now.Sub(o.raise.at) < c.probeSlot/2:
		return true
	case o.rate > o.router.applied && now.Sub(o.offeredAt) < 2*c.probeSlot:
		return true
	}
	return o.climb > o.router.applied && o.raise.at.Before(d.raise.at) && now.Sub(d.raise.at) < 2*c.probeSlot
}

// checkHeld notes when d's last raise has held (see raiseState). A raise
// that held is the new safe rate; one that held at or above the estimate
// proves the capacity has grown since (the congestion is over): the
// estimate and its slower probing are dropped.
func (c *Controller) checkHeld(d *direction) {
	r := &d.raise
	if !r.calm || r.held || r.at.IsZero() || c.est.n == 0 || c.est.newestSent().Sub(r.at) < c.probeSlot/2 {
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

// probeOvershot reports whether d's last raise went beyond the capacity: a
// raise of at least overshootMin that landed less than a slot ago and has
// not held, is the newer of the two directions' raises, and under which
// the queue grows with the raw delta above half of target_bloat and the
// loaded delta above the wire time and the jitter floor (at 10 ms of
// jitter the growth of the replies alone is noise nearly every time). It
// costs about its size times each millisecond until it is cut, so it is
// cut at once instead of after dwell_cycles above target_bloat. Only with
// ICMP replies: the TCP fallback's are too few to fit a growth to.
func (c *Controller) probeOvershot(d *direction, now time.Time) bool {
	r, o := &d.raise, c.other(d)
	if r.held || r.at.IsZero() || now.Sub(r.at) >= c.probeSlot || r.by < overshootMin || c.raw <= c.p.target/2 || !o.raise.at.Before(r.at) {
		return false
	}
	if c.est.n == 0 || c.fallbackOnly() {
		return false
	}
	if c.queue <= 0 {
		return false // no queue above the jitter every reply carries: the growth is noise
	}
	g, _, ok := c.est.capacityGrowth(now)
	return ok && g > minGrowth
}

// cutOwnProbe cuts as YELLOW would an overshooting probe of d, but not
// below the rate the raise started from: the test blames the raise, and a
// growth fitted to jittery replies can blame far more than the raise (the
// zones cut the rate beneath it if it was too high as well).
func (c *Controller) cutOwnProbe(d *direction, now time.Time) bool {
	pre := int64(float64(d.router.applied) / (1 + d.raise.by))
	if !c.cut(d, Yellow, now, false) {
		return false
	}
	if c.on(RuleProbeFloor) && !c.overshootTrusted() && d.rate < pre {
		d.rate = pre
		if cv := &d.capacity; cv.est > 0 && cv.est < pre {
			cv.setEstimate(pre)
		}
	}
	c.probeCut(d)
	return true
}

// ownProbe reports whether a queue that builds now is d's last raise's: it
// landed less than probeBlame slots ago, has not held, and is newer than
// the other direction's last raise.
func (c *Controller) ownProbe(d *direction, now time.Time) bool {
	r, o := &d.raise, c.other(d)
	return !r.at.IsZero() && !r.held && now.Sub(r.at) < probeBlame*c.probeSlot && !o.raise.at.After(r.at)
}

// probeCut notes that d's raise overshot and was cut: the next raises
// beyond the hold level are small (probeJump), unless the jitter makes
// the overshoot test untrustworthy.
func (c *Controller) probeCut(d *direction) {
	if c.overshootTrusted() && c.on(RuleProbeJump) {
		d.capacity.jump = probeJump
	}
}

// overshootTrusted reports whether the jitter floor is low enough (under
// trustedJitter of target_bloat) for the overshoot test to be trusted.
func (c *Controller) overshootTrusted() bool {
	return c.jitter.floor < trustedJitter*c.p.target
}

// other is the direction that is not d.
func (c *Controller) other(d *direction) *direction {
	return &c.dirs[1-dirIndex(d.p.upload)]
}

// fallbackOnly reports whether the newest reply is a TCP fallback
// connect: the reflectors are silent.
func (c *Controller) fallbackOnly() bool {
	return c.est.n > 0 && c.refl[c.est.back(0).src].addr.Port() != 0
}

// cut applies zone z's decrease to d at now and reports whether the rate
// went down. Floors bound decreases and are never targets (a rate already
// below the zone's floor is held). The same or a better zone decreases
// again only after refractory, and then not while the queue drains by
// itself soon enough; a worse zone acts at once. blind: no signal.
//
// How far: to below the capacity estimate by the drain margin (target);
// RED and YELLOW take the lower of that and their factor, SOFT_RED goes to
// it (not below its floor) instead of to its floor. Without an estimate
// the zones move by their factors as DESIGN.md says.
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
		// Silence in RED: the delay has outgrown the ping timeout, far
		// more than drainTime of queue.
		target, est = int64(float64(base)*(1-maxMargin)), 0
	}
	if repeat && !blind && !(target > 0 && target < base) && c.draining(d, now) {
		return false
	}
	var floor, next int64
	switch z {
	case Red:
		floor, next = d.p.redFloor, int64(float64(base)*d.p.factorDown)
		if target > 0 {
			next = min(next, target)
		}
	case SoftRed:
		floor = d.p.softRedFloor
		switch {
		case target > 0:
			next = target
		case repeat:
			return false // clamped once already: hold, no repeated decay
		default:
			next = floor
		}
	case Yellow:
		floor, next = d.p.yellowFloor, int64(float64(base)*d.p.factorDownYellow)
		if target > 0 {
			next = min(next, target)
		}
	default:
		return false
	}
	if d.rate <= floor {
		return false
	}
	prev := d.rate
	d.rate = max(floor, min(next, d.rate))
	if d.rate >= prev {
		return false
	}
	*cs = cutState{done: true, at: now, zone: z, delay: c.raw}
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

// capacityTarget is where a cut from base in zone z aims (0: no estimate)
// and the capacity GREEN may return to below (0: none). The capacity is
// estimated two ways, the lower wins:
//
//   - from the queue's growth: fed at rate r by a link of capacity c, it
//     grows at (r - c) / c ms of delay per ms, so c = r / (1 + g) with r
//     the router's rate when the replies' requests were sent. In RED a
//     queue that neither grows nor drains is standing: c = r;
//   - from the load: a direction that delivered clearly less than its rate
//     while the queue stood was held back beyond the shaper, by the
//     capacity (download: the ISP's link feeds the shaper).
func (c *Controller) capacityTarget(d *direction, z Zone, now time.Time, base int64) (target, est int64) {
	var capEst, ret float64
	if g, mid, ok := c.est.capacityGrowth(now); ok && c.signal && c.on(RuleCapacityCut) && (g > minGrowth || (z >= SoftRed && g > -minGrowth)) {
		r := float64(d.router.at(mid))
		if r <= 0 {
			r = float64(base)
		}
		capEst = r / (1 + max(g, 0))
		if g > 0 {
			ret = r / (1 + climbShare*g)
		}
	}
	// In YELLOW while the other direction's raise is the suspect, d's
	// shortfall is more likely that raise's queue slowing d's flows (one
	// round trip carries both) than d's capacity: the counters do not
	// estimate it.
	innocent := z == Yellow && c.ownProbe(c.other(d), now)
	if a, ok := d.achievedUnderQueue(now); ok && !innocent && c.on(RuleLoadEstimate) && (capEst == 0 || a < capEst) {
		capEst, ret = a, a
	}
	ret = min(ret, capEst*(1+minMargin)) // what the cut blamed, within reason
	if capEst == 0 {
		return 0, 0
	}
	margin := min(max(max(c.queue, c.raw-c.wireTime())/float64(drainTime), minMargin), maxMargin)
	if !c.on(RuleDrain) {
		margin = minMargin
	}
	return int64(capEst * (1 - margin)), int64(ret)
}

// achievedUnderQueue is the throughput d delivered while the delay stood
// above target_bloat, when it was clearly below the rate the router had
// then (by more than minMargin): the capacity beyond the shaper.
func (d *direction) achievedUnderQueue(now time.Time) (float64, bool) {
	l := &d.load
	if !l.valid || now.Sub(l.at) > loadStale {
		return 0, false
	}
	if l.at.Sub(l.from) > estimateWindow {
		return 0, false
	}
	r := float64(d.router.at(l.at))
	if r <= 0 || l.achieved >= r*(1-minMargin) || l.achieved <= 0 {
		return 0, false
	}
	return l.achieved, true
}

// draining reports whether d's last cut may still be enough: replies to
// requests sent after the router had it show the queue draining within
// drainingOK at the measured rate, or are too few (under three) to tell. Replies to
// requests sent before describe the queue the cut was made for. When none
// has come back by the time one was due at the delay of the cut (the
// slowest baseline plus that delay plus two ping intervals), the queue has
// grown: not enough.
func (c *Controller) draining(d *direction, now time.Time) bool {
	if !c.on(RuleRepeatGate) {
		return false
	}
	since := d.cut.at
	if !d.cut.landed.IsZero() {
		since = d.cut.landed
	}
	g, _, n, ok := c.est.growth(now, since)
	switch {
	case n == 0:
		var slowest float64
		for i := range c.refl {
			slowest = max(slowest, c.refl[i].baseline)
		}
		return now.Sub(since) <= time.Duration(slowest+d.cut.delay)+2*c.pingInterval
	case !ok:
		return true // too few to fit a growth yet
	}
	return g < -minGrowth && c.load/(-g) < float64(drainingOK)
}
