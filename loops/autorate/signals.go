package autorate

import (
	"math"
	"time"
)

// How the controller reads the replies (docs/autorate.md, "Signals").
const (
	historyLen    = 16                           // replies kept: 0.8 s at 20/s, more than a growth fit needs at 40/s
	rawSamples    = 3                            // the raw delta's median: one odd reply cannot move it
	growthSamples = 6                            // replies in a growth fit: a few round trips
	growthWindow  = 300 * time.Millisecond       // a fit's span: a drop shows within one refractory period
	growthAge     = 2*growthWindow + time.Second // replies sent longer ago are never fitted
	minGrowth     = 0.03                         // ms/ms, a 3 % rate error: below it the queue neither grows nor drains
	scatterK      = 2.0                          // MADs a late request or a growth must exceed: jitter is not growth
	lateSpacing   = 8                            // a late growth needs 1/lateSpacing ping interval after its reply
	jitterTC      = 10 * time.Second             // jitter floor EWMA: a queue building under GREEN does not move it
	jitterK       = 1.5                          // floor ≤ jitterK × scatter: a level without scatter is a queue
	mtuBits       = 1500 * 8                     // the packet a ping waits for in a busy shaper
)

// stepLeg reads leg k's signal for this cycle at now.
func (c *Controller) stepLeg(k int, now time.Time) {
	l := &c.legs[k]
	if c.signal {
		other := 0.0
		if c.oneWay {
			other = c.legs[1-k].raw
		}
		l.raw = l.est.raw(now, c.refl, c.p.target, c.pingInterval, other, c.scratch)
		l.updateLoad(now, &c.p, c.on(RuleFastFall))
	}
	l.queue = max(0, l.load-c.wireTime(k)-l.jitter.floor)
	switch {
	case l.queue <= c.p.target:
		l.onset = time.Time{}
	case l.onset.IsZero():
		l.onset = now
	}
}

// updateLoad moves the loaded delta towards this cycle's raw delta: at once
// when it falls (the queue drains), by its EWMA when it rises.
func (l *leg) updateLoad(now time.Time, p *params, fastFall bool) {
	switch {
	case !l.hasLoad:
		l.load, l.hasLoad = l.raw, true
	case l.raw < l.load && fastFall:
		l.load = l.raw
	default:
		l.load += ewmaAlpha(now.Sub(l.loadAt), p.loadTC) * (l.raw - l.load)
	}
	if now.After(l.loadAt) {
		l.loadAt = now
	}
}

// wireTime is the delay the shapers add by themselves to leg k (ns): one
// MTU at the rate of each direction it crosses. Cutting for it would only
// make it longer.
func (c *Controller) wireTime(k int) float64 {
	var t float64
	for i := range c.dirs {
		if c.oneWay && i != k {
			continue
		}
		if r := c.dirs[i].routerRate(); r > 0 {
			t += mtuBits / float64(r) * 1e9
		}
	}
	return t
}

func (c *Controller) medianBaseline() time.Duration {
	s := c.scratch[:0]
	for i := range c.refl {
		if b := c.refl[i].base; b.ok {
			s = append(s, b.v)
		}
	}
	return time.Duration(median(s))
}

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

// back returns the k-th newest reply received (0: the newest).
func (e *estimator) back(k int) sample { return e.hist[(e.head-1-k+historyLen)%historyLen] }

// spread is the median absolute deviation of the kept replies' deltas.
func (e *estimator) spread() float64 {
	p := e.pairs[:0]
	for k := range min(e.n, len(e.pairs)) {
		p = append(p, e.back(k).delta)
	}
	return mad(p)
}

