package sim

import (
	"math"
	"math/rand/v2"
)

// The elastic load (Options.Load = LoadElastic): per direction, Flows
// CUBIC-like TCP flows and the router's shaper (CAKE, or the testbed's HTB
// FIFO). Fluid, stepped every millisecond. In upload the shaper comes
// first (flows -> shaper -> ISP FIFO: step); in download the ISP FIFO does
// (senders -> ISP FIFO -> shaper: send, fifo, serve), as the router's
// shaper sits after the ISP's bottleneck there:
//
//   - each loaded phase opens new connections; a flow sends its initial
//     window at once, then cwnd packets per round trip, RTT = its base RTT
//     + the scenario's path shift + its own sojourn in the shaper + the ISP
//     queue's delay + the reverse direction's added delay (its ACKs cross
//     it); capped, in an application-limited phase, at its share of the cap;
//   - CAKE serves the flows' queues fairly (max-min, as its DRR does) at
//     the shaper rate; each flow queue runs CoDel (COBALT: target 5 ms,
//     interval 100 ms) and the flow is signalled (dropped or marked) at
//     CoDel's pace; CAKE's memory limit drops from the fattest flow. The
//     testbed's HTB instead holds them in one short drop-tail FIFO;
//   - the ISP FIFO drops what overflows its buffer, shared among the
//     flows in proportion to what each put into it; every whole packet
//     lost is a loss for that flow; before the shaper (download) it
//     delivers to each flow in proportion to its bits in the FIFO (fifo);
//   - a flow learns of a loss one RTT after it happened and then backs off
//     once for that window: CUBIC (beta 0.7, C 0.4, fast convergence, the
//     TCP-friendly region, at least 5 % growth per round trip until the
//     first loss); slow start from 10 packets with HyStart's delay exit (a
//     round late, as its samples are); growth only while cwnd-limited;
//     RFC 2861: an application-limited flow's window decays towards what
//     it uses.
//
// This is what the real testbed runs (Linux cubic, checked against it:
// BENCHMARKS.md, "Simulator vs testbed"); RTOs, SACK details, pacing
// (beyond the initial window's burst), receive windows and ACK traffic in
// the reverse direction are left out.

// maxFlows bounds Options.Flows.
const maxFlows = 64

const (
	initialWindow  = 10.0 // packets (RFC 6928)
	cubicC         = 0.4  // packets / s³
	cubicBeta      = 0.7
	renoAlpha      = 3 * (1 - cubicBeta) / (1 + cubicBeta) // packets per RTT of CUBIC's TCP-friendly estimate
	hystartLowWin  = 16.0                                  // packets: HyStart acts from this window ...
	hystartSamples = 8.0                                   // ... on the least RTT of a round's first 8 acks
	codelTarget    = 5e-3                                  // s, CAKE's default
	codelInterval  = 0.1                                   // s
	minRTO         = 0.2                                   // s, Linux's tcp_rto_min
	cakeLimitTime  = 0.4                                   // s at the shaper rate: CAKE's default memory limit ...
	cakeLimitFloor = 4 << 20 * 8                           // ... at least 4 MB (bits)
)

// codel is one CAKE flow queue's CoDel state (times in s).
type codel struct {
	firstAbove float64 // when the sojourn may first count as persistent; 0 while below target
	dropNext   float64
	count      int
	lastCount  int
	dropping   bool
}

// signal reports whether the queue (sojourn s of the packet leaving now,
// backlog bits) drops or marks a packet at now.
func (c *codel) signal(now, sojourn, backlog, mtu float64) bool {
	if sojourn < codelTarget || backlog <= mtu {
		c.firstAbove = 0
		c.dropping = false
		return false
	}
	if !c.dropping {
		if c.firstAbove == 0 {
			c.firstAbove = now + codelInterval
			return false
		}
		if now < c.firstAbove {
			return false
		}
		c.dropping = true
		// Re-entering soon after the last dropping state resumes near its
		// drop rate (RFC 8289).
		if delta := c.count - c.lastCount; delta > 1 && now-c.dropNext < 16*codelInterval {
			c.count = delta
		} else {
			c.count = 1
		}
		c.lastCount = c.count
		c.dropNext = now + codelInterval/math.Sqrt(float64(c.count))
		return true
	}
	if now >= c.dropNext {
		c.count++
		c.dropNext += codelInterval / math.Sqrt(float64(c.count))
		return true
	}
	return false
}

