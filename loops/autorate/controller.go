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
	// RawDelta is this cycle's median of the newest fresh replies' deltas
	// (late requests in flight taking the places of the oldest), Delta
	// the loaded delta (EWMA of RawDelta) the zones are judged on, less
	// the wire time and the jitter floor.
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
// concurrent use; Step, Observe and ObserveLoad never allocate.
type Controller struct {
	p       params
	refl    []reflector
	scratch []float64
	dirs    [2]direction // download, upload
	est     estimator
	// pingInterval is how often one reflector is pinged; probeSlot the
	// router's increase_interval (one raise per slot, the directions in
	// turn); maxJump how far above the router's rate GREEN may climb (less
	// at a low ping rate; more than router_writes.min_change, or no raise
	// would be written).
	pingInterval time.Duration
	probeSlot    time.Duration
	maxJump      float64
	minRaise     float64
	// cutLatency (ns) is the moving average of how long a cut took from
	// the decision to the router (0: none seen yet).
	cutLatency float64

	load    float64 // ns, loaded delta
	queue   float64 // ns, the loaded delta beyond the shapers' own wire time (wireTime) and the jitter floor
	jitter  jitterFloor
	loadAt  time.Time
	hasLoad bool
	raw     float64 // ns, this cycle's raw delta
	signal  bool
	off     Rule // rules removed for the bench's ablation (none in the daemon)
}

// NewController builds a controller for w, starting at the ceilings in
// GREEN with no baselines.
func NewController(w *config.WAN) *Controller {
	c := &Controller{}
	c.configure(w)
	for i := range c.dirs {
		d := &c.dirs[i]
		d.rate = d.p.ceiling
		d.climb = d.rate
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
	// A raise beyond the capacity shows in the replies a few ping intervals
	// after it lands: below refPingRate it shows later and its queue grows
	// for longer, so the climb per write shrinks in proportion.
	jump := maxJump
	if r := w.Measurement.PingRate; r > 0 && r < refPingRate {
		jump = maxJump * float64(r) / refPingRate
	}
	c.maxJump = max(jump, w.RouterWrites.MinChange+minJumpOverMinChange)
	c.minRaise = max(minRaise, w.RouterWrites.MinChange+minJumpOverMinChange)
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
	c.est.add(sample{sent: at.Add(-rtt), at: at, delta: delta, src: i})
	if c.dirs[0].zone == Green && c.dirs[1].zone == Green && c.on(RuleJitterFloor) {
		c.jitter.add(delta, at)
	}
	// An out-of-order (older) reply does not replace a fresher delta.
	if !r.heard || !at.Before(r.lastAt) {
		r.delta = delta
		r.lastAt = at
		r.heard = true
	}
}

// Step runs one control cycle at now and returns the decision.
func (c *Controller) Step(now time.Time) Decision {
	var dec Decision
	fresh := 0
	for i := range c.refl {
		r := &c.refl[i]
		if r.heard && now.Sub(r.lastAt) <= r.stale {
			fresh++
		}
	}
	dec.Fresh = fresh
	c.signal = fresh > 0
	if c.signal {
		c.raw = c.est.raw(now, c.refl, c.p.target, c.pingInterval, c.scratch)
		switch {
		case !c.hasLoad:
			c.load, c.hasLoad = c.raw, true
		case c.raw < c.load && c.on(RuleFastFall):
			// A falling delay is the queue draining: the median of the
			// newest replies already ignores one odd reply.
			c.load = c.raw
		default:
			c.load += ewmaAlpha(now.Sub(c.loadAt), c.p.loadTC) * (c.raw - c.load)
		}
		if now.After(c.loadAt) {
			c.loadAt = now
		}
	}
	c.queue = max(0, c.load-c.wireTime()-c.jitter.floor)
	dec.Baseline = c.medianBaseline()
	dec.Signal = c.signal
	dec.RawDelta = time.Duration(c.raw)
	dec.Delta = time.Duration(c.load)
	for i := range c.dirs {
		d := &c.dirs[i]
		if c.signal {
			*dec.Dir(i == 1) = c.stepDir(d, now)
		} else {
			*dec.Dir(i == 1) = c.silent(d, now)
		}
		d.noteOffer(now)
	}
	return dec
}

// silent is a direction's cycle without a fresh measurement: never raise
// blind. GREEN and YELLOW hold (an increase not written yet is withdrawn);
// RED and SOFT_RED go on decreasing, since losing every reply while
// congested is what a queue longer than the ping timeout looks like, and
// holding there would keep the link bloated for as long as it lasts.
func (c *Controller) silent(d *direction, now time.Time) DirDecision {
	prev := d.rate
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
	return DirDecision{Zone: d.zone, Rate: d.rate, Prev: prev, Changed: d.rate != prev, Action: act, YellowStreak: d.yellowStreak}
}

func (c *Controller) medianBaseline() time.Duration {
	s := c.scratch[:0]
	for i := range c.refl {
		if c.refl[i].hasBaseline {
			s = append(s, c.refl[i].baseline)
		}
	}
	return time.Duration(median(s))
}

// zoneFor applies thresholds, dwell and deadband to the loaded delta.
func (c *Controller) zoneFor(d *direction) Zone {
	x := c.queue
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
		return Yellow
	default:
		return Green
	}
}

// wireTime is the delay the shapers add by themselves (ns): a ping waits
// for the packet on the wire in each direction's CAKE, one MTU at its
// rate. At 1 Mbit/s that is 12 ms: cutting further for it would only make
// it longer, so the zones judge the delay beyond it.
func (c *Controller) wireTime() float64 {
	var t float64
	for i := range c.dirs {
		d := &c.dirs[i]
		r := d.router.applied
		if r <= 0 {
			r = d.rate
		}
		if r > 0 {
			t += mtuBits / float64(r) * 1e9
		}
	}
	return t
}

// LoadBusy reports whether the counters should be read at the busy
// cadence (LoadReadIntervalBusy): a direction is out of GREEN or cut less
// than loadBusyHold ago, when a capacity estimate is being made and a
// fresh one is worth a read.
func (c *Controller) LoadBusy(now time.Time) bool {
	for i := range c.dirs {
		d := &c.dirs[i]
		if d.zone != Green || (d.cut.done && now.Sub(d.cut.at) < loadBusyHold) {
			return true
		}
	}
	return false
}

// Signal reports whether the last Step had a fresh measurement.
func (c *Controller) Signal() bool { return c.signal }

// Rate returns the current rate of download (false) or upload (true).
func (c *Controller) Rate(upload bool) int64 { return c.dirs[dirIndex(upload)].rate }

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
		d.cut = cutState{}
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
