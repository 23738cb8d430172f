// Package autorate is wanctl's latency-driven shaper controller and the
// daemon around it.
//
// The Controller is pure: it is fed ping replies (Observe) and asked for a
// decision at a given instant (Step); it never reads a clock, a socket or a
// file, so the simulator can run it in virtual time. The WritePolicy decides
// which desired rates are sent to the router; the Writer sends them. Loop
// glues a measurement source, the controller, the write policy, the writer,
// metrics and state persistence together for one WAN, one Cycle at a time;
// Daemon runs the loops on tickers.
package autorate

import (
	"math"
	"net/netip"
	"time"

	"github.com/wanctl/wanctl/config"
)

// Zone is a direction's congestion state. Larger is worse.
type Zone uint8

// Zones in order of severity.
const (
	Green Zone = iota
	Yellow
	SoftRed
	Red
)

var zoneNames = [...]string{"GREEN", "YELLOW", "SOFT_RED", "RED"}

// Zones lists every zone in order of severity.
var Zones = [...]Zone{Green, Yellow, SoftRed, Red}

func (z Zone) String() string {
	if int(z) < len(zoneNames) {
		return zoneNames[z]
	}
	return "UNKNOWN"
}

// ParseZone is the inverse of Zone.String.
func ParseZone(s string) (Zone, bool) {
	for i, n := range zoneNames {
		if n == s {
			return Zone(i), true
		}
	}
	return Green, false
}

// MarshalText writes the zone's name ("GREEN", "SOFT_RED", ...).
func (z Zone) MarshalText() ([]byte, error) { return []byte(z.String()), nil }

// UnmarshalText reads a zone name; an unknown name is GREEN (a state file
// from a newer version must not stop the daemon).
func (z *Zone) UnmarshalText(b []byte) error {
	*z, _ = ParseZone(string(b))
	return nil
}

// Action is what a Step did to a direction's rate.
type Action uint8

// Actions.
const (
	Hold     Action = iota // rate unchanged
	Decrease               // a zone lowered the rate
	Increase               // GREEN stepped the rate up
	NoSignal               // no fresh measurement: rate held
)

