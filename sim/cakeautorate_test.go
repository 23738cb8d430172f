package sim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// instantWriter applies every write at once and records when each landed.
type instantWriter struct {
	now    time.Time
	rate   [2]int64
	writes [2][]time.Duration // since Epoch
}

func (w *instantWriter) Submit(d Dir, bps int64, done func(error)) {
	w.rate[d] = bps
	w.writes[d] = append(w.writes[d], w.now.Sub(Epoch))
	if done != nil {
		done(nil)
	}
}
func (w *instantWriter) Rate(d Dir) int64 { return w.rate[d] }
func (w *instantWriter) Pending() int     { return 0 }
func (w *instantWriter) Now() time.Time   { return w.now }

// caHarness drives the peer by hand: a tick every 50 ms carrying one reply
// (20 per second, round-robin over 4 reflectors, as the simulator's
// pinger), the shaper passing load[d] × the peer's rate.
type caHarness struct {
	t    *testing.T
	a    *CakeAutorate
	w    *instantWriter
	now  time.Duration
	bits [2]float64
	load [2]float64
	refl int
}

const caBaseRTT = 20 * time.Millisecond // a one-way baseline of exactly 10 ms

func caParams() CakeAutorateParams {
	p := DefaultCakeAutorateParams()
	p.MinKbps = [2]int64{10_000, 2_000}
	p.BaseKbps = [2]int64{50_000, 10_000}
	p.MaxKbps = [2]int64{100_000, 20_000}
	p.Reflectors = 4
	p.MaxWirePacketBits = [2]int64{} // no threshold compensation: round numbers
	p.EnableSleepFunction = false
	return p
}

func newCAHarness(t *testing.T, p CakeAutorateParams) *caHarness {
	t.Helper()
	a, err := NewCakeAutorateWith(p)
	if err != nil {
		t.Fatal(err)
	}
	return &caHarness{t: t, a: a, w: &instantWriter{now: Epoch}}
}

// step advances 50 ms with one reply of the given RTT (0: no reply).
func (h *caHarness) step(rtt time.Duration) {
	h.now += 50 * time.Millisecond
	for d := range 2 {
		h.bits[d] += h.load[d] * float64(h.a.Rate(Dir(d))) * 0.05
	}
	in := Input{Now: Epoch.Add(h.now), ShapedBits: h.bits}
	if rtt > 0 {
		in.Replies = []Reply{{Reflector: h.refl, RTT: rtt, At: in.Now}}
		h.refl = (h.refl + 1) % 4
	}
	h.w.now = in.Now
	h.a.Tick(in, h.w)
}

func (h *caHarness) steps(n int, rtt time.Duration) {
	for range n {
		h.step(rtt)
	}
}

// warm learns every reflector's baseline (from 100 ms down to 10 ms one
// way) with the link lightly loaded, and flushes the start's rate writes.
func (h *caHarness) warm() {
	h.load = [2]float64{0.5, 0.5}
	h.steps(40, caBaseRTT)
	for i, b := range h.a.baseline[0] {
		if b != 10_000 {
			h.t.Fatalf("reflector %d baseline %d µs after warming, want 10000", i, b)
		}
	}
}

// delayed is an RTT whose one-way delta over the 10 ms baseline is owd.
func delayed(owd time.Duration) time.Duration { return caBaseRTT + 2*owd }

