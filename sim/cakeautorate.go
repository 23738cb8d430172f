package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/wanctl/wanctl/config"
)

// CakeAutorate is a peer policy: cake-autorate's published rate controller
// (github.com/lynxthecat/cake-autorate, cake-autorate.sh and defaults.sh at
// commit 94238bef6184ffde3c5e44d4f72784a140849571), written in Go from its
// description so that wanctl can be judged beside it on the same bench.
// docs/simulator.md ("Peer policy: cake-autorate") lists what it does, the
// defaults and where it departs from the original.
//
// It works as cake-autorate does with its default RTT pinger (fping): each
// reply's one-way delay is half its RTT, the same for both directions,
// tracked against a per-reflector baseline (with ICMP timestamp replies,
// Options.Timestamps, as with its tsping pinger: each direction's own
// one-way delay against its own baseline); bufferbloat is 3 delayed samples
// among the last 6 (all reflectors together); a cut scales with the
// window's average delta; a raise needs the achieved rate above 75 % of the
// shaper rate and a fresh load sample; without high load the rate decays
// towards the base rate; refractory periods space the changes. Everything
// happens when a reply is processed, nothing between replies. The
// arithmetic is the original's fixed point (kbit/s, µs, factors in
// thousandths, EWMA alphas in millionths), so the rates match it to the
// kbit/s.
//
// Its rates go to the simulated router like wanctl's: a write whenever the
// rate changes (cake-autorate calls tc on every change), one in flight per
// direction, the newest rate written when it completes; each pays the
// router's write latency.
type CakeAutorate struct {
	p CakeAutorateParams

	// The parameters in the original's fixed point.
	alphaInc, alphaDec       int64 // millionths
	minDown, maxDown         int64 // thousandths
	minUp, maxUp             int64
	decayDown, decayUp       int64
	highLoadPct              int64
	upThr, delayThr, downThr [2]int64 // µs, before compensation
	bbRefractory, decayRefr  int64    // µs
	monitor                  int64    // µs, the achieved-rate sample interval
	staleReply               int64    // µs

	started  bool
	baseline [2][]int64 // per direction and reflector, one-way delay µs (RTT/2 without timestamps)
	delayed  [2][]bool
	deltas   [2][]int64 // µs, the last DetectionWindow samples, all reflectors
	idx      int
	bb       [2]bool  // bufferbloat detected at the latest sample
	avgDelta [2]int64 // µs, the window's average delta
	rate     [2]int64 // kbit/s, the shaper rate the controller wants

	achieved    [2]int64 // kbit/s, at the latest load sample
	loadPct     [2]int64
	load        [2]loadState
	freshLoad   [2]bool  // a load sample arrived since the last raise
	lastBB      [2]int64 // µs since Epoch
	lastDecay   [2]int64
	lastSample  int64
	lastBits    [2]float64
	sleeping    bool
	idleRunning bool
	idleFrom    int64
	idleFor     int64

	w     Writer
	slots [2]caSlot
	done  [2]func(error) // bound once: no allocation per write
}

type caSlot struct {
	want, written, sending int64 // bits/s
	inflight               bool
}

type loadState int

const (
	loadIdle loadState = iota
	loadLow
	loadHigh
)

// CakeAutorateName is the peer's name in tables and plots.
const CakeAutorateName = "cake-autorate"

