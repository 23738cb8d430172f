package sim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var ceil100x20 = [2]int64{100e6, 20e6}

func noop() Policy { return PolicyFunc(func(Input, Writer) {}) }

// flat is a hand-built scenario: constant capacities, loaded as given.
func flat(d time.Duration, down, up float64, loadDown, loadUp bool) *Scenario {
	sc := &Scenario{
		Name: "flat", Seed: 1, Duration: d,
		Nominal:  [2]float64{down, up},
		Capacity: [2]Profile{Const(down), Const(up)},
		RTTShift: Const(0), ICMPLoss: Const(0),
	}
	if loadDown {
		sc.Loaded[Download] = []Span{{0, d}}
	}
	if loadUp {
		sc.Loaded[Upload] = []Span{{0, d}}
	}
	return sc
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6g, want %.6g ± %g", what, got, want, tol)
	}
}

func TestISPStep(t *testing.T) {
	const dt, c, buf = 1e-3, 100e6, 50e6
	// Shaper below capacity: nothing queues, the shaper's output is delivered.
	q, out := 0.0, 0.0
	for range 1000 {
		q, out = ispStep(q, buf, c, 80e6, dt)
		if q != 0 || out != 80e3 {
			t.Fatalf("r < c: queue %g, out %g; want 0, 80e3", q, out)
		}
	}
	// Shaper above capacity: the queue grows at r - c, delivery is c.
	for i := 1; i <= 2500; i++ {
		q, out = ispStep(q, buf, c, 120e6, dt)
		near(t, "queue", q, 20e3*float64(i), 1e-6)
		near(t, "out", out, 100e3, 1e-9)
	}
	// Full: capped at the buffer, delay = buffer / c.
	for range 100 {
		q, out = ispStep(q, buf, c, 120e6, dt)
	}
	if q != buf || out != 100e3 {
		t.Fatalf("full buffer: queue %g out %g, want %g and 100e3", q, out, float64(buf))
	}
	near(t, "delay at full buffer (s)", q/c, 0.5, 1e-12)
	// The shaper drops below capacity: the queue drains at c - r.
	q, _ = ispStep(q, buf, c, 60e6, dt)
	near(t, "draining queue", q, buf-40e3, 1e-6)
}

func TestPhysicsThroughEngine(t *testing.T) {
	// Download shaped above capacity (120M over 100M), upload below (8M
	// over 10M); the policy writes nothing, so it behaves like the fixed
	// shaper.
	sc := flat(5*time.Second, 100e6, 10e6, true, true)
	opt := Options{Load: LoadSaturating, Ceiling: [2]int64{120e6, 8e6}}
	res, err := Evaluate(sc, opt, noop())
	if err != nil {
		t.Fatal(err)
	}
	cake := func(r float64) float64 { return 1 + 12000/r*1e3 } // ms
	for name, run := range map[string]*Run{"wanctl": res.Wanctl, "fixed": res.Fixed} {
		dl := run.Dirs[Download]
		// Bucket k ends at ms 100k+99: queue = 20 Mbit/s * (100k+100) ms.
		for _, k := range []int{0, 9, 24} {
			want := 0.2*float64(100*k+100) + cake(120e6)
			near(t, name+" download delay bucket", float64(dl.Series.Delay[k]), want, 1e-3)
		}
		// From 2.5 s the 500 ms buffer (at 100M) is full.
		for _, k := range []int{25, 30, 49} {
			near(t, name+" download delay, buffer full", float64(dl.Series.Delay[k]), 500+cake(120e6), 1e-3)
		}
		near(t, name+" download utilisation", dl.Scores.Utilisation, 1, 1e-9)
		near(t, name+" download p99", dl.Scores.AddedDelayMS.P99, 500+cake(120e6), 1e-3)
		ul := run.Dirs[Upload]
		near(t, name+" upload utilisation", ul.Scores.Utilisation, 0.8, 1e-9)
		near(t, name+" upload p50", ul.Scores.AddedDelayMS.P50, cake(8e6), 1e-4)
		near(t, name+" upload p99", ul.Scores.AddedDelayMS.P99, cake(8e6), 1e-4)
		if ul.Scores.RecoveryS != 0 {
			t.Errorf("%s upload never above target, recovery %v", name, ul.Scores.RecoveryS)
		}
		if dl.Scores.RecoveryS != 5 {
			t.Errorf("%s download never recovers: recovery %v, want the whole 5 s", name, dl.Scores.RecoveryS)
		}
	}
	// The oracle shapes at 95% of the capacity: no queue, CAKE only.
	for d, c := range [2]float64{100e6, 10e6} {
		o := res.Oracle.Dirs[d]
		near(t, Dir(d).String()+" oracle utilisation", o.Scores.Utilisation, 0.95, 1e-9)
		near(t, Dir(d).String()+" oracle p99", o.Scores.AddedDelayMS.P99, cake(0.95*c), 1e-4)
	}
}

