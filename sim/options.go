package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/wanctl/wanctl/config"
)

// Options are the simulated link's and measurement's parameters. Zero
// fields take the defaults listed; Ceiling has none.
type Options struct {
	// Ceiling is each direction's configured ceiling (bits/s): the shaper's
	// rate when the run starts (apply creates the queue at its ceiling) and
	// the fixed reference's rate. Indexed by Dir.
	Ceiling [2]int64

	Interval    time.Duration // control interval (policy ticks): 50ms; whole milliseconds
	Reflectors  int           // reflectors pinged round-robin: 4
	PingRate    int           // echo requests per second, all reflectors together: 20
	PingTimeout time.Duration // replies later than this are timeouts, never delivered: 1s (the pinger's default)
	// Timestamps: ICMP timestamp requests (measurement.timestamps): each
	// reply also tells its way out, stamped by a reflector clock up to
	// 50 ms off ours, in whole milliseconds.
	Timestamps bool
	// EchoOnly reflectors (the first ones) ignore timestamp requests: the
	// pinger measures them with echo, their replies carry no way out.
	EchoOnly int

	// TCP fallback, as the pinger does it: after BlackoutAfter (1s) without
	// any ICMP reply, connect to the Fallbacks targets (0: none) round-robin
	// at FallbackRate per second (min(PingRate, 5)), at most one connect
	// per target in flight; a connect's RTT crosses the same queues, and
	// ICMP loss does not affect it. The first ICMP reply ends the blackout.
	Fallbacks     int
	BlackoutAfter time.Duration
	FallbackRate  float64

	// Each reflector's and each elastic flow's base RTT is drawn uniformly
	// from [BaseRTTMin, BaseRTTMax] (8ms..25ms). Every echo adds random
	// jitter of mean Jitter drawn from JitterDist; zero values take the
	// scenario's (Scenario.Jitter: 1 ms exponential on wired lines, more
	// and heavier-tailed on LTE and Starlink).
	BaseRTTMin, BaseRTTMax time.Duration
	Jitter                 time.Duration
	JitterDist             JitterDist

	// Load is what the loaded phases offer: LoadElastic (the default: Flows
	// TCP-like flows per direction) or LoadSaturating (more than any rate,
	// at once: the fluid model of the first simulator).
	Load Load
	// Flows is the number of elastic flows per direction: 4.
	Flows int

	WriteLatency time.Duration // how long the router takes per write; one at a time: 30ms

	// ISPBuffer sizes the ISP's FIFO in time at the direction's nominal
	// capacity: 500ms. At a lower capacity the same bytes take longer.
	ISPBuffer time.Duration

	// CAKE's delay for a sparse flow (a ping, a call, a game) while the
	// shaper is saturated: CakeBase + CakePackets * MTU / rate. CAKE serves
	// new sparse flows ahead of the bulk flows, so such a packet waits for
	// the packet on the wire, plus scheduling granularity. Defaults 1ms, 1
	// packet, 1500 bytes.
	CakeBase    time.Duration
	CakePackets int
	MTU         int

	// Shaper is the router's queue discipline: ShaperCAKE (the default) or
	// ShaperFIFO, the testbed's HTB (docs/testbed.md): sparse packets
	// (pings, a call) in a priority class that never waits, the bulk flows
	// in one byte FIFO of RouterFIFO at the ceiling, drop-tail, no AQM, no
	// fairness among them. It is how the simulator plays the testbed's
	// link, whose kernel has no CAKE (BENCHMARKS.md, "Simulator vs
	// testbed").
	Shaper Shaper
	// RouterFIFO sizes ShaperFIFO's bulk FIFO in time at the ceiling:
	// 20ms, the testbed's.
	RouterFIFO time.Duration

	// IdleLoad is the offered load in idle phases as a fraction of the
	// nominal capacity: 0.01; NoIdleLoad (any negative value) for none,
	// as in the testbed, whose idle phases carry no traffic.
	IdleLoad float64
	// OracleFactor is the oracle's rate as a fraction of the true capacity:
	// 0.95.
	OracleFactor float64
	// TargetBloat is the threshold of the recovery score (added delay back
	// below it): 15ms, the controller's target_bloat.
	TargetBloat time.Duration
}

