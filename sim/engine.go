package sim

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

type mode int

const (
	modePolicy mode = iota
	modeOracle
	modeFixed
)

// recoveryHold is how long the added delay must stay below target for a
// recovery event to count as recovered.
const recoveryHold = 1000 // ms

// ispStep advances an ISP FIFO by dt seconds: in bits/s arrive (the
// shaper's output), the link drains c bits/s, the queue holds at most buf
// bits (the excess is dropped). It returns the new queue and the bits
// delivered during dt.
func ispStep(q, buf, c, in, dt float64) (queue, out float64) {
	q, out, _ = ispStepDrop(q, buf, c, in, dt)
	return q, out
}

// ispStepDrop is ispStep that also returns the bits dropped.
func ispStepDrop(q, buf, c, in, dt float64) (queue, out, dropped float64) {
	q += in * dt
	out = min(c*dt, q)
	q -= out
	if q > buf {
		dropped = q - buf
		q = buf
	}
	return q, out, dropped
}

// cakeDelay is the delay a sparse flow (a ping, a game, a call) sees in a
// saturated CAKE shaper at rate bits/s: scheduling granularity plus the
// packets ahead of it on the wire (CAKE serves new sparse flows first).
func cakeDelay(o *Options, rate float64) float64 {
	return o.CakeBase.Seconds() + float64(o.CakePackets*o.MTU*8)/rate
}

type request struct {
	dir  Dir
	bps  int64
	done func(error)
}

// echo is a request in flight. Its first event (back=false) is when its
// reply reaches the download bottleneck — after the upload queue it met
// when it was sent and the path's base RTT — where it queues behind what
// the download queue holds at that moment; its second (back=true) is its
// receive time.
type echo struct {
	at   int64 // time of the next event, ns since Epoch
	seq  int64
	sent int64 // send time, ns
	up   int64 // a timestamp reply's Up (Reply.Up), ns
	j    float64
	refl int
	back bool
	tcp  bool
}

// echoHeap is a min-heap of echoes in flight by receive time (then
// sequence, so ties are deterministic); no interface boxing, no allocation
// once its capacity is reached.
type echoHeap []echo

func (h echoHeap) less(i, j int) bool {
	return h[i].at < h[j].at || (h[i].at == h[j].at && h[i].seq < h[j].seq)
}

