package sim

import (
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

func TestSlowStartHyStartAndRestart(t *testing.T) {
	f := flow{cwnd: initialWindow, ssthresh: math.Inf(1), epoch: -1, lossAt: -1, minRTT: 0.02, rtt: 0.02}
	for range 20 { // one round trip: 10 packets acked
		f.grow(0, 0.5*f.cwnd/initialWindow)
	}
	if math.Abs(f.cwnd-2*initialWindow) > 0.5 {
		t.Fatalf("slow start: cwnd %v after a round trip from 10, want 20", f.cwnd)
	}
	f.rtt = 0.02 + 0.005 // the RTT grew by more than max(4 ms, minRTT/8)
	f.grow(0.001, 1)
	if !(f.ssthresh == f.cwnd) {
		t.Errorf("HyStart did not end slow start: cwnd %v ssthresh %v", f.cwnd, f.ssthresh)
	}
	// Idle for 2 s (RTO 0.225 s): halved per RTO, down to the initial window.
	f.cwnd, f.ssthresh = 400, 300
	f.restart(3, 1)
	if f.cwnd != initialWindow || f.ssthresh != 300 {
		t.Errorf("after 2 s idle: cwnd %v ssthresh %v, want %v and 300 (max(ssthresh, 3/4 cwnd))", f.cwnd, f.ssthresh, initialWindow)
	}
	f.cwnd, f.ssthresh = 400, 100
	f.restart(1.3, 1) // one RTO and a bit: halved once
	if f.cwnd != 200 || f.ssthresh != 300 {
		t.Errorf("after 0.3 s idle: cwnd %v ssthresh %v, want 200 and 300", f.cwnd, f.ssthresh)
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
		run, q := elasticRun(t, 90e6, 30*time.Second, nil)
		if u := run.Scores.Utilisation; u < 0.86 || u > 0.9+1e-9 {
			t.Errorf("utilisation %.4f, want close to the shaper's 0.90 (slow start costs a little)", u)
		}
		if slices.Max(q) != 0 {
			t.Errorf("ISP queue up to %.1f ms with the shaper below capacity", slices.Max(q))
		}
		if p := run.Scores.AddedDelayMS; p.P99 > 1.2 || p.P50 < 1 {
			t.Errorf("a sparse flow sees CAKE's own delay only (about 1.1 ms): %+v", p)
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

// After an idle gap the flows restart from the initial window: a shaper
// whose rate is right still sees a ramp, so delivered < rate for a while
// (the capacity estimate is not exact for free).
func TestElasticRestartAfterIdle(t *testing.T) {
	sc := flat(20*time.Second, 100e6, 10e6, false, false)
	sc.Loaded[Download] = []Span{{time.Second, 8 * time.Second}, {12 * time.Second, 20 * time.Second}}
	opt := Options{Ceiling: [2]int64{90e6, 9e6}, BaseRTTMin: 30 * time.Millisecond, BaseRTTMax: 30 * time.Millisecond}.WithDefaults()
	ev := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	e := newEngine(sc, &opt, modeFixed, nil, ev)
	shapedAt := map[int64]float64{}
	for e.ran < e.steps {
		e.step()
		shapedAt[e.ran] = e.dirs[Download].shaped
	}
	rate := func(from, to int64) float64 { return (shapedAt[to] - shapedAt[from]) / (float64(to-from) / 1e3) }
	if r := rate(7000, 8000); r < 0.95*90e6 {
		t.Fatalf("before the gap the flows fill the shaper: %.1f Mbit/s", r/1e6)
	}
	// The first round trip: 4 flows from 10 packets doubling per 30 ms,
	// 10 / ln 2 = 14.4 packets each on average: 23 Mbit/s.
	if r := rate(12000, 12030); math.Abs(r-23e6) > 2e6 {
		t.Errorf("first 30 ms after a 4 s gap: %.1f Mbit/s, want the initial windows' 23 of the 90 Mbit/s rate", r/1e6)
	}
	if r := rate(14000, 15000); r < 0.95*90e6 {
		t.Errorf("2 s after the restart: %.1f Mbit/s, want the shaper full again", r/1e6)
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