// flow is one TCP flow (windows in packets, times in s, rates in bits/s).
type flow struct {
	base     float64 // base RTT
	cwnd     float64
	ssthresh float64
	wMax     float64 // CUBIC: the window before the last reduction
	k        float64 // CUBIC: time from the epoch to reach origin
	origin   float64
	wEst     float64 // CUBIC's TCP-friendly (Reno) estimate
	epoch    float64 // start of the congestion-avoidance epoch; < 0 none
	minRTT   float64 // 0 until measured
	rtt      float64 // as of the last step
	soj      float64 // sojourn in CAKE of its last packet served
	q        float64 // bits queued in CAKE
	x        float64 // sending rate this step
	in       float64 // bits that reached its CAKE queue this step
	served   float64 // bits CAKE passed this step
	isp      float64 // bits in the ISP FIFO, when it is before CAKE (download)
	ispIn    float64 // bits it put into the ISP FIFO this step
	lossAt   float64 // when the sender learns of a loss; < 0 none pending
	recover  float64 // losses before this belong to a window already reduced
	credit   float64 // bits the ISP dropped of this flow, not yet a whole packet
	appSince float64 // application-limited since; < 0 when cwnd-limited
	codel    codel
	// HyStart's round in slow start: it ends at hsEnd, a round trip after
	// it began with the RTT hsStart; hsLag is the RTT as the previous round
	// began, hsN the packets acked in this one at a window of at least
	// hystartLowWin.
	hsEnd, hsN, hsStart, hsLag float64
	// A new connection sends its initial window (iw packets, not yet
	// sent) at once and nothing more until iwEnd, a round trip later.
	iw, iwEnd float64
}

// lost notes a loss (or CE mark) at now: the sender reacts one RTT later,
// once per window.
func (f *flow) lost(now float64) {
	if f.lossAt >= 0 || now < f.recover {
		return
	}
	f.lossAt = now + f.rtt
}

// reduce is CUBIC's multiplicative decrease, with fast convergence.
func (f *flow) reduce(now float64) {
	f.lossAt = -1
	f.recover = now + f.rtt
	f.epoch = -1
	if f.cwnd < f.wMax {
		f.wMax = f.cwnd * (1 + cubicBeta) / 2
	} else {
		f.wMax = f.cwnd
	}
	f.cwnd = max(f.cwnd*cubicBeta, 2)
	f.ssthresh = f.cwnd
}

// grow opens the window for acked packets at now: slow start (leaving it
// on HyStart's delay increase) or CUBIC's congestion avoidance.
func (f *flow) grow(now, acked float64) {
	if f.cwnd < f.ssthresh {
		f.hystart(now, acked)
		// A packet per packet acked doubles the window per round trip;
		// in a fluid without the round trip's delay it would grow e-fold.
		f.cwnd += acked * math.Ln2
		return
	}
	if f.epoch < 0 {
		f.epoch = now
		f.wEst = f.cwnd
		if f.cwnd < f.wMax {
			f.k = math.Cbrt((f.wMax - f.cwnd) / cubicC)
			f.origin = f.wMax
		} else {
			f.k, f.origin = 0, f.cwnd
		}
	}
	t := now - f.epoch + f.minRTT - f.k
	target := f.origin + cubicC*t*t*t
	inc := acked / (100 * f.cwnd)
	if target > f.cwnd {
		inc = acked * (target - f.cwnd) / f.cwnd
	}
	if f.wMax == 0 {
		// No loss yet (slow start left on HyStart's delay signal): the
		// cubic curve from the current window would barely grow while the
		// bandwidth is still unknown, so Linux grows at least 5 % per
		// round trip (bictcp_update: cnt <= 20 while last_max_cwnd is 0).
		inc = max(inc, acked/20)
	}
	f.wEst += acked * renoAlpha / f.cwnd
	if f.wEst > f.cwnd {
		inc = max(inc, acked*(f.wEst-f.cwnd)/f.cwnd)
	}
	f.cwnd += min(inc, acked/2) // Linux: at most 1.5 x per round trip
}