// newestSent is the reply to the newest request answered (the newest
// received of those sent last).
func (e *estimator) newestSent() sample {
	var s sample
	for k := range e.n {
		if sm := e.back(k); k == 0 || sm.sent.After(s.sent) {
			s = sm
		}
	}
	return s
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

// raw is the cycle's raw delta and sets the late growth (docs/autorate.md,
// "Raw delta"); other is the other leg's raw delta, which a late request's
// round trip also holds (0: the leg is the round trip).
func (e *estimator) raw(now time.Time, refl []reflector, target float64, pingInterval time.Duration, other float64, scratch []float64) float64 {
	e.late = 0
	var ans [rawSamples]float64
	na, rising := 0, false
	for k := range e.n {
		if sm := e.back(k); na < rawSamples && now.Sub(sm.at) <= refl[sm.src].stale {
			ans[na] = sm.delta
			na++
			rising = rising || sm.delta > target/2
		}
	}
	answered := median(append(scratch[:0], ans[:na]...))
	// A quiet link's lost requests, or a TCP blackout's, are not delay.
	newest := e.newestSent()
	if e.noLate || !rising || refl[newest.src].addr.Port() != 0 {
		return answered
	}
	late := answered + scatterK*e.spread()
	var pendA [rawSamples]sample
	np := 0
	for _, p := range e.pend {
		r := &refl[p.src]
		if !p.sent.After(newest.sent) || !r.base.ok {
			continue // older than an answered one: lost, not slow
		}
		lb := float64(now.Sub(p.sent)) - r.base.v - other
		if lb <= late {
			continue
		}
		np = insertNewest(pendA[:], np, sample{sent: p.sent, delta: lb})
		if dt := p.sent.Sub(newest.sent); dt >= pingInterval/lateSpacing {
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

// growth is the queue's growth in ms/ms fitted to the replies to requests
// sent after since (zero: any), dated mid; n counts them, ok needs 3
// (docs/autorate.md, "Growth").
func (e *estimator) growth(now, since time.Time) (g float64, mid time.Time, n int, ok bool) {
	for k := range e.n {
		sm := e.back(k)
		if now.Sub(sm.sent) > growthAge || !sm.sent.After(since) {
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
	// A queue that just started is diluted by older replies: three newest
	// rising one after another count alone when they show more.
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
	return mad(p)
}

// significant is g, or 0 when the rise or fall it makes over the k newest
// samples' span does not stand out from the scatter.
func (e *estimator) significant(g float64, k int, scatter float64) float64 {
	if math.Abs(g)*float64(e.newest[0].sent.Sub(e.newest[k-1].sent)) <= scatterK*scatter {
		return 0
	}
	return g
}

// capacityGrowth is the replies' growth or, when higher, the late growth.
func (e *estimator) capacityGrowth(now time.Time) (g float64, mid time.Time, ok bool) {
	g, mid, _, ok = e.growth(now, time.Time{})
	if e.late > 0 && (e.late > g || !ok) {
		return e.late, e.lateMid, true
	}
	return g, mid, ok
}

// ResetPending forgets the requests in flight reported by Pending; the
// Loop calls it each cycle before reporting the current ones.
func (c *Controller) ResetPending() {
	for k := range c.legs {
		c.legs[k].est.pend = c.legs[k].est.pend[:0]
	}
}

// Pending reports an unanswered echo request to source i sent at sent;
// after ResetPending, before Step. Beyond the capacity they are ignored.
func (c *Controller) Pending(i int, sent time.Time) {
	if i < 0 || i >= len(c.refl) {
		return
	}
	for k := range c.nLegs() {
		if e := &c.legs[k].est; len(e.pend) < cap(e.pend) {
			e.pend = append(e.pend, pendingReq{src: i, sent: sent})
		}
	}
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

// mad is the median absolute deviation of s (which it overwrites).
func mad(s []float64) float64 {
	m := median(s)
	for i := range s {
		s[i] = math.Abs(s[i] - m)
	}
	return median(s)
}

// jitterFloor is the delay every reply carries on a link with random
// delay (docs/autorate.md, "Jitter floor").
type jitterFloor struct {
	level, scatter, prev float64
	at                   time.Time
	floor                float64
}

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