func TestCakeAutorateDetectsThreeOfSix(t *testing.T) {
	const bad, good = 'D', 'N'
	cases := []struct {
		name    string
		samples string
		bbAt    int // index of the first sample that detects bufferbloat, -1 none
	}{
		{"two of six is not bufferbloat", "DNNDNNDNND", -1},
		{"three of six is", "DNNDND", 5},
		{"three in a row", "DDD", 2},
		{"a delayed sample leaves the window after six", "DDNNNND", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newCAHarness(t, caParams())
			h.warm()
			for i, s := range c.samples {
				rtt := caBaseRTT
				if s == bad {
					rtt = delayed(40 * time.Millisecond)
				}
				before := h.a.Rate(Download)
				h.step(rtt)
				want := c.bbAt >= 0 && i >= c.bbAt
				if got := h.a.Bufferbloat(Download); got != want {
					t.Fatalf("sample %d (%c): bufferbloat %v, want %v", i, s, got, want)
				}
				if i == c.bbAt && h.a.Rate(Download) >= before {
					t.Errorf("sample %d detected bufferbloat but the rate stayed %d", i, h.a.Rate(Download))
				}
				if !want && h.a.Rate(Download) != before {
					t.Errorf("sample %d: rate %d -> %d without bufferbloat", i, before, h.a.Rate(Download))
				}
			}
			// An RTT pinger cannot tell the directions apart: both are cut.
			if c.bbAt >= 0 && h.a.Rate(Upload) >= 10_000_000 {
				t.Errorf("upload rate %d: the RTT's delay cuts both directions", h.a.Rate(Upload))
			}
		})
	}
}

// The cut scales with the detection window's average one-way delta: 0.99
// up to the delay threshold (30 ms), 0.75 from 60 ms, linear between.
func TestCakeAutorateCutScalesWithDelay(t *testing.T) {
	cases := []struct {
		owd  time.Duration // the three delayed samples' delta; three calm ones before
		want float64
	}{
		{50 * time.Millisecond, 0.99},  // window average 25 ms
		{90 * time.Millisecond, 0.87},  // 45 ms: halfway
		{140 * time.Millisecond, 0.75}, // 70 ms
	}
	for _, c := range cases {
		t.Run(c.owd.String(), func(t *testing.T) {
			h := newCAHarness(t, caParams())
			h.warm()
			h.steps(3, caBaseRTT)
			before := float64(h.a.Rate(Download))
			h.steps(3, delayed(c.owd))
			got := float64(h.a.Rate(Download)) / before
			if math.Abs(got-c.want) > 0.005 {
				t.Errorf("cut to %.4f of the rate, want %.2f (window average %d µs)", got, c.want, h.a.avgDelta[0])
			}
		})
	}
}

func TestCakeAutorateRaisesOnlyAboveHighLoad(t *testing.T) {
	cases := []struct {
		load  float64
		raise bool
	}{{0.70, false}, {0.74, false}, {0.80, true}, {1, true}}
	for _, c := range cases {
		t.Run(fmt.Sprintf("load %.0f%%", 100*c.load), func(t *testing.T) {
			h := newCAHarness(t, caParams())
			h.warm()
			h.load = [2]float64{c.load, c.load}
			h.w.writes[Download] = nil
			h.steps(40, caBaseRTT) // 2 s: ten load samples
			got, ws := h.a.Rate(Download), h.w.writes[Download]
			if !c.raise {
				if got != 50_000_000 || len(ws) != 0 {
					t.Errorf("load %.0f %%: rate %d after %d writes, want the base rate 50000000 held", 100*c.load, got, len(ws))
				}
				return
			}
			// One raise per load sample, 4 % each at a calm delay.
			if want := 50e6 * math.Pow(1.04, float64(len(ws))); len(ws) < 9 || len(ws) > 10 || math.Abs(float64(got)-want) > 0.002*want {
				t.Errorf("load %.0f %%: rate %d after %d raises in 2 s, want 9 or 10 raises of 4 %% (%.0f)", 100*c.load, got, len(ws), want)
			}
			for i := 1; i < len(ws); i++ {
				if ws[i]-ws[i-1] < 200*time.Millisecond {
					t.Errorf("raises at %v and %v: one per load sample (200 ms)", ws[i-1], ws[i])
				}
			}
		})
	}
}

