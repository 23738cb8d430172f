package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestCodelSignalsAtItsPace(t *testing.T) {
	var c codel
	const mtu = 12000.0
	var drops []float64
	for ms := range 1000 {
		now := float64(ms) / 1e3
		if c.signal(now, 0.010, 10*mtu, mtu) { // 10 ms sojourn, persistently
			drops = append(drops, now)
		}
	}
	// The first drop one interval after the sojourn rose above target,
	// then each interval / sqrt(count) after the previous (RFC 8289).
	want := []float64{0.1, 0.2, 0.2 + 0.1/math.Sqrt(2), 0.2 + 0.1/math.Sqrt(2) + 0.1/math.Sqrt(3)}
	if len(drops) < 10 {
		t.Fatalf("%d drops in 1 s of a 10 ms standing queue: %v", len(drops), drops)
	}
	for i, w := range want {
		if math.Abs(drops[i]-w) > 1.5e-3 {
			t.Errorf("drop %d at %.3f s, want %.3f", i, drops[i], w)
		}
	}
	// Below target: no drops, the state resets.
	if c.signal(1.0, 0.004, 10*mtu, mtu) || c.dropping || c.firstAbove != 0 {
		t.Errorf("below target: %+v", c)
	}
	// One packet queued is never dropped, whatever its sojourn.
	var d codel
	for ms := range 500 {
		if d.signal(float64(ms)/1e3, 0.05, mtu, mtu) {
			t.Fatal("dropped the only packet in the queue")
		}
	}
}

func TestCubicReduceAndRegrow(t *testing.T) {
	f := flow{cwnd: 100, ssthresh: 50, epoch: -1, lossAt: -1, minRTT: 0.02, rtt: 0.02}
	f.lost(1.0)
	if f.lossAt != 1.02 {
		t.Fatalf("a loss at 1 s is known one RTT later: lossAt %v", f.lossAt)
	}
	f.lost(1.01) // the same window: no second reduction
	f.reduce(1.02)
	if f.cwnd != 70 || f.ssthresh != 70 || f.wMax != 100 {
		t.Fatalf("after a loss: cwnd %v ssthresh %v wMax %v, want 70, 70, 100", f.cwnd, f.ssthresh, f.wMax)
	}
	f.lost(1.03) // within a round trip of the reduction: same window
	if f.lossAt >= 0 {
		t.Errorf("a loss within the reduced window is counted again")
	}
	// CUBIC regrows towards wMax on W(t) = wMax + C (t - K)³, K =
	// cbrt(wMax (1 - beta) / C), whatever the round trip (it aims one
	// round trip ahead), unless its TCP-friendly estimate (Reno's 0.53
	// packets per round trip from beta x wMax) is ahead. Time to 99.5 %
	// of wMax:
	regrow := func(wMax, rtt float64) float64 {
		g := flow{cwnd: wMax, ssthresh: wMax, epoch: -1, lossAt: -1, minRTT: rtt, rtt: rtt}
		g.reduce(0)
		now := 0.0
		for g.cwnd < 0.995*wMax && now < 100 {
			now += 1e-3
			g.grow(now, g.cwnd/g.rtt*1e-3)
		}
		return now
	}
	for _, c := range []struct{ wMax, rtt, want float64 }{
		{1000, 0.1, math.Cbrt(1000*(1-cubicBeta)/cubicC) - math.Cbrt(5/cubicC) - 0.1}, // cubic: 6.7 s (Reno would take 56 s)
		{100, 0.02, 29.5 / renoAlpha * 0.02},                                          // Reno-friendly: 1.1 s (cubic would take 2.2 s)
	} {
		if got := regrow(c.wMax, c.rtt); math.Abs(got-c.want) > 0.1*c.want {
			t.Errorf("wMax %v, RTT %v: back at wMax after %.2f s, want about %.2f s", c.wMax, c.rtt, got, c.want)
		}
	}
	now := 2.0
	// A second loss below wMax: fast convergence lowers wMax further.
	f.cwnd = 90
	f.reduce(now)
	if want := 90 * (1 + cubicBeta) / 2; math.Abs(f.wMax-want) > 1e-9 {
		t.Errorf("fast convergence: wMax %v, want %v", f.wMax, want)
	}
}