// hystart is Linux's HyStart delay detection (tcp_cubic.c) for acked
// packets at now in slow start. Per round trip, it takes the least RTT of
// the first hystartSamples acks of the round at a window of hystartLowWin
// or more, and ends slow start (ssthresh = cwnd) once that exceeds the
// least RTT ever by minRTT/8, clamped to 4..16 ms. A round's first acks are
// for the packets sent as the previous round began, so their RTT is the
// path's as it was then (hsLag), before that round's burst queued: the
// exit comes a round after the queue grew, a few packets into the round (at
// 32 + 8 packets when a flow's own queue starts at 16, as measured), not
// the moment the RTT rises.
func (f *flow) hystart(now, acked float64) {
	if now >= f.hsEnd {
		f.hsEnd, f.hsN = now+f.rtt, 0
		f.hsLag, f.hsStart = f.hsStart, f.rtt
	}
	if f.cwnd < hystartLowWin || f.minRTT == 0 || f.hsLag == 0 {
		return
	}
	if f.hsN < hystartSamples {
		f.hsN += acked
		return
	}
	if f.hsLag > f.minRTT+min(max(f.minRTT/8, 0.004), 0.016) {
		f.ssthresh = f.cwnd
	}
}

func (f *flow) rto() float64 { return f.rtt + minRTO }

// tcpLoad is one direction's elastic flows and CAKE's flow queues.
type tcpLoad struct {
	flows   []flow
	order   []int // scratch: flows by demand
	pkt     float64
	active  bool    // in a loaded phase
	ispIdle float64 // other traffic's bits in the ISP FIFO before CAKE (download)
	// routerFIFO is the router's bulk FIFO in bits when the shaper is
	// ShaperFIFO (the testbed's HTB); 0: CAKE's flow queues.
	routerFIFO float64
	rot        int // the flow that arrives first at the router's FIFO this step
}

func newTCPLoad(n int, r *rand.Rand, lo, hi float64, mtu int, routerFIFO float64) *tcpLoad {
	l := &tcpLoad{flows: make([]flow, n), order: make([]int, n), pkt: float64(mtu * 8), routerFIFO: routerFIFO}
	for i := range l.flows {
		l.flows[i] = flow{base: lo + (hi-lo)*r.Float64(), lossAt: -1, appSince: -1, epoch: -1}
	}
	return l
}

// step advances the flows by dt at now with CAKE first on their path
// (upload: the flows -> CAKE -> ISP FIFO). rate is the shaper's rate,
// idleIn the other traffic it passes first (idle phases), appCap the cap on
// the flows together (+Inf: none), path the delay every flow adds to its
// base RTT besides its CAKE sojourn (path shift, ISP queue, reverse
// direction). It returns the bits CAKE passed from the flows and whether
// the shaper was busy the whole step.
func (l *tcpLoad) step(now, dt, rate, idleIn, appCap, path float64, loaded bool) (served float64, busy bool) {
	l.send(now, dt, appCap, path, loaded)
	for i := range l.flows {
		f := &l.flows[i]
		f.in = f.x * dt
	}
	served, busy = l.serve(now, dt, rate, idleIn)
	for i := range l.flows {
		f := &l.flows[i]
		f.ispIn = f.served // what CAKE passed goes on to the ISP FIFO
	}
	return served, busy
}

// send starts a step at now: the loaded phase's start or end, the
// reductions due, each flow's RTT and its sending rate (f.x), capped at its
// share of appCap. path is as in step.
func (l *tcpLoad) send(now, dt, appCap, path float64, loaded bool) {
	switch {
	case loaded && !l.active:
		l.active = true
		for i := range l.flows {
			// Every loaded phase is new connections (a download, an
			// upload, as the testbed's load): TCP's state from scratch;
			// what the old ones left in the queues drains as before.
			f := &l.flows[i]
			*f = flow{base: f.base, q: f.q, isp: f.isp, soj: f.soj, cwnd: initialWindow, ssthresh: math.Inf(1),
				epoch: -1, lossAt: -1, appSince: -1, rtt: f.base + path, iw: initialWindow, iwEnd: now + f.base + path}
		}
	case !loaded && l.active:
		l.active = false
	}
	perFlow := appCap / float64(len(l.flows))
	for i := range l.flows {
		f := &l.flows[i]
		if f.lossAt >= 0 && now >= f.lossAt {
			f.reduce(now)
		}
		f.rtt = f.base + path + f.soj
		f.x = 0
		switch {
		case !l.active:
		case now < f.iwEnd:
			// A new connection's first round trip: the initial window
			// leaves at once (no pacing), then nothing until its acks
			// come back; a short router FIFO drops much of the burst.
			f.x, f.iw = f.iw*l.pkt/dt, 0
		default:
			f.x = min(f.cwnd*l.pkt/f.rtt, perFlow)
		}
	}
}