// CakeAutorateParams are the peer's settings, named after the variables of
// cake-autorate's defaults.sh. Indexes [2] are Download, Upload (dl_, ul_).
type CakeAutorateParams struct {
	// MinKbps, BaseKbps and MaxKbps are min_/base_/max_*_shaper_rate_kbps:
	// the hard floor, the rate held without load, the hard ceiling.
	MinKbps, BaseKbps, MaxKbps [2]int64
	// Reflectors is the number of pingers: replies from reflectors
	// 0..Reflectors-1 are used, each with its own baseline.
	Reflectors int
	// MaxWirePacketBits is the largest packet on the wire per direction
	// (MTU + overhead, in bits); its time at the shaper rate is added to
	// the delay thresholds (significant below about 12 Mbit/s).
	MaxWirePacketBits [2]int64

	// *_avg_owd_delta_max_adjust_up_thr_ms (10 ms), *_owd_delta_delay_thr_ms
	// (30 ms) and *_avg_owd_delta_max_adjust_down_thr_ms (60 ms): one-way
	// delay deltas; with an RTT pinger a one-way delay is half the RTT.
	AvgOWDDeltaMaxAdjustUpThr   [2]time.Duration
	OWDDeltaDelayThr            [2]time.Duration
	AvgOWDDeltaMaxAdjustDownThr [2]time.Duration

	// BufferbloatDetectionWindow (6) and BufferbloatDetectionThr (3):
	// bufferbloat is this many delayed samples among the last window.
	BufferbloatDetectionWindow int
	BufferbloatDetectionThr    int

	// AlphaBaselineIncrease (0.001) and AlphaBaselineDecrease (0.9): the
	// baseline's EWMA weights when a sample is above / below it.
	AlphaBaselineIncrease, AlphaBaselineDecrease float64

	// ShaperRate* are the multiplicative steps: a cut on bufferbloat from
	// Min (0.99, at the delay threshold) to Max (0.75, at the max adjust
	// down threshold); a raise on high load from Max (1.04, up to the max
	// adjust up threshold) to Min (1.0, at the delay threshold); the decay
	// towards the base rate without high load (0.99 down, 1.01 up).
	ShaperRateMinAdjustDownBufferbloat float64
	ShaperRateMaxAdjustDownBufferbloat float64
	ShaperRateMinAdjustUpLoadHigh      float64
	ShaperRateMaxAdjustUpLoadHigh      float64
	ShaperRateAdjustDownLoadLow        float64
	ShaperRateAdjustUpLoadLow          float64

	// HighLoadThr (0.75): load is high above this share of the shaper rate.
	HighLoadThr float64
	// ConnectionActiveThrKbps (2000): below it a direction is idle, not low.
	ConnectionActiveThrKbps int64

	// BufferbloatRefractoryPeriod (300 ms) follows a cut: no cut or raise;
	// DecayRefractoryPeriod (1 s) spaces decays, and follows any change.
	BufferbloatRefractoryPeriod time.Duration
	DecayRefractoryPeriod       time.Duration

	// MonitorAchievedRatesInterval (200 ms): how often the byte counters
	// are read into achieved rates (at least ten packet round trips at the
	// base rates, as the original compensates it).
	MonitorAchievedRatesInterval time.Duration

	// EnableSleepFunction (on): after SustainedIdleSleepThr (60 s) with both
	// directions idle the pingers stop (replies are ignored) until a load
	// sample is above ConnectionActiveThrKbps. Rates are not touched
	// (min_shaper_rates_enforcement=0).
	EnableSleepFunction   bool
	SustainedIdleSleepThr time.Duration
}

// DefaultCakeAutorateParams returns defaults.sh's values; the rates and
// the reflector count are left zero (CakeAutorateParamsFromWAN sets them).
func DefaultCakeAutorateParams() CakeAutorateParams {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return CakeAutorateParams{
		MaxWirePacketBits:                  [2]int64{8 * 1500, 8 * 1500},
		AvgOWDDeltaMaxAdjustUpThr:          [2]time.Duration{ms(10), ms(10)},
		OWDDeltaDelayThr:                   [2]time.Duration{ms(30), ms(30)},
		AvgOWDDeltaMaxAdjustDownThr:        [2]time.Duration{ms(60), ms(60)},
		BufferbloatDetectionWindow:         6,
		BufferbloatDetectionThr:            3,
		AlphaBaselineIncrease:              0.001,
		AlphaBaselineDecrease:              0.9,
		ShaperRateMinAdjustDownBufferbloat: 0.99,
		ShaperRateMaxAdjustDownBufferbloat: 0.75,
		ShaperRateMinAdjustUpLoadHigh:      1.0,
		ShaperRateMaxAdjustUpLoadHigh:      1.04,
		ShaperRateAdjustDownLoadLow:        0.99,
		ShaperRateAdjustUpLoadLow:          1.01,
		HighLoadThr:                        0.75,
		ConnectionActiveThrKbps:            2000,
		BufferbloatRefractoryPeriod:        ms(300),
		DecayRefractoryPeriod:              ms(1000),
		MonitorAchievedRatesInterval:       ms(200),
		EnableSleepFunction:                true,
		SustainedIdleSleepThr:              60 * time.Second,
	}
}