func TestSlowStartAndHyStart(t *testing.T) {
	f := flow{cwnd: initialWindow, ssthresh: math.Inf(1), epoch: -1, lossAt: -1, minRTT: 0.02, rtt: 0.02}
	for range 20 { // one round trip: 10 packets acked
		f.grow(0, 0.5*f.cwnd/initialWindow)
	}
	if math.Abs(f.cwnd-2*initialWindow) > 0.5 {
		t.Fatalf("slow start: cwnd %v after a round trip from 10, want 20", f.cwnd)
	}

	// A queue of 10 ms (more than max(4 ms, minRTT/8)) from 30 ms on, in
	// the second round trip (20..40 ms). HyStart's samples are the first
	// acks of a round, for packets sent as the previous round began: the
	// third round (40..70 ms) still sees 20 ms, the fourth (from 70 ms)
	// 30 ms, and slow start ends 8 packets into it.
	f = flow{cwnd: initialWindow, ssthresh: math.Inf(1), epoch: -1, lossAt: -1, minRTT: 0.02, rtt: 0.02}
	var exitAt, round4 float64
	for ms := range 200 {
		now := float64(ms) / 1e3
		if now >= 0.03 {
			f.rtt = 0.03
		}
		if round4 == 0 && now >= 0.07 {
			round4 = f.cwnd
		}
		f.grow(now, f.cwnd/f.rtt*1e-3)
		if !math.IsInf(f.ssthresh, 1) {
			exitAt = now
			break
		}
	}
	if exitAt < 0.07 || exitAt > 0.08 {
		t.Errorf("HyStart left slow start at %.3f s, want in the fourth round (70..80 ms)", exitAt)
	}
	if want := round4 + hystartSamples*math.Ln2; math.Abs(f.ssthresh-want) > 1.5 {
		t.Errorf("HyStart's ssthresh %.1f, want the window 8 packets into the round, %.1f", f.ssthresh, want)
	}

	// Below 16 packets HyStart does not act, whatever the delay.
	f = flow{cwnd: initialWindow, ssthresh: math.Inf(1), epoch: -1, lossAt: -1, minRTT: 0.02, rtt: 0.1}
	for ms := range 300 {
		f.grow(float64(ms)/1e3, 0.01)
	}
	if !math.IsInf(f.ssthresh, 1) || f.cwnd >= hystartLowWin {
		t.Errorf("HyStart acted at cwnd %.1f (< %v): ssthresh %v", f.cwnd, hystartLowWin, f.ssthresh)
	}
}

// Until its first loss a flow that left slow start on HyStart grows at
// least 5 % per round trip (Linux: the cubic curve from the window it left
// at would barely move); after a loss the cubic curve rules.
func TestCubicGrowsFivePercentBeforeTheFirstLoss(t *testing.T) {
	rtt := func(f flow) float64 {
		for ms := range 200 { // one 200 ms round trip
			f.grow(1+float64(ms)/1e3, f.cwnd/f.rtt*1e-3)
		}
		return f.cwnd
	}
	fresh := flow{cwnd: 50, ssthresh: 50, epoch: -1, lossAt: -1, minRTT: 0.2, rtt: 0.2}
	if got := rtt(fresh); got < 52.5 || got > 53 {
		t.Errorf("no loss yet: cwnd 50 -> %.2f in a round trip, want 5 %% (52.5..53)", got)
	}
	lost := fresh
	lost.wMax = 50 // the window at a loss, regrown
	if got := rtt(lost); got > 51 {
		t.Errorf("after a loss at this window: cwnd 50 -> %.2f in a round trip, want cubic's plateau (< 51)", got)
	}
}

// elasticRun plays a flat link (download 100M, upload 10M) with the shaper
// fixed at ceil, only the download loaded from 1 s, and returns the
// download's run and its ISP queue delay (ms) every 10 ms.
func elasticRun(t *testing.T, ceil int64, d time.Duration, edit func(*Scenario, *Options)) (DirRun, []float64) {
	t.Helper()
	sc := flat(d, 100e6, 10e6, false, false)
	sc.Loaded[Download] = []Span{{time.Second, d}}
	opt := Options{Ceiling: [2]int64{ceil, 9e6}, ISPBuffer: 300 * time.Millisecond, BaseRTTMin: 20 * time.Millisecond, BaseRTTMax: 30 * time.Millisecond}
	if edit != nil {
		edit(sc, &opt)
	}
	opt = opt.WithDefaults()
	if err := opt.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	ev := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	e := newEngine(sc, &opt, modeFixed, nil, ev)
	var q []float64
	for e.ran < e.steps {
		e.step()
		if e.ran%10 == 0 {
			q = append(q, e.dirs[Download].q/100e6*1e3)
		}
	}
	return e.finish().Dirs[Download], q
}

