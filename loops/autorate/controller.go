package autorate

import (
	"math"
	"net/netip"
	"time"
)

// Controller is one WAN's rate controller (docs/autorate.md, "The
// controller"). Not safe for concurrent use; Step, Observe and ObserveLoad
// never allocate.
type Controller struct {
	p            params
	refl         []reflector
	scratch      []float64
	dirs         [2]direction  // download, upload
	legs         [2]leg        // the round trip in legs[0]; with one-way delays download's, upload's
	oneWay       bool          // each direction reads its own leg (docs/autorate.md, "One-way delays")
	pingInterval time.Duration // one reflector's ping spacing
	probeSlot    time.Duration // increase_interval: one raise per slot, in turn
	maxJump      float64       // the climb limit above the router's rate (see configure)
	minRaise     float64       // the smallest climb limit slow cuts leave
	cutLatency   float64       // ns, moving average of cut decision → router (0: none yet)

	signal bool
	off    Rule // rules removed for the bench's ablation (none in the daemon)
}

// leg is one path's delay signal: the round trip, which both directions'
// queues delay, or with one-way delays one direction's path alone.
type leg struct {
	est     estimator
	raw     float64   // ns, this cycle's raw delta
	load    float64   // ns, loaded delta
	queue   float64   // ns, the loaded delta beyond the wire time and the jitter floor
	onset   time.Time // since when queue has stood above target_bloat (zero: it does not)
	jitter  jitterFloor
	loadAt  time.Time
	hasLoad bool
}

// leg is the signal d reads.
func (c *Controller) leg(d *direction) *leg {
	if c.oneWay {
		return &c.legs[dirIndex(d.p.upload)]
	}
	return &c.legs[0]
}

// legs in use: one, or two with one-way delays.
func (c *Controller) nLegs() int {
	if c.oneWay {
		return 2
	}
	return 1
}

// reflector is one measurement source: an ICMP reflector, or a TCP
// fallback target (port != 0), each with its own baseline.
type reflector struct {
	addr    netip.AddrPort // port 0: ICMP
	stale   time.Duration
	base    baseline    // the round trip's
	legBase [2]baseline // the one-way delays', download's and upload's
	lastAt  time.Time   // time of the freshest sample
	heard   bool
	replies uint64
}

// baseline is a source's delay without a queue (ns).
type baseline struct {
	v  float64 // valid when ok
	ok bool
	at time.Time // last update (zero: restored, age unknown)
}

// update takes a sample v received at at and returns its delta above the
// baseline (docs/autorate.md, "Sources and baselines").
func (b *baseline) update(v float64, at time.Time, stale time.Duration, p *params) (delta float64) {
	switch {
	case !b.ok || v <= b.v:
		b.v, b.ok = v, true
	default:
		delta = v - b.v
		dt := at.Sub(b.at)
		if b.at.IsZero() {
			dt = stale
		}
		tc := p.baselineTC
		if delta >= p.baselineThreshold {
			// Under load the baseline barely rises, and a silent source
			// is not credited its silence as rise time.
			tc = p.riseTC
			dt = min(dt, stale)
		}
		b.v += ewmaAlpha(dt, tc) * (v - b.v)
	}
	if at.After(b.at) {
		b.at = at
	}
	return delta
}

// direction is one direction's state: its zone and rate, what the router
// has, its last raise and cut, what it knows of the capacity and the load.
type direction struct {
	p                         dirParams
	zone                      Zone
	rate                      int64 // the rate offered to the router
	greenStreak, yellowStreak int
	climb                     int64     // where GREEN's steps have got to while the rate waits its turn
	offeredAt                 time.Time // since when rate is above the router's (zero: it is not)
	idleSince                 time.Time // zero while loaded

	good     int64 // the router's rate when a raise of d's last held (0: none)
	router   routerView
	raise    raiseState
	cut      cutState
	capacity capacityView
	load     loadState
}

// Observe records a reply from source i (see SourceIndex) with round-trip
// time rtt, received at at (docs/autorate.md, "Sources and baselines").
// With one-way delays a reply without them tells both legs its round trip's
// delta: either queue may hold it.
func (c *Controller) Observe(i int, rtt time.Duration, at time.Time) {
	if i < 0 || i >= len(c.refl) || rtt <= 0 {
		return
	}
	r := &c.refl[i]
	delta := r.base.update(float64(rtt), at, r.stale, &c.p)
	for k := range c.nLegs() {
		c.legs[k].est.add(sample{sent: at.Add(-rtt), at: at, delta: delta, src: i})
	}
	c.heard(r, delta, delta, at)
}

// ObserveOneWay records a reply from source i that carries its one-way
// delays: up out (with the clocks' offset, which the baseline takes), down
// back, rtt in all; without one-way delays configured it is a round trip.
func (c *Controller) ObserveOneWay(i int, rtt, up, down time.Duration, at time.Time) {
	if !c.oneWay {
		c.Observe(i, rtt, at)
		return
	}
	if i < 0 || i >= len(c.refl) || rtt <= 0 {
		return
	}
	r := &c.refl[i]
	r.base.update(float64(rtt), at, r.stale, &c.p)
	var deltas [2]float64
	for k, v := range [2]time.Duration{down, up} {
		deltas[k] = r.legBase[k].update(float64(v), at, r.stale, &c.p)
		c.legs[k].est.add(sample{sent: at.Add(-rtt), at: at, delta: deltas[k], src: i})
	}
	c.heard(r, deltas[0], deltas[1], at)
}