var actionNames = [...]string{"hold", "decrease", "increase", "no-signal"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// DirDecision is one direction's outcome of a Step.
type DirDecision struct {
	Zone    Zone
	Rate    int64 // bits/s after this step
	Prev    int64 // bits/s before this step
	Changed bool  // Rate != Prev
	Action  Action
	// GreenStreak counts consecutive GREEN cycles (reset by any other
	// measurement); YellowStreak counts consecutive cycles whose delta was
	// above target_bloat (the dwell counter).
	GreenStreak, YellowStreak int
}

// Decision is the outcome of one Step.
type Decision struct {
	Download, Upload DirDecision
	// Signal is false when no reflector was heard from recently: rates were
	// held and the zones are the previous ones.
	Signal bool
	// RawDelta is this cycle's median of the fresh per-reflector deltas,
	// Delta the loaded delta (EWMA of RawDelta) the zones are judged on.
	RawDelta, Delta time.Duration
	// Baseline is the median of the reflectors' baselines (0 before any
	// reply).
	Baseline time.Duration
	// Fresh is the number of reflectors heard from recently.
	Fresh int
}

// Dir returns the decision for download (false) or upload (true).
func (d *Decision) Dir(upload bool) *DirDecision {
	if upload {
		return &d.Upload
	}
	return &d.Download
}

// reflector is one measurement source: an ICMP reflector, or a TCP
// fallback target (port != 0), each with its own baseline.
type reflector struct {
	addr        netip.AddrPort // port 0: ICMP
	stale       time.Duration
	baseline    float64 // ns; valid when hasBaseline
	hasBaseline bool
	baselineAt  time.Time // time of the last baseline update (zero: restored, unknown)
	delta       float64   // ns, freshest sample's delta
	lastAt      time.Time // time of the freshest sample
	heard       bool
	replies     uint64
}

type dirParams struct {
	ceiling, stepUp             int64
	factorDown, factorDownYello float64
	redFloor, softRedFloor      int64
	yellowFloor                 int64
	upload                      bool
}

type dirState struct {
	p            dirParams
	zone         Zone
	rate         int64
	greenStreak  int
	yellowStreak int
	decreased    bool // a decrease happened (lastDecAt, lastDecZone valid)
	lastDecAt    time.Time
	lastDecZone  Zone
	// applied is the rate the router has (SetApplied; 0: unknown), and
	// appliedHist its recent history: which rate a queue grew under when
	// a reply's request was sent.
	applied     int64
	appliedHist [appliedHistLen]ratePoint
	appliedHead int
	// lastRaise is when the router last got a higher rate; unconfirmed
	// while no reply to a request sent since has shown GREEN, beforeRaise
	// the rate before the unconfirmed increases.
	lastRaise   time.Time
	raisedBy    float64 // that raise, as a fraction of the rate before
	rawAtRaise  float64 // the raw delta when it landed
	unconfirmed bool
	beforeRaise int64
	// calm: since the last raise landed, every cycle was GREEN with the
	// loaded delta at most half of target_bloat; held: replies to
	// requests sent half an increase_interval after it landed came back
	// while it was still calm.
	calm, held bool
	// cutAt is when the router first had the rate of the last decrease
	// (zero: not yet, or unknown); cutDelta the raw delta at the decrease.
	cutAt    time.Time
	cutDelta float64
	// greenSinceCut: the zone was GREEN since the last decrease.
	greenSinceCut bool
	// est is the capacity estimated at the last decrease that could
	// estimate one (0: none); jump is the next increase's size as a
	// fraction of the applied rate (0: maxJump).
	est, hold int64
	jump      float64

	// climb is the rate GREEN's steps have reached while the rate offered
	// waits for the other direction's turn (othersTurn).
	climb int64
	// offeredAt is since when rate has been above applied (an increase on
	// its way to the router); zero while it is not.
	offeredAt time.Time

	load loadState // the queue counters' achieved throughput
}

// ratePoint is the applied rate from at on.
type ratePoint struct {
	at   time.Time
	rate int64
}

// How big the moves are (docs/autorate.md, "How big the moves are").
const (
	appliedHistLen = 32 // cycles of applied rate kept (1.6 s at 50 ms)
	// A cut aims below the estimated capacity by a margin that drains the
	// measured queue in about drainTime: at least minMargin, at most
	// maxMargin of the capacity.
	drainTime = 500 * time.Millisecond
	minMargin = 0.08
	maxMargin = 0.5
	// A decrease is not repeated while the queue drains by itself within
	// drainingOK at the measured rate.
	drainingOK = time.Second
	// climbShare of the measured growth is blamed on a direction for the
	// level GREEN returns to at once after a cut (the cut itself blames all
	// of it: one RTT carries both directions' queues). GREEN returns to
	// holdMargin below that level.
	climbShare = 0.5
	holdMargin = 0.1
	// An increase lands at most jump above the applied rate: firstJump
	// after a decrease and while within nearBand of the estimate, growing
	// by jumpGrowth with each increase that lands beyond it, up to maxJump.
	firstJump  = 0.04
	jumpGrowth = 1.3
	maxJump    = 0.25
	nearBand   = 0.05
	// Near the estimate a direction raises at most once per nearEvery
	// increase_intervals.
	nearEvery = 2
	// Once a raise has held at or above the estimate (checkHeld), the
	// next increase is at least rampJump; with no estimate each raise
	// that holds makes the next rampGrowth times larger.
	rampJump   = 0.1
	rampGrowth = 1.5
	// A raise of at least overshootMin that makes the queue grow is cut
	// at once (probeOvershot).
	overshootMin = 0.05
	// minJumpOverMinChange keeps the smallest increase clear of
	// min_change after rounding.
	minJumpOverMinChange = 0.005
)

type params struct {
	target, warn, hardRed      float64 // ns
	deadband                   float64
	baselineTC, riseTC, loadTC float64 // ns
	baselineThreshold          float64
	refractory                 time.Duration
	greenRequired, dwell       int
}

// Controller is one WAN's rate controller: per-reflector baselines, the
// loaded delta, a zone and a rate per direction. It is not safe for
// concurrent use; Step and Observe never allocate.
type Controller struct {
	p       params
	refl    []reflector
	scratch []float64
	dirs    [2]dirState // download, upload
	// pingInterval is how often one reflector is pinged; probeSlot is
	// the router's increase_interval: the directions take turns probing
	// for more capacity, one per slot.
	pingInterval time.Duration
	probeSlot    time.Duration
	// minJump is the smallest increase GREEN offers above the router's
	// rate: firstJump, or more when router_writes.min_change is larger (a
	// smaller one would never be written, and the rate would never climb).
	minJump float64
	est     estimator

	load    float64 // ns, loaded delta
	loadAt  time.Time
	hasLoad bool
	raw     float64
	signal  bool
	off     Rule // rules removed for the bench's ablation (none in the daemon)
}

// NewController builds a controller for w, starting at the ceilings in
// GREEN with no baselines.
func NewController(w *config.WAN) *Controller {
	c := &Controller{}
	c.configure(w)
	for i := range c.dirs {
		c.dirs[i].rate = c.dirs[i].p.ceiling
	}
	return c
}

func (c *Controller) configure(w *config.WAN) {
	t := w.Thresholds
	c.p = params{
		target:            float64(t.TargetBloat),
		warn:              float64(t.WarnBloat),
		hardRed:           float64(t.HardRedBloat),
		deadband:          float64(t.Deadband),
		baselineTC:        float64(t.BaselineTimeConstant),
		riseTC:            float64(t.BaselineRiseTimeConstant),
		loadTC:            float64(t.LoadTimeConstant),
		baselineThreshold: float64(t.BaselineUpdateThreshold),
		refractory:        t.Refractory,
		greenRequired:     t.GreenRequired,
		dwell:             t.DwellCycles,
	}
	c.dirs[0].p = newDirParams(&w.Download, false)
	c.dirs[1].p = newDirParams(&w.Upload, true)

	// Keep what was learned about sources that stay in the list.
	m := &w.Measurement
	old := c.refl
	c.refl = make([]reflector, 0, len(m.Reflectors)+len(m.TCPFallback))
	add := func(a netip.AddrPort, stale time.Duration) {
		r := reflector{addr: a}
		for j := range old {
			if old[j].addr == a {
				r = old[j]
				break
			}
		}
		r.stale = stale
		c.refl = append(c.refl, r)
	}
	for _, a := range m.Reflectors {
		add(netip.AddrPortFrom(a, 0), StaleAfter(m))
	}
	for _, a := range m.TCPFallback {
		add(a, fallbackStaleAfter(m))
	}
	c.scratch = make([]float64, 0, max(len(c.refl), rawSamples))
	if cp := 4*m.PingRate + 16; cap(c.est.pend) < cp {
		c.est.pend = make([]pendingReq, 0, cp)
	}
	c.probeSlot = w.RouterWrites.IncreaseInterval
	if c.probeSlot <= 0 {
		c.probeSlot = time.Second
	}
	c.minJump = max(firstJump, w.RouterWrites.MinChange+minJumpOverMinChange)
	c.pingInterval = time.Second
	if m.PingRate > 0 && len(m.Reflectors) > 0 {
		c.pingInterval = time.Duration(float64(len(m.Reflectors)) / float64(m.PingRate) * float64(time.Second))
	}
}

// Sources returns the number of measurement sources: the reflectors, then
// the TCP fallback targets.
func (c *Controller) Sources() int { return len(c.refl) }

// SourceIndex returns the index Observe expects for a reply from addr: a
// reflector's index for an ICMP reply, len(reflectors) + the fallback
// target's index for a TCP one; -1 if it is not a configured source. TCP
// replies match a fallback target by address (their port is not reported).
func (c *Controller) SourceIndex(addr netip.Addr, tcp bool) int {
	addr = addr.Unmap()
	for i := range c.refl {
		a := c.refl[i].addr
		if (a.Port() != 0) == tcp && a.Addr() == addr {
			return i
		}
	}
	return -1
}

func newDirParams(d *config.Direction, upload bool) dirParams {
	return dirParams{
		ceiling:         d.Ceiling,
		stepUp:          d.StepUp,
		factorDown:      d.FactorDown,
		factorDownYello: d.FactorDownYellow,
		redFloor:        d.Floor.Red,
		softRedFloor:    d.Floor.SoftRed,
		yellowFloor:     d.Floor.Yellow,
		upload:          upload,
	}
}

// StaleAfter is how long a reflector's freshest reply counts for the
// aggregate: 2.5 of that reflector's ping intervals (reflectors/ping_rate),
// at least 500 ms.
func StaleAfter(m *config.Measurement) time.Duration {
	n := len(m.Reflectors)
	rate := m.PingRate
	if n == 0 || rate <= 0 {
		return 500 * time.Millisecond
	}
	d := time.Duration(2.5 * float64(n) / float64(rate) * float64(time.Second))
	return max(d, 500*time.Millisecond)
}

// fallbackStaleAfter is StaleAfter for the TCP fallback targets, probed
// at min(ping_rate, 5)/s all together during an ICMP blackout.
func fallbackStaleAfter(m *config.Measurement) time.Duration {
	n := len(m.TCPFallback)
	rate := min(float64(m.PingRate), 5)
	if n == 0 || rate <= 0 {
		return 500 * time.Millisecond
	}
	return max(time.Duration(2.5*float64(n)/rate*float64(time.Second)), 500*time.Millisecond)
}

// Reconfigure applies new thresholds, rates and reflectors (SIGHUP) while
// keeping the learned state: zones, streaks, the loaded delta and the
// baselines of reflectors still in the list. Rates are clamped to the new
// [red floor, ceiling].
func (c *Controller) Reconfigure(w *config.WAN) {
	c.configure(w)
	for i := range c.dirs {
		d := &c.dirs[i]
		d.rate = clampRate(d.rate, d.p)
		d.climb = d.rate
		if d.p.upload && d.zone == SoftRed {
			d.zone = Red
		}
	}
}

func clampRate(r int64, p dirParams) int64 {
	if r <= 0 || r > p.ceiling {
		return p.ceiling
	}
	return max(r, p.redFloor)
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

// Observe records one ping reply from source i (an index into the WAN's
// measurement.reflectors; TCP fallback targets follow them, see
// SourceIndex) with round-trip time rtt, received at at.
//
// The reply's delta is rtt minus the reflector's baseline. The baseline
// drops at once to a lower RTT; while the delta is below
// baseline_update_threshold it follows the RTT with
// baseline_time_constant; above it, it rises with
// baseline_rise_time_constant, and over at most the reflector's staleness
// window (a reflector silent for minutes must not learn the silence as rise
// time).
func (c *Controller) Observe(i int, rtt time.Duration, at time.Time) {
	if i < 0 || i >= len(c.refl) || rtt <= 0 {
		return
	}
	r := &c.refl[i]
	v := float64(rtt)
	var delta float64
	switch {
	case !r.hasBaseline || v <= r.baseline:
		r.baseline = v
		r.hasBaseline = true
	default:
		delta = v - r.baseline
		dt := at.Sub(r.baselineAt)
		if r.baselineAt.IsZero() {
			dt = r.stale
		}
		tc := c.p.baselineTC
		if delta >= c.p.baselineThreshold {
			tc = c.p.riseTC
			dt = min(dt, r.stale)
		}
		r.baseline += ewmaAlpha(dt, tc) * (v - r.baseline)
	}
	if at.After(r.baselineAt) {
		r.baselineAt = at
	}
	r.replies++
	c.est.add(sample{sent: at.Add(-rtt), at: at, delta: delta, src: i}, c.dirs[0].zone == Green && c.dirs[1].zone == Green)
	// An out-of-order (older) reply does not replace a fresher delta.
	if !r.heard || !at.Before(r.lastAt) {
		r.delta = delta
		r.lastAt = at
		r.heard = true
	}
}

// median sorts s in place (insertion sort: a handful of values) and returns
// its median.
func median(s []float64) float64 {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Step runs one control cycle at now and returns the decision.
func (c *Controller) Step(now time.Time) Decision {
	var dec Decision
	s := c.scratch[:0]
	for i := range c.refl {
		r := &c.refl[i]
		if r.heard && now.Sub(r.lastAt) <= r.stale {
			s = append(s, r.delta)
		}
	}
	dec.Fresh = len(s)
	if len(s) == 0 {
		c.signal = false
		dec.Baseline = c.medianBaseline()
		dec.Signal = false
		dec.RawDelta = time.Duration(c.raw)
		dec.Delta = time.Duration(c.load)
		for i := range c.dirs {
			d := &c.dirs[i]
			// Never raise blind: a GREEN streak must be rebuilt from
			// real measurements.
			d.greenStreak = 0
			prev := d.rate
			act := NoSignal
			// Silence in RED or SOFT_RED is most likely the bloat having
			// outgrown the ping timeout, not an outage: those zones go on
			// decreasing to their floors (harmless if the link is down).
			// GREEN and YELLOW hold.
			if d.zone >= SoftRed && c.on(RuleSilenceDecrease) && c.decrease(d, d.zone, now, true) {
				act = Decrease
			}
			// Never raise blind: an increase decided before the silence
			// but not written yet (increases are coalesced) is dropped,
			// and one that landed while no reply has shown yet that the
			// link carries it is undone — holding it could hold a probe's
			// overshoot for as long as the silence lasts. So is one that
			// has not held yet while the delay grew under it by more than
			// a quarter of target_bloat: a small overshoot's queue stays
			// under target_bloat for a second or more, and replies in that
			// time confirmed it.
			if d.applied > 0 && d.rate > d.applied {
				d.rate = d.applied
			}
			grew := !d.held && !d.lastRaise.IsZero() && now.Sub(d.lastRaise) < c.probeSlot && c.raw > d.rawAtRaise+c.p.target/4
			if c.on(RuleSilenceUndo) && (d.unconfirmed || grew) && d.beforeRaise > 0 && d.rate > d.beforeRaise {
				d.rate = d.beforeRaise
				act = Decrease
			}
			d.unconfirmed = false
			d.calm = false
			d.climb = d.rate
			d.noteOffer(now)
			*dec.Dir(i == 1) = DirDecision{Zone: d.zone, Rate: d.rate, Prev: prev, Changed: d.rate != prev, Action: act, YellowStreak: d.yellowStreak}
		}
		return dec
	}
	c.signal = true
	c.raw = c.est.raw(now, c.refl, c.p.target, c.pingInterval, c.scratch)
	dec.Baseline = c.medianBaseline() // reuses the scratch space
	if !c.hasLoad {
		c.load = c.raw
		c.hasLoad = true
	} else if c.raw < c.load && c.on(RuleFastFall) {
		// A falling delay is the queue draining: the median of the
		// newest replies already ignores one odd reply, so follow it
		// at once.
		c.load = c.raw
	} else {
		c.load += ewmaAlpha(now.Sub(c.loadAt), c.p.loadTC) * (c.raw - c.load)
	}
	if now.After(c.loadAt) {
		c.loadAt = now
	}
	dec.Signal = true
	dec.RawDelta = time.Duration(c.raw)
	dec.Delta = time.Duration(c.load)
	for i := range c.dirs {
		*dec.Dir(i == 1) = c.stepDir(&c.dirs[i], now)
		c.dirs[i].noteOffer(now)
	}
	return dec
}

// noteOffer keeps offeredAt: since when the rate has been above the
// router's.
func (d *dirState) noteOffer(now time.Time) {
	switch {
	case d.applied <= 0 || d.rate <= d.applied:
		d.offeredAt = time.Time{}
	case d.offeredAt.IsZero():
		d.offeredAt = now
	}
}

func (c *Controller) medianBaseline() time.Duration {
	s := c.scratch[:0]
	for i := range c.refl {
		if c.refl[i].hasBaseline {
			s = append(s, c.refl[i].baseline)
		}
	}
	if len(s) == 0 {
		return 0
	}
	return time.Duration(median(s))
}

// zoneFor applies thresholds, dwell and deadband to the loaded delta.
func (c *Controller) zoneFor(d *dirState) Zone {
	x := c.load
	if x > c.p.target {
		d.yellowStreak++
	} else {
		d.yellowStreak = 0
	}
	switch {
	case !d.p.upload && x > c.p.hardRed:
		return Red
	case d.p.upload && x > c.p.warn:
		return Red
	case !d.p.upload && x > c.p.warn:
		return SoftRed
	case x > c.p.target:
		// GREEN enters YELLOW only after dwell_cycles raw-YELLOW cycles;
		// a worse zone improving lands in YELLOW at once.
		if d.zone == Green && d.yellowStreak < c.p.dwell {
			return Green
		}
		return Yellow
	case d.zone != Green && x >= c.p.target-c.p.deadband:
		// YELLOW (or a worse zone coming down) is left for GREEN only
		// below target - deadband.
		return Yellow
	default:
		return Green
	}
}

func (c *Controller) stepDir(d *dirState, now time.Time) DirDecision {
	z := c.zoneFor(d)
	d.zone = z
	prev := d.rate
	act := Hold
	if z == Green && c.load <= c.p.target {
		d.greenStreak++
	} else {
		d.greenStreak = 0
	}
	if z != Green || c.load > c.p.target/2 {
		d.calm = false
	}
	if z == Green {
		d.greenSinceCut = true
		if d.unconfirmed && c.load <= c.p.target && c.est.n > 0 && c.est.newestSent().After(d.lastRaise) {
			d.unconfirmed = false
		}
		c.checkHeld(d)
		if d.greenStreak >= c.p.greenRequired && d.rate < d.p.ceiling {
			// climb is where GREEN's steps have got to; the rate offered
			// to the router waits while it is the other direction's turn
			// (an increase not written yet is withdrawn).
			base := max(d.rate, d.climb)
			next := min(d.p.ceiling, base+d.p.stepUp)
			if d.applied > 0 && (c.on(RuleClimbLimit) || c.on(RuleHoldReturn)) {
				next = min(next, max(base, c.climbLimit(d, now)))
			}
			climb := next
			if d.applied > 0 && c.othersTurn(d, now) {
				next = min(d.rate, d.applied)
			}
			if next > d.rate {
				act = Increase
			}
			d.rate = next
			d.climb = climb
		} else {
			d.climb = d.rate
		}
	} else {
		if c.decrease(d, z, now, false) {
			act = Decrease
		}
		d.climb = d.rate
	}
	if z == Green && act != Increase && c.on(RuleOwnProbeCut) && c.probeOvershot(d, now) && c.decreaseOwnProbe(d, now) {
		// Cut as YELLOW would, without waiting for the delay to
		// reach target_bloat for dwell_cycles.
		act = Decrease
		d.climb = d.rate
	}
	return DirDecision{
		Zone:         z,
		Rate:         d.rate,
		Prev:         prev,
		Changed:      d.rate != prev,
		Action:       act,
		GreenStreak:  d.greenStreak,
		YellowStreak: d.yellowStreak,
	}
}

// probeOvershot reports whether d's last raise went beyond the capacity:
// it raised by at least overshootMin, landed less than an
// increase_interval ago and has not held, the raw delta is above half of
// target_bloat, and the queue grows (by more than minGrowth) since it
// landed: the growth's onset lies within onsetSlack of that raise and not
// of the other direction's. Such a probe costs about its size times the
// time a round trip takes to show it (a 25 % raise: ~0.25 ms of queue per
// ms), so it is cut at once instead of after dwell_cycles above
// target_bloat. Only with ICMP replies: the TCP fallback's are too few to
// date a growth.
func (c *Controller) probeOvershot(d *dirState, now time.Time) bool {
	if d.held || d.lastRaise.IsZero() || now.Sub(d.lastRaise) >= c.probeSlot || d.raisedBy < overshootMin || c.raw <= c.p.target/2 || c.est.noise > c.p.target/4 {
		return false
	}
	if c.est.n == 0 || c.refl[c.est.back(0).src].addr.Port() != 0 {
		return false
	}
	g, _, ok := c.est.capacityGrowth(now)
	if !ok || g <= minGrowth {
		return false
	}
	onset, ok := c.est.growthOnset(now)
	if !ok {
		return false
	}
	o := &c.dirs[1-dirIndex(d.p.upload)]
	near := func(t time.Time) bool {
		return !t.IsZero() && t.Sub(onset) < onsetSlack && onset.Sub(t) < onsetSlack
	}
	return near(d.lastRaise) && !near(o.lastRaise)
}

// checkHeld notes when d's last raise has held: a reply to a request sent
// half an increase_interval after it landed came back, and every cycle
// since it landed was GREEN with the loaded delta at most half of
// target_bloat (a raise 2 % beyond the capacity has grown the queue by
// 10 ms in that time). A raise that held at or above the capacity
// estimate proves the capacity has grown since the estimate was made (the
// congestion is over): the estimate, its return level and its slower
// probing are dropped and the next increase is at least rampJump. Each
// raise that holds with no estimate makes the next one rampGrowth times
// larger (on top of jumpGrowth as it lands), up to maxJump.
func (c *Controller) checkHeld(d *dirState) {
	if !d.calm || d.held || d.lastRaise.IsZero() || c.est.n == 0 || c.est.newestSent().Sub(d.lastRaise) < c.probeSlot/2 {
		return
	}
	d.held = true
	if d.est > 0 && d.applied >= d.est {
		d.est, d.hold = 0, 0
		d.jump = max(d.jump, rampJump)
	}
	if d.est == 0 && d.jump > 0 {
		d.jump = min(d.jump*rampGrowth, maxJump)
	}
}

// climbLimit is the highest rate GREEN may step to now. Increases are
// coalesced into one write per increase_interval, so GREEN's per-cycle
// steps would land on the router as one large jump: the rate stays within
// one jump of what the router has. After a decrease the jump starts small
// (the link was just found full near here) and grows with each increase
// that lands without bloat; a rate well below the capacity estimated at the
// decrease goes back to just below it at once. Near the estimate the two
// directions take turns (one per increase_interval), so that a probe that
// bloats the link can be told apart (see decrease).
func (c *Controller) climbLimit(d *dirState, now time.Time) int64 {
	a := float64(d.applied)
	jump := d.jump
	if jump == 0 {
		jump = maxJump
	}
	limit := int64(a * (1 + max(jump, c.minJump)))
	if !c.on(RuleClimbLimit) {
		limit = math.MaxInt64
	}
	if d.est == 0 {
		return limit
	}
	e := float64(d.est)
	hold := float64(d.hold)
	switch {
	case a < hold && c.on(RuleHoldReturn):
		return max(limit, int64(hold))
	case a < e*(1+nearBand) && c.on(RuleClimbLimit):
		limit = int64(a * (1 + c.minJump))
	}
	return limit
}

// othersTurn reports whether d must leave the next increase to the other
// direction, so that the two directions' probes land at least half an
// increase_interval apart and take turns (a probe's overshoot can then be
// dated to one of them, see otherProbe): d waits while the other
// direction's last raise is less than half an increase_interval old, while
// the other has an increase on its way to the router, and while the other
// waits to climb and raised less recently than d (for at most two
// increase_intervals). An increase d has already offered keeps its turn.
func (c *Controller) othersTurn(d *dirState, now time.Time) bool {
	o := &c.dirs[1-dirIndex(d.p.upload)]
	if d.applied <= 0 || o.applied <= 0 || !c.on(RuleTurns) {
		return false
	}
	if c.est.n > 0 && c.refl[c.est.back(0).src].addr.Port() != 0 {
		// The reflectors are silent and the TCP fallback measures a few
		// times a second: a probe's overshoot would show too late (an
		// increase offered but not written yet is withdrawn).
		return true
	}
	if d.rate > d.applied {
		return false
	}
	if a := float64(d.applied); d.est > 0 && a >= float64(d.hold)*0.99 && a < float64(d.est)*(1+nearBand) &&
		now.Sub(d.lastRaise) < nearEvery*c.probeSlot {
		return true // near the estimate, probe less often
	}
	if !o.lastRaise.IsZero() && now.Sub(o.lastRaise) < c.probeSlot/2 {
		return true
	}
	if o.rate > o.applied && now.Sub(o.offeredAt) < 2*c.probeSlot {
		// The other's increase is on its way; one that does not land
		// (its queue's writes keep failing) must not stop d for good.
		return true
	}
	return o.climb > o.applied && o.lastRaise.Before(d.lastRaise) && now.Sub(d.lastRaise) < 2*c.probeSlot
}

// appliedAt is the rate the router had at t (0: unknown).
func (d *dirState) appliedAt(t time.Time) int64 {
	var r int64
	for k := 0; k < appliedHistLen; k++ {
		pt := d.appliedHist[(d.appliedHead-1-k+appliedHistLen)%appliedHistLen]
		if pt.at.IsZero() {
			break
		}
		r = pt.rate
		if !pt.at.After(t) {
			break
		}
	}
	return r
}

// SetApplied tells the controller the rate the router has for download
// (false) or upload (true) at now: the last rate it accepted, 0 if
// unknown. The Loop calls it before each Step. Then GREEN climbs at most
// one jump above it, decreases start from it when it is below the
// controller's rate, the capacity estimate knows which rate a queue grew
// under, and a repeated decrease waits for replies to requests sent after
// the router had the previous one.
func (c *Controller) SetApplied(upload bool, bps int64, now time.Time) {
	d := &c.dirs[dirIndex(upload)]
	bps = max(bps, 0)
	if d.applied > 0 && bps > d.applied {
		d.lastRaise = now
		d.raisedBy = float64(bps-d.applied) / float64(d.applied)
		d.rawAtRaise = c.raw
		if !d.unconfirmed {
			d.beforeRaise = d.applied
		}
		d.unconfirmed = true
		if d.jump > 0 && (d.est == 0 || float64(bps) > float64(d.est)*(1+nearBand)) {
			// An increase landed beyond the estimate: the next may be
			// larger.
			d.jump = min(d.jump*jumpGrowth, maxJump)
		}
		d.calm, d.held = true, false
	}
	d.applied = bps
	if d.decreased && d.cutAt.IsZero() && bps > 0 && bps <= d.rate {
		d.cutAt = now
	}
	last := &d.appliedHist[(d.appliedHead-1+appliedHistLen)%appliedHistLen]
	if !last.at.IsZero() && last.rate == bps {
		return
	}
	d.appliedHist[d.appliedHead] = ratePoint{at: now, rate: bps}
	d.appliedHead = (d.appliedHead + 1) % appliedHistLen
}

// decrease applies zone z's decrease rule to d at now and reports whether
// the rate went down. Floors bound decreases and are never targets (a rate
// already below the zone's floor is held). After a decrease, the same or a
// better zone decreases again only after refractory, and then only when a
// capacity estimate says the rate is still too high, or replies to
// requests sent after the router had the cut show the queue is not
// draining (or none came back in time). A worse zone acts at once. blind
// (no signal) decreases after refractory without evidence.
//
// How far: when the delay grows fast enough to estimate the capacity
// (growth g under the router's rate r: c = r / (1+g)), the cut goes below
// that estimate by a margin that drains the measured queue in about
// drainTime. RED takes the lower of that and rate*factor_down, YELLOW of
// that and rate*factor_down_yellow; SOFT_RED goes to it (not below its
// floor) instead of to its floor. Without an estimate the zones move as
// DESIGN.md says. A YELLOW shortly after only the other direction raised
// its rate is that direction's probe: this one holds.
func (c *Controller) decrease(d *dirState, z Zone, now time.Time, blind bool) bool {
	return c.cut(d, z, now, blind, false)
}

// decreaseOwnProbe cuts as YELLOW would a probe of d whose queue
// probeOvershot dated to d's own raise: it is not the other direction's
// probe, and GREEN must not return to near the rate that overshot.
func (c *Controller) decreaseOwnProbe(d *dirState, now time.Time) bool {
	return c.cut(d, Yellow, now, false, true)
}

func (c *Controller) cut(d *dirState, z Zone, now time.Time, blind, ownProbe bool) bool {
	repeat := d.decreased && z <= d.lastDecZone
	if repeat && now.Sub(d.lastDecAt) < c.p.refractory {
		return false
	}
	// A decrease after GREEN came back is a new episode, not a repeat.
	repeat = repeat && !d.greenSinceCut
	base := d.rate
	if d.applied > 0 && d.applied < base {
		base = d.applied
	}
	var target, est int64
	if g, mid, ok := c.est.capacityGrowth(now); ok && c.signal && c.on(RuleCapacityCut) && (g > minGrowth || (z == Red && g > -minGrowth)) {
		// A RED queue that neither grows nor drains (within minGrowth)
		// is standing: the rate is the capacity, and only a cut below
		// it drains the queue.
		g = max(g, 0)
		r := d.appliedAt(mid)
		if r <= 0 {
			r = base
		}
		margin := min(max(max(c.load, c.raw)/float64(drainTime), minMargin), maxMargin)
		target = int64(float64(r) / (1 + g) * (1 - margin))
		if g > 0 {
			est = int64(float64(r) / (1 + climbShare*g))
		}
	}
	if blind && z == Red {
		// Silence in RED: the delay has outgrown the ping timeout, far
		// more than drainTime of queue.
		target = int64(float64(base) * (1 - maxMargin))
	}
	if repeat && !blind && !(target > 0 && target < base) && c.on(RuleRepeatGate) && c.cutMayDo(d, now) {
		return false
	}
	prev := d.rate
	var floor, next int64
	switch z {
	case Red:
		floor = d.p.redFloor
		next = int64(float64(base) * d.p.factorDown)
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
		if !ownProbe && c.otherProbe(d, now) {
			return false // the other direction's probe overshot
		}
		floor = d.p.yellowFloor
		next = int64(float64(base) * d.p.factorDownYello)
		if target > 0 {
			next = min(next, target)
		}
	default:
		return false
	}
	if d.rate <= floor {
		return false
	}
	d.rate = max(floor, min(next, d.rate))
	if d.rate >= prev {
		return false
	}
	d.decreased = true
	d.lastDecAt = now
	d.lastDecZone = z
	d.cutAt = time.Time{}
	d.cutDelta = c.raw
	d.greenSinceCut = false
	d.unconfirmed = false
	d.calm = false
	d.jump = c.minJump
	// Capacity estimates: the cut blamed all the growth on d; GREEN
	// returns at once to holdMargin below the capacity with climbShare
	// of it blamed on d (see climbLimit and drainEstimate).
	if est > 0 {
		d.est = est
		d.hold = int64(float64(est) * (1 - holdMargin))
	}
	if z == Yellow && !repeat && !ownProbe && !c.otherProbe(&c.dirs[1-dirIndex(d.p.upload)], now) {
		// No probe of d explains this queue: it may be the other
		// direction's. GREEN returns at once to just below the rate d
		// had; if the queue was d's, that return is d's probe, and is
		// told apart as such.
		d.hold = max(d.hold, int64(float64(base)*(1-minMargin)))
	}
	return true
}

// onsetSlack is how much later than a raise landed its queue may appear to
// start growing: the request that first meets it was sent before the raise
// (it crosses the download bottleneck one upload delay and part of a base
// RTT later), and the onset is extrapolated from jittery replies.
const onsetSlack = 150 * time.Millisecond

// otherProbe reports whether the growing queue that made d YELLOW is the
// other direction's probe. A raise beyond the capacity makes the queue grow
// from the moment it lands, at most as fast as the raise was large. So: the
// other direction raised within the last two increase_intervals and has not
// already cut since without that helping (refractory ago); the delay was
// below half of target_bloat when that raise landed; and, when the growth
// can be dated, it started within onsetSlack of that raise and not of d's,
// no faster than twice the raise. Undated growth is blamed on the other's
// raise whichever of the two raised last: the turns already keep the
// raises apart.
func (c *Controller) otherProbe(d *dirState, now time.Time) bool {
	o := &c.dirs[1-dirIndex(d.p.upload)]
	if !c.on(RuleOtherProbe) || o.lastRaise.IsZero() || now.Sub(o.lastRaise) >= 2*c.probeSlot {
		return false
	}
	if o.decreased && o.lastDecAt.After(o.lastRaise) && now.Sub(o.lastDecAt) >= c.p.refractory {
		return false
	}
	if o.rawAtRaise > c.p.target/2 {
		return false
	}
	onset, ok := c.est.growthOnset(now)
	if !ok {
		return true
	}
	near := func(t time.Time) bool {
		return !t.IsZero() && t.Sub(onset) < onsetSlack && onset.Sub(t) < onsetSlack
	}
	g, _, _ := c.est.capacityGrowth(now)
	return near(o.lastRaise) && !near(d.lastRaise) && g <= 2*o.raisedBy
}

// cutMayDo reports whether x's last decrease may still be enough: it is
// younger than refractory, or the replies to requests sent after the router
// had it are too few to tell, or they show the queue draining by itself
// soon enough. Replies to requests sent before describe the queue the cut
// was made for. It is not enough when nothing sent since the cut has come
// back later than the delay at the cut allowed for (the queue has grown).
func (c *Controller) cutMayDo(x *dirState, now time.Time) bool {
	if now.Sub(x.lastDecAt) < c.p.refractory {
		return true
	}
	since := x.lastDecAt
	if !x.cutAt.IsZero() {
		since = x.cutAt
	}
	pg, n, pok := c.est.growthSince(now, since)
	switch {
	case n == 0 && now.Sub(since) > c.expectedReply(x):
		return false
	case n < 2:
		return true
	case pok && pg < 0 && c.load/(-pg) < float64(drainingOK):
		return true
	}
	return false
}

// expectedReply is how long after the router had the last cut's rate a
// reply to a request sent then is due at the latest if the delay has not
// grown beyond what it was at the cut: the slowest baseline plus that
// delay, plus two of a reflector's ping intervals (one request may be
// lost).
func (c *Controller) expectedReply(d *dirState) time.Duration {
	var slowest float64
	for i := range c.refl {
		if c.refl[i].hasBaseline {
			slowest = max(slowest, c.refl[i].baseline)
		}
	}
	return time.Duration(slowest+d.cutDelta) + 2*c.pingInterval
}

// Signal reports whether the last Step had a fresh measurement.
func (c *Controller) Signal() bool { return c.signal }

// Rate returns the current rate of download (false) or upload (true).
func (c *Controller) Rate(upload bool) int64 { return c.dirs[dirIndex(upload)].rate }

// dirIndex is a direction's index in the per-direction arrays: download
// 0, upload 1.
func dirIndex(upload bool) int {
	if upload {
		return 1
	}
	return 0
}

// DirSnapshot is one direction's persistent state.
type DirSnapshot struct {
	Zone         Zone
	Rate         int64
	GreenStreak  int
	YellowStreak int
}

// ReflectorSnapshot is one measurement source's learned baseline.
type ReflectorSnapshot struct {
	// Addr is the reflector (port 0) or the TCP fallback target.
	Addr     netip.AddrPort
	Baseline time.Duration // 0 = none learned
	// LastReply is when it last answered (zero if never).
	LastReply time.Time
	Replies   uint64
}

// Snapshot is the controller's persistent state (see State for the file).
type Snapshot struct {
	Download, Upload DirSnapshot
	Reflectors       []ReflectorSnapshot
	// Baseline is the median of the reflector baselines.
	Baseline    time.Duration
	LoadedDelta time.Duration
	Signal      bool
}

// Snapshot returns the controller's state. It allocates; call it for
// persistence and health, not per cycle.
func (c *Controller) Snapshot() Snapshot {
	s := Snapshot{
		Download:    c.dirSnapshot(0),
		Upload:      c.dirSnapshot(1),
		Reflectors:  make([]ReflectorSnapshot, len(c.refl)),
		Baseline:    c.medianBaseline(),
		LoadedDelta: time.Duration(c.load),
		Signal:      c.signal,
	}
	for i := range c.refl {
		r := &c.refl[i]
		rs := ReflectorSnapshot{Addr: r.addr, Replies: r.replies}
		if r.hasBaseline {
			rs.Baseline = time.Duration(r.baseline)
		}
		if r.heard {
			rs.LastReply = r.lastAt
		}
		s.Reflectors[i] = rs
	}
	return s
}

func (c *Controller) dirSnapshot(i int) DirSnapshot {
	d := &c.dirs[i]
	return DirSnapshot{Zone: d.zone, Rate: d.rate, GreenStreak: d.greenStreak, YellowStreak: d.yellowStreak}
}

// Restore loads persisted state: rates clamped to [red floor, ceiling]
// (0 means unknown: the ceiling), zones and streaks, the baselines of
// reflectors (matched by address) still configured. Refractory timers start
// clear.
func (c *Controller) Restore(s Snapshot) {
	for i, ds := range [2]DirSnapshot{s.Download, s.Upload} {
		d := &c.dirs[i]
		d.rate = clampRate(ds.Rate, d.p)
		d.climb = d.rate
		d.zone = ds.Zone
		if d.zone > Red || (d.p.upload && d.zone == SoftRed) {
			d.zone = Red
		}
		d.greenStreak = max(ds.GreenStreak, 0)
		d.yellowStreak = max(ds.YellowStreak, 0)
		d.decreased = false
	}
	for _, rs := range s.Reflectors {
		if rs.Baseline <= 0 {
			continue
		}
		for i := range c.refl {
			if c.refl[i].addr == rs.Addr {
				c.refl[i].baseline = float64(rs.Baseline)
				c.refl[i].hasBaseline = true
				c.refl[i].baselineAt = time.Time{}
			}
		}
	}
	// The loaded delta is reported until the first fresh Step, which
	// restarts the EWMA from its own raw delta (the persisted one is of
	// unknown age).
	c.load = float64(s.LoadedDelta)
	c.hasLoad = false
}

// SetBaseline sets reflector i's baseline (calibration).
func (c *Controller) SetBaseline(i int, b time.Duration) {
	if i < 0 || i >= len(c.refl) || b <= 0 {
		return
	}
	c.refl[i].baseline = float64(b)
	c.refl[i].hasBaseline = true
	c.refl[i].baselineAt = time.Time{}
}