// OptionsFromWAN takes the ceilings, reflector count, ping rate and
// target_bloat from a WAN and the control interval from the daemon block;
// the rest stays at the defaults.
func OptionsFromWAN(w *config.WAN, interval time.Duration) Options {
	return Options{
		Ceiling:     [2]int64{w.Download.Ceiling, w.Upload.Ceiling},
		Interval:    interval,
		Reflectors:  len(w.Measurement.Reflectors),
		Fallbacks:   len(w.Measurement.TCPFallback),
		PingRate:    w.Measurement.PingRate,
		Timestamps:  w.Measurement.Timestamps,
		TargetBloat: w.Thresholds.TargetBloat,
	}
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Interval, 50*time.Millisecond)
	def(&o.PingTimeout, time.Second)
	def(&o.BlackoutAfter, time.Second)
	def(&o.BaseRTTMin, 8*time.Millisecond)
	def(&o.BaseRTTMax, 25*time.Millisecond)
	def(&o.WriteLatency, 30*time.Millisecond)
	def(&o.ISPBuffer, 500*time.Millisecond)
	def(&o.CakeBase, time.Millisecond)
	def(&o.TargetBloat, 15*time.Millisecond)
	if o.Reflectors == 0 {
		o.Reflectors = 4
	}
	if o.PingRate == 0 {
		o.PingRate = 20
	}
	if o.FallbackRate == 0 {
		o.FallbackRate = min(float64(o.PingRate), 5)
	}
	if o.CakePackets == 0 {
		o.CakePackets = 1
	}
	if o.MTU == 0 {
		o.MTU = 1500
	}
	if o.IdleLoad == 0 {
		o.IdleLoad = 0.01
	} else if o.IdleLoad < 0 {
		o.IdleLoad = NoIdleLoad
	}
	if o.Shaper == ShaperDefault {
		o.Shaper = ShaperCAKE
	}
	def(&o.RouterFIFO, 20*time.Millisecond)
	if o.OracleFactor == 0 {
		o.OracleFactor = 0.95
	}
	if o.Load == LoadDefault {
		o.Load = LoadElastic
	}
	if o.Flows == 0 {
		o.Flows = 4
	}
	return o
}

// Validate checks o after defaults.
func (o Options) Validate() error {
	for d := range 2 {
		if o.Ceiling[d] <= 0 {
			return fmt.Errorf("simulator: %s ceiling %d bits/s must be > 0", Dir(d), o.Ceiling[d])
		}
	}
	switch {
	case o.Interval < time.Millisecond || o.Interval%time.Millisecond != 0:
		return fmt.Errorf("simulator: control interval %v must be a whole number of milliseconds >= 1ms", o.Interval)
	case o.Reflectors < 1 || o.Reflectors > 64:
		return fmt.Errorf("simulator: %d reflectors: want 1..64", o.Reflectors)
	case o.PingRate < 1 || o.PingRate > 1000:
		return fmt.Errorf("simulator: ping rate %d: want 1..1000 per second", o.PingRate)
	case o.PingTimeout < time.Millisecond:
		return fmt.Errorf("simulator: ping timeout %v must be >= 1ms", o.PingTimeout)
	case o.Fallbacks < 0 || o.Fallbacks > 64 || o.BlackoutAfter < time.Millisecond || !(o.FallbackRate > 0 && o.FallbackRate <= 1000):
		return fmt.Errorf("simulator: TCP fallback (%d targets, blackout after %v, %g/s) out of range", o.Fallbacks, o.BlackoutAfter, o.FallbackRate)
	case o.BaseRTTMin < 0 || o.BaseRTTMax < o.BaseRTTMin:
		return fmt.Errorf("simulator: base RTT range %v..%v is empty or negative", o.BaseRTTMin, o.BaseRTTMax)
	case o.Jitter < 0 || o.Jitter > 10*time.Second:
		return fmt.Errorf("simulator: jitter %v: want 0..10s", o.Jitter)
	case o.JitterDist < JitterDefault || o.JitterDist > JitterLognormal:
		return fmt.Errorf("simulator: unknown jitter distribution %d", o.JitterDist)
	case o.Load != LoadSaturating && o.Load != LoadElastic:
		return fmt.Errorf("simulator: unknown load model %d", o.Load)
	case o.Flows < 1 || o.Flows > maxFlows:
		return fmt.Errorf("simulator: %d elastic flows per direction: want 1..%d", o.Flows, maxFlows)
	case o.WriteLatency < 0:
		return fmt.Errorf("simulator: write latency %v must not be negative", o.WriteLatency)
	case o.ISPBuffer < time.Millisecond:
		return fmt.Errorf("simulator: ISP buffer %v must be >= 1ms", o.ISPBuffer)
	case o.CakeBase < 0 || o.CakePackets < 0 || o.CakePackets > 1000 || o.MTU < 64 || o.MTU > 65535:
		return fmt.Errorf("simulator: CAKE model (base %v, %d packets, MTU %d) out of range", o.CakeBase, o.CakePackets, o.MTU)
	case o.IdleLoad != NoIdleLoad && (o.IdleLoad < 0 || o.IdleLoad >= 1):
		return fmt.Errorf("simulator: idle load %g: want a fraction of capacity in [0, 1)", o.IdleLoad)
	case o.Shaper != ShaperCAKE && o.Shaper != ShaperFIFO:
		return fmt.Errorf("simulator: unknown shaper %d", o.Shaper)
	case o.RouterFIFO < time.Millisecond || o.RouterFIFO > 10*time.Second:
		return fmt.Errorf("simulator: router FIFO %v: want 1ms..10s", o.RouterFIFO)
	case o.OracleFactor <= 0 || o.OracleFactor > 1:
		return fmt.Errorf("simulator: oracle factor %g: want (0, 1]", o.OracleFactor)
	case o.TargetBloat <= 0:
		return fmt.Errorf("simulator: target bloat %v must be > 0", o.TargetBloat)
	}
	return nil
}

