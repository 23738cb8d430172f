package autorate

import (
	"math"
	"time"
)

// How the controller reads the replies (docs/autorate.md, "Measurement").
const (
	historyLen = 16 // replies kept (0.8 s at 20/s)
	// rawSamples: the raw delta is the median of this many newest replies.
	rawSamples = 3
	// The queue's growth rate is estimated from the newest growthSamples
	// replies sent within growthWindow of the newest one.
	growthSamples = 6
	growthWindow  = 300 * time.Millisecond
	// minGrowth is the growth (ms of delay per ms) below which the
	// capacity is not estimated.
	minGrowth = 0.03
	// noiseTC is the time constant of the jitter estimate; a growth over
	// the estimation window, a request's lateness and a rising delay must
	// each exceed noiseK times the jitter to count.
	noiseTC = 10 * time.Second
	noiseK  = 2.0
	// scatterK: see estimator.noise.
	scatterK = 1.5
)

// sample is one reply in the recent history.
type sample struct {
	sent  time.Time // receive time - RTT
	at    time.Time // receive time
	delta float64   // ns
	src   int
}

// pendingReq is an echo request in flight.
type pendingReq struct {
	src  int
	sent time.Time
}

// estimator keeps the recent replies and the requests in flight and turns
// them into the raw delta and the queue's growth rate. It never allocates.
type estimator struct {
	hist    [historyLen]sample // ring, newest at head-1
	head, n int
	pend    []pendingReq // requests in flight this cycle
	// noise is the jitter (ns): the lower of level, the mean delta of the
	// replies while both directions are GREEN, and scatterK times scatter,
	// their mean |difference| from the previous such reply.
	noise, level, scatter float64
	noiseAt               time.Time
	prevDelta             float64 // the previous reply's delta, while calmPrev
	calmPrev              bool
	censGrowth            float64   // growth the requests in flight prove (0: none)
	censMid               time.Time // middle of the span it was measured over
	censOnset             time.Time // when that growth started
	pairs                 [growthSamples * (growthSamples - 1) / 2]float64
	newest                [growthSamples]sample
	// The last growth fit: its k newest samples, slope and middle.
	fitK   int
	fitG   float64
	fitMid time.Time
	// noCapacity turns the capacity estimate off (tests of the zones'
	// rules as they apply without one).
	noCapacity bool
	capCache   growthCache
	// noNoise and noLate remove the jitter estimate and the late
	// requests (the bench's ablation, see Rule).
	noNoise, noLate bool
}

// add records a reply. calm: both directions are GREEN, so its delta is
// jitter, not queueing.
func (e *estimator) add(sm sample, calm bool) {
	e.capCache.valid = false
	e.hist[e.head] = sm
	e.head = (e.head + 1) % historyLen
	e.n = min(e.n+1, historyLen)
	if !calm {
		e.calmPrev = false
		return
	}
	if e.calmPrev && sm.at.After(e.noiseAt) {
		// A small standing queue (GREEN allows up to target_bloat) has
		// a level but no scatter: it is not noise. Random delay on every
		// reply has both (for exponential jitter of mean J: level J,
		// scatter J).
		x := math.Abs(sm.delta - e.prevDelta)
		if e.noiseAt.IsZero() {
			e.scatter, e.level = x, sm.delta
		} else {
			a := ewmaAlpha(sm.at.Sub(e.noiseAt), float64(noiseTC))
			e.scatter += a * (x - e.scatter)
			e.level += a * (sm.delta - e.level)
		}
		e.noise = min(e.level, scatterK*e.scatter)
		if e.noNoise {
			e.noise = 0
		}
		e.noiseAt = sm.at
	}
	e.prevDelta, e.calmPrev = sm.delta, true
}

// newestSent is the send time of the newest request answered.
func (e *estimator) newestSent() time.Time {
	var t time.Time
	for k := 0; k < e.n; k++ {
		if s := e.back(k).sent; s.After(t) {
			t = s
		}
	}
	return t
}