// CakeAutorateParamsFromWAN maps a wanctl WAN onto cake-autorate's
// settings: min = the direction's red floor (the lowest rate wanctl ever
// sets), base = the green floor (the rate wanctl's operator calls good
// enough for a clean line: cake-autorate's "compromise" rate), max = the
// ceiling; one pinger per reflector; the largest packet 1500 bytes plus the
// CAKE overhead if configured. Everything else is defaults.sh's.
func CakeAutorateParamsFromWAN(w *config.WAN) CakeAutorateParams {
	p := DefaultCakeAutorateParams()
	for i, d := range w.Directions() {
		p.MinKbps[i] = d.Floor.Red / 1000
		p.BaseKbps[i] = d.Floor.Green / 1000
		p.MaxKbps[i] = d.Ceiling / 1000
		p.MaxWirePacketBits[i] = 8 * int64(1500+max(0, d.Cake.Overhead))
	}
	p.Reflectors = len(w.Measurement.Reflectors)
	return p
}

// Validate checks that p is usable.
func (p CakeAutorateParams) Validate() error {
	for d := range 2 {
		if p.MinKbps[d] < 1 || p.BaseKbps[d] < p.MinKbps[d] || p.MaxKbps[d] < p.BaseKbps[d] {
			return fmt.Errorf("cake-autorate: %s rates min %d, base %d, max %d kbit/s: want 1 <= min <= base <= max",
				Dir(d), p.MinKbps[d], p.BaseKbps[d], p.MaxKbps[d])
		}
		if p.MaxWirePacketBits[d] < 0 || p.OWDDeltaDelayThr[d] <= 0 || p.AvgOWDDeltaMaxAdjustUpThr[d] < 0 || p.AvgOWDDeltaMaxAdjustDownThr[d] < 0 {
			return fmt.Errorf("cake-autorate: %s delay thresholds must be positive", Dir(d))
		}
	}
	switch {
	case p.Reflectors < 1:
		return fmt.Errorf("cake-autorate: %d reflectors: want at least one", p.Reflectors)
	case p.BufferbloatDetectionWindow < 1 || p.BufferbloatDetectionThr < 1 || p.BufferbloatDetectionThr > p.BufferbloatDetectionWindow:
		return fmt.Errorf("cake-autorate: bufferbloat detection %d of %d: want 1 <= thr <= window",
			p.BufferbloatDetectionThr, p.BufferbloatDetectionWindow)
	case p.MonitorAchievedRatesInterval < time.Millisecond:
		return fmt.Errorf("cake-autorate: achieved-rate interval %v must be >= 1ms", p.MonitorAchievedRatesInterval)
	case !(p.HighLoadThr > 0 && p.HighLoadThr <= 1):
		return fmt.Errorf("cake-autorate: high load threshold %g: want (0, 1]", p.HighLoadThr)
	case p.BufferbloatRefractoryPeriod < 0 || p.DecayRefractoryPeriod < 0 || p.SustainedIdleSleepThr < 0:
		return fmt.Errorf("cake-autorate: refractory periods and the idle sleep threshold must not be negative")
	}
	return nil
}