// Without high load the rate returns to the base rate by 1 % per second,
// from above and from below, and stays there.
func TestCakeAutorateDecaysToBase(t *testing.T) {
	for _, from := range []string{"above", "below"} {
		t.Run(from, func(t *testing.T) {
			h := newCAHarness(t, caParams())
			h.warm()
			if from == "above" {
				h.load = [2]float64{1, 1}
				h.steps(40, caBaseRTT)
			} else {
				h.steps(3, delayed(140*time.Millisecond))
				h.steps(3, caBaseRTT)
			}
			start := h.a.Rate(Download)
			if start == 50_000_000 {
				t.Fatalf("the rate did not leave the base rate")
			}
			h.load = [2]float64{0, 0} // idle
			h.w.writes[Download] = nil
			h.steps(200, caBaseRTT) // 10 s
			got := float64(h.a.Rate(Download))
			if math.Abs(got-float64(start)) < 0.05*float64(start) || (from == "above") != (got > 50e6) || (from == "below") != (got < 50e6) {
				t.Errorf("after 10 s idle: %d -> %.0f, want about 10 %% of the way to the base rate and not past it", start, got)
			}
			ws := h.w.writes[Download]
			for i := 1; i < len(ws); i++ {
				if ws[i]-ws[i-1] <= time.Second {
					t.Errorf("decays %v apart (at %v, %v): the decay refractory period is 1 s", ws[i]-ws[i-1], ws[i-1], ws[i])
				}
			}
			h.steps(20*60, caBaseRTT) // another minute
			if got := h.a.Rate(Download); got != 50_000_000 {
				t.Errorf("after 70 s idle the rate is %d, want the base rate 50000000", got)
			}
		})
	}
}

func TestCakeAutorateRefractoryPeriods(t *testing.T) {
	t.Run("cuts 300 ms apart under sustained bufferbloat", func(t *testing.T) {
		h := newCAHarness(t, caParams())
		h.warm()
		h.w.writes[Download] = nil
		h.steps(40, delayed(100*time.Millisecond)) // 2 s
		ws := h.w.writes[Download]
		if len(ws) < 4 {
			t.Fatalf("%d cuts in 2 s of bufferbloat", len(ws))
		}
		for i := 1; i < len(ws); i++ {
			if ws[i]-ws[i-1] <= 300*time.Millisecond {
				t.Errorf("cuts at %v and %v: the bufferbloat refractory period is 300 ms", ws[i-1], ws[i])
			}
		}
	})
	t.Run("no raise within 300 ms of a cut", func(t *testing.T) {
		h := newCAHarness(t, caParams())
		h.warm()
		h.load = [2]float64{1, 1}
		h.steps(3, delayed(100*time.Millisecond))
		cut := h.now
		cutRate := h.a.Rate(Download)
		h.w.writes[Download] = nil
		h.steps(10, caBaseRTT) // the window clears of delayed samples; load samples keep coming
		for _, at := range h.w.writes[Download] {
			if at-cut <= 300*time.Millisecond {
				t.Errorf("a change at %v, %v after the cut", at, at-cut)
			}
		}
		if h.a.Rate(Download) <= cutRate {
			t.Errorf("no raise after the refractory period under full load (rate %d)", h.a.Rate(Download))
		}
	})
}

// The sleep function stops using replies after 60 s of an idle line, and a
// load sample above connection_active_thr_kbps wakes it.
func TestCakeAutorateSleeps(t *testing.T) {
	p := caParams()
	p.EnableSleepFunction = true
	h := newCAHarness(t, p)
	h.warm()
	h.load = [2]float64{0, 0}
	h.steps(20*59, caBaseRTT)
	if h.a.Sleeping() {
		t.Fatal("asleep before 60 s idle")
	}
	h.steps(20*2, caBaseRTT)
	if !h.a.Sleeping() {
		t.Fatal("awake after 61 s idle")
	}
	rate := h.a.Rate(Download)
	h.steps(10, delayed(100*time.Millisecond))
	if h.a.Rate(Download) != rate || h.a.Bufferbloat(Download) {
		t.Errorf("asleep, delayed replies changed the rate %d -> %d", rate, h.a.Rate(Download))
	}
	h.load = [2]float64{0.5, 0}
	h.steps(5, caBaseRTT)
	if h.a.Sleeping() {
		t.Error("still asleep with 25 Mbit/s of download")
	}
}