func TestIdleLoadIsDelivered(t *testing.T) {
	sc := flat(2*time.Second, 100e6, 10e6, false, false)
	res, err := Evaluate(sc, Options{Ceiling: [2]int64{150e6, 20e6}}, noop())
	if err != nil {
		t.Fatal(err)
	}
	for d := range 2 {
		if got := res.Fixed.Dirs[d].Series.Delay; got[len(got)-1] != 0 {
			t.Errorf("%s idle: delay %v, want 0 (1%% load, no queue, shaper not saturated)", Dir(d), got[len(got)-1])
		}
		if s := res.Fixed.Dirs[d].Scores; s.Utilisation != 0 || s.AddedDelayMS.P99 != 0 {
			t.Errorf("%s idle: scores %+v, want zero (nothing loaded)", Dir(d), s)
		}
	}
}

func TestWritesTakeLatencyOneAtATime(t *testing.T) {
	sc := flat(5*time.Second, 100e6, 10e6, true, true)
	type done struct {
		at  time.Duration
		err error
	}
	var got []done
	var rateAt50, pendingAfter int
	record := func(w Writer) func(error) {
		return func(err error) { got = append(got, done{w.Now().Sub(Epoch), err}) }
	}
	p := PolicyFunc(func(in Input, w Writer) {
		switch in.Now.Sub(Epoch) {
		case 0:
			w.Submit(Download, 50e6, record(w))
			w.Submit(Upload, 5e6, record(w))
			w.Submit(Download, 60e6, func(err error) {
				record(w)(err)
				w.Submit(Download, 70e6, record(w)) // a done callback may submit again
			})
			w.Submit(Download, 0, record(w)) // refused at once
			pendingAfter = w.Pending()
		case 50 * time.Millisecond:
			rateAt50 = int(w.Rate(Download))
		}
	})
	res, err := Evaluate(sc, Options{Ceiling: [2]int64{120e6, 8e6}, WriteLatency: 30 * time.Millisecond}, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 30, 60, 90, 120}
	if len(got) != len(want) {
		t.Fatalf("completions %v, want %d", got, len(want))
	}
	if !errors.Is(got[0].err, errRate) {
		t.Errorf("rate 0: err %v, want refused", got[0].err)
	}
	for i, w := range want {
		if got[i].at != w*time.Millisecond || (i > 0 && got[i].err != nil) {
			t.Errorf("completion %d at %v err %v, want %v ms, nil", i, got[i].at, got[i].err, w)
		}
	}
	if pendingAfter != 3 {
		t.Errorf("Pending after 3 submits = %d", pendingAfter)
	}
	if rateAt50 != 50e6 {
		t.Errorf("download rate at 50 ms = %d, want 50e6 (first write done at 30 ms, second at 90)", rateAt50)
	}
	// The shaper changes only when a write lands: bucket 0 (0..99 ms) ran
	// 30 ms at 120M, 60 ms at 50M, 10 ms at 60M.
	near(t, "mean download rate in the first 100 ms", float64(res.Wanctl.Dirs[Download].Series.Rate[0]), 72e6, 1)
	near(t, "mean download rate in the second 100 ms", float64(res.Wanctl.Dirs[Download].Series.Rate[1]), (20*60e6+80*70e6)/100, 1)
	if w := res.Wanctl.Dirs; w[Download].Writes != 3 || w[Upload].Writes != 1 {
		t.Errorf("writes %d/%d, want 3/1", w[Download].Writes, w[Upload].Writes)
	}
	near(t, "download writes per hour", res.Wanctl.Dirs[Download].Scores.WritesPerHour, 3*3600/5.0, 1e-9)
	if res.Oracle.Dirs[Download].Writes != 0 || res.Fixed.Dirs[Download].Writes != 0 {
		t.Error("references must not count writes")
	}
}