func TestElasticLoad(t *testing.T) {
	t.Run("CAKE is the bottleneck", func(t *testing.T) {
		// Shaper at 90 % of the line: the flows fill it, CoDel holds their
		// queue in CAKE, nothing queues at the ISP.
		// (Slow start's burst above the line queues at the ISP first in
		// download: TestTandemSlowStartBurstQueuesAtTheISPInDownload.)
		run, q := elasticRun(t, 90e6, 30*time.Second, nil)
		if u := run.Scores.Utilisation; u < 0.86 || u > 0.9+1e-9 {
			t.Errorf("utilisation %.4f, want close to the shaper's 0.90 (slow start costs a little)", u)
		}
		if late := q[300:]; slices.Max(late) != 0 {
			t.Errorf("ISP queue up to %.1f ms after 3 s with the shaper below capacity", slices.Max(late))
		}
		// Its p99 carries the load onset: the initial windows' burst and
		// slow start's overshoot queue at the ISP for a few hundred ms.
		if p := run.Scores.AddedDelayMS; p.P95 > 1.2 || p.P50 < 1 || p.P99 > 15 {
			t.Errorf("a sparse flow sees CAKE's own delay only (about 1.1 ms) but after the onset: %+v", p)
		}
	})
	t.Run("the ISP buffer is the bottleneck", func(t *testing.T) {
		// Shaper above the line: the FIFO fills to its 300 ms, drops, the
		// flows back off and it drains part of the way: a sawtooth, and
		// the link stays nearly full.
		run, q := elasticRun(t, 120e6, 60*time.Second, nil)
		late := q[len(q)/2:]
		if hi, lo := slices.Max(late), slices.Min(late); hi < 290 || lo > 250 || lo < 50 {
			t.Errorf("ISP queue in the second half %.0f..%.0f ms, want a sawtooth below a full 300 ms buffer", lo, hi)
		}
		if u := run.Scores.Utilisation; u < 0.9 {
			t.Errorf("utilisation %.3f: drop-tail backoff should keep the line busy", u)
		}
		if run.Scores.AboveMaxS < 50 {
			t.Errorf("above 2 x target for %.1f s of 59 s loaded", run.Scores.AboveMaxS)
		}
	})
	t.Run("application-limited", func(t *testing.T) {
		// Capped at 30 % of nominal: delivered 30 %, no queue anywhere,
		// the shaper is not saturated (a sparse flow waits for nothing).
		run, q := elasticRun(t, 90e6, 20*time.Second, func(sc *Scenario, _ *Options) {
			sc.AppLimit[Download] = Const(0.3)
		})
		if u := run.Scores.Utilisation; math.Abs(u-0.3) > 0.01 {
			t.Errorf("utilisation %.4f, want the cap 0.30", u)
		}
		if slices.Max(q) != 0 || run.Scores.AddedDelayMS.P99 != 0 {
			t.Errorf("queue %.1f ms, delay %+v under an application limit", slices.Max(q), run.Scores.AddedDelayMS)
		}
	})
	t.Run("saturating load fills at once", func(t *testing.T) {
		// The same overshoot with the v1 load: the buffer is full 1.5 s
		// after the onset (r - c = 20 % of c) and stays full.
		run, q := elasticRun(t, 120e6, 10*time.Second, func(_ *Scenario, o *Options) { o.Load = LoadSaturating })
		if late := q[300:]; slices.Min(late) < 299.9 {
			t.Errorf("saturating: queue %.0f ms after 3 s, want the full 300", slices.Min(late))
		}
		if run.Scores.Utilisation != 1 {
			t.Errorf("saturating above capacity: utilisation %v, want 1", run.Scores.Utilisation)
		}
	})
}

