package sim

import (
	"math"
	"math/rand/v2"
)

// The elastic load (Options.Load = LoadElastic): per direction, Flows
// CUBIC-like TCP flows and CAKE. Fluid, stepped every millisecond. In
// upload CAKE comes first (flows -> CAKE -> ISP FIFO: step); in download
// the ISP FIFO does (senders -> ISP FIFO -> CAKE: send, fifo, serve), as
// the router's shaper sits after the ISP's bottleneck there:
//
//   - a flow sends cwnd packets per round trip, RTT = its base RTT + the
//     scenario's path shift + its own sojourn in CAKE + the ISP queue's
//     delay + the reverse direction's added delay (its ACKs cross it);
//     capped, in an application-limited phase, at its share of the cap;
//   - CAKE serves the flows' queues fairly (max-min, as its DRR does) at
//     the shaper rate; each flow queue runs CoDel (COBALT: target 5 ms,
//     interval 100 ms) and the flow is signalled (dropped or marked) at
//     CoDel's pace; CAKE's memory limit drops from the fattest flow;
//   - the ISP FIFO drops what overflows its buffer, shared among the
//     flows in proportion to what each put into it; every whole packet
//     lost is a loss for that flow; before CAKE (download) it delivers to
//     each flow in proportion to its bits in the FIFO (fifo);
//   - a flow learns of a loss one RTT after it happened and then backs off
//     once for that window: CUBIC (beta 0.7, C 0.4, fast convergence, the
//     TCP-friendly region); slow start from 10 packets with HyStart's
//     delay exit; growth only while cwnd-limited; RFC 2861: an
//     application-limited flow's window decays towards what it uses, and a
//     flow idle for more than an RTO restarts from the initial window
//     (Linux's tcp_cwnd_restart).
//
// This is what the real testbed runs (Linux cubic); RTOs, SACK details,
// pacing, receive windows and ACK traffic in the reverse direction are
// left out.

// maxFlows bounds Options.Flows.
const maxFlows = 64

const (
	initialWindow  = 10.0 // packets (RFC 6928)
	cubicC         = 0.4  // packets / s³
	cubicBeta      = 0.7
	renoAlpha      = 3 * (1 - cubicBeta) / (1 + cubicBeta) // packets per RTT of CUBIC's TCP-friendly estimate
	hystartLowWin  = 16.0                                  // packets: HyStart acts from this window
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
		// A packet per packet acked doubles the window per round trip;
		// in a fluid without the round trip's delay it would grow e-fold.
		f.cwnd += acked * math.Ln2
		if f.cwnd >= hystartLowWin && f.minRTT > 0 && f.rtt > f.minRTT+min(max(f.minRTT/8, 0.004), 0.016) {
			f.ssthresh = f.cwnd
		}
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
	f.wEst += acked * renoAlpha / f.cwnd
	if f.wEst > f.cwnd {
		inc = max(inc, acked*(f.wEst-f.cwnd)/f.cwnd)
	}
	f.cwnd += min(inc, acked/2) // Linux: at most 1.5 x per round trip
}

func (f *flow) rto() float64 { return f.rtt + minRTO }

// restart is Linux's tcp_cwnd_restart after idle since `since`: halve
// the window per RTO idle, down to the initial window.
func (f *flow) restart(now, since float64) {
	f.ssthresh = max(f.ssthresh, 0.75*f.cwnd)
	rw := min(initialWindow, f.cwnd)
	cw := f.cwnd
	for d := now - since - f.rto(); d > 0 && cw > rw; d -= f.rto() {
		cw /= 2
	}
	f.cwnd = max(cw, rw)
	f.epoch = -1
	f.appSince = -1
}

// tcpLoad is one direction's elastic flows and CAKE's flow queues.
type tcpLoad struct {
	flows   []flow
	order   []int // scratch: flows by demand
	pkt     float64
	started bool    // the flows have sent
	active  bool    // in a loaded phase
	idleAt  float64 // when the last loaded phase ended
	ispIdle float64 // other traffic's bits in the ISP FIFO before CAKE (download)
}

func newTCPLoad(n int, r *rand.Rand, lo, hi float64, mtu int) *tcpLoad {
	l := &tcpLoad{flows: make([]flow, n), order: make([]int, n), pkt: float64(mtu * 8)}
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
	l.send(now, appCap, path, loaded)
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
func (l *tcpLoad) send(now, appCap, path float64, loaded bool) {
	switch {
	case loaded && !l.active:
		l.active = true
		for i := range l.flows {
			f := &l.flows[i]
			if !l.started {
				*f = flow{base: f.base, cwnd: initialWindow, ssthresh: math.Inf(1), epoch: -1, lossAt: -1, appSince: -1, rtt: f.base + path}
				continue
			}
			f.restart(now, l.idleAt)
		}
		l.started = true
	case !loaded && l.active:
		l.active = false
		l.idleAt = now
	}
	perFlow := appCap / float64(len(l.flows))
	for i := range l.flows {
		f := &l.flows[i]
		if f.lossAt >= 0 && now >= f.lossAt {
			f.reduce(now)
		}
		f.rtt = f.base + path + f.soj
		f.x = 0
		if l.active {
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

// serve is CAKE at rate for a step of dt at now: each flow's arrivals (f.in)
// join its queue, the queues are served max-min fairly after idleIn (other
// traffic, idle phases), the memory limit and CoDel signal the flows, and
// the flows' windows grow on what was served (acked). It returns the bits
// CAKE passed from the flows and whether the shaper was busy the whole step.
func (l *tcpLoad) serve(now, dt, rate, idleIn float64) (served float64, busy bool) {
	var demand float64
	for i := range l.flows {
		demand += l.flows[i].q + l.flows[i].in
	}
	budget := max(rate-idleIn, 0) * dt
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
		if !l.active {
			continue
		}
		if f.minRTT == 0 || f.rtt < f.minRTT {
			f.minRTT = f.rtt
		}
		acked := f.served / l.pkt
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
	return served, budget > 0 && demand >= budget
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
		f.credit += dropped * f.ispIn / total
		if f.credit >= l.pkt {
			f.credit = 0
			f.lost(now)
		}
	}
}