func TestPingsRoundRobinAtTheirReceiveTime(t *testing.T) {
	sc := flat(10*time.Second, 100e6, 10e6, false, false)
	opt := Options{Ceiling: ceil100x20, PingRate: 20, Reflectors: 4, Jitter: time.Nanosecond}
	var replies []Reply
	var ticks []time.Time
	prev := Epoch.Add(-time.Hour)
	var bad []string
	p := PolicyFunc(func(in Input, w Writer) {
		ticks = append(ticks, in.Now)
		for _, r := range in.Replies {
			if !r.At.After(prev) || r.At.After(in.Now) {
				bad = append(bad, r.At.Sub(Epoch).String()+" at tick "+in.Now.Sub(Epoch).String())
			}
			replies = append(replies, r)
		}
		prev = in.Now
	})
	res, err := Evaluate(sc, opt, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("replies outside (previous tick, tick]: %v", bad)
	}
	if len(ticks) != 200 || ticks[1].Sub(ticks[0]) != 50*time.Millisecond || !ticks[0].Equal(Epoch) {
		t.Errorf("ticks: %d, first %v", len(ticks), ticks[:2])
	}
	// 200 sent and received; the last one (sent at 9.95 s) arrives after
	// the last tick.
	if ps := res.Wanctl.Pings; ps.Sent != 200 || ps.Replies != 200 || len(replies) != 199 {
		t.Errorf("pings %+v, %d delivered; want 200 sent and received, 199 delivered", ps, len(replies))
	}
	base := map[int]time.Duration{}
	for _, r := range replies {
		sent := r.At.Sub(Epoch) - r.RTT
		if sent%(50*time.Millisecond) != 0 {
			t.Fatalf("reply %+v: send time %v not on the 50 ms ping grid", r, sent)
		}
		if want := int(sent/(50*time.Millisecond)) % 4; r.Reflector != want {
			t.Fatalf("echo sent at %v went to reflector %d, want %d (round robin)", sent, r.Reflector, want)
		}
		if r.RTT < 8*time.Millisecond || r.RTT > 25*time.Millisecond+time.Microsecond {
			t.Fatalf("idle RTT %v outside the 8..25 ms base range", r.RTT)
		}
		if b, ok := base[r.Reflector]; ok && (r.RTT-b > time.Microsecond || b-r.RTT > time.Microsecond) {
			t.Fatalf("reflector %d RTT %v vs %v: idle link, no jitter, must be constant", r.Reflector, r.RTT, b)
		}
		base[r.Reflector] = r.RTT
	}
	if len(base) != 4 {
		t.Errorf("reflectors heard: %v", base)
	}
}

// lateRTTs returns, for the replies of the last second of a run, RTT minus
// the reflector's base RTT (from an idle run with the same seed).
func lateRTTs(t *testing.T, sc *Scenario, opt Options) ([]time.Duration, PingStats, int) {
	t.Helper()
	idle := map[int]time.Duration{}
	idleSc := flat(sc.Duration, sc.Nominal[0], sc.Nominal[1], false, false)
	idleSc.Seed = sc.Seed
	if _, err := Evaluate(idleSc, opt, PolicyFunc(func(in Input, w Writer) {
		for _, r := range in.Replies {
			idle[r.Reflector] = r.RTT
		}
	})); err != nil {
		t.Fatal(err)
	}
	var late []time.Duration
	timedOut := 0
	p := PolicyFunc(func(in Input, w Writer) {
		timedOut += len(in.TimedOut)
		for _, r := range in.Replies {
			if r.At.Sub(Epoch) > sc.Duration-time.Second {
				late = append(late, r.RTT-idle[r.Reflector])
			}
		}
	})
	res, err := Evaluate(sc, opt, p)
	if err != nil {
		t.Fatal(err)
	}
	return late, res.Wanctl.Pings, timedOut
}

func TestRTTCrossesBothQueues(t *testing.T) {
	opt := Options{Load: LoadSaturating, Ceiling: [2]int64{120e6, 12e6}, Jitter: time.Nanosecond, PingTimeout: 3 * time.Second}
	// Each bloated direction adds its full buffer (500 ms) plus CAKE
	// (1 ms + one MTU at the shaper rate) to every echo.
	down := 500 + 1 + 12000/120e6*1e3
	up := 500 + 1 + 12000/12e6*1e3
	for _, tc := range []struct {
		name         string
		ldown, lup   bool
		wantAddedRTT float64
	}{
		{"download loaded", true, false, down},
		{"upload loaded", false, true, up},
		{"both loaded", true, true, down + up},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := flat(6*time.Second, 100e6, 10e6, tc.ldown, tc.lup)
			late, _, _ := lateRTTs(t, sc, opt)
			if len(late) == 0 {
				t.Fatal("no replies in the last second")
			}
			for _, d := range late {
				near(t, "RTT above base (ms)", float64(d)/1e6, tc.wantAddedRTT, 0.01)
			}
		})
	}
}