// The download's ISP FIFO before CAKE: a fluid that keeps each flow's bits,
// serves them in proportion to its content and drops (drop-tail) from the
// arrivals.
func TestISPFifoBeforeCAKE(t *testing.T) {
	l := newTCPLoad(2, rand.New(rand.NewPCG(1, 2)), 0.02, 0.02, 1500, 0)
	for i := range l.flows {
		l.flows[i].rtt = 0.02
	}
	l.flows[0].isp = 3e6 // a standing queue, all of flow 0
	l.flows[0].x, l.flows[1].x = 50e6, 150e6
	const c, buf, dt = 100e6, 3.05e6, 1e-3
	// Content 3e6 + 50e3 + 150e3 bits; 100e3 leave, split 3.05 : 0.15;
	// 3.1e6 stay, 50e3 over the buffer are dropped from the arrivals, 1 : 3.
	q, out, idleOut := l.fifo(1, buf, c, 0, dt)
	near(t, "queue", q, buf, 1e-6)
	near(t, "delivered", out, 100e3, 1e-6)
	near(t, "other traffic's", idleOut, 0, 0)
	near(t, "flow 0 into CAKE", l.flows[0].in, 3.05e6*100e3/3.2e6, 1e-6)
	near(t, "flow 1 into CAKE", l.flows[1].in, 150e3*100e3/3.2e6, 1e-6)
	near(t, "flow 0 in the FIFO", l.flows[0].isp, 3.05e6*3.1/3.2-12.5e3, 1e-6)
	near(t, "flow 1 in the FIFO", l.flows[1].isp, 150e3*3.1/3.2-37.5e3, 1e-6)
	// 12.5e3 and 37.5e3 bits dropped: at least a packet each, a loss each.
	for i, f := range l.flows {
		if f.lossAt != 1.02 || f.credit != 0 {
			t.Errorf("flow %d: loss at %v, credit %v; want a loss known at 1.02 s", i, f.lossAt, f.credit)
		}
	}
	// Nothing arrives: the queue drains at c, each flow at its share.
	l.flows[0].x, l.flows[1].x = 0, 0
	f0, f1 := l.flows[0].isp, l.flows[1].isp
	q, out, _ = l.fifo(1.001, buf, c, 0, dt)
	near(t, "queue after a step", q, buf-100e3, 1e-6)
	near(t, "delivered", out, 100e3, 1e-6)
	near(t, "flow 0 into CAKE", l.flows[0].in, 100e3*f0/buf, 1e-6)
	near(t, "flow 1 into CAKE", l.flows[1].in, 100e3*f1/buf, 1e-6)
}

// oneWayRun plays a flat 100 Mbit/s link both ways with both shapers fixed
// at r, only dir loaded (elastic, 4 flows, base RTT 20-30 ms, 300 ms ISP
// buffer) from 1 s to d, and calls each with dir's state after every
// millisecond (ms simulated so far).
func oneWayRun(t *testing.T, dir Dir, r int64, d time.Duration, each func(ds *dirState, ms int64)) {
	t.Helper()
	sc := flat(d, 100e6, 100e6, false, false)
	sc.Loaded[dir] = []Span{{time.Second, d}}
	opt := Options{Ceiling: [2]int64{r, r}, ISPBuffer: 300 * time.Millisecond, BaseRTTMin: 20 * time.Millisecond, BaseRTTMax: 30 * time.Millisecond}.WithDefaults()
	if err := opt.Validate(); err != nil {
		t.Fatal(err)
	}
	ev := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	e := newEngine(sc, &opt, modeFixed, nil, ev)
	for e.ran < e.steps {
		e.step()
		each(&e.dirs[dir], e.ran)
	}
}