// NewCakeAutorate builds the peer for a WAN (CakeAutorateParamsFromWAN).
func NewCakeAutorate(w *config.WAN) (*CakeAutorate, error) {
	if w == nil {
		return nil, fmt.Errorf("cake-autorate: no WAN")
	}
	return NewCakeAutorateWith(CakeAutorateParamsFromWAN(w))
}

// NewCakeAutorateWith builds the peer from explicit settings.
func NewCakeAutorateWith(p CakeAutorateParams) (*CakeAutorate, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	// The original reads its decimal settings into integers this way: a
	// factor in thousandths, an alpha in millionths, a time in µs.
	milli := func(v float64) int64 { return int64(math.Round(v * 1e3)) }
	us := func(d time.Duration) int64 { return d.Microseconds() }
	a := &CakeAutorate{
		p:            p,
		alphaInc:     int64(math.Round(p.AlphaBaselineIncrease * 1e6)),
		alphaDec:     int64(math.Round(p.AlphaBaselineDecrease * 1e6)),
		minDown:      milli(p.ShaperRateMinAdjustDownBufferbloat),
		maxDown:      milli(p.ShaperRateMaxAdjustDownBufferbloat),
		minUp:        milli(p.ShaperRateMinAdjustUpLoadHigh),
		maxUp:        milli(p.ShaperRateMaxAdjustUpLoadHigh),
		decayDown:    milli(p.ShaperRateAdjustDownLoadLow),
		decayUp:      milli(p.ShaperRateAdjustUpLoadLow),
		highLoadPct:  int64(math.Round(p.HighLoadThr * 100)),
		bbRefractory: us(p.BufferbloatRefractoryPeriod),
		decayRefr:    us(p.DecayRefractoryPeriod),
		staleReply:   500_000,
		rate:         p.BaseKbps,
	}
	for d := range 2 {
		a.upThr[d] = us(p.AvgOWDDeltaMaxAdjustUpThr[d])
		a.delayThr[d] = us(p.OWDDeltaDelayThr[d])
		a.downThr[d] = us(p.AvgOWDDeltaMaxAdjustDownThr[d])
		a.delayed[d] = make([]bool, p.BufferbloatDetectionWindow)
		a.deltas[d] = make([]int64, p.BufferbloatDetectionWindow)
		a.baseline[d] = make([]int64, p.Reflectors)
	}
	// The original's rate monitor runs in a process forked after the first
	// rate write, so it compensates its interval for the base rates only.
	rtt := a.packetTime(Download) + a.packetTime(Upload)
	a.monitor = max(us(p.MonitorAchievedRatesInterval), 10*rtt)
	// A new reflector's baseline starts at 100 ms one way, and falls fast.
	for d := range a.baseline {
		for i := range a.baseline[d] {
			a.baseline[d][i] = 100_000
		}
	}
	a.done[Download] = func(err error) { a.completed(Download, err) }
	a.done[Upload] = func(err error) { a.completed(Upload, err) }
	return a, nil
}

// Timing implements TimedPolicy: cake-autorate handles each reply as it
// arrives, not on a control cycle, so it is ticked every millisecond; its
// pinger (fping --timeout 10000) waits 10 s for a reply, so it still hears
// RTTs above the simulator's default 1 s timeout, and a full ISP buffer
// does not silence it.
func (a *CakeAutorate) Timing() (tick, pingTimeout time.Duration) {
	return 5 * time.Millisecond, 10 * time.Second
}

// Rate is the shaper rate (bits/s) the controller wants for d; the router
// has it once the write lands.
func (a *CakeAutorate) Rate(d Dir) int64 { return a.rate[d] * 1000 }

// Bufferbloat reports whether the latest sample saw bufferbloat in d.
func (a *CakeAutorate) Bufferbloat(d Dir) bool { return a.bb[d] }

// Sleeping reports whether the sleep function has stopped the pingers.
func (a *CakeAutorate) Sleeping() bool { return a.sleeping }

func usSince(t time.Time) int64 { return t.Sub(Epoch).Microseconds() }