// back returns the k-th newest reply received (0: the newest).
func (e *estimator) back(k int) sample { return e.hist[(e.head-1-k+historyLen)%historyLen] }

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
// fresh replies — the queue as recently as the replies show it, robust to
// one odd reply (a reflector that deprioritises ICMP shows up in at most
// one of them when the reflectors are pinged in turn) — where the requests
// in flight that prove a longer round trip take the places of the oldest
// (see below).
// scratch has room for rawSamples values.
func (e *estimator) raw(now time.Time, refl []reflector, target float64, pingInterval time.Duration, scratch []float64) float64 {
	var lastA, pendA [rawSamples]sample
	last, pend := lastA[:], pendA[:]
	nl, np := 0, 0
	e.censGrowth = 0
	e.capCache.valid = false
	// The history is in receive order: its newest fresh replies are the
	// first ones.
	var ans [rawSamples]float64
	na := 0
	for k := 0; k < e.n; k++ {
		sm := e.back(k)
		nl = insertNewest(last, nl, sm)
		if na < rawSamples && now.Sub(sm.at) <= refl[sm.src].stale {
			ans[na] = sm.delta
			na++
		}
	}
	v := append(scratch[:0], ans[:na]...)
	answered := median(v)
	if len(e.pend) == 0 || nl == 0 || e.noLate {
		return answered
	}
	// A request still unanswered, sent after the newest answered one,
	// proves its round trip is at least its age. It counts like a reply
	// where it shows clearly more delay than the replies do: a reply that
	// comes back high is then confirmed by the next request being late,
	// without waiting for its reply, and a queue that has outgrown the
	// ping timeout still shows. A request older than the newest answered
	// one was lost, not slow (queues are first in, first out). Lost
	// requests look like slow ones, though — all of them during an ICMP
	// blackout — so they count only while a recent reply shows the delay
	// rising above target_bloat, and not when the newest reply is a TCP
	// connect (the reflectors are in a blackout).
	rising := false
	for i := range nl {
		rising = rising || last[i].delta > target/2+noiseK*e.noise
	}
	if !rising || refl[last[0].src].addr.Port() != 0 {
		return answered
	}
	newestSent, newestDelta := last[0].sent, last[0].delta
	grew := false
	for _, p := range e.pend {
		r := &refl[p.src]
		if !p.sent.After(newestSent) || !r.hasBaseline {
			continue
		}
		lb := float64(now.Sub(p.sent)) - r.baseline
		if lb <= answered+noiseK*e.noise {
			continue
		}
		np = insertNewest(pend, np, sample{sent: p.sent, delta: lb})
		grew = true
		// The delay grew at least this fast since the newest answered
		// request was sent.
		if dt := p.sent.Sub(newestSent); dt >= pingInterval/8 && dt > 0 {
			if g := (lb - newestDelta) / float64(dt); g > e.censGrowth {
				e.censGrowth = g
				e.censMid = newestSent.Add(dt / 2)
				e.censOnset = newestSent.Add(-time.Duration(max(newestDelta-e.noise, 0) / g))
			}
		}
	}
	if !grew {
		return answered
	}
	// The late requests are newer than any reply: they take the places of
	// the oldest replies in the median.
	v = scratch[:0]
	for i := range np {
		v = append(v, pend[i].delta)
	}
	v = append(v, ans[:min(na, rawSamples-np)]...)
	return median(v)
}