// Download is the tandem ISP FIFO -> CAKE, upload CAKE -> ISP FIFO. With the
// shaper above the line (r = 1.2 c) the download's shaped bytes are what the
// ISP delivers, c in every second, while the upload's are what the flows
// send (all of it: they send less than r), which the ISP's drop-tail
// sawtooth moves around c.
func TestTandemShapedBitsRevealCapacityInDownloadOnly(t *testing.T) {
	const c, r = 100e6, 120e6
	type window struct{ shaped, sent float64 } // bits/s over one second
	windows := func(dir Dir) []window {
		var w []window
		var shaped0, sent, sent0 float64
		oneWayRun(t, dir, r, 40*time.Second, func(ds *dirState, ms int64) {
			for _, f := range ds.tcp.flows {
				sent += f.x * 1e-3
			}
			if ms%1000 == 0 {
				if ms >= 4000 { // from 3 s: after slow start
					w = append(w, window{ds.shaped - shaped0, sent - sent0})
				}
				shaped0, sent0 = ds.shaped, sent
			}
		})
		return w
	}
	for i, w := range windows(Download) {
		if w.shaped > c*(1+1e-9) || w.shaped < 0.97*c {
			t.Errorf("download second %d: shaped %.2f Mbit/s, want the line's 100 (within 3 %%, never above)", i+3, w.shaped/1e6)
		}
	}
	lo, hi := math.Inf(1), 0.0
	for i, w := range windows(Upload) {
		if want := min(r, w.sent); math.Abs(w.shaped-want) > 1e-6*want {
			t.Errorf("upload second %d: shaped %.3f Mbit/s, want min(r, sent) = %.3f", i+3, w.shaped/1e6, want/1e6)
		}
		lo, hi = min(lo, w.shaped), max(hi, w.shaped)
	}
	if lo > 0.95*c || hi < 1.03*c {
		t.Errorf("upload shaped %.1f..%.1f Mbit/s per second: the counter should follow the flows, not the 100 Mbit/s line", lo/1e6, hi/1e6)
	}
}

// A slow-start burst above the line with the shaper below it (r = 0.9 c):
// in download it queues in the ISP FIFO before CAKE can do anything (the
// ISP queue grows at arrival - c, CAKE's at c - r), so a ping sees more than
// CAKE's own delay; in upload CAKE holds the whole burst.
func TestTandemSlowStartBurstQueuesAtTheISPInDownload(t *testing.T) {
	const c, r = 100e6, 90e6
	opt := Options{}.WithDefaults()
	cake := cakeDelay(&opt, r)
	type peak struct{ q, added, arrival float64 } // ISP queue delay, added delay (s), flows' sending (bits/s)
	peaks := func(dir Dir) peak {
		var p peak
		oneWayRun(t, dir, r, 5*time.Second, func(ds *dirState, _ int64) {
			var x float64
			for _, f := range ds.tcp.flows {
				x += f.x
			}
			p = peak{max(p.q, ds.q/c), max(p.added, ds.added), max(p.arrival, x)}
		})
		return p
	}
	down, up := peaks(Download), peaks(Upload)
	for _, p := range []peak{down, up} {
		if p.arrival < 1.02*c {
			t.Fatalf("the flows' slow start peaked at %.1f Mbit/s: no burst above the line", p.arrival/1e6)
		}
	}
	if down.q < 3e-3 || down.added < cake+3e-3 {
		t.Errorf("download: ISP queue up to %.2f ms, added delay up to %.2f ms; want a burst of >= 3 ms above CAKE's %.2f ms", down.q*1e3, down.added*1e3, cake*1e3)
	}
	if up.q != 0 || up.added > cake+1e-12 {
		t.Errorf("upload: ISP queue up to %.2f ms, added delay up to %.2f ms; want none above CAKE's %.2f ms", up.q*1e3, up.added*1e3, cake*1e3)
	}
}

// With the shaper well below the line (r = c / 2) the download's ISP FIFO
// stays empty even in slow start (its rate peaks below twice r) and CAKE's
// CoDel holds the flows' sojourn near its 5 ms target while they fill r.
func TestTandemCAKEControlsWellBelowCapacity(t *testing.T) {
	const c, r = 100e6, 50e6
	var maxQ, lateQ, shaped0, shaped1 float64
	var soj []float64
	oneWayRun(t, Download, r, 30*time.Second, func(ds *dirState, ms int64) {
		maxQ = max(maxQ, ds.q/c)
		if ms > 2000 {
			lateQ = max(lateQ, ds.q/c)
		}
		switch {
		case ms == 5000:
			shaped0 = ds.shaped
		case ms > 5000:
			for _, f := range ds.tcp.flows {
				soj = append(soj, f.soj)
			}
			shaped1 = ds.shaped
		}
	})
	// Only the four new connections' initial windows, 40 packets at once
	// (4.8 ms at c), queue there; slow start never outruns CAKE's r < c.
	if maxQ > 40*1500*8/c || lateQ > 1e-4 {
		t.Errorf("ISP queue up to %.2f ms (%.2f ms after the first second) with the shaper at half the line", maxQ*1e3, lateQ*1e3)
	}
	slices.Sort(soj)
	p50, p99 := soj[len(soj)/2], soj[len(soj)*99/100]
	if p50 < 1e-3 || p50 > codelTarget || p99 < codelTarget || p99 > 2*codelTarget {
		t.Errorf("flows' CAKE sojourn p50 %.2f ms, p99 %.2f ms: want CoDel's sawtooth around its 5 ms target", p50*1e3, p99*1e3)
	}
	if u := (shaped1 - shaped0) / 25 / r; u < 0.95 {
		t.Errorf("the flows fill %.3f of the shaper's rate, want nearly all", u)
	}
}

