// Package sim is wanctl's link simulator: a fluid model of an internet link
// in virtual time (1 ms steps) with a bloated ISP FIFO behind the router's
// CAKE shaper, loaded phases (elastic CUBIC-like TCP flows, or saturating
// load) and idle ones, pings to reflectors with jitter, and a router that
// applies shaper writes after a latency, one at a time. A Policy (the
// controller under test) is ticked every control interval with the ping
// replies received since its previous tick and changes the shaper through
// a Writer. Runs are deterministic for a scenario's seed.
//
// Evaluate runs a policy and the two references (an oracle shaper at 95 %
// of the true capacity, a fixed shaper at the ceiling) over one scenario and
// scores them; EvaluateWith adds a peer policy (CakeAutorate, cake-autorate's
// algorithm) on the same link. Report renders the scores as JSON or a text
// table, WriteSVG plots them. RunMatrix plays policies over scenarios × link
// parameters × seeds and counts how often each meets the quality bar.
// docs/simulator.md describes the model.
package sim

import (
	"fmt"
	"time"
)

// Dir is a traffic direction; it indexes the [2] arrays of this package.
type Dir int

// Directions.
const (
	Download Dir = iota
	Upload
)

func (d Dir) String() string {
	if d == Upload {
		return "upload"
	}
	return "download"
}

// Epoch is virtual time zero: a policy's now and a reply's At are Epoch plus
// the simulated time.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Reply is one echo reply (or TCP fallback connect), as the real pinger
// reports it.
type Reply struct {
	// Reflector is the index of the reflector, 0..Options.Reflectors-1;
	// for a TCP reply the index of the fallback target,
	// 0..Options.Fallbacks-1.
	Reflector int
	RTT       time.Duration // measured round-trip time
	At        time.Time     // receive time (send time + RTT)
	TCP       bool          // a TCP fallback connect during an ICMP blackout
	// Stamped: an ICMP timestamp reply (Options.Timestamps), whose Up is
	// the way out plus the reflector's clock offset, as ping.Reply's.
	Stamped bool
	Up      time.Duration
}

// Writer is the simulated router as a policy sees it.
type Writer interface {
	// Submit queues a write of dir's shaper rate (bits/s). The router
	// handles writes one at a time in submission order, each taking
	// Options.WriteLatency; when this one completes the shaper runs at bps
	// from then on, the write is counted, and done (if not nil) is called
	// with the virtual time at Now(). A rate <= 0 is refused: done gets an
	// error at once and nothing is counted. done may Submit again.
	Submit(dir Dir, bps int64, done func(error))
	// Rate is the rate dir's shaper runs at now.
	Rate(dir Dir) int64
	// Pending counts writes queued or in flight.
	Pending() int
	// Now is the current virtual time.
	Now() time.Time
}

// Input is what a policy learns at a tick.
type Input struct {
	Now time.Time
	// Replies received since the previous tick, in receive order.
	Replies []Reply
	// TimedOut lists, per echo given up since the previous tick, its
	// reflector: lost echoes, and echoes answered later than
	// Options.PingTimeout (their replies are never delivered), reported
	// PingTimeout after they were sent, as the real pinger does.
	TimedOut []int
	// Outstanding lists the echo requests sent and neither answered nor
	// given up yet, oldest first, as the pinger's pending table has them
	// (ping.Stream.PendingInto): a lost echo is among them until it times
	// out, since the pinger cannot tell it from a slow one.
	Outstanding []Outstanding
	// ShapedBits is, per direction, the bits the shaper has passed since
	// the run started, exact at Now: what the router's queue byte counter
	// (times 8) reads. A policy derives achieved throughput from its
	// differences, at whatever rate and staleness it models. Under elastic
	// load the download shaper sits after the ISP's queue, so its count
	// never exceeds what the line delivered; the upload's counts what the
	// flows sent through the shaper, before the bottleneck.
	ShapedBits [2]float64
}

// Outstanding is an echo request waiting for its reply.
type Outstanding struct {
	Reflector int
	Sent      time.Time
}

// Policy is the controller under test. Tick is called at every control
// interval (virtual time Epoch, Epoch+Interval, ...). The slices in Input
// are reused after Tick returns: copy what must be kept.
type Policy interface {
	Tick(in Input, w Writer)
}