// A reply queues behind what the download queue holds when it gets there
// (one base RTT plus the upload queue after the request left), not when
// the request was sent; the pinger lists every request not yet answered.
func TestReplyMeetsTheDownloadQueueWhenItArrives(t *testing.T) {
	// Download: shaper 200M into a 100M link, the queue grows 1 ms per ms
	// from time 0 (buffer 500 ms at 100M). Upload idle.
	sc := flat(2*time.Second, 100e6, 10e6, true, false)
	opt := Options{Load: LoadSaturating, Ceiling: [2]int64{200e6, 10e6}, Jitter: time.Nanosecond}
	base := map[int]time.Duration{}
	idle := flat(2*time.Second, 100e6, 10e6, false, false)
	if _, err := Evaluate(idle, opt, PolicyFunc(func(in Input, w Writer) {
		for _, r := range in.Replies {
			base[r.Reflector] = r.RTT
		}
	})); err != nil {
		t.Fatal(err)
	}
	cake := 1 + 12000/200e6*1e3 // ms
	n := 0
	var outstandingBad []string
	p := PolicyFunc(func(in Input, w Writer) {
		for _, r := range in.Replies {
			sent := r.At.Add(-r.RTT).Sub(Epoch)
			if sent > 300*time.Millisecond {
				continue
			}
			n++
			// It reaches the download queue at sent + base; the queue is
			// then (sent + base) ms long, give or take the 1 ms step.
			want := float64(sent+base[r.Reflector])/1e6 + cake
			near(t, "queueing in the RTT of an echo sent at "+sent.String()+" (ms)", float64(r.RTT-base[r.Reflector])/1e6, want, 2)
		}
		// Outstanding: sent by now, oldest first, none answered yet.
		prev := time.Time{}
		for _, o := range in.Outstanding {
			if o.Sent.After(in.Now) || o.Sent.Before(prev) || in.Now.Sub(o.Sent) > time.Second {
				outstandingBad = append(outstandingBad, o.Sent.Sub(Epoch).String())
			}
			prev = o.Sent
		}
		if in.Now.Sub(Epoch) == time.Second && len(in.Outstanding) == 0 {
			outstandingBad = append(outstandingBad, "none at 1s while every RTT is > 500 ms")
		}
	})
	if _, err := Evaluate(sc, opt, p); err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Errorf("only %d replies checked", n)
	}
	if len(outstandingBad) > 0 {
		t.Errorf("outstanding echoes: %v", outstandingBad)
	}
}

func TestTimeoutsAndLoss(t *testing.T) {
	// Both directions bloated to 500 ms: RTT > 1 s, every echo times out
	// once the buffers are full.
	sc := flat(6*time.Second, 100e6, 10e6, true, true)
	late, ps, timedOut := lateRTTs(t, sc, Options{Load: LoadSaturating, Ceiling: [2]int64{120e6, 12e6}})
	if len(late) != 0 || ps.Timeouts == 0 || timedOut == 0 || timedOut > ps.Timeouts {
		t.Errorf("bloated past the timeout: %d late replies, stats %+v, %d reported timed out", len(late), ps, timedOut)
	}
	// All ICMP lost: no replies, each echo reported PingTimeout after it left.
	sc = flat(6*time.Second, 100e6, 10e6, false, false)
	sc.ICMPLoss = Const(1)
	var first time.Duration
	n := 0
	p := PolicyFunc(func(in Input, w Writer) {
		if len(in.Replies) != 0 {
			t.Fatalf("reply under total loss: %+v", in.Replies)
		}
		if n == 0 && len(in.TimedOut) > 0 {
			first = in.Now.Sub(Epoch)
		}
		n += len(in.TimedOut)
	})
	res, err := Evaluate(sc, Options{Ceiling: ceil100x20}, p)
	if err != nil {
		t.Fatal(err)
	}
	if first != time.Second || n != 100 || res.Wanctl.Pings.Lost != 120 {
		t.Errorf("first timeout reported at %v, %d reported, %+v; want 1s, 100 (sent 0..4.95 s, reported by the last tick at 5.95 s), 120 lost", first, n, res.Wanctl.Pings)
	}
}