// growth estimates how fast the queueing delay grows (ms of delay per ms
// of time; negative while the queue drains) from the newest replies to
// requests sent after since (zero: any) and within growthWindow of the
// newest one, and the send time in the middle of them; n is the number of
// such replies. It is the Theil–Sen estimator, the median of the pairwise
// slopes, which one odd reply cannot move; a queue that just started
// growing is still diluted by the older replies, so the newest three
// alone count when they show more. A growth that does not stand out from
// the jitter over its span counts as none. ok is false with fewer than 3
// replies.
func (e *estimator) growth(now, since time.Time) (g float64, mid time.Time, n int, ok bool) {
	e.fitK = 0
	for k := 0; k < e.n; k++ {
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
	g, ok = e.slope(n)
	if !ok {
		return 0, time.Time{}, n, false
	}
	k := n
	if n > 3 {
		if g3, ok3 := e.slope(3); ok3 && g3 > g {
			g, k = g3, 3
		}
	}
	mid = e.newest[k-1].sent.Add(e.newest[0].sent.Sub(e.newest[k-1].sent) / 2)
	e.fitK, e.fitG, e.fitMid = k, g, mid
	return g, mid, n, true
}

// onsetOf is when the queue of the last growth fit (k newest replies,
// slope g through mid) started to grow: where the line through them
// crosses the jitter. ok is false when it does not grow.
func (e *estimator) onsetOf() (time.Time, bool) {
	k, g, mid := e.fitK, e.fitG, e.fitMid
	if k < 3 || g <= 0 {
		return time.Time{}, false
	}
	p := e.pairs[:0]
	for i := range k {
		p = append(p, e.newest[i].delta-g*float64(e.newest[i].sent.Sub(mid)))
	}
	level := median(p) - e.noise
	return mid.Add(-time.Duration(max(level, 0) / g)), true
}

// slope is the Theil–Sen slope of the k newest samples, 0 when the growth
// over their span does not exceed noiseK times the jitter.
func (e *estimator) slope(k int) (float64, bool) {
	p := e.pairs[:0]
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			if dt := float64(e.newest[i].sent.Sub(e.newest[j].sent)); dt > 0 {
				p = append(p, (e.newest[i].delta-e.newest[j].delta)/dt)
			}
		}
	}
	if len(p) < 3 {
		return 0, false
	}
	g := median(p)
	if span := float64(e.newest[0].sent.Sub(e.newest[k-1].sent)); math.Abs(g)*span <= noiseK*e.noise {
		g = 0
	}
	return g, true
}

// capacityGrowth is the growth a capacity estimate rests on: the replies'
// or, when higher, what the requests in flight prove. ok is false when
// there are too few replies to tell.
func (e *estimator) capacityGrowth(now time.Time) (g float64, mid time.Time, ok bool) {
	if e.noCapacity {
		return 0, time.Time{}, false
	}
	if c := &e.capCache; c.at.Equal(now) && c.valid {
		return c.g, c.mid, c.ok
	}
	g, mid, _, ok = e.growth(now, time.Time{})
	onset, hasOnset := e.onsetOf()
	if (e.censGrowth > g || !ok) && e.censGrowth > 0 {
		g, mid, ok = e.censGrowth, e.censMid, true
		onset, hasOnset = e.censOnset, true
	}
	e.capCache = growthCache{at: now, valid: true, g: g, mid: mid, ok: ok, onset: onset, hasOnset: hasOnset}
	return g, mid, ok
}

// growthOnset is when the growth capacityGrowth measured at now started
// (ok false: none measured).
func (e *estimator) growthOnset(now time.Time) (time.Time, bool) {
	e.capacityGrowth(now)
	if c := &e.capCache; c.valid && c.at.Equal(now) {
		return c.onset, c.hasOnset
	}
	return time.Time{}, false
}

// growthCache keeps a cycle's capacityGrowth for the other direction.
type growthCache struct {
	at, mid  time.Time
	onset    time.Time
	hasOnset bool
	g        float64
	ok       bool
	valid    bool
}

// growthSince is growth over the replies to requests sent after since;
// with only two of them, their difference (when it stands out from the
// jitter).
func (e *estimator) growthSince(now, since time.Time) (g float64, n int, ok bool) {
	g, _, n, ok = e.growth(now, since)
	if n == 2 {
		a, b := e.newest[0], e.newest[1]
		if dt := float64(a.sent.Sub(b.sent)); dt > 0 {
			g, ok = (a.delta-b.delta)/dt, true
			if math.Abs(g)*dt <= noiseK*e.noise {
				g = 0
			}
		}
	}
	return g, n, ok
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