// packetTime is the largest packet's time at d's current rate, µs: what the
// original adds to its delay thresholds.
func (a *CakeAutorate) packetTime(d Dir) int64 {
	return 1000 * a.p.MaxWirePacketBits[d] / a.rate[d]
}

// Tick implements Policy: the replies in receive order, then the load
// sample if one is due, then the writes.
func (a *CakeAutorate) Tick(in Input, w Writer) {
	a.w = w
	now := usSince(in.Now)
	if !a.started {
		a.started = true
		a.lastSample, a.lastBits = now, in.ShapedBits
		a.lastBB = [2]int64{now, now}
		a.lastDecay = [2]int64{now, now}
	}
	for _, r := range in.Replies {
		if !r.TCP { // cake-autorate has no TCP fallback
			a.reply(now, r)
		}
	}
	if now-a.lastSample >= a.monitor {
		a.loadSample(now, in.ShapedBits)
	}
	a.flush()
}

// loadSample turns the byte counters into achieved rates and load states.
func (a *CakeAutorate) loadSample(now int64, bits [2]float64) {
	for d := range 2 {
		a.achieved[d] = max(0, int64((bits[d]-a.lastBits[d])*1000/float64(a.monitor)))
		a.loadPct[d] = 100 * a.achieved[d] / a.rate[d]
		switch {
		case a.loadPct[d] > a.highLoadPct:
			a.load[d] = loadHigh
		case a.achieved[d] > a.p.ConnectionActiveThrKbps:
			a.load[d] = loadLow
		default:
			a.load[d] = loadIdle
		}
		a.freshLoad[d] = true
	}
	a.lastSample, a.lastBits = now, bits
	if a.sleeping && (a.achieved[Download] > a.p.ConnectionActiveThrKbps || a.achieved[Upload] > a.p.ConnectionActiveThrKbps) {
		a.sleeping = false
		a.idleRunning, a.idleFor = false, 0
	}
}

// reply processes one echo reply at time now (µs): baseline, detection
// window, rate change.
func (a *CakeAutorate) reply(now int64, r Reply) {
	if a.sleeping || r.Reflector < 0 || r.Reflector >= len(a.baseline[0]) {
		return
	}
	// An RTT pinger cannot split the delay: each direction gets half.
	rtt := int64((r.RTT + 500*time.Nanosecond) / time.Microsecond)
	owd := [2]int64{rtt / 2, rtt / 2}
	if r.Stamped {
		up := int64((r.Up + 500*time.Nanosecond) / time.Microsecond)
		owd = [2]int64{rtt - up, up}
	}
	var delta [2]int64
	for d := range 2 {
		base := &a.baseline[d][r.Reflector]
		if r.Stamped && abs64(owd[d]-*base) > 3_000_000_000 {
			*base = owd[d] // a clock stepped: start afresh, as the original does
		}
		alpha := a.alphaDec
		if owd[d] >= *base {
			alpha = a.alphaInc
		}
		*base = (alpha*owd[d] + (1_000_000-alpha)**base) / 1_000_000
		delta[d] = owd[d] - *base
	}
	if now-usSince(r.At) > a.staleReply {
		return
	}

	// The thresholds grow by a packet's time at the rate last set.
	var comp [2]int64
	for d := range Dir(2) {
		comp[d] = a.packetTime(d)
	}
	for d := range 2 {
		a.deltas[d][a.idx] = delta[d]
		var sum int64
		for _, v := range a.deltas[d] {
			sum += v
		}
		a.avgDelta[d] = sum / int64(len(a.deltas[d]))
		a.delayed[d][a.idx] = delta[d] > a.delayThr[d]+comp[d]
		n := 0
		for _, x := range a.delayed[d] {
			if x {
				n++
			}
		}
		a.bb[d] = n >= a.p.BufferbloatDetectionThr
	}
	a.idx = (a.idx + 1) % len(a.deltas[0])

	for d := range 2 {
		a.adjust(Dir(d), now, comp[d])
	}
	a.sleepCheck(now)
}