// Every loaded phase is new connections: after an idle gap the flows send
// their initial windows at once and ramp from there, so a shaper whose rate
// is right still sees a ramp (the capacity estimate is not exact for free).
func TestElasticNewConnectionsAfterIdle(t *testing.T) {
	sc := flat(20*time.Second, 100e6, 10e6, false, false)
	sc.Loaded[Download] = []Span{{time.Second, 8 * time.Second}, {12 * time.Second, 20 * time.Second}}
	opt := Options{Ceiling: [2]int64{90e6, 9e6}, BaseRTTMin: 30 * time.Millisecond, BaseRTTMax: 30 * time.Millisecond}.WithDefaults()
	ev := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	e := newEngine(sc, &opt, modeFixed, nil, ev)
	shapedAt := map[int64]float64{}
	var ssthresh float64
	for e.ran < e.steps {
		e.step()
		shapedAt[e.ran] = e.dirs[Download].shaped
		if e.ran == 8000 {
			ssthresh = e.dirs[Download].tcp.flows[0].ssthresh
		}
	}
	rate := func(from, to int64) float64 { return (shapedAt[to] - shapedAt[from]) / (float64(to-from) / 1e3) }
	if r := rate(7000, 8000); r < 0.95*90e6 || math.IsInf(ssthresh, 1) {
		t.Fatalf("before the gap the flows fill the shaper (%.1f Mbit/s) and left slow start (ssthresh %v)", r/1e6, ssthresh)
	}
	// The first round trip is the 4 new connections' initial windows,
	// 40 packets: 480 kbit in 30 ms, 16 Mbit/s. A connection kept open
	// would have remembered its ssthresh; a new one starts from scratch.
	if r := rate(12000, 12030); math.Abs(r-16e6) > 1e6 {
		t.Errorf("first 30 ms after a 4 s gap: %.1f Mbit/s, want the initial windows' 16 of the 90 Mbit/s rate", r/1e6)
	}
	if r := rate(14000, 15000); r < 0.95*90e6 {
		t.Errorf("2 s after the new connections: %.1f Mbit/s, want the shaper full again", r/1e6)
	}
}

func TestJitterDistributions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 400000
	p99 := map[JitterDist]float64{}
	for _, d := range []JitterDist{JitterExp, JitterPareto, JitterLognormal} {
		v := make([]float64, n)
		sum := 0.0
		for i := range v {
			v[i] = jitterDraw(r, d, 0.004)
			if v[i] < 0 {
				t.Fatalf("%v: negative jitter %v", d, v[i])
			}
			sum += v[i]
		}
		if mean := sum / n; math.Abs(mean-0.004) > 0.004*0.03 {
			t.Errorf("%v: mean %.5f, want 0.004", d, mean)
		}
		slices.Sort(v)
		p99[d] = v[n*99/100] / 0.004
	}
	// p99 / mean: exponential ln(100) = 4.6, lognormal (sigma 1) 6.2,
	// Lomax (shape 2.5) 1.5 (100^0.4 - 1) = 8.0.
	for d, want := range map[JitterDist]float64{JitterExp: 4.6, JitterLognormal: 6.2, JitterPareto: 8.0} {
		if math.Abs(p99[d]-want) > 0.05*want {
			t.Errorf("%v: p99 %.2f x the mean, want %.1f", d, p99[d], want)
		}
	}
}