func (h *echoHeap) push(e echo) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *echoHeap) pop() echo {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && s.less(l, m) {
			m = l
		}
		if l+1 < n && s.less(l+1, m) {
			m = l + 1
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

type spanCursor struct {
	spans []Span
	i     int
}

func (c *spanCursor) at(t time.Duration) bool {
	for c.i < len(c.spans) && c.spans[c.i].End <= t {
		c.i++
	}
	return c.i < len(c.spans) && c.spans[c.i].Start <= t
}

// Recovery scores recovery events (RecoveryEvents): per event, the time
// from the event until the added delay has been below target for 1 s.
// Feed it every millisecond in order (Step), then Finish; Worst is the
// score. The testbed scores its runs with it too.
type Recovery struct {
	events     []int64 // ms, increasing
	next       int
	open       []int64
	belowStart int64 // start of the current below-target stretch, -1 if above
	worst      int64
}

// Step records millisecond ms: below is whether the added delay was under
// target.
func (r *Recovery) Step(ms int64, below bool) {
	for r.next < len(r.events) && r.events[r.next] == ms {
		r.open = append(r.open, ms)
		r.next++
	}
	if !below {
		r.belowStart = -1
		return
	}
	if r.belowStart < 0 {
		r.belowStart = ms
	}
	k := 0
	for _, t0 := range r.open {
		start := max(r.belowStart, t0)
		if ms-start+1 < recoveryHold {
			break // later events start no earlier
		}
		r.worst = max(r.worst, start-t0)
		k++
	}
	if k > 0 {
		r.open = r.open[:copy(r.open, r.open[k:])]
	}
}

// Finish closes the events still open at the end of a run of n ms: one in a
// below-target stretch recovered when it began, any other never did (its
// time is counted to the end).
func (r *Recovery) Finish(n int64) {
	for _, t0 := range r.open {
		if r.belowStart >= 0 {
			r.worst = max(r.worst, max(r.belowStart, t0)-t0)
		} else {
			r.worst = max(r.worst, n-t0)
		}
	}
	r.open = r.open[:0]
}

// NewRecovery scores the events at these milliseconds (increasing).
func NewRecovery(events []int64) *Recovery {
	return &Recovery{events: events, open: make([]int64, 0, len(events)), belowStart: -1}
}

// Worst is the longest recovery so far, in milliseconds.
func (r *Recovery) Worst() int64 { return r.worst }

type dirState struct {
	capCur  cursor
	load    spanCursor
	app     cursor   // application limit, fraction of nominal; p nil: none
	tcp     *tcpLoad // elastic load; nil: saturating
	tandem  bool     // elastic download: the ISP FIFO comes before CAKE
	nominal float64
	idle    float64 // offered load in idle phases, bits/s
	buf     float64 // ISP buffer, bits
	rate    float64 // shaper rate, bits/s
	q       float64 // ISP queue, bits
	qDelay  float64 // the ISP queue's delay now, s
	added   float64 // added delay now (ISP queue + CAKE), s
	writes  int
	ceiling float64
	shaped  float64 // bits the shaper has passed since the start (its byte counter, in bits)

	delays              []float32 // ms, one per loaded ms
	delivered, capacity float64   // bits while loaded
	rec                 Recovery
	// Per recovery event (until the next one): loaded ms, and loaded ms
	// with the added delay above 2 x target.
	evNext          int
	evLoaded, above []int64
	series          Series
	bCap, bRate     float64
	bDelay          float32
	bN              int
}

type engine struct {
	sc       *Scenario
	opt      *Options
	mode     mode
	policy   Policy
	steps    int64 // run length, ms
	ran      int64 // ms simulated so far
	now      int64 // current ms
	interval int64 // policy ticks, ms
	dt       float64
	target   float64 // s
	dirs     [2]dirState
	pathCur  cursor // the scenario's RTT shift, for the elastic flows

	jitterMean float64 // s
	jitterDist JitterDist

	// router
	reqs   []request
	head   int
	doneAt int64 // ms at which reqs[head] completes
	latMS  int64

	// pings
	rng      *rand.Rand
	tcpRNG   *rand.Rand
	owdRNG   *rand.Rand // the one-way split of each echo's jitter (Options.Timestamps)
	offset   []float64  // per reflector, its clock ahead of ours, s (Options.Timestamps)
	base     []float64  // per reflector, s
	shiftCur cursor
	lossCur  cursor
	flying   echoHeap
	replies  []Reply
	pending  pendingRing // echoes sent and not yet given up, in send order
	timedOut []int
	outst    []Outstanding
	lastICMP int64 // receive time of the latest ICMP reply, ns
	blackout bool
	fbBase   []float64 // per fallback target, s
	fbBusy   []int64   // a connect to the target is in flight until then, ns
	fbNext   int
	nextTCP  int64
	tcpSeq   int64
	seq      int64
	nextPing int64 // ns
	pings    PingStats
}

func newEngine(sc *Scenario, opt *Options, m mode, p Policy, events [2][]int64) *engine {
	steps := int64(sc.Duration / time.Millisecond)
	e := &engine{
		sc: sc, opt: opt, mode: m, policy: p, steps: steps, dt: 1e-3,
		target:   opt.TargetBloat.Seconds(),
		interval: int64(opt.Interval / time.Millisecond),
		latMS:    int64((opt.WriteLatency + time.Millisecond - 1) / time.Millisecond),
		shiftCur: cursor{p: &sc.RTTShift},
		pathCur:  cursor{p: &sc.RTTShift},
		lossCur:  cursor{p: &sc.ICMPLoss},
	}
	e.jitterMean, e.jitterDist = jitterOf(sc, opt)
	buckets := int((sc.Duration + SeriesStep - 1) / SeriesStep)
	for d := range 2 {
		ds := &e.dirs[d]
		ds.capCur = cursor{p: &sc.Capacity[d]}
		ds.load = spanCursor{spans: sc.Loaded[d]}
		ds.nominal = sc.Nominal[d]
		ds.idle = opt.idleLoad() * sc.Nominal[d]
		ds.buf = opt.ISPBuffer.Seconds() * sc.Nominal[d]
		if len(sc.AppLimit[d].Points) > 0 {
			ds.app = cursor{p: &sc.AppLimit[d]}
		}
		if opt.Load == LoadElastic {
			// Every run of a scenario (policy, oracle, fixed) gets the same
			// flows: their base RTTs come from the seed.
			var fifo float64 // bits: the testbed's HTB bulk FIFO, at the ceiling
			if opt.Shaper == ShaperFIFO {
				fifo = max(opt.RouterFIFO.Seconds()*float64(opt.Ceiling[d]), float64(10*opt.MTU*8))
			}
			ds.tcp = newTCPLoad(opt.Flows, newRand(sc.Seed, "flows/"+Dir(d).String()),
				opt.BaseRTTMin.Seconds(), opt.BaseRTTMax.Seconds(), opt.MTU, fifo)
			ds.tandem = Dir(d) == Download
		}
		ds.ceiling = float64(opt.Ceiling[d])
		ds.rate = ds.ceiling
		var loadedMS int64
		for _, s := range sc.Loaded[d] {
			loadedMS += int64((s.End - s.Start) / time.Millisecond)
		}
		ds.delays = make([]float32, 0, loadedMS+1)
		ds.rec = *NewRecovery(events[d])
		ds.evLoaded = make([]int64, len(events[d]))
		ds.above = make([]int64, len(events[d]))
		ds.series = Series{
			Step:     SeriesStep,
			Capacity: make([]float32, 0, buckets),
			Rate:     make([]float32, 0, buckets),
			Delay:    make([]float32, 0, buckets),
		}
	}
	if m == modePolicy {
		if r, ok := p.(routerModel); ok {
			r.setRequestLatency(time.Duration(e.latMS) * time.Millisecond) // as the writes take
		}
		e.rng = newRand(sc.Seed, "pings")
		e.tcpRNG = newRand(sc.Seed, "tcp")
		br := newRand(sc.Seed, "reflectors")
		e.base = make([]float64, opt.Reflectors)
		lo, hi := opt.BaseRTTMin.Seconds(), opt.BaseRTTMax.Seconds()
		for i := range e.base {
			e.base[i] = lo + (hi-lo)*br.Float64()
		}
		if opt.Timestamps {
			e.owdRNG = newRand(sc.Seed, "one-way")
			e.offset = make([]float64, opt.Reflectors)
			for i := range e.offset {
				e.offset[i] = clockOffset * (2*e.owdRNG.Float64() - 1)
			}
		}
		inFlight := opt.PingRate*int(opt.PingTimeout/time.Second+1) + 8
		e.flying = make(echoHeap, 0, inFlight)
		e.replies = make([]Reply, 0, inFlight)
		e.fbBase = make([]float64, opt.Fallbacks)
		e.fbBusy = make([]int64, opt.Fallbacks)
		fr := newRand(sc.Seed, "fallbacks")
		for i := range e.fbBase {
			e.fbBase[i] = lo + (hi-lo)*fr.Float64()
		}
		e.pending = newPendingRing(opt.PingRate*int(opt.PingTimeout/time.Millisecond)/1000 + 2)
		e.timedOut = make([]int, 0, inFlight)
		e.outst = make([]Outstanding, 0, inFlight)
		e.reqs = make([]request, 0, 16)
	}
	return e
}

func (e *engine) run() *Run {
	for e.ran < e.steps {
		e.step()
	}
	return e.finish()
}

// step simulates the next millisecond.
func (e *engine) step() {
	ms := e.ran
	e.now = ms
	if e.mode == modePolicy {
		e.advanceRouter()
		e.arrive()
		e.sendPings()
		if e.policy != nil && ms%e.interval == 0 {
			e.tick()
			e.advanceRouter() // zero-latency writes land now
		}
	}
	t := time.Duration(ms) * time.Millisecond
	shift := e.pathCur.at(t) / 1e3
	e.physics(&e.dirs[Download], &e.dirs[Upload], t, ms, shift)
	e.physics(&e.dirs[Upload], &e.dirs[Download], t, ms, shift)
	e.ran++
}

// jitterOf is the echo jitter of a run: the options' where set, else the
// scenario's, else 1 ms exponential.
func jitterOf(sc *Scenario, opt *Options) (mean float64, dist JitterDist) {
	m, d := opt.Jitter, opt.JitterDist
	if m == 0 {
		m = sc.Jitter.Mean
	}
	if m == 0 {
		m = time.Millisecond
	}
	if d == JitterDefault {
		d = sc.Jitter.Dist
	}
	if d == JitterDefault {
		d = JitterExp
	}
	return m.Seconds(), d
}

// physics advances one direction by a millisecond; other is the reverse
// direction (the elastic flows' ACKs cross its queue), shift the path's
// RTT shift (s).
func (e *engine) physics(ds, other *dirState, t time.Duration, ms int64, shift float64) {
	c := ds.capCur.at(t)
	loaded := ds.load.at(t)
	appCap := math.Inf(1)
	if ds.app.p != nil && loaded {
		appCap = ds.app.at(t) * ds.nominal
	}
	var r float64
	switch e.mode {
	case modePolicy:
		r = ds.rate
	case modeOracle:
		r = e.opt.OracleFactor * c
	default:
		r = ds.ceiling
	}
	var in float64  // what the shaper passes, bits/s
	var out float64 // bits delivered this step (to the LAN, or the far end)
	var busy bool   // the shaper is saturated: sparse packets wait in CAKE
	var q float64   // the ISP queue after this step, bits
	now := float64(ms) * e.dt
	switch {
	case ds.tcp == nil:
		// Saturating senders offer more than any rate and follow the
		// shaper exactly, in either direction: the shaper comes first.
		offered := ds.idle
		if loaded {
			offered = appCap
		}
		in, busy = min(r, offered), offered >= r
		q, out = ispStep(ds.q, ds.buf, c, in, e.dt)
	case ds.tandem:
		// Download: the senders -> ISP FIFO (c) -> CAKE (r) -> LAN. The
		// shaper sees only what the ISP delivers.
		path := shift + ds.q/c + other.added
		ds.tcp.send(now, e.dt, appCap, path, loaded)
		idle := 0.0
		if !loaded {
			idle = ds.idle
		}
		var idleOut float64
		q, _, idleOut = ds.tcp.fifo(now, ds.buf, c, idle, e.dt)
		idleIn := min(idleOut/e.dt, r)
		flowBits, flowsBusy := ds.tcp.serve(now, e.dt, r, idleIn)
		in = idleIn + flowBits/e.dt
		busy = flowsBusy || idleIn >= r
		out = in * e.dt
	default:
		// Upload: the flows -> CAKE (r) -> ISP FIFO (c).
		idleIn := 0.0
		if !loaded {
			idleIn = min(ds.idle, r)
		}
		path := shift + ds.q/c + other.added
		flowBits, flowsBusy := ds.tcp.step(now, e.dt, r, idleIn, appCap, path, loaded)
		in = idleIn + flowBits/e.dt
		busy = flowsBusy || idleIn >= r
		var dropped float64
		q, out, dropped = ispStepDrop(ds.q, ds.buf, c, in, e.dt)
		if dropped > 0 {
			ds.tcp.ispDrop(now, dropped, in*e.dt)
		}
	}
	ds.q = q
	ds.shaped += in * e.dt
	added := q / c
	ds.qDelay = added
	if busy && e.opt.Shaper == ShaperCAKE {
		// The testbed's HTB serves sparse packets in a class of their
		// own at once: no delay of the router's.
		added += cakeDelay(e.opt, r)
	}
	ds.added = added
	for ds.evNext < len(ds.rec.events) && ds.rec.events[ds.evNext] <= ms {
		ds.evNext++
	}
	if loaded {
		ds.delays = append(ds.delays, float32(added*1e3))
		ds.delivered += out
		ds.capacity += c * e.dt
		if ev := ds.evNext - 1; ev >= 0 {
			ds.evLoaded[ev]++
			if added > 2*e.target {
				ds.above[ev]++
			}
		}
	}
	ds.rec.Step(ms, added < e.target)

	ds.bCap += c
	ds.bRate += r
	ds.bDelay = max(ds.bDelay, float32(added*1e3))
	ds.bN++
	if ds.bN == int(SeriesStep/time.Millisecond) || ms == e.steps-1 {
		ds.flushBucket()
	}
}

func (ds *dirState) flushBucket() {
	if ds.bN > 0 {
		n := float64(ds.bN)
		ds.series.Capacity = append(ds.series.Capacity, float32(ds.bCap/n))
		ds.series.Rate = append(ds.series.Rate, float32(ds.bRate/n))
		ds.series.Delay = append(ds.series.Delay, ds.bDelay)
		ds.bCap, ds.bRate, ds.bDelay, ds.bN = 0, 0, 0, 0
	}
}

func (e *engine) sendPings() {
	end := (e.now + 1) * int64(time.Millisecond)
	rate := int64(e.opt.PingRate)
	for e.nextPing < end {
		sent := e.nextPing
		refl := int(e.seq % int64(len(e.base)))
		seq := e.seq
		e.seq++
		e.nextPing = e.seq * int64(time.Second) / rate
		e.pings.Sent++
		// Both draws every time: the random stream must not depend on
		// the policy's effect on the link.
		u := e.rng.Float64()
		j := jitterDraw(e.rng, e.jitterDist, e.jitterMean)
		// The pinger cannot tell a lost echo from a slow one: every
		// request is pending until it is answered or given up.
		e.pending.push(sent, refl, seq)
		if u < e.lossCur.at(time.Duration(sent)) {
			e.pings.Lost++
		} else {
			e.flying.push(echo{at: e.outbound(e.base[refl], sent), up: e.stampUp(refl, sent, j), seq: seq, sent: sent, j: j, refl: refl})
		}
		e.fallback(sent)
	}
}

// outbound is when an echo sent at t (ns) with base RTT base (s) comes back
// to the download bottleneck: it crossed the upload queue as it was at t,
// then the path (base RTT and the scenario's shift). The download queue it
// meets there is added in arrive, at that moment: a reply queues behind
// what the download queue holds when it gets there, not when the request
// left.
func (e *engine) outbound(base float64, t int64) int64 {
	s := base + e.shiftCur.at(time.Duration(t))/1e3 + e.dirs[Upload].added
	return t + int64(s*1e9)
}

// clockOffset bounds how far a reflector's clock is from ours (s): an ICMP
// timestamp's one-way delay carries the offset, which the baselines take.
// A reflector synchronised by NTP is within a few milliseconds; 50 ms is a
// poor one. (cake-autorate's baselines start at 100 ms one way and rise
// slowly: a leg that seems longer than that would take it minutes.)
const clockOffset = 0.05

// stampUp is what a timestamp reply to an echo sent at t (ns) to reflector
// refl with jitter j (s) reports as its way out (Reply.Up, ns): half the
// base RTT and of the path's shift, the upload queue, a random share of
// the jitter (the rest delays the way back), plus the reflector's clock
// offset, stamped in whole milliseconds as RFC 792 timestamps are.
func (e *engine) stampUp(refl int, t int64, j float64) int64 {
	if e.offset == nil {
		return 0
	}
	up := (e.base[refl]+e.shiftCur.at(time.Duration(t))/1e3)/2 + e.dirs[Upload].added + j*e.owdRNG.Float64()
	stamp := math.Floor((float64(t)/1e9 + up + e.offset[refl]) * 1e3) // ms
	return int64(stamp*1e6) - t
}

// fallback follows the pinger after each echo sent at t (ns): a blackout
// starts when no ICMP reply came for BlackoutAfter; during one, a TCP
// connect to the next idle fallback target is due every 1/FallbackRate.
func (e *engine) fallback(t int64) {
	if !e.blackout && t-e.lastICMP >= int64(e.opt.BlackoutAfter) {
		e.blackout = true
	}
	if !e.blackout || len(e.fbBase) == 0 || t < e.nextTCP {
		return
	}
	e.nextTCP = t + int64(float64(time.Second)/e.opt.FallbackRate)
	for range e.fbBase {
		i := e.fbNext
		e.fbNext = (e.fbNext + 1) % len(e.fbBase)
		if e.fbBusy[i] > t {
			continue
		}
		e.pings.TCPSent++
		e.tcpSeq++
		// The jitter of a connect comes from its own stream: the ICMP
		// draws must not depend on whether a blackout happened.
		j := jitterDraw(e.tcpRNG, e.jitterDist, e.jitterMean)
		// Busy until answered (arrive shortens this) or given up.
		e.fbBusy[i] = t + int64(e.opt.PingTimeout)
		e.flying.push(echo{at: e.outbound(e.fbBase[i], t), seq: e.tcpSeq, sent: t, j: j, refl: i, tcp: true})
		return
	}
}

// arrive moves echoes along: a reply reaching the download bottleneck gets
// the download queue's delay as it is now (and its jitter), and one that
// would arrive later than the ping timeout is never delivered; the replies
// received by now go to the next tick.
func (e *engine) arrive() {
	now := e.now * int64(time.Millisecond)
	timeout := int64(e.opt.PingTimeout)
	for len(e.flying) > 0 && e.flying[0].at <= now {
		x := e.flying.pop()
		if !x.back {
			x.at += int64((e.dirs[Download].added + x.j) * 1e9)
			x.back = true
			if x.at-x.sent > timeout {
				if x.tcp {
					e.pings.TCPFailures++
				} else {
					e.pings.Timeouts++
				}
				continue
			}
			e.flying.push(x)
			continue
		}
		rtt := time.Duration(x.at - x.sent)
		stamped := e.offset != nil && !x.tcp && x.refl >= e.opt.EchoOnly
		e.replies = append(e.replies, Reply{Reflector: x.refl, RTT: rtt, At: Epoch.Add(time.Duration(x.at)), TCP: x.tcp,
			Stamped: stamped, Up: time.Duration(x.up)})
		if x.tcp {
			e.pings.TCPReplies++
			e.fbBusy[x.refl] = x.at
			continue
		}
		e.pings.Replies++
		e.pending.answered(x.seq)
		e.lastICMP = max(e.lastICMP, x.at)
		e.blackout = false
	}
}

// expire reports the echoes given up by now (unanswered PingTimeout after
// they were sent) into timedOut.
func (e *engine) expire(timedOut []int) []int {
	deadline := e.now*int64(time.Millisecond) - int64(e.opt.PingTimeout)
	for e.pending.n > 0 && e.pending.peek().sent <= deadline {
		p := e.pending.pop()
		if !p.answered {
			timedOut = append(timedOut, p.refl)
		}
	}
	return timedOut
}

// outstanding lists the echoes sent and neither answered nor given up, in
// send order: the simulated pinger's pending requests.
func (e *engine) outstanding(dst []Outstanding) []Outstanding {
	for i := range e.pending.n {
		p := e.pending.at(i)
		if !p.answered {
			dst = append(dst, Outstanding{Reflector: p.refl, Sent: Epoch.Add(time.Duration(p.sent))})
		}
	}
	return dst
}

func (e *engine) tick() {
	e.timedOut = e.expire(e.timedOut)
	e.outst = e.outstanding(e.outst[:0])
	if qo, ok := e.policy.(queueObserver); ok {
		qo.observeQueues(e.Now(), [2]float64{e.dirs[Download].qDelay, e.dirs[Upload].qDelay})
	}
	e.policy.Tick(Input{Now: e.Now(), Replies: e.replies, TimedOut: e.timedOut, Outstanding: e.outst,
		ShapedBits: [2]float64{e.dirs[Download].shaped, e.dirs[Upload].shaped}}, e)
	clear(e.replies)
	e.replies = e.replies[:0]
	e.timedOut = e.timedOut[:0]
}

// pendingRing is the FIFO of echoes sent and not yet given up, in send
// (and seq) order; an answered one stays until its deadline, marked.
type pendingRing struct {
	buf     []pendingEcho
	head, n int
}

type pendingEcho struct {
	sent     int64 // ns
	seq      int64
	refl     int
	answered bool
}

func newPendingRing(n int) pendingRing { return pendingRing{buf: make([]pendingEcho, n)} }

func (r *pendingRing) push(sent int64, refl int, seq int64) {
	if r.n == len(r.buf) { // cannot happen with the capacity newEngine picks; stay correct anyway
		old := *r
		*r = newPendingRing(2*len(old.buf) + 1)
		for i := range old.n {
			r.buf[i] = old.at(i)
		}
		r.n = old.n
	}
	r.buf[(r.head+r.n)%len(r.buf)] = pendingEcho{sent: sent, seq: seq, refl: refl}
	r.n++
}

func (r *pendingRing) at(i int) pendingEcho { return r.buf[(r.head+i)%len(r.buf)] }

func (r *pendingRing) peek() pendingEcho { return r.buf[r.head] }

func (r *pendingRing) pop() pendingEcho {
	v := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return v
}

// answered marks echo seq answered (seqs in the ring are consecutive).
func (r *pendingRing) answered(seq int64) {
	if r.n == 0 {
		return
	}
	if i := seq - r.peek().seq; i >= 0 && i < int64(r.n) {
		r.buf[(r.head+int(i))%len(r.buf)].answered = true
	}
}

// advanceRouter completes the writes due by now, in order.
func (e *engine) advanceRouter() {
	for e.head < len(e.reqs) && e.doneAt <= e.now {
		r := e.reqs[e.head]
		e.reqs[e.head] = request{}
		e.head++
		if e.head == len(e.reqs) {
			e.reqs, e.head = e.reqs[:0], 0
		} else {
			e.doneAt += e.latMS // the next one starts when this one ends
		}
		ds := &e.dirs[r.dir]
		ds.rate = float64(r.bps)
		ds.writes++
		if r.done != nil {
			r.done(nil)
		}
	}
}

var errRate = errors.New("simulator: shaper rate must be > 0 bits/s")

// Submit implements Writer.
func (e *engine) Submit(dir Dir, bps int64, done func(error)) {
	if bps <= 0 || (dir != Download && dir != Upload) {
		if done != nil {
			done(errRate)
		}
		return
	}
	if e.head == len(e.reqs) {
		e.doneAt = e.now + e.latMS
	}
	e.reqs = append(e.reqs, request{dir: dir, bps: bps, done: done})
}

// Rate implements Writer.
func (e *engine) Rate(dir Dir) int64 { return int64(e.dirs[dir].rate) }

// Pending implements Writer.
func (e *engine) Pending() int { return len(e.reqs) - e.head }

// Now implements Writer.
func (e *engine) Now() time.Time { return Epoch.Add(time.Duration(e.now) * time.Millisecond) }

func (e *engine) finish() *Run {
	run := &Run{Pings: e.pings}
	hours := float64(max(e.ran, 1)) / 3.6e6
	for d := range 2 {
		ds := &e.dirs[d]
		ds.flushBucket()
		ds.rec.Finish(e.ran)
		sc := Scores{RecoveryS: float64(ds.rec.Worst()) / 1e3, WritesPerHour: float64(ds.writes) / hours}
		sc.SetAbove(ds.above, ds.evLoaded)
		if ds.capacity > 0 {
			sc.Utilisation = ds.delivered / ds.capacity
		}
		slices.Sort(ds.delays)
		sc.AddedDelayMS = Percentiles{
			P50: percentile(ds.delays, 0.50),
			P95: percentile(ds.delays, 0.95),
			P99: percentile(ds.delays, 0.99),
		}
		run.Dirs[d] = DirRun{Scores: sc, Writes: ds.writes, Drops: len(ds.rec.events), Series: ds.series}
		ds.delays = nil
	}
	return run
}

// percentile is the nearest-rank quantile of sorted values.
func percentile(sorted []float32, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return float64(sorted[max(i, 0)])
}