// TimedPolicy is a Policy that brings its own cycle and pinger timeout:
// Timing returns the interval it is ticked at and the ping timeout of its
// pinger, each replacing Options.Interval / Options.PingTimeout for its run
// when not zero. The link, loads, pings and router stay the same. An
// event-driven controller (CakeAutorate handles each reply as it arrives,
// and its pinger waits 10 s for a reply) needs both.
type TimedPolicy interface {
	Policy
	Timing() (tick, pingTimeout time.Duration)
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(in Input, w Writer)

// Tick calls f.
func (f PolicyFunc) Tick(in Input, w Writer) { f(in, w) }

// Result is one scenario's outcome for the policy and the references, all
// on the same capacity trace, loads and seed.
type Result struct {
	Scenario    string
	Description string
	Seed        int64
	Duration    time.Duration
	TargetBloat time.Duration
	Ceiling     [2]int64
	Loaded      [2][]Span
	Wanctl      *Run // the policy under test
	Peer        *Run // the peer policy (cake-autorate) when EvaluateWith had one, else nil
	Oracle      *Run // rate = OracleFactor * capacity, applied instantly, no writes
	Fixed       *Run // rate = Ceiling, never written
}

// Run is one shaper's outcome.
type Run struct {
	Dirs  [2]DirRun
	Pings PingStats // zero for the references, which do not ping
}

// DirRun is one direction of a Run.
type DirRun struct {
	Scores Scores
	Writes int // completed router writes
	Drops  int // recovery events (capacity drops and load onsets)
	Series Series
}

// PingStats count the echoes of a run. Sent = Replies + Lost + Timeouts +
// those still in flight at the end; the same holds for the TCP fallback
// connects (TCPFailures: slower than the timeout).
type PingStats struct {
	Sent, Replies, Lost, Timeouts    int
	TCPSent, TCPReplies, TCPFailures int
}

// Series is a run's direction sampled into SeriesStep buckets for plots.
type Series struct {
	Step     time.Duration
	Capacity []float32 // mean capacity, bits/s
	Rate     []float32 // mean shaper rate, bits/s
	Delay    []float32 // max added delay (ISP queue + CAKE), ms
}

// SeriesStep is the plot bucket width.
const SeriesStep = 100 * time.Millisecond

// Evaluate runs p and the two references over sc. p must be fresh: it is
// ticked from virtual time zero.
func Evaluate(sc *Scenario, opt Options, p Policy) (*Result, error) {
	return EvaluateWith(sc, opt, p, nil)
}

// EvaluateWith is Evaluate with a peer policy (nil: none) run on the same
// link, loads, pings and router as p; its run is Result.Peer, reported as
// cake-autorate. Both policies must be fresh.
func EvaluateWith(sc *Scenario, opt Options, p, peer Policy) (*Result, error) {
	if p == nil {
		return nil, fmt.Errorf("simulator: no policy to evaluate")
	}
	opt = opt.WithDefaults()
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	popt, err := policyOptions(opt, p)
	if err != nil {
		return nil, err
	}
	var peerOpt Options
	if peer != nil {
		if peerOpt, err = policyOptions(opt, peer); err != nil {
			return nil, err
		}
	}
	events := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	res := &Result{
		Scenario: sc.Name, Description: sc.Description, Seed: sc.Seed, Duration: sc.Duration,
		TargetBloat: opt.TargetBloat, Ceiling: opt.Ceiling, Loaded: sc.Loaded,
	}
	res.Wanctl = newEngine(sc, &popt, modePolicy, p, events).run()
	if peer != nil {
		res.Peer = newEngine(sc, &peerOpt, modePolicy, peer, events).run()
	}
	res.Oracle = newEngine(sc, &opt, modeOracle, nil, events).run()
	res.Fixed = newEngine(sc, &opt, modeFixed, nil, events).run()
	return res, nil
}

// policyOptions are opt with the policy's own timing, if it has one.
func policyOptions(opt Options, p Policy) (Options, error) {
	tp, ok := p.(TimedPolicy)
	if !ok {
		return opt, nil
	}
	tick, timeout := tp.Timing()
	if tick != 0 {
		opt.Interval = tick
	}
	if timeout != 0 {
		opt.PingTimeout = timeout
	}
	if err := opt.Validate(); err != nil {
		return opt, fmt.Errorf("simulator: the policy's own timing: %w", err)
	}
	return opt, nil
}
