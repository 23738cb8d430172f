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
	dirs         [2]direction // download, upload
	est          estimator
	pingInterval time.Duration // one reflector's ping spacing
	probeSlot    time.Duration // increase_interval: one raise per slot, in turn
	maxJump      float64       // the climb limit above the router's rate (see configure)
	minRaise     float64       // the smallest climb limit slow cuts leave
	cutLatency   float64       // ns, moving average of cut decision → router (0: none yet)

	raw     float64   // ns, this cycle's raw delta
	load    float64   // ns, loaded delta
	queue   float64   // ns, the loaded delta beyond the wire time and the jitter floor
	onset   time.Time // since when queue has stood above target_bloat (zero: it does not)
	jitter  jitterFloor
	loadAt  time.Time
	hasLoad bool
	signal  bool
	off     Rule // rules removed for the bench's ablation (none in the daemon)
}

// reflector is one measurement source: an ICMP reflector, or a TCP
// fallback target (port != 0), each with its own baseline.
type reflector struct {
	addr        netip.AddrPort // port 0: ICMP
	stale       time.Duration
	baseline    float64 // ns; valid when hasBaseline
	hasBaseline bool
	baselineAt  time.Time // last baseline update (zero: restored, age unknown)
	lastAt      time.Time // time of the freshest sample
	heard       bool
	replies     uint64
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
func (c *Controller) Observe(i int, rtt time.Duration, at time.Time) {
	if i < 0 || i >= len(c.refl) || rtt <= 0 {
		return
	}
	r := &c.refl[i]
	v := float64(rtt)
	var delta float64
	switch {
	case !r.hasBaseline || v <= r.baseline:
		r.baseline, r.hasBaseline = v, true
	default:
		delta = v - r.baseline
		dt := at.Sub(r.baselineAt)
		if r.baselineAt.IsZero() {
			dt = r.stale
		}
		tc := c.p.baselineTC
		if delta >= c.p.baselineThreshold {
			// Under load the baseline barely rises, and a silent source
			// is not credited its silence as rise time.
			tc = c.p.riseTC
			dt = min(dt, r.stale)
		}
		r.baseline += ewmaAlpha(dt, tc) * (v - r.baseline)
	}
	if at.After(r.baselineAt) {
		r.baselineAt = at
	}
	r.replies++
	c.est.add(sample{sent: at.Add(-rtt), at: at, delta: delta, src: i})
	if c.dirs[0].zone == Green && c.dirs[1].zone == Green && c.on(RuleJitterFloor) {
		c.jitter.add(delta, at)
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
	if c.signal {
		c.raw = c.est.raw(now, c.refl, c.p.target, c.pingInterval, c.scratch)
		c.updateLoad(now)
	}
	c.queue = max(0, c.load-c.wireTime()-c.jitter.floor)
	switch {
	case c.queue <= c.p.target:
		c.onset = time.Time{}
	case c.onset.IsZero():
		c.onset = now
	}
	dec.Baseline, dec.Signal = c.medianBaseline(), c.signal
	dec.RawDelta, dec.Delta = time.Duration(c.raw), time.Duration(c.load)
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
			GreenStreak: d.greenStreak, YellowStreak: d.yellowStreak}
		d.noteOffer(now)
	}
	return dec
}

// stepDir is one direction's cycle with a signal: out of GREEN it cuts, in
// GREEN it raises, or cuts its own overshooting probe.
func (c *Controller) stepDir(d *direction, now time.Time) Action {
	c.judge(d)
	if d.zone != Green || c.queue > c.p.target*calmShare {
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
