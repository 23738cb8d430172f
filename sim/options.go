package sim

import (
	"fmt"
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

	// TCP fallback, as the pinger does it: after BlackoutAfter (1s) without
	// any ICMP reply, connect to the Fallbacks targets (0: none) round-robin
	// at FallbackRate per second (min(PingRate, 5)), at most one connect
	// per target in flight; a connect's RTT crosses the same queues, and
	// ICMP loss does not affect it. The first ICMP reply ends the blackout.
	Fallbacks     int
	BlackoutAfter time.Duration
	FallbackRate  float64

	// Each reflector's base RTT is drawn uniformly from [BaseRTTMin,
	// BaseRTTMax] (8ms..25ms); every echo adds exponential jitter with mean
	// Jitter (1ms).
	BaseRTTMin, BaseRTTMax time.Duration
	Jitter                 time.Duration

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

	// IdleLoad is the offered load in idle phases as a fraction of the
	// nominal capacity: 0.01.
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
	def(&o.Jitter, time.Millisecond)
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
	}
	if o.OracleFactor == 0 {
		o.OracleFactor = 0.95
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
	case o.Jitter < 0:
		return fmt.Errorf("simulator: jitter %v must not be negative", o.Jitter)
	case o.WriteLatency < 0:
		return fmt.Errorf("simulator: write latency %v must not be negative", o.WriteLatency)
	case o.ISPBuffer < time.Millisecond:
		return fmt.Errorf("simulator: ISP buffer %v must be >= 1ms", o.ISPBuffer)
	case o.CakeBase < 0 || o.CakePackets < 0 || o.CakePackets > 1000 || o.MTU < 64 || o.MTU > 65535:
		return fmt.Errorf("simulator: CAKE model (base %v, %d packets, MTU %d) out of range", o.CakeBase, o.CakePackets, o.MTU)
	case o.IdleLoad < 0 || o.IdleLoad >= 1:
		return fmt.Errorf("simulator: idle load %g: want a fraction of capacity in [0, 1)", o.IdleLoad)
	case o.OracleFactor <= 0 || o.OracleFactor > 1:
		return fmt.Errorf("simulator: oracle factor %g: want (0, 1]", o.OracleFactor)
	case o.TargetBloat <= 0:
		return fmt.Errorf("simulator: target bloat %v must be > 0", o.TargetBloat)
	}
	return nil
}