// adjust changes d's rate for the sample processed at now: a cut on
// bufferbloat, a raise on high load, a decay towards the base rate
// otherwise, each only outside its refractory period.
func (a *CakeAutorate) adjust(d Dir, now, comp int64) {
	delayThr, upThr, downThr := a.delayThr[d]+comp, a.upThr[d]+comp, a.downThr[d]+comp
	switch {
	case a.bb[d]:
		if now <= a.lastBB[d]+a.bbRefractory {
			break
		}
		// The cut deepens linearly from the minimum at the delay
		// threshold to the maximum at the max-adjust-down threshold.
		var f int64 = 1000
		if downThr > delayThr {
			f = 0
			if ex := a.avgDelta[d] - delayThr; ex > 0 {
				f = min(1000, 1000*ex/(downThr-delayThr))
			}
		}
		step := 1000*a.minDown - f*(a.minDown-a.maxDown)
		a.rate[d] = a.rate[d] * step / 1_000_000
		a.lastBB[d], a.lastDecay[d] = now, now
	case a.load[d] == loadHigh:
		if !a.freshLoad[d] || now <= a.lastBB[d]+a.bbRefractory {
			break
		}
		// The raise shrinks linearly from the maximum at the max-adjust-up
		// threshold to the minimum at the delay threshold.
		var f int64 = 1000
		if delayThr > upThr {
			f = 0
			if room := delayThr - a.avgDelta[d]; room > 0 {
				f = min(1000, 1000*room/(delayThr-upThr))
			}
		}
		step := 1000*a.minUp - f*(a.minUp-a.maxUp)
		a.rate[d] = a.rate[d] * step / 1_000_000
		a.freshLoad[d] = false
		a.lastDecay[d] = now
	default:
		if now <= a.lastDecay[d]+a.decayRefr {
			break
		}
		base := a.p.BaseKbps[d]
		if a.rate[d] > base {
			a.rate[d] = max(base, a.rate[d]*a.decayDown/1000)
		} else if a.rate[d] < base {
			a.rate[d] = min(base, a.rate[d]*a.decayUp/1000)
		}
		a.lastDecay[d] = now
	}
	a.rate[d] = min(max(a.rate[d], a.p.MinKbps[d]), a.p.MaxKbps[d])
	a.slots[d].want = a.rate[d] * 1000
}

// sleepCheck stops using replies after a sustained idle connection.
func (a *CakeAutorate) sleepCheck(now int64) {
	if !a.p.EnableSleepFunction {
		return
	}
	if a.load[Download] != loadIdle || a.load[Upload] != loadIdle {
		a.idleRunning, a.idleFor = false, 0
		return
	}
	if a.idleRunning {
		a.idleFor += now - a.idleFrom
	}
	a.idleRunning, a.idleFrom = true, now
	if a.idleFor > a.p.SustainedIdleSleepThr.Microseconds() {
		a.sleeping = true
		a.idleRunning, a.idleFor = false, 0
	}
}

// flush writes each direction whose wanted rate differs from what the
// router has, unless a write for it is in flight (the newest rate goes
// when that one lands).
func (a *CakeAutorate) flush() {
	if a.w == nil {
		return
	}
	for d := range Dir(2) {
		s := &a.slots[d]
		if s.want == 0 {
			s.want = a.rate[d] * 1000 // the base rate, written at start as the original does
		}
		if s.inflight || s.want == s.written {
			continue
		}
		s.inflight, s.sending = true, s.want
		a.w.Submit(d, s.sending, a.done[d])
	}
}

func (a *CakeAutorate) completed(d Dir, err error) {
	s := &a.slots[d]
	s.inflight = false
	if err != nil {
		return // retried at the next tick
	}
	s.written = s.sending
	if s.want != s.written {
		a.flush()
	}
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