func TestScenarioJitterAndOverride(t *testing.T) {
	sc, _ := NewScenario("starlink", ceil100x20, 0, 1)
	if sc.Jitter != (JitterModel{4 * time.Millisecond, JitterPareto}) {
		t.Errorf("starlink jitter %+v", sc.Jitter)
	}
	opt := Options{}
	if m, d := jitterOf(sc, &opt); m != 0.004 || d != JitterPareto {
		t.Errorf("scenario's jitter: %v %v", m, d)
	}
	opt = Options{Jitter: 2 * time.Millisecond, JitterDist: JitterExp}
	if m, d := jitterOf(sc, &opt); m != 0.002 || d != JitterExp {
		t.Errorf("options override: %v %v", m, d)
	}
	hand := flat(time.Second, 1e6, 1e6, false, false)
	opt = Options{}
	if m, d := jitterOf(hand, &opt); m != 0.001 || d != JitterExp {
		t.Errorf("a hand-built scenario without jitter: %v %v, want 1 ms exponential", m, d)
	}
}

func TestAboveTwiceTargetPerEvent(t *testing.T) {
	// Download: 200M into 100M from 0 (the queue grows 1 ms per ms until
	// the 500 ms buffer is full), the capacity rises to 200M at 2 s (not
	// an event: the full buffer now holds 250 ms) and drops to 50M at 5 s
	// (an event: 1 s).
	sc := flat(8*time.Second, 100e6, 10e6, true, false)
	var b builder
	b.add(0, 100e6)
	b.step(2*time.Second, 200e6)
	b.step(5*time.Second, 50e6)
	sc.Capacity[Download] = b.profile()
	sc.Capacity[Download].Step = true
	res, err := Evaluate(sc, Options{Load: LoadSaturating, Ceiling: [2]int64{200e6, 10e6}}, noop())
	if err != nil {
		t.Fatal(err)
	}
	s := res.Fixed.Dirs[Download].Scores
	if got := recoveryEvents(sc, Download); !slices.Equal(got, []int64{0, 5000}) {
		t.Fatalf("events %v, want [0 5000]", got)
	}
	// Event at 0: above 30 ms from 29 ms on (28.94 ms of queue and 1.06
	// of CAKE) until the next event: 4.971 s. Event at 5 s: the remaining
	// 3 s.
	if math.Abs(s.AboveMaxS-4.97) > 0.01 || math.Abs(s.AboveMeanS-(4.97+3)/2) > 0.01 {
		t.Errorf("above 2 x target: max %.3f mean %.3f, want 4.97 and 3.99", s.AboveMaxS, s.AboveMeanS)
	}
	if ev := s.AboveEventsS; len(ev) != 2 || math.Abs(ev[0]-4.97) > 0.01 || math.Abs(ev[1]-3) > 0.01 {
		t.Errorf("above 2 x target per event %v, want [4.97 3]", ev)
	}
	if o := res.Oracle.Dirs[Download].Scores; o.AboveMaxS != 0 || o.AboveMeanS != 0 {
		t.Errorf("oracle above 2 x target: %+v", o)
	}
}