// fifo advances the ISP FIFO that sits before CAKE (download: the
// senders -> ISP FIFO at c -> CAKE): the flows' sending (f.x) and idle
// bits/s of other traffic arrive, the link drains min(c dt, content), the
// excess over buf is dropped. The FIFO is a fluid that keeps each flow's
// bits (f.isp) but not their order: what leaves is split in proportion to
// each flow's share of the content (after this step's arrivals), which is a
// FIFO's split whenever the mix of arrivals is steady over a queueing
// delay, and serves a flow whose sending just changed a little early or
// late. Each flow's share goes to its CAKE queue (f.in); drop-tail drops
// the arrivals, so the drops are shared in proportion to what each sent.
// It returns the queue (bits), the bits delivered and the other traffic's
// share of them.
func (l *tcpLoad) fifo(now, buf, c, idle, dt float64) (queue, out, idleOut float64) {
	arrived := idle * dt
	content := l.ispIdle + arrived
	for i := range l.flows {
		f := &l.flows[i]
		f.ispIn = f.x * dt
		arrived += f.ispIn
		content += f.isp + f.ispIn
	}
	out = min(c*dt, content)
	left := content - out
	dropped := max(left-buf, 0)
	keep := 0.0 // of each flow's content, what stays
	if content > 0 {
		keep = left / content
	}
	var dropShare float64 // of each flow's arrivals, what is dropped
	if dropped > 0 && arrived > 0 {
		dropShare = dropped / arrived
	}
	idleOut = (l.ispIdle + idle*dt) * (1 - keep)
	l.ispIdle = max((l.ispIdle+idle*dt)*keep-idle*dt*dropShare, 0)
	queue = l.ispIdle
	for i := range l.flows {
		f := &l.flows[i]
		held := f.isp + f.ispIn
		f.in = held * (1 - keep)
		// Never negative: a flow's drop share is at most what it keeps
		// (drops <= arrivals and the queue before <= buf).
		f.isp = held*keep - f.ispIn*dropShare
		if f.isp < 1e-9 {
			f.isp = 0
		}
		queue += f.isp
	}
	l.ispDrop(now, dropped, arrived)
	return queue, out, idleOut
}

// serve is the router's shaper at rate for a step of dt at now: each
// flow's arrivals (f.in) join its queue (cake) or the one FIFO (fifo),
// served after idleIn (other traffic, idle phases); then the flows' windows
// grow on what was served (acked). It returns the bits the shaper passed
// from the flows and whether it was busy the whole step.
func (l *tcpLoad) serve(now, dt, rate, idleIn float64) (served float64, busy bool) {
	var demand float64
	for i := range l.flows {
		demand += l.flows[i].q + l.flows[i].in
	}
	budget := max(rate-idleIn, 0) * dt
	if l.routerFIFO > 0 {
		served = l.fifoShaper(now, rate, budget, demand)
	} else {
		served = l.cake(now, dt, rate, budget)
	}
	l.ack(now)
	return served, budget > 0 && demand >= budget
}

// fifoShaper is the testbed's HTB bulk class: one byte FIFO of routerFIFO
// bits served at rate (budget bits this step, demand the bits held and
// arriving), drop-tail, no AQM and no fairness: what leaves is split as in
// the ISP's fluid FIFO (fifo), the drops shared among the flows in
// proportion to their arrivals. Every flow's sojourn is the FIFO's delay.
func (l *tcpLoad) fifoShaper(now, rate, budget, demand float64) (served float64) {
	out := min(budget, demand)
	keep := 0.0
	if demand > 0 {
		keep = (demand - out) / demand
	}
	var queued float64
	for i := range l.flows {
		f := &l.flows[i]
		held := f.q + f.in
		f.served = held * (1 - keep)
		f.q = held * keep
		served += f.served
		queued += f.q
	}
	// Drop-tail drops what arrives once the FIFO is full: the flows'
	// arrivals of a millisecond come one after another (in an order that
	// rotates, so that no flow is always last), and the last lose first.
	// A burst of new connections' initial windows thus costs the late
	// ones all of theirs and the first nothing, as measured on the
	// testbed, not every flow a share.
	over := queued - l.routerFIFO
	l.rot = (l.rot + 1) % len(l.flows)
	for k := len(l.flows) - 1; k >= 0 && over > 0; k-- {
		f := &l.flows[(l.rot+k)%len(l.flows)]
		// Never more than the flow keeps of its arrivals: the FIFO held at
		// most its limit before them.
		cut := min(over, f.in*keep)
		f.q = max(f.q-cut, 0)
		l.lose(now, f, cut)
		over -= cut
		queued -= cut
	}
	for i := range l.flows {
		f := &l.flows[i]
		if f.q < 1e-9 {
			f.q = 0
		}
		f.soj = queued / rate
	}
	return served
}