// NoIdleLoad is Options.IdleLoad for idle phases without any traffic.
const NoIdleLoad = -1.0

// idleLoad is the idle phases' offered load as a fraction of nominal.
func (o *Options) idleLoad() float64 { return max(o.IdleLoad, 0) }

// Shaper is the router's queue discipline.
type Shaper int

// Shapers. The zero value takes the default, ShaperCAKE.
const (
	ShaperDefault Shaper = iota
	// ShaperCAKE: CAKE's flow queues with COBALT (CoDel), and a sparse
	// flow's delay of Options.CakeBase + CakePackets MTUs at the rate
	// while it is saturated.
	ShaperCAKE
	// ShaperFIFO: the testbed's HTB, a priority class for sparse packets
	// and one drop-tail byte FIFO for the bulk flows.
	ShaperFIFO
)

// ParseShaper reads a -shaper value.
func ParseShaper(s string) (Shaper, error) {
	switch s {
	case "cake":
		return ShaperCAKE, nil
	case "htb":
		return ShaperFIFO, nil
	}
	return 0, fmt.Errorf("shaper %q: want cake or htb", s)
}

func (s Shaper) String() string {
	switch s {
	case ShaperCAKE:
		return "cake"
	case ShaperFIFO:
		return "htb"
	}
	return "default"
}

// Load is the traffic of the loaded phases.
type Load int

// Load models. The zero value takes the default, LoadElastic.
const (
	LoadDefault Load = iota
	// LoadSaturating offers more than any rate: the shaper always passes
	// its full rate, a queue grows at r - c the moment r exceeds c.
	LoadSaturating
	// LoadElastic is Options.Flows CUBIC-like TCP flows per direction:
	// slow start, congestion avoidance, backing off on CAKE's AQM and on
	// the ISP buffer's drops, clocked by their round trips.
	LoadElastic
)

// ParseLoad reads a -load value.
func ParseLoad(s string) (Load, error) {
	switch s {
	case "saturating":
		return LoadSaturating, nil
	case "elastic":
		return LoadElastic, nil
	}
	return 0, fmt.Errorf("load %q: want saturating or elastic", s)
}

func (l Load) String() string {
	switch l {
	case LoadSaturating:
		return "saturating"
	case LoadElastic:
		return "elastic"
	}
	return "default"
}

// JitterDist is the distribution of the random delay each echo adds.
type JitterDist int

// Jitter distributions, all parameterised by their mean. The zero value
// takes the scenario's.
const (
	JitterDefault   JitterDist = iota
	JitterExp                  // exponential
	JitterPareto               // Lomax (Pareto II from 0), shape 2.5: a heavy tail, p99 = 8 x the mean
	JitterLognormal            // lognormal, sigma 1: p99 = 6.2 x the mean
)

// ParseJitterDist reads a -jitter-dist value.
func ParseJitterDist(s string) (JitterDist, error) {
	switch s {
	case "exp":
		return JitterExp, nil
	case "pareto":
		return JitterPareto, nil
	case "lognormal":
		return JitterLognormal, nil
	}
	return 0, fmt.Errorf("jitter distribution %q: want exp, pareto or lognormal", s)
}

func (j JitterDist) String() string {
	switch j {
	case JitterExp:
		return "exp"
	case JitterPareto:
		return "pareto"
	case JitterLognormal:
		return "lognormal"
	}
	return "default"
}

// ParseBaseRTT reads a -base-rtt value: a range "10ms-40ms", or a centre
// "30ms" that stands for centre ± 25 %.
func ParseBaseRTT(s string) (lo, hi time.Duration, err error) {
	if a, b, ok := strings.Cut(s, "-"); ok {
		if lo, err = time.ParseDuration(a); err == nil {
			hi, err = time.ParseDuration(b)
		}
	} else if lo, err = time.ParseDuration(s); err == nil {
		lo, hi = lo*3/4, lo*5/4
	}
	if err != nil {
		return 0, 0, fmt.Errorf("base RTT %q: %w (want e.g. 30ms or 10ms-40ms)", s, err)
	}
	if lo < 0 || hi < lo || hi > 10*time.Second {
		return 0, 0, fmt.Errorf("base RTT %q: want 0 <= low <= high <= 10s", s)
	}
	return lo, hi, nil
}