func TestAppLimitLiftIsAnEvent(t *testing.T) {
	sc, err := NewScenario("app-limited", ceil100x20, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The load onset at 10 %, the capacity drop at 30 %, the lift at 50 %.
	for d := range Dir(2) {
		if got := recoveryEvents(sc, d); !slices.Equal(got, []int64{12000, 36000, 60000}) {
			t.Errorf("%s events %v, want [12000 36000 60000]", d, got)
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, c := range []struct {
		in     string
		lo, hi time.Duration
		ok     bool
	}{
		{"30ms", 22500 * time.Microsecond, 37500 * time.Microsecond, true},
		{"10ms-40ms", 10 * time.Millisecond, 40 * time.Millisecond, true},
		{"40ms-10ms", 0, 0, false},
		{"fast", 0, 0, false},
		{"-5ms", 0, 0, false},
	} {
		t.Run(c.in, func(t *testing.T) {
			lo, hi, err := ParseBaseRTT(c.in)
			if (err == nil) != c.ok || lo != c.lo || hi != c.hi {
				t.Errorf("ParseBaseRTT(%q) = %v, %v, %v", c.in, lo, hi, err)
			}
		})
	}
	for _, s := range []string{"saturating", "elastic"} {
		if l, err := ParseLoad(s); err != nil || l.String() != s {
			t.Errorf("ParseLoad(%q) = %v, %v", s, l, err)
		}
	}
	for _, s := range []string{"exp", "pareto", "lognormal"} {
		if d, err := ParseJitterDist(s); err != nil || d.String() != s {
			t.Errorf("ParseJitterDist(%q) = %v, %v", s, d, err)
		}
	}
	if _, err := ParseLoad("tcp"); err == nil {
		t.Error("ParseLoad accepted tcp")
	}
	if _, err := ParseJitterDist("normal"); err == nil {
		t.Error("ParseJitterDist accepted normal")
	}
	sc := flat(5*time.Second, 100e6, 10e6, true, true)
	for _, o := range []Options{{Flows: 65}, {Load: 7}, {JitterDist: 9}, {Jitter: -time.Millisecond}} {
		o.Ceiling = ceil100x20
		if _, err := Evaluate(sc, o, noop()); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// The testbed's HTB (ShaperFIFO) as the upload's bottleneck (r = 0.9 c):
// the pings pass in a class of their own (no delay at all: the ISP queue is
// empty and there is no CAKE), the bulk flows share one 20 ms drop-tail
// FIFO, so the four new connections' initial windows (40 packets) overflow
// its 15 packets at once: the last to arrive lose theirs, the first lose in
// their next round trips, all before CoDel would have signalled anything in
// CAKE.
func TestFIFOShaper(t *testing.T) {
	for _, tc := range []struct {
		shaper      Shaper
		p50         float64 // ms
		lostAtOnset bool    // every flow has a loss pending or taken 80 ms after the onset
	}{
		{ShaperCAKE, 1 + 1500*8/9e6*1e3, false},
		{ShaperFIFO, 0, true},
	} {
		t.Run(tc.shaper.String(), func(t *testing.T) {
			sc := flat(10*time.Second, 100e6, 10e6, false, false)
			sc.Loaded[Upload] = []Span{{time.Second, 10 * time.Second}}
			opt := Options{Ceiling: [2]int64{90e6, 9e6}, Shaper: tc.shaper, ISPBuffer: 300 * time.Millisecond,
				BaseRTTMin: 20 * time.Millisecond, BaseRTTMax: 20 * time.Millisecond}.WithDefaults()
			if err := opt.Validate(); err != nil {
				t.Fatal(err)
			}
			ev := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
			e := newEngine(sc, &opt, modeFixed, nil, ev)
			maxSoj := 0.0
			for e.ran < e.steps {
				e.step()
				ds := &e.dirs[Upload]
				for _, f := range ds.tcp.flows {
					maxSoj = max(maxSoj, f.soj)
					if e.ran == 1080 {
						if lost := f.wMax > 0 || f.lossAt >= 0; lost != tc.lostAtOnset {
							t.Errorf("80 ms after the onset a flow has lost: %v, want %v (%+v)", lost, tc.lostAtOnset, f)
						}
					}
				}
			}
			s := e.finish().Dirs[Upload].Scores
			near(t, "ping's added delay p50 (ms)", s.AddedDelayMS.P50, tc.p50, 1e-3)
			if s.Utilisation < 0.85 || s.Utilisation > 0.9+1e-9 {
				t.Errorf("utilisation %.3f, want the shaper's 0.9 of the line, nearly all of it", s.Utilisation)
			}
			if tc.shaper == ShaperFIFO && maxSoj > 0.0201 {
				t.Errorf("a flow's sojourn in the FIFO reached %.1f ms, more than its 20 ms at the rate", maxSoj*1e3)
			}
		})
	}
}

// NoIdleLoad: the idle phases carry nothing (the testbed's); the default
// carries 1 % of nominal through the shaper.
func TestNoIdleLoad(t *testing.T) {
	for _, tc := range []struct {
		idle float64
		want float64 // bits shaped per direction in 2 s, of a 100M / 10M line
	}{
		{0, 0.01 * 2},
		{NoIdleLoad, 0},
	} {
		sc := flat(2*time.Second, 100e6, 10e6, false, false)
		opt := Options{Ceiling: [2]int64{150e6, 20e6}, IdleLoad: tc.idle}.WithDefaults()
		if err := opt.Validate(); err != nil {
			t.Fatal(err)
		}
		e := newEngine(sc, &opt, modeFixed, nil, [2][]int64{})
		e.run()
		for d, nom := range sc.Nominal {
			near(t, fmt.Sprintf("idle load %g: %s shaped bits", tc.idle, Dir(d)), e.dirs[d].shaped, tc.want*nom, 1e-6*nom)
		}
	}
}