// cake is CAKE's flow queues for one step: served max-min fairly (budget
// bits), the memory limit and CoDel signal the flows.
func (l *tcpLoad) cake(now, dt, rate, budget float64) (served float64) {
	l.share(budget)
	limit := max(cakeLimitTime*rate, cakeLimitFloor)
	var queued float64
	for i := range l.flows {
		f := &l.flows[i]
		f.q += f.in - f.served
		if f.q < 1e-9 {
			f.q = 0
		}
		served += f.served
		queued += f.q
		switch {
		case f.served > 0:
			f.soj = f.q / (f.served / dt)
		case f.q > 0:
			f.soj = f.q / (rate / float64(len(l.flows)))
		default:
			f.soj = 0
		}
	}
	// CAKE's memory limit: drop from the fattest queue.
	for queued > limit {
		fat := &l.flows[0]
		for i := range l.flows {
			if l.flows[i].q > fat.q {
				fat = &l.flows[i]
			}
		}
		cut := min(queued-limit, fat.q)
		fat.q -= cut
		queued -= cut
		fat.lost(now)
	}
	for i := range l.flows {
		f := &l.flows[i]
		if f.codel.signal(now, f.soj, f.q, l.pkt) {
			f.lost(now)
		}
	}
	return served
}

// ack grows the flows' windows on what the shaper served this step
// (acked), within what TCP allows an application-limited flow.
func (l *tcpLoad) ack(now float64) {
	for i := range l.flows {
		f := &l.flows[i]
		if !l.active {
			continue
		}
		if f.minRTT == 0 || f.rtt < f.minRTT {
			f.minRTT = f.rtt
		}
		acked := f.served / l.pkt
		if now < f.iwEnd {
			f.grow(now, acked) // the first round trip is all the window allows
			continue
		}
		if limited := f.x < f.cwnd*l.pkt/f.rtt; limited {
			used := f.x * f.rtt / l.pkt
			if f.appSince < 0 {
				f.appSince = now
			} else if now-f.appSince > f.rto() {
				if used < f.cwnd { // RFC 2861, as tcp_cwnd_application_limited
					f.ssthresh = max(f.ssthresh, 0.75*f.cwnd)
					f.cwnd = max((f.cwnd+used)/2, 2)
				}
				f.appSince = now
			}
			// Slow start may still open a window up to twice what is
			// in flight (tcp_is_cwnd_limited); avoidance may not.
			if !(f.cwnd < f.ssthresh && f.cwnd < 2*used) {
				continue
			}
		} else {
			f.appSince = -1
		}
		f.grow(now, acked)
	}
}

// share serves budget bits max-min fairly among the flows' demands
// (queue plus this step's arrivals): CAKE's per-flow round robin.
func (l *tcpLoad) share(budget float64) {
	n := len(l.flows)
	dem := func(i int) float64 { f := &l.flows[i]; return f.q + f.in }
	// Usually every flow wants more than an equal share, or all fit.
	fair, all, fit := budget/float64(n), true, 0.0
	for i := range l.flows {
		d := dem(i)
		all = all && d >= fair
		fit += d
	}
	if all || fit <= budget {
		for i := range l.flows {
			l.flows[i].served = min(dem(i), fair)
			if fit <= budget {
				l.flows[i].served = dem(i)
			}
		}
		return
	}
	for i := range l.order {
		l.order[i] = i
	}
	// Insertion sort by demand: n is small and mostly in order already.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && dem(l.order[j]) < dem(l.order[j-1]); j-- {
			l.order[j], l.order[j-1] = l.order[j-1], l.order[j]
		}
	}
	for k, i := range l.order {
		fair := budget / float64(n-k)
		s := min(dem(i), fair)
		l.flows[i].served = s
		budget -= s
	}
}

// ispDrop shares bits dropped by the ISP FIFO among the traffic in
// proportion to what each flow put into it this step (f.ispIn, of total
// bits); each whole packet a flow loses is a loss.
func (l *tcpLoad) ispDrop(now, dropped, total float64) {
	if dropped <= 0 || total <= 0 {
		return
	}
	for i := range l.flows {
		f := &l.flows[i]
		l.lose(now, f, dropped*f.ispIn/total)
	}
}

// lose counts bits a drop-tail queue dropped of flow f: each whole packet
// is a loss.
func (l *tcpLoad) lose(now float64, f *flow, bits float64) {
	f.credit += bits
	if f.credit >= l.pkt {
		f.credit = 0
		f.lost(now)
	}
}
