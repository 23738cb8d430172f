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
	q += in * dt
	out = min(c*dt, q)
	q -= out
	if q > buf {
		q = buf
	}
	return q, out
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

type echo struct {
	at   int64 // receive time, ns since Epoch
	seq  int64
	refl int
	rtt  time.Duration
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

// recovery measures, per event, the time from the event until the added
// delay has been below target for recoveryHold.
type recovery struct {
	events     []int64 // ms, increasing
	next       int
	open       []int64
	belowStart int64 // start of the current below-target stretch, -1 if above
	worst      int64
}

func (r *recovery) step(ms int64, below bool) {
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

// finish closes the events still open at the end of a run of n ms: one in a
// below-target stretch recovered when it began, any other never did (its
// time is counted to the end).
func (r *recovery) finish(n int64) {
	for _, t0 := range r.open {
		if r.belowStart >= 0 {
			r.worst = max(r.worst, max(r.belowStart, t0)-t0)
		} else {
			r.worst = max(r.worst, n-t0)
		}
	}
	r.open = r.open[:0]
}

type dirState struct {
	capCur  cursor
	load    spanCursor
	idle    float64 // offered load in idle phases, bits/s
	buf     float64 // ISP buffer, bits
	rate    float64 // shaper rate, bits/s
	q       float64 // ISP queue, bits
	added   float64 // added delay now (ISP queue + CAKE), s
	writes  int
	ceiling float64

	delays              []float32 // ms, one per loaded ms
	delivered, capacity float64   // bits while loaded
	rec                 recovery
	series              Series
	bCap, bRate         float64
	bDelay              float32
	bN                  int
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

	// router
	reqs   []request
	head   int
	doneAt int64 // ms at which reqs[head] completes
	latMS  int64

	// pings
	rng      *rand.Rand
	tcpRNG   *rand.Rand
	base     []float64 // per reflector, s
	shiftCur cursor
	lossCur  cursor
	flying   echoHeap
	replies  []Reply
	expiry   ring // echoes that will time out: deadline ns, reflector
	timedOut []int
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
		lossCur:  cursor{p: &sc.ICMPLoss},
	}
	buckets := int((sc.Duration + SeriesStep - 1) / SeriesStep)
	for d := range 2 {
		ds := &e.dirs[d]
		ds.capCur = cursor{p: &sc.Capacity[d]}
		ds.load = spanCursor{spans: sc.Loaded[d]}
		ds.idle = opt.IdleLoad * sc.Nominal[d]
		ds.buf = opt.ISPBuffer.Seconds() * sc.Nominal[d]
		ds.ceiling = float64(opt.Ceiling[d])
		ds.rate = ds.ceiling
		var loadedMS int64
		for _, s := range sc.Loaded[d] {
			loadedMS += int64((s.End - s.Start) / time.Millisecond)
		}
		ds.delays = make([]float32, 0, loadedMS+1)
		ds.rec = recovery{events: events[d], open: make([]int64, 0, len(events[d])), belowStart: -1}
		ds.series = Series{
			Step:     SeriesStep,
			Capacity: make([]float32, 0, buckets),
			Rate:     make([]float32, 0, buckets),
			Delay:    make([]float32, 0, buckets),
		}
	}
	if m == modePolicy {
		e.rng = newRand(sc.Seed, "pings")
		e.tcpRNG = newRand(sc.Seed, "tcp")
		br := newRand(sc.Seed, "reflectors")
		e.base = make([]float64, opt.Reflectors)
		lo, hi := opt.BaseRTTMin.Seconds(), opt.BaseRTTMax.Seconds()
		for i := range e.base {
			e.base[i] = lo + (hi-lo)*br.Float64()
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
		e.expiry = newRing(opt.PingRate*int(opt.PingTimeout/time.Millisecond)/1000 + 2)
		e.timedOut = make([]int, 0, inFlight)
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
	e.physics(&e.dirs[Download], t, ms)
	e.physics(&e.dirs[Upload], t, ms)
	e.ran++
}

func (e *engine) physics(ds *dirState, t time.Duration, ms int64) {
	c := ds.capCur.at(t)
	loaded := ds.load.at(t)
	offered := ds.idle
	if loaded {
		offered = math.Inf(1)
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
	q, out := ispStep(ds.q, ds.buf, c, min(r, offered), e.dt)
	ds.q = q
	added := q / c
	if offered >= r {
		added += cakeDelay(e.opt, r)
	}
	ds.added = added
	if loaded {
		ds.delays = append(ds.delays, float32(added*1e3))
		ds.delivered += out
		ds.capacity += c * e.dt
	}
	ds.rec.step(ms, added < e.target)

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
	jitter := e.opt.Jitter.Seconds()
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
		j := expDraw(e.rng, jitter)
		at := time.Duration(sent)
		switch rtt := e.rtt(e.base[refl], at, j); {
		case u < e.lossCur.at(at):
			e.pings.Lost++
			e.expiry.push(sent+int64(e.opt.PingTimeout), refl)
		case rtt > e.opt.PingTimeout:
			e.pings.Timeouts++
			e.expiry.push(sent+int64(e.opt.PingTimeout), refl)
		default:
			e.flying.push(echo{at: sent + int64(rtt), seq: seq, refl: refl, rtt: rtt})
		}
		e.fallback(sent)
	}
}

// rtt is an echo's round trip sent at t: base, path shift, both
// directions' queues as they are at send time (the echo crosses the upload
// path, the reply the download path), jitter j (s).
func (e *engine) rtt(base float64, t time.Duration, j float64) time.Duration {
	s := base + e.shiftCur.at(t)/1e3 + e.dirs[Download].added + e.dirs[Upload].added + j
	return time.Duration(s * 1e9)
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
		rtt := e.rtt(e.fbBase[i], time.Duration(t), expDraw(e.tcpRNG, e.opt.Jitter.Seconds()))
		if rtt > e.opt.PingTimeout {
			e.pings.TCPFailures++
			e.fbBusy[i] = t + int64(e.opt.PingTimeout)
			return
		}
		e.fbBusy[i] = t + int64(rtt)
		e.flying.push(echo{at: t + int64(rtt), seq: e.tcpSeq, refl: i, rtt: rtt, tcp: true})
		return
	}
}

// arrive moves the echoes received by now to the replies of the next tick.
func (e *engine) arrive() {
	now := e.now * int64(time.Millisecond)
	for len(e.flying) > 0 && e.flying[0].at <= now {
		x := e.flying.pop()
		e.replies = append(e.replies, Reply{Reflector: x.refl, RTT: x.rtt, At: Epoch.Add(time.Duration(x.at)), TCP: x.tcp})
		if x.tcp {
			e.pings.TCPReplies++
			continue
		}
		e.pings.Replies++
		e.lastICMP = max(e.lastICMP, x.at)
		e.blackout = false
	}
}

func (e *engine) tick() {
	now := e.now * int64(time.Millisecond)
	for e.expiry.n > 0 && e.expiry.peek() <= now {
		e.timedOut = append(e.timedOut, e.expiry.pop())
	}
	e.policy.Tick(Input{Now: e.Now(), Replies: e.replies, TimedOut: e.timedOut}, e)
	clear(e.replies)
	e.replies = e.replies[:0]
	e.timedOut = e.timedOut[:0]
}

// ring is a FIFO of (deadline, reflector) with a fixed capacity: echoes
// expire in send order, and at most rate*timeout are pending.
type ring struct {
	at      []int64
	refl    []int
	head, n int
}

func newRing(n int) ring { return ring{at: make([]int64, n), refl: make([]int, n)} }

func (r *ring) push(at int64, refl int) {
	if r.n == len(r.at) { // cannot happen with the capacity newEngine picks; stay correct anyway
		old := *r
		*r = newRing(2*len(old.at) + 1)
		for old.n > 0 {
			a := old.peek()
			r.push(a, old.pop())
		}
	}
	i := (r.head + r.n) % len(r.at)
	r.at[i], r.refl[i] = at, refl
	r.n++
}

func (r *ring) peek() int64 { return r.at[r.head] }

func (r *ring) pop() int {
	v := r.refl[r.head]
	r.head = (r.head + 1) % len(r.at)
	r.n--
	return v
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
		ds.rec.finish(e.ran)
		sc := Scores{RecoveryS: float64(ds.rec.worst) / 1e3, WritesPerHour: float64(ds.writes) / hours}
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