func TestCakeAutorateParams(t *testing.T) {
	cfg, err := ExampleConfig()
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.WANs[0]
	p := CakeAutorateParamsFromWAN(w)
	if p.MinKbps[Download] != w.Download.Floor.Red/1000 || p.BaseKbps[Download] != w.Download.Floor.Green/1000 ||
		p.MaxKbps[Download] != 450_000 || p.MaxKbps[Upload] != 45_000 || p.Reflectors != len(w.Measurement.Reflectors) {
		t.Errorf("from the example WAN: %+v", p)
	}
	bad := []func(*CakeAutorateParams){
		func(p *CakeAutorateParams) { p.MinKbps[Upload] = 0 },
		func(p *CakeAutorateParams) { p.BaseKbps[Download] = p.MaxKbps[Download] + 1 },
		func(p *CakeAutorateParams) { p.Reflectors = 0 },
		func(p *CakeAutorateParams) { p.BufferbloatDetectionThr = 7 },
		func(p *CakeAutorateParams) { p.MonitorAchievedRatesInterval = 0 },
		func(p *CakeAutorateParams) { p.HighLoadThr = 1.5 },
	}
	for i, f := range bad {
		q := caParams()
		f(&q)
		if _, err := NewCakeAutorateWith(q); err == nil || !strings.HasPrefix(err.Error(), "cake-autorate: ") {
			t.Errorf("bad params %d: %v", i, err)
		}
	}
}

