package autorate

import (
	"math"
	"time"
)

// How the controller reads the replies (docs/autorate.md, "Signals").
const (
	// historyLen replies are kept: 0.8 s at 20 pings/s, more than the
	// growth window needs at 40/s.
	historyLen = 16
	// rawSamples: the raw delta is the median of this many newest replies,
	// which one odd reply (a reflector that deprioritises ICMP) cannot move.
	rawSamples = 3
	// The queue's growth is fitted to the newest growthSamples replies sent
	// within growthWindow of the newest one: a few round trips, short
	// enough to see a drop within one refractory period.
	growthSamples = 6
	growthWindow  = 300 * time.Millisecond
	// minGrowth (ms of delay per ms) is the growth below which the queue
	// counts as neither growing nor draining: a 3 % rate error.
	minGrowth = 0.03
	// scatterK: a growth must move the delay over its samples' span by
	// more than this many median absolute residuals to count.
	scatterK = 2.0
)

// sample is one reply in the recent history.
type sample struct {
	sent  time.Time // receive time - RTT
	at    time.Time // receive time
	delta float64   // ns above the reflector's baseline
	src   int
}

// pendingReq is an echo request in flight.
type pendingReq struct {
	src  int
	sent time.Time
}

// estimator keeps the recent replies and the requests in flight and turns
// them into the raw delta and the queue's growth. It never allocates.
type estimator struct {
	hist    [historyLen]sample // ring, newest at head-1
	head, n int
	pend    []pendingReq // requests in flight this cycle
	// late is the growth the requests in flight prove (0: none), lateMid
	// the middle of the span it was measured over.
	late    float64
	lateMid time.Time
	newest  [growthSamples]sample
	pairs   [growthSamples * (growthSamples - 1) / 2]float64
	noLate  bool // the bench's ablation (RuleLateRequests)
}

func (e *estimator) add(sm sample) {
	e.hist[e.head] = sm
	e.head = (e.head + 1) % historyLen
	e.n = min(e.n+1, historyLen)
}

// spread is the median absolute deviation of the kept replies' deltas.
func (e *estimator) spread() float64 {
	p := e.pairs[:0]
	for k := range min(e.n, len(e.pairs)) {
		p = append(p, e.back(k).delta)
	}
	m := median(p)
	for i := range p {
		p[i] = math.Abs(p[i] - m)
	}
	return median(p)
}

// back returns the k-th newest reply received (0: the newest).
func (e *estimator) back(k int) sample { return e.hist[(e.head-1-k+historyLen)%historyLen] }

// newestSent is the send time of the newest request answered.
func (e *estimator) newestSent() time.Time {
	var t time.Time
	for k := range e.n {
		if s := e.back(k).sent; s.After(t) {
			t = s
		}
	}
	return t
}

// insertNewest keeps top (n used) as the newest samples by send time,
// newest first, and returns the new count.
func insertNewest(top []sample, n int, sm sample) int {
	i := min(n, len(top)-1)
	if n == len(top) && !sm.sent.After(top[i].sent) {
		return n
	}
	for i > 0 && sm.sent.After(top[i-1].sent) {
		top[i] = top[i-1]
		i--
	}
	top[i] = sm
	return min(n+1, len(top))
}

// raw is the cycle's raw delta: the median delta of the rawSamples newest
// fresh replies, where requests still in flight that prove a longer round
// trip take the places of the oldest. A request unanswered longer than the
// replies' delay is itself evidence of a queue (one that has outgrown the
// ping timeout still shows); a lost one looks the same, so they count only
// while a recent reply shows the delay above half of target_bloat, and
// not while the newest reply is a TCP connect (the reflectors are silent).
func (e *estimator) raw(now time.Time, refl []reflector, target float64, pingInterval time.Duration, scratch []float64) float64 {
	e.late = 0
	var ans [rawSamples]float64
	na := 0
	var lastA [rawSamples]sample
	last := lastA[:]
	nl := 0
	rising := false
	for k := range e.n {
		sm := e.back(k)
		nl = insertNewest(last, nl, sm)
		if na < rawSamples && now.Sub(sm.at) <= refl[sm.src].stale {
			ans[na] = sm.delta
			na++
			rising = rising || sm.delta > target/2
		}
	}
	answered := median(append(scratch[:0], ans[:na]...))
	if e.noLate || !rising || nl == 0 || refl[last[0].src].addr.Port() != 0 {
		return answered
	}
	// A request counts as late only beyond the replies' own scatter.
	late := answered + scatterK*e.spread()
	var pendA [rawSamples]sample
	np := 0
	newest := last[0]
	for _, p := range e.pend {
		r := &refl[p.src]
		if !p.sent.After(newest.sent) || !r.hasBaseline {
			continue // older than an answered one: lost, not slow
		}
		lb := float64(now.Sub(p.sent)) - r.baseline
		if lb <= late {
			continue
		}
		np = insertNewest(pendA[:], np, sample{sent: p.sent, delta: lb})
		if dt := p.sent.Sub(newest.sent); dt >= pingInterval/8 {
			if g := (lb - newest.delta) / float64(dt); g > e.late {
				e.late, e.lateMid = g, newest.sent.Add(dt/2)
			}
		}
	}
	if np == 0 {
		return answered
	}
	v := scratch[:0]
	for i := range np {
		v = append(v, pendA[i].delta)
	}
	return median(append(v, ans[:min(na, rawSamples-np)]...))
}