// heard notes a reply of r received at at, with its legs' deltas.
func (c *Controller) heard(r *reflector, down, up float64, at time.Time) {
	r.replies++
	if c.dirs[0].zone == Green && c.dirs[1].zone == Green && c.on(RuleJitterFloor) {
		c.legs[0].jitter.add(down, at)
		if c.oneWay {
			c.legs[1].jitter.add(up, at)
		}
	}
	// An out-of-order (older) reply does not make the source fresher.
	if !r.heard || !at.Before(r.lastAt) {
		r.lastAt, r.heard = at, true
	}
}

// Step runs one control cycle at now and returns the decision.
func (c *Controller) Step(now time.Time) Decision {
	var dec Decision
	for i := range c.refl {
		r := &c.refl[i]
		if r.heard && now.Sub(r.lastAt) <= r.stale {
			dec.Fresh++
		}
	}
	c.signal = dec.Fresh > 0
	for k := range c.nLegs() {
		c.stepLeg(k, now)
	}
	dec.Baseline, dec.Signal = c.medianBaseline(), c.signal
	for k := range c.nLegs() {
		dec.RawDelta = max(dec.RawDelta, time.Duration(c.legs[k].raw))
		dec.Delta = max(dec.Delta, time.Duration(c.legs[k].load))
	}
	for i := range c.dirs {
		d := &c.dirs[i]
		prev := d.rate
		var act Action
		if c.signal {
			act = c.stepDir(d, now)
		} else {
			act = c.silent(d, now)
		}
		*dec.Dir(i == 1) = DirDecision{Zone: d.zone, Rate: d.rate, Prev: prev, Changed: d.rate != prev, Action: act,
			GreenStreak: d.greenStreak, YellowStreak: d.yellowStreak, Delta: time.Duration(c.leg(d).load)}
		d.noteOffer(now)
	}
	return dec
}

// stepDir is one direction's cycle with a signal: out of GREEN it cuts, in
// GREEN it raises, or cuts its own overshooting probe.
func (c *Controller) stepDir(d *direction, now time.Time) Action {
	c.judge(d)
	if d.zone != Green || c.leg(d).queue > c.p.target*calmShare {
		d.raise.calm = false
	}
	act := Hold
	if d.zone != Green {
		probe := d.zone == Yellow && c.ownProbe(d, now)
		if c.cut(d, d.zone, now, false) {
			act = Decrease
			if probe {
				c.probeCut(d)
			}
		}
		d.climb = d.rate
		return act
	}
	d.cut.greenSince = true
	c.checkHeld(d)
	act = c.green(d, now)
	if act != Increase && c.on(RuleOwnProbeCut) && c.probeOvershot(d, now) && c.cutOwnProbe(d, now) {
		act = Decrease
		d.climb = d.rate
	}
	return act
}

// silent is a direction's cycle without a signal: never raise blind, but
// RED and SOFT_RED go on cutting (docs/autorate.md, "No signal").
func (c *Controller) silent(d *direction, now time.Time) Action {
	act := NoSignal
	d.greenStreak = 0
	if d.zone >= SoftRed && c.on(RuleSilenceDecrease) && c.cut(d, d.zone, now, true) {
		act = Decrease
	}
	if d.router.applied > 0 && d.rate > d.router.applied {
		d.rate = d.router.applied
	}
	d.climb = d.rate
	d.raise.calm = false
	return act
}

// setRate moves d to r (clamped to [red floor, ceiling]) with no climb
// pending.
func (d *direction) setRate(r int64) {
	d.rate = clampRate(r, d.p)
	d.climb = d.rate
}

// setZone sets a restored or reloaded zone: an upload has no SOFT_RED, an
// unknown zone is RED.
func (d *direction) setZone(z Zone) {
	if z > Red || (d.p.upload && z == SoftRed) {
		z = Red
	}
	d.zone = z
}

// noteOffer keeps offeredAt.
func (d *direction) noteOffer(now time.Time) {
	switch {
	case d.router.applied <= 0 || d.rate <= d.router.applied:
		d.offeredAt = time.Time{}
	case d.offeredAt.IsZero():
		d.offeredAt = now
	}
}

// routerRate is the router's rate, or d's while that is unknown.
func (d *direction) routerRate() int64 {
	if r := d.router.applied; r > 0 {
		return r
	}
	return d.rate
}

// appliedHistLen router rate changes are kept (≥ 1.6 s at 50 ms): a growth
// is judged against the rate when its requests were sent.
const appliedHistLen = 32

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

// SetApplied tells the controller the rate the router has (last accepted,
// 0: unknown) for download (false) or upload (true); before each Step.
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

func dirIndex(upload bool) int {
	if upload {
		return 1
	}
	return 0
}

// other is the direction that is not d.
func (c *Controller) other(d *direction) *direction {
	return &c.dirs[1-dirIndex(d.p.upload)]
}

// ewmaAlpha is the weight of a new sample after dt for time constant tc.
func ewmaAlpha(dt time.Duration, tc float64) float64 {
	if dt <= 0 {
		return 0
	}
	if tc <= 0 {
		return 1
	}
	return 1 - math.Exp(-float64(dt)/tc)
}