// evalPeer runs the example WAN's wanctl and the peer over a scenario.
func evalPeer(t *testing.T, name string, d time.Duration) *Result {
	t.Helper()
	cfg, err := ExampleConfig()
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.WANs[0]
	sc, err := NewScenario(name, NominalCapacity(w), d, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewWanctl(w)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := NewCakeAutorate(w)
	if err != nil {
		t.Fatal(err)
	}
	res, err := EvaluateWith(sc, OptionsFromWAN(w, cfg.Daemon.Interval), p, peer)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// On step-drop the fixed shaper sits in a bloated ISP buffer (most of a second)
// until the capacity returns (36 s); the peer must find the new capacity
// and stay near it: delay back under target within seconds, p95 well under
// the buffer, the link still used.
func TestCakeAutorateBoundsDelayOnStepDrop(t *testing.T) {
	res := evalPeer(t, "step-drop", 0)
	if res.Peer == nil {
		t.Fatal("EvaluateWith ran no peer")
	}
	for d := range Dir(2) {
		peer, fixed := res.Peer.Dirs[d].Scores, res.Fixed.Dirs[d].Scores
		if fixed.AddedDelayMS.P95 < 500 {
			t.Fatalf("%s: the fixed shaper's p95 %.0f ms: the scenario no longer bloats", d, fixed.AddedDelayMS.P95)
		}
		if peer.RecoveryS > 8 || peer.AddedDelayMS.P95 > fixed.AddedDelayMS.P95/4 || peer.Utilisation < 0.75 || res.Peer.Dirs[d].Writes == 0 {
			t.Errorf("%s: cake-autorate recovery %.1f s, p95 %.0f ms, utilisation %.3f, %d writes; fixed: recovery %.1f s, p95 %.0f ms",
				d, peer.RecoveryS, peer.AddedDelayMS.P95, peer.Utilisation, res.Peer.Dirs[d].Writes, fixed.RecoveryS, fixed.AddedDelayMS.P95)
		}
	}
}

// The peer changes no figure of wanctl or the references, and the
// reports show it beside them.
func TestPeerInReports(t *testing.T) {
	res := evalPeer(t, "starlink", 20*time.Second)
	alone := *res
	alone.Peer = nil
	var with, without bytes.Buffer
	if err := NewReport(res).WriteJSON(&with); err != nil {
		t.Fatal(err)
	}
	if err := NewReport(&alone).WriteJSON(&without); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(without.String(), "cake_autorate") {
		t.Error("a result without a peer reports cake_autorate")
	}
	var doc struct {
		Scenarios []map[string]json.RawMessage `json:"scenarios"`
	}
	if err := json.Unmarshal(with.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Scenarios[0]
	var up map[string]Scores
	if err := json.Unmarshal(s["upload"], &up); err != nil {
		t.Fatal(err)
	}
	var down Scores
	if err := json.Unmarshal(s["cake_autorate"], &down); err != nil {
		t.Fatalf("download cake_autorate: %v in %s", err, with.String())
	}
	if !reflect.DeepEqual(down, res.Peer.Dirs[Download].Scores.Rounded()) || !reflect.DeepEqual(up["cake_autorate"], res.Peer.Dirs[Upload].Scores.Rounded()) {
		t.Errorf("cake_autorate %+v / %+v, want the peer's scores", down, up["cake_autorate"])
	}

	cfg, err := ExampleConfig()
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.WANs[0]
	sc, err := NewScenario("starlink", NominalCapacity(w), 20*time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewWanctl(w)
	if err != nil {
		t.Fatal(err)
	}
	solo, err := Evaluate(sc, OptionsFromWAN(w, cfg.Daemon.Interval), p)
	if err != nil {
		t.Fatal(err)
	}
	var soloJSON bytes.Buffer
	if err := NewReport(solo).WriteJSON(&soloJSON); err != nil {
		t.Fatal(err)
	}
	if soloJSON.String() != without.String() {
		t.Errorf("running the peer changed the others' figures:\n%s\nvs\n%s", soloJSON.String(), without.String())
	}

	var text bytes.Buffer
	if err := NewReport(res).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(text.String(), "cake-autorate"); n != 2 {
		t.Errorf("%d cake-autorate rows, want one per direction:\n%s", n, text.String())
	}
	if lines := strings.Count(text.String(), "\n"); lines != 11 {
		t.Errorf("%d lines, want header + 8 rows + two lines of footnote:\n%s", lines, text.String())
	}

	var svg bytes.Buffer
	if err := WriteSVG(&svg, res); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&svg)
	polylines, peerText := 0, false
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
			peerText = peerText || strings.HasPrefix(string(x), "cake-autorate: utilisation")
		}
	}
	if polylines != 12 || !peerText {
		t.Errorf("%d polylines (want 12: per direction capacity, oracle, two rates, two delays), peer scores shown %v", polylines, peerText)
	}
}

// The peer allocates nothing per tick: a run ten times longer allocates
// as often.
func TestCakeAutorateNoAllocationPerTick(t *testing.T) {
	cfg, err := ExampleConfig()
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.WANs[0]
	allocs := func(d time.Duration) float64 {
		sc, err := NewScenario("lte", NominalCapacity(w), d, 1)
		if err != nil {
			t.Fatal(err)
		}
		ev := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
		return testing.AllocsPerRun(2, func() {
			peer, _ := NewCakeAutorate(w)
			opt, err := policyOptions(OptionsFromWAN(w, cfg.Daemon.Interval).WithDefaults(), peer)
			if err != nil {
				t.Fatal(err)
			}
			newEngine(sc, &opt, modePolicy, peer, ev).run()
		})
	}
	if short, long := allocs(10*time.Second), allocs(100*time.Second); long != short {
		t.Errorf("allocations: %v for 10 s, %v for 100 s: something allocates per tick", short, long)
	}
}

func BenchmarkCakeAutorate2Minutes(b *testing.B) {
	cfg, err := ExampleConfig()
	if err != nil {
		b.Fatal(err)
	}
	w := cfg.WANs[0]
	sc, _ := NewScenario("lte", NominalCapacity(w), 2*time.Minute, 1)
	ev := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	b.ReportAllocs()
	for b.Loop() {
		peer, _ := NewCakeAutorate(w)
		opt, _ := policyOptions(OptionsFromWAN(w, cfg.Daemon.Interval).WithDefaults(), peer)
		newEngine(sc, &opt, modePolicy, peer, ev).run()
	}
}