// growth is how fast the queueing delay grows (ms of delay per ms;
// negative while it drains), fitted to the newest replies to requests sent
// after since (zero: any) within growthWindow of the newest, with the send
// time in their middle; n counts them. The fit is Theil–Sen (the median of
// the pairwise slopes), which one odd reply cannot move; a queue that just
// started growing is still diluted by older replies, so the newest three
// count alone when they rise one after another and show more. A growth
// that does not stand out from the replies' scatter is none. ok is false
// with fewer than 3 replies.
func (e *estimator) growth(now, since time.Time) (g float64, mid time.Time, n int, ok bool) {
	for k := range e.n {
		sm := e.back(k)
		if now.Sub(sm.sent) > 2*growthWindow+time.Second || !sm.sent.After(since) {
			continue
		}
		n = insertNewest(e.newest[:], n, sm)
	}
	for n > 0 && e.newest[0].sent.Sub(e.newest[n-1].sent) > growthWindow {
		n--
	}
	if n < 3 {
		return 0, time.Time{}, n, false
	}
	g, k := e.slope(n), n
	sc := e.scatter(n, g)
	g = e.significant(g, n, sc)
	if x := e.newest; n > 3 && x[0].delta > x[1].delta && x[1].delta > x[2].delta {
		if g3 := e.significant(e.slope(3), 3, sc); g3 > g {
			g, k = g3, 3
		}
	}
	mid = e.newest[k-1].sent.Add(e.newest[0].sent.Sub(e.newest[k-1].sent) / 2)
	return g, mid, n, true
}

// slope is the Theil–Sen slope of the k newest samples.
func (e *estimator) slope(k int) float64 {
	p := e.pairs[:0]
	for i := range k {
		for j := i + 1; j < k; j++ {
			if dt := float64(e.newest[i].sent.Sub(e.newest[j].sent)); dt > 0 {
				p = append(p, (e.newest[i].delta-e.newest[j].delta)/dt)
			}
		}
	}
	return median(p)
}

// scatter is the median absolute residual of the k newest samples around
// the line of slope g through them.
func (e *estimator) scatter(k int, g float64) float64 {
	mid := e.newest[k-1].sent
	p := e.pairs[:0]
	for i := range k {
		p = append(p, e.newest[i].delta-g*float64(e.newest[i].sent.Sub(mid)))
	}
	level := median(p)
	for i := range p {
		p[i] = math.Abs(p[i] - level)
	}
	return median(p)
}

// significant is g, or 0 when the rise or fall it makes over the k newest
// samples' span does not stand out from the scatter (jitter is not growth).
func (e *estimator) significant(g float64, k int, scatter float64) float64 {
	if math.Abs(g)*float64(e.newest[0].sent.Sub(e.newest[k-1].sent)) <= scatterK*scatter {
		return 0
	}
	return g
}

// capacityGrowth is the growth a capacity estimate rests on: the replies'
// or, when higher, what the late requests prove. ok is false when there
// are too few replies to tell.
func (e *estimator) capacityGrowth(now time.Time) (g float64, mid time.Time, ok bool) {
	g, mid, _, ok = e.growth(now, time.Time{})
	if e.late > 0 && (e.late > g || !ok) {
		return e.late, e.lateMid, true
	}
	return g, mid, ok
}

// ResetPending forgets the requests in flight reported by Pending; the
// Loop calls it each cycle before reporting the current ones.
func (c *Controller) ResetPending() { c.est.pend = c.est.pend[:0] }

// Pending reports an echo request to source i (see Observe), sent at sent
// and not answered yet. Call ResetPending, then Pending for every request
// in flight, before Step; requests beyond the controller's capacity (four
// times the ping rate) are ignored.
func (c *Controller) Pending(i int, sent time.Time) {
	if i < 0 || i >= len(c.refl) || len(c.est.pend) == cap(c.est.pend) {
		return
	}
	c.est.pend = append(c.est.pend, pendingReq{src: i, sent: sent})
}

// median sorts s in place (insertion sort: a handful of values) and returns
// its median; 0 for none.
func median(s []float64) float64 {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	n := len(s)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// jitterFloor is the delay every reply carries on a link with random
// delay (radio, a busy path): the replies' level while both directions
// are GREEN, but no more than jitterK times their scatter (the mean
// difference between consecutive replies). A small standing queue has a
// level and no scatter: it is not jitter, and stays counted; random delay
// of mean J has both (exponential: level J, scatter J). The zones judge
// the delay above it, so jitter alone does not make a link YELLOW.
type jitterFloor struct {
	level, scatter, prev float64
	at                   time.Time
	floor                float64
}

// jitterTC is the floor's time constant: many replies, so that a queue
// building under GREEN does not move it.
const (
	jitterTC = 10 * time.Second
	jitterK  = 1.5
)

func (j *jitterFloor) add(delta float64, at time.Time) {
	if !at.After(j.at) {
		return
	}
	if j.at.IsZero() {
		j.level, j.prev, j.at = delta, delta, at
		return
	}
	a := ewmaAlpha(at.Sub(j.at), float64(jitterTC))
	j.scatter += a * (math.Abs(delta-j.prev) - j.scatter)
	j.level += a * (delta - j.level)
	j.prev, j.at = delta, at
	j.floor = min(j.level, jitterK*j.scatter)
}