func TestTCPFallbackDuringBlackout(t *testing.T) {
	sc := flat(10*time.Second, 100e6, 10e6, false, false)
	var l builder
	l.add(0, 0)
	l.step(2*time.Second, 1) // ICMP dies at 2 s ...
	l.step(6*time.Second, 0) // ... and comes back at 6 s
	sc.ICMPLoss = l.profile()
	sc.ICMPLoss.Step = true
	var tcp []Reply
	lastICMP := time.Duration(0)
	p := PolicyFunc(func(in Input, w Writer) {
		for _, r := range in.Replies {
			if r.TCP {
				tcp = append(tcp, r)
			} else {
				lastICMP = r.At.Sub(Epoch)
			}
		}
	})
	res, err := Evaluate(sc, Options{Ceiling: ceil100x20, Fallbacks: 2, Jitter: time.Nanosecond}, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(tcp) == 0 {
		t.Fatal("no TCP fallback replies during the blackout")
	}
	// The last ICMP reply before the blackout is the echo sent at 1.95 s;
	// a second later, from the first echo sent at or after ~2.97 s, the
	// pinger connects at 5/s, alternating targets, until ICMP answers
	// again (the echo sent at 6.0 s).
	first := tcp[0].At.Sub(Epoch) - tcp[0].RTT
	if first < 2950*time.Millisecond || first > 3050*time.Millisecond {
		t.Errorf("first TCP connect sent at %v, want ~3 s (1 s after the last ICMP reply)", first)
	}
	for i, r := range tcp {
		sent := r.At.Sub(Epoch) - r.RTT
		if sent >= 6050*time.Millisecond {
			t.Errorf("TCP connect at %v after ICMP came back", sent)
		}
		if r.Reflector != i%2 {
			t.Errorf("connect %d went to target %d, want round robin", i, r.Reflector)
		}
		if i > 0 {
			gap := sent - (tcp[i-1].At.Sub(Epoch) - tcp[i-1].RTT)
			if gap < 200*time.Millisecond || gap > 250*time.Millisecond {
				t.Errorf("connects %v apart, want 200 ms (5/s on the 50 ms ping grid)", gap)
			}
		}
	}
	if n := len(tcp); n < 14 || n > 16 {
		t.Errorf("%d TCP replies over ~3 s at 5/s", n)
	}
	if ps := res.Wanctl.Pings; ps.TCPSent != ps.TCPReplies || ps.TCPReplies != len(tcp) {
		t.Errorf("stats %+v vs %d delivered", ps, len(tcp))
	}
	if lastICMP < 9*time.Second {
		t.Errorf("ICMP never came back: last reply %v", lastICMP)
	}
}

func TestRecovery(t *testing.T) {
	run := func(events []int64, n int64, above func(ms int64) bool) float64 {
		r := NewRecovery(events)
		for ms := range n {
			r.Step(ms, !above(ms))
		}
		r.Finish(n)
		return float64(r.Worst())
	}
	if got := run([]int64{100}, 3000, func(ms int64) bool { return ms >= 120 && ms < 600 }); got != 500 {
		t.Errorf("recovered at 600 after an event at 100: %v ms", got)
	}
	if got := run([]int64{100}, 3000, func(int64) bool { return false }); got != 0 {
		t.Errorf("never above target: %v ms, want 0", got)
	}
	// A short dip below target does not count: it must hold 1 s.
	if got := run([]int64{0}, 5000, func(ms int64) bool { return ms < 1000 || (ms >= 1500 && ms < 2000) }); got != 2000 {
		t.Errorf("dip 1000..1500 then above until 2000: %v ms, want 2000", got)
	}
	// Never recovered: counted to the end; recovered at the very end: counted to the start of the final stretch.
	if got := run([]int64{1000}, 4000, func(int64) bool { return true }); got != 3000 {
		t.Errorf("never recovered: %v, want 3000", got)
	}
	if got := run([]int64{1000}, 4000, func(ms int64) bool { return ms < 3500 }); got != 2500 {
		t.Errorf("below for the last 0.5 s: %v, want 2500", got)
	}
	// The worst of several events.
	if got := run([]int64{0, 2000}, 6000, func(ms int64) bool { return ms < 300 || (ms >= 2000 && ms < 2700) }); got != 700 {
		t.Errorf("two events (300, 700 ms): worst %v, want 700", got)
	}
}

func TestRecoveryEvents(t *testing.T) {
	sc, err := NewScenario("step-drop", ceil100x20, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The load onset at 10% and the drop at 30%; the rise at 60% is not one.
	for d := range Dir(2) {
		if got := recoveryEvents(sc, d); len(got) != 2 || got[0] != 12000 || got[1] != 36000 {
			t.Errorf("%s events %v, want [12000 36000]", d, got)
		}
	}
	sc, _ = NewScenario("steady", ceil100x20, 0, 1)
	if got := recoveryEvents(sc, Download); len(got) != 1 {
		t.Errorf("steady events %v, want the load onset only", got)
	}
}

func TestCatalogue(t *testing.T) {
	names, err := ExpandScenarios("all")
	if err != nil || len(names) != 11 {
		t.Fatalf("all = %v, %v", names, err)
	}
	if _, err := ExpandScenarios("stepdrop"); err == nil || !strings.Contains(err.Error(), `unknown scenario "stepdrop": choose one of steady, step-drop,`) {
		t.Errorf("unknown scenario error: %v", err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			sc, err := NewScenario(name, ceil100x20, 0, 7)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Duration != DefaultDuration || ScenarioDescription(name) == "" {
				t.Errorf("duration %v, description %q", sc.Duration, ScenarioDescription(name))
			}
			res, err := Evaluate(sc, Options{Ceiling: ceil100x20}, newTestPolicy(ceil100x20, 4, 15*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			for _, shaper := range []struct {
				name string
				run  *Run
			}{{"wanctl", res.Wanctl}, {"oracle", res.Oracle}, {"fixed", res.Fixed}} {
				for d := range Dir(2) {
					s := shaper.run.Dirs[d].Scores
					vals := []float64{s.Utilisation, s.AddedDelayMS.P50, s.AddedDelayMS.P95, s.AddedDelayMS.P99, s.RecoveryS, s.WritesPerHour, s.AboveMaxS, s.AboveMeanS}
					for _, v := range vals {
						if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
							t.Fatalf("%s %s: non-finite or negative score in %+v", shaper.name, d, s)
						}
					}
					if s.AboveMeanS > s.AboveMaxS {
						t.Errorf("%s %s: mean time above 2 x target %v > the worst event's %v", shaper.name, d, s.AboveMeanS, s.AboveMaxS)
					}
					if len(sc.Loaded[d]) == 0 { // download-only, upload-only
						if s.Utilisation != 0 || s.AddedDelayMS.P99 != 0 {
							t.Errorf("%s %s never loaded, scored %+v", shaper.name, d, s)
						}
						continue
					}
					if s.Utilisation <= 0 || s.Utilisation > 1+1e-9 {
						t.Errorf("%s %s utilisation %v outside (0, 1]", shaper.name, d, s.Utilisation)
					}
					if p := s.AddedDelayMS; p.P50 > p.P95 || p.P95 > p.P99 {
						t.Errorf("%s %s percentiles %+v not ordered", shaper.name, d, p)
					}
					if n := len(shaper.run.Dirs[d].Series.Delay); n != 1200 {
						t.Errorf("%s %s: %d plot buckets, want 1200", shaper.name, d, n)
					}
				}
			}
			// The oracle keeps the upload's delay small everywhere. In
			// download the ISP FIFO comes before its CAKE: each load
			// onset's burst (the initial windows, then slow start until
			// HyStart, a round late) queues there, as do starlink's 100 ms
			// dips to 20 % every 15 s, whatever the oracle does.
			for d := range Dir(2) {
				limit := 10.0
				if d == Download {
					limit = 40
				}
				if p99 := res.Oracle.Dirs[d].Scores.AddedDelayMS.P99; p99 > limit {
					t.Errorf("oracle %s p99 %.1f ms, want < %.0f", d, p99, limit)
				}
			}
			if ps := res.Wanctl.Pings; ps.Sent != 2400 || ps.Replies < 1000 {
				t.Errorf("pings %+v", ps)
			}
		})
	}
}

func TestFixedShaperBloatsOnStepDrop(t *testing.T) {
	sc, _ := NewScenario("step-drop", ceil100x20, 0, 1)
	res, err := Evaluate(sc, Options{Load: LoadSaturating, Ceiling: ceil100x20}, newTestPolicy(ceil100x20, 4, 15*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for d := range Dir(2) {
		fixed, oracle, tested := res.Fixed.Dirs[d].Scores, res.Oracle.Dirs[d].Scores, res.Wanctl.Dirs[d].Scores
		// 500 ms of buffer at 100% drains at 40%: 1.25 s.
		if fixed.AddedDelayMS.P99 < 1200 || fixed.AddedDelayMS.P95 < 1200 {
			t.Errorf("fixed %s: %+v, want the full buffer (1.25 s at 40%%)", d, fixed.AddedDelayMS)
		}
		if oracle.AddedDelayMS.P99 > 3 || oracle.RecoveryS != 0 {
			t.Errorf("oracle %s: %+v", d, oracle)
		}
		if fixed.RecoveryS < 30 {
			t.Errorf("fixed %s recovery %v s: it never drains while loaded at capacity", d, fixed.RecoveryS)
		}
		// Even the crude test policy does far better than the fixed shaper
		// once it has reacted.
		if tested.AddedDelayMS.P50 > 15 || tested.RecoveryS > fixed.RecoveryS/2 {
			t.Errorf("test policy %s: %+v vs fixed %+v", d, tested, fixed)
		}
	}
}

func TestDurationOverride(t *testing.T) {
	sc, err := NewScenario("step-drop", ceil100x20, 30*time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Stretched, not truncated: the drop is at 30% of 30 s.
	if sc.Duration != 30*time.Second || sc.Capacity[Download].At(8999*time.Millisecond) != 100e6 || sc.Capacity[Download].At(9*time.Second) != 40e6 {
		t.Errorf("30 s step-drop: %v, %v, %v", sc.Duration, sc.Capacity[Download].At(8999*time.Millisecond), sc.Capacity[Download].At(9*time.Second))
	}
	for _, d := range []time.Duration{time.Second, 25 * time.Hour} {
		if _, err := NewScenario("steady", ceil100x20, d, 1); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("duration %v: %v", d, err)
		}
	}
}

func evalJSON(t *testing.T, name string, seed int64) ([]byte, []byte) {
	t.Helper()
	sc, err := NewScenario(name, ceil100x20, 30*time.Second, seed)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Evaluate(sc, Options{Ceiling: ceil100x20}, newTestPolicy(ceil100x20, 4, 15*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var js, svg bytes.Buffer
	if err := NewReport(res).WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := WriteSVG(&svg, res); err != nil {
		t.Fatal(err)
	}
	return js.Bytes(), svg.Bytes()
}

func TestDeterministic(t *testing.T) {
	for _, name := range []string{"lte", "starlink", "step-drop"} {
		j1, s1 := evalJSON(t, name, 42)
		j2, s2 := evalJSON(t, name, 42)
		if !bytes.Equal(j1, j2) || !bytes.Equal(s1, s2) {
			t.Errorf("%s: two runs with seed 42 differ", name)
		}
		j3, _ := evalJSON(t, name, 43)
		if bytes.Equal(j1, j3) {
			t.Errorf("%s: seeds 42 and 43 gave identical reports", name)
		}
	}
}

func TestReportJSONShape(t *testing.T) {
	j, _ := evalJSON(t, "step-drop", 1)
	var doc map[string]any
	if err := json.Unmarshal(j, &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) string {
		m, ok := v.(map[string]any)
		if !ok {
			return "not an object"
		}
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, ",")
	}
	if got := keys(doc); got != "format_version,scenarios,target_bloat_ms" {
		t.Errorf("top-level keys %s", got)
	}
	if doc["format_version"] != 1.0 || doc["target_bloat_ms"] != 15.0 {
		t.Errorf("format_version %v target_bloat_ms %v", doc["format_version"], doc["target_bloat_ms"])
	}
	s := doc["scenarios"].([]any)[0].(map[string]any)
	if got := keys(s); got != "fixed,name,oracle,seed,upload,wanctl" {
		t.Errorf("scenario keys %s", got)
	}
	if s["name"] != "step-drop" || s["seed"] != 1.0 {
		t.Errorf("name %v seed %v", s["name"], s["seed"])
	}
	const scoreKeys = "above_2x_target_events_s,above_2x_target_mean_s,above_2x_target_s,added_delay_ms,recovery_s,utilisation,writes_per_hour"
	for _, sc := range []any{s["wanctl"], s["oracle"], s["fixed"]} {
		if got := keys(sc); got != scoreKeys {
			t.Errorf("score keys %s", got)
		}
		if got := keys(sc.(map[string]any)["added_delay_ms"]); got != "p50,p95,p99" {
			t.Errorf("delay keys %s", got)
		}
	}
	up := s["upload"]
	if got := keys(up); got != "fixed,oracle,wanctl" {
		t.Errorf("upload keys %s", got)
	}
	for _, k := range []string{"wanctl", "oracle", "fixed"} {
		if got := keys(up.(map[string]any)[k]); got != scoreKeys {
			t.Errorf("upload %s keys %s", k, got)
		}
	}
}

func TestReportText(t *testing.T) {
	sc, _ := NewScenario("step-drop", ceil100x20, 30*time.Second, 1)
	res, _ := Evaluate(sc, Options{Load: LoadSaturating, Ceiling: ceil100x20}, noop())
	var b bytes.Buffer
	if err := NewReport(res).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"scenario", "utilisation", "p99 ms", "step-drop", "download", "upload", "oracle", "fixed", "95.0%"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Count(out, "\n"); lines != 9 {
		t.Errorf("%d lines, want header + 6 rows + two lines of footnote:\n%s", lines, out)
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	_, svg := evalJSON(t, "starlink", 1)
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if x.Name.Local == "polyline" {
				polylines++
			}
		case xml.CharData:
			texts = append(texts, string(x))
		}
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"starlink — download", "starlink — upload", "rate (Mbit/s)", "added delay (ms)", "capacity", "wanctl shaper rate", "target_bloat 15 ms", "time (s)"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG lacks text %q", want)
		}
	}
	if polylines != 8 { // per direction: capacity, oracle, rate, delay
		t.Errorf("%d polylines, want 8", polylines)
	}
}

func TestValidation(t *testing.T) {
	sc := flat(5*time.Second, 100e6, 10e6, true, true)
	if _, err := Evaluate(sc, Options{}, noop()); err == nil || !strings.Contains(err.Error(), "download ceiling 0") {
		t.Errorf("no ceiling: %v", err)
	}
	if _, err := Evaluate(sc, Options{Ceiling: ceil100x20, Interval: 1500 * time.Microsecond}, noop()); err == nil {
		t.Error("fractional interval accepted")
	}
	if _, err := Evaluate(sc, Options{Ceiling: ceil100x20}, nil); err == nil {
		t.Error("nil policy accepted")
	}
	bad := flat(5*time.Second, 100e6, 10e6, true, true)
	bad.Loaded[Upload] = []Span{{time.Second, 3 * time.Second}, {2 * time.Second, 4 * time.Second}}
	if _, err := Evaluate(bad, Options{Ceiling: ceil100x20}, noop()); err == nil || !strings.Contains(err.Error(), "disjoint") {
		t.Errorf("overlapping phases: %v", err)
	}
	bad = flat(5*time.Second, 100e6, 10e6, true, true)
	bad.Capacity[Download] = Profile{Points: []Point{{0, 1e8}, {0, 2e8}}}
	if _, err := Evaluate(bad, Options{Ceiling: ceil100x20}, noop()); err == nil || !strings.Contains(err.Error(), "strictly increase") {
		t.Errorf("bad profile: %v", err)
	}
}

func TestProfile(t *testing.T) {
	p := Profile{Points: []Point{{time.Second, 10}, {3 * time.Second, 30}}}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 10}, {time.Second, 10}, {2 * time.Second, 20}, {3 * time.Second, 30}, {time.Hour, 30}} {
		t.Run(c.at.String(), func(t *testing.T) {
			if got := p.At(c.at); got != c.want {
				t.Errorf("linear At(%v) = %v, want %v", c.at, got, c.want)
			}
		})
	}
	p.Step = true
	if got := p.At(2999 * time.Millisecond); got != 10 {
		t.Errorf("step At(2.999s) = %v, want 10", got)
	}
}

// The physics loop must not allocate per step: a run ten times longer
// allocates the same number of times (its buffers are sized up front).
func TestNoAllocationPerStep(t *testing.T) {
	opt := Options{Ceiling: ceil100x20}.WithDefaults()
	allocs := func(d time.Duration) float64 {
		sc, err := NewScenario("lte", ceil100x20, d, 1)
		if err != nil {
			t.Fatal(err)
		}
		ev := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
		p := noop()
		return testing.AllocsPerRun(3, func() { newEngine(sc, &opt, modePolicy, p, ev).run() })
	}
	short, long := allocs(10*time.Second), allocs(100*time.Second)
	if long != short {
		t.Errorf("allocations: %v for 10 s, %v for 100 s: something allocates per step", short, long)
	}
}

func BenchmarkEvaluate10Minutes(b *testing.B) {
	sc, err := NewScenario("lte", ceil100x20, 10*time.Minute, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(sc, Options{Ceiling: ceil100x20}, newTestPolicy(ceil100x20, 4, 15*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*600/b.Elapsed().Seconds(), "sim-s/s")
}

func BenchmarkRun10Minutes(b *testing.B) {
	sc, _ := NewScenario("lte", ceil100x20, 10*time.Minute, 1)
	opt := Options{Ceiling: ceil100x20}.WithDefaults()
	ev := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	b.ReportAllocs()
	for b.Loop() {
		newEngine(sc, &opt, modePolicy, newTestPolicy(ceil100x20, 4, 15*time.Millisecond), ev).run()
	}
	b.ReportMetric(float64(b.N)*600/b.Elapsed().Seconds(), "sim-s/s")
}

// ExampleConfigAt is the example WAN on another line: ceilings 90 % of it,
// floors following them as the defaults do, the nominal capacity back.
func TestExampleConfigAt(t *testing.T) {
	def, err := ExampleConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ExampleConfigAt([2]int64{50e6, 10e6})
	if err != nil {
		t.Fatal(err)
	}
	w, d := cfg.WANs[0], def.WANs[0]
	if w.Download.Ceiling != 45e6 || w.Upload.Ceiling != 9e6 {
		t.Errorf("ceilings %d / %d, want 45M / 9M", w.Download.Ceiling, w.Upload.Ceiling)
	}
	if got := NominalCapacity(w); got != [2]int64{50e6, 10e6} {
		t.Errorf("nominal %v, want 50M / 10M", got)
	}
	if w.Download.Floor.Green*10 != d.Download.Floor.Green || w.Upload.Floor.Red*5 != d.Upload.Floor.Red {
		t.Errorf("floors %+v / %+v do not follow the ceilings (example's %+v / %+v)", w.Download.Floor, w.Upload.Floor, d.Download.Floor, d.Upload.Floor)
	}
	if w.Measurement.PingRate != d.Measurement.PingRate || len(w.Measurement.Reflectors) != len(d.Measurement.Reflectors) {
		t.Errorf("measurement %+v, want the example's %+v", w.Measurement, d.Measurement)
	}
}
