package autorate

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

const ms = time.Millisecond

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// testWAN is the DESIGN.md example WAN with its defaults.
func testWAN() *config.WAN {
	return &config.WAN{
		Name:      "spectrum",
		Router:    "edge",
		Interface: "ether1",
		Measurement: config.Measurement{
			Reflectors: []netip.Addr{
				netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("8.8.8.8"),
				netip.MustParseAddr("9.9.9.9"), netip.MustParseAddr("208.67.222.222"),
			},
			PingRate: 20,
		},
		Download: config.Direction{
			Name: config.Download, Queue: "wanctl-spectrum-down", Parent: "global",
			Ceiling: 940e6, StepUp: 15e6, FactorDown: 0.90, FactorDownYellow: 0.96,
			Floor: config.Floors{Green: 550e6, Yellow: 350e6, SoftRed: 275e6, Red: 200e6},
		},
		Upload: config.Direction{
			Name: config.Upload, Queue: "wanctl-spectrum-up", Parent: "ether1",
			Ceiling: 38e6, StepUp: 1e6, FactorDown: 0.85, FactorDownYellow: 0.94,
			Floor: config.Floors{Green: 30e6, Yellow: 20e6, Red: 8e6},
		},
		Thresholds: config.Thresholds{
			TargetBloat: 15 * ms, Refractory: 300 * ms, WarnBloat: 45 * ms, HardRedBloat: 80 * ms,
			BaselineTimeConstant: 60 * time.Second, LoadTimeConstant: 250 * ms,
			BaselineUpdateThreshold: 3 * ms, BaselineRiseTimeConstant: 300 * time.Second,
			GreenRequired: 5, DwellCycles: 3, Deadband: 3 * ms,
		},
		RouterWrites: config.RouterWrites{MinChange: 0.02, IncreaseInterval: time.Second, WritesPerMinute: 120, Burst: 120},
	}
}

// harness drives a controller at a 50 ms cadence, every reflector answering
// every cycle with base+delta. These are not the replies of a real queue (a
// delay that jumps between two cycles would need requests sent earlier
// than the previous ones), so the capacity estimate is off: the harness
// tests the zones' rules as DESIGN.md states them, which is what the
// controller does when it cannot estimate the capacity (see
// TestCapacityEstimate* for the moves with one).
type harness struct {
	t    *testing.T
	c    *Controller
	now  time.Time
	base time.Duration
}

func newHarness(t *testing.T, w *config.WAN) *harness {
	h := &harness{t: t, c: NewController(w), now: t0, base: 20 * ms}
	h.c.off |= RuleCapacityCut
	for i := range w.Measurement.Reflectors {
		h.c.Observe(i, h.base, h.now)
	}
	h.c.Step(h.now)
	return h
}

// instantWAN makes the loaded delta follow the raw delta at once, so zone
// and rate tests can set the delta directly.
func instantWAN() *config.WAN {
	w := testWAN()
	w.Thresholds.LoadTimeConstant = time.Nanosecond
	return w
}

func (h *harness) cycle(delta time.Duration) Decision {
	h.now = h.now.Add(50 * ms)
	for i := range h.c.refl {
		h.c.Observe(i, h.base+delta, h.now)
	}
	return h.c.Step(h.now)
}

func (h *harness) cycles(n int, delta time.Duration) Decision {
	var d Decision
	for range n {
		d = h.cycle(delta)
	}
	return d
}

func TestFirstReplySetsBaseline(t *testing.T) {
	c := NewController(testWAN())
	c.Observe(0, 25*ms, t0)
	d := c.Step(t0)
	if d.Baseline != 25*ms || d.RawDelta != 0 || !d.Signal || d.Fresh != 1 {
		t.Fatalf("decision %+v", d)
	}
	if d.Download.Rate != 940e6 || d.Upload.Rate != 38e6 || d.Download.Zone != Green {
		t.Fatalf("start state %+v", d)
	}
}

func TestBaselineDropsAtOnce(t *testing.T) {
	c := NewController(testWAN())
	c.Observe(0, 30*ms, t0)
	c.Observe(0, 12*ms, t0.Add(100*ms))
	s := c.Snapshot()
	if s.Reflectors[0].Baseline != 12*ms {
		t.Fatalf("baseline %v, want 12ms", s.Reflectors[0].Baseline)
	}
	if d := c.Step(t0.Add(100 * ms)); d.RawDelta != 0 {
		t.Fatalf("delta after a lower RTT %v, want 0", d.RawDelta)
	}
}

func TestBaselineFollowsBelowThreshold(t *testing.T) {
	c := NewController(testWAN())
	c.Observe(0, 20*ms, t0)
	// One sample 2 ms above (below the 3 ms threshold) a whole time
	// constant later moves the baseline by 1-1/e of the difference.
	c.Observe(0, 22*ms, t0.Add(60*time.Second))
	got := c.Snapshot().Reflectors[0].Baseline
	want := 20*ms + time.Duration(float64(2*ms)*(1-math.Exp(-1)))
	if d := got - want; d < -time.Microsecond || d > time.Microsecond {
		t.Fatalf("baseline %v, want %v", got, want)
	}
}

func TestBaselineFrozenUnderLoad(t *testing.T) {
	h := newHarness(t, testWAN())
	// 10 s of 60 ms bloat: the baseline may only creep (rise tc 300 s).
	for range 200 {
		h.cycle(60 * ms)
	}
	b := h.c.Snapshot().Reflectors[0].Baseline
	if b-20*ms > 2500*time.Microsecond {
		t.Fatalf("baseline rose to %v under load", b)
	}
	if b <= 20*ms {
		t.Fatalf("baseline did not rise at all (%v): a lasting path change would never be learned", b)
	}
}

func TestBaselineLearnsLastingPathChange(t *testing.T) {
	h := newHarness(t, testWAN())
	// The path gets 20 ms longer for good; pings every 200 ms per reflector.
	h.base = 40 * ms
	for range 15 * 60 * 5 { // 15 minutes at 5 samples/s
		h.now = h.now.Add(200 * ms)
		for i := range h.c.refl {
			h.c.Observe(i, h.base, h.now)
		}
	}
	d := h.c.Step(h.now)
	if d.Baseline < 37*ms {
		t.Fatalf("after 15 minutes the baseline is %v, want within 3 ms of 40ms", d.Baseline)
	}
}

func TestBaselineRiseIgnoresSilence(t *testing.T) {
	c := NewController(testWAN())
	c.Observe(0, 20*ms, t0)
	// The reflector is silent for 10 minutes and comes back loaded: the
	// silence must not count as 10 minutes of rise.
	c.Observe(0, 120*ms, t0.Add(10*time.Minute))
	if b := c.Snapshot().Reflectors[0].Baseline; b > 21*ms {
		t.Fatalf("baseline jumped to %v after a silence", b)
	}
}

func TestLoadedDeltaUsesRealDt(t *testing.T) {
	// Irregular cadence must land where a regular one does for a constant
	// input: alpha = 1 - exp(-dt/tc) composes over time.
	w := testWAN()
	w.Thresholds.BaselineRiseTimeConstant = 1e6 * time.Second // keep the raw delta constant
	run := func(steps []time.Duration) time.Duration {
		c := NewController(w)
		now := t0
		// Three reflectors answer every cycle: the raw delta (the median
		// of the three newest replies) is 30 ms from the first step on.
		for i := range 3 {
			c.Observe(i, 20*ms, now)
		}
		c.Step(now)
		var d Decision
		for _, dt := range steps {
			now = now.Add(dt)
			for i := range 3 {
				c.Observe(i, 50*ms, now)
			}
			d = c.Step(now)
		}
		return d.Delta
	}
	regular := run([]time.Duration{50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms})
	irregular := run([]time.Duration{10 * ms, 140 * ms, 30 * ms, 70 * ms, 50 * ms})
	if d := regular - irregular; d < -time.Microsecond || d > time.Microsecond {
		t.Fatalf("regular %v, irregular %v", regular, irregular)
	}
	want := time.Duration(float64(30*ms) * (1 - math.Exp(-300.0/250)))
	if d := regular - want; d < -time.Microsecond || d > time.Microsecond {
		t.Fatalf("loaded delta %v, want %v", regular, want)
	}
}

func TestStaleReflectorsExcluded(t *testing.T) {
	w := testWAN() // 4 reflectors at 20/s: 200 ms each, stale after 500 ms
	if got := StaleAfter(&w.Measurement); got != 500*ms {
		t.Fatalf("StaleAfter %v", got)
	}
	w.Measurement.PingRate = 2 // 2 s each: stale after 5 s
	if got := StaleAfter(&w.Measurement); got != 5*time.Second {
		t.Fatalf("StaleAfter %v", got)
	}
	c := NewController(testWAN())
	for i := range 4 {
		c.Observe(i, 20*ms, t0)
	}
	c.Observe(0, 100*ms, t0.Add(400*ms)) // only reflector 0 fresh at +900ms
	d := c.Step(t0.Add(900 * ms))
	if d.Fresh != 1 || d.RawDelta != 80*ms {
		t.Fatalf("fresh %d raw %v, want 1 and 80ms", d.Fresh, d.RawDelta)
	}
	d = c.Step(t0.Add(901 * ms))
	if d.Fresh != 0 || d.Signal {
		t.Fatalf("all stale: %+v", d)
	}
}

func TestMedianRobustToOneBadReflector(t *testing.T) {
	for _, n := range []int{3, 4} {
		w := testWAN()
		w.Measurement.Reflectors = w.Measurement.Reflectors[:n]
		c := NewController(w)
		for i := range n {
			c.Observe(i, 20*ms, t0)
		}
		for i := range n {
			rtt := 21 * ms
			if i == 1 {
				rtt = 300 * ms // one reflector deprioritises ICMP
			}
			c.Observe(i, rtt, t0.Add(50*ms))
		}
		d := c.Step(t0.Add(50 * ms))
		if d.RawDelta != ms {
			t.Fatalf("%d reflectors: median delta %v, want 1ms", n, d.RawDelta)
		}
	}
}

// silence runs n cycles in which no reflector answers.
func (h *harness) silence(n int) Decision {
	var d Decision
	for range n {
		h.now = h.now.Add(50 * ms)
		d = h.c.Step(h.now)
	}
	return d
}

func TestNoSignalHolds(t *testing.T) {
	h := newHarness(t, instantWAN())
	h.cycles(40, 100*ms) // RED for 2 s: ~450M
	d := h.cycle(0)
	if d.Download.Zone != Green || d.Download.Rate > 500e6 {
		t.Fatalf("setup %+v", d.Download)
	}
	// Silence in GREEN: the last replies count for 500 ms (the rate may
	// step up on them), then the rate holds, never raised, for as long as
	// the silence lasts.
	d = h.silence(11)
	held := d.Download.Rate
	for i := range 100 {
		d = h.silence(1)
		if d.Signal || d.Download.Action != NoSignal || d.Download.Rate != held || d.Download.Changed || d.Download.Zone != Green {
			t.Fatalf("cycle %d without signal: %+v", i, d)
		}
	}
	// Signal back and clean: green_required GREEN cycles are rebuilt
	// from real measurements before any raise.
	for i := 1; i <= 5; i++ {
		d = h.cycle(0)
		if i < 5 && d.Download.Rate != held {
			t.Fatalf("raised %d cycles after the signal returned", i)
		}
	}
	if d.Download.Rate != held+15e6 {
		t.Fatalf("rate %d after 5 GREEN cycles, want %d", d.Download.Rate, held+15e6)
	}

	// Silence in YELLOW: held.
	h.cycles(3, 20*ms)
	y := h.cycle(20 * ms).Download.Rate
	h.silence(10)
	if d = h.silence(100); d.Download.Rate >= y || d.Download.Zone != Yellow {
		// the first 10 cycles may still decrease on the last fresh delta
		t.Fatalf("YELLOW silence: %+v", d.Download)
	}
	y = d.Download.Rate
	if d = h.silence(100); d.Download.Rate != y {
		t.Fatalf("YELLOW silence moved the rate: %d -> %d", y, d.Download.Rate)
	}
}

// Losing every reply while RED is the bloat outgrowing the ping timeout:
// the decrease goes on to the floor instead of holding a bloated rate.
func TestNoSignalInRedKeepsDecreasing(t *testing.T) {
	h := newHarness(t, instantWAN())
	h.cycle(500 * ms)
	d := h.silence(11)
	if d.Signal || d.Download.Zone != Red {
		t.Fatalf("setup %+v", d)
	}
	r := d.Download.Rate
	d = h.silence(6) // 300 ms: one refractory later
	// The silent queue is longer than the ping timeout: each decrease
	// halves the rate (1 - MaxDrainMargin; factor_down would take seconds).
	if want := max(200e6, int64(float64(r)*(1-MaxDrainMargin))); d.Download.Rate != want || d.Download.Zone != Red {
		t.Fatalf("RED without signal: %d, want %d", d.Download.Rate, want)
	}
	d = h.silence(400)
	if d.Download.Rate != 200e6 || d.Upload.Rate != 8e6 || d.Download.Action != NoSignal {
		t.Fatalf("RED silence ends at the floors: %+v", d)
	}
	// SOFT_RED without signal: clamped to its floor and held.
	h2 := newHarness(t, instantWAN())
	h2.cycle(50 * ms)
	if d = h2.silence(200); d.Download.Rate != 275e6 || d.Download.Zone != SoftRed {
		t.Fatalf("SOFT_RED silence %+v", d.Download)
	}
}

func TestZonesDownload(t *testing.T) {
	tests := []struct {
		name  string
		seq   []time.Duration // loaded deltas, one per cycle
		zones []Zone          // zone after each cycle
	}{
		{"green", []time.Duration{0, 10 * ms, 14900 * time.Microsecond}, []Zone{Green, Green, Green}},
		{"red at once", []time.Duration{81 * ms}, []Zone{Red}},
		{"soft red at once", []time.Duration{46 * ms}, []Zone{SoftRed}},
		{"warn boundary is not soft red", []time.Duration{44 * ms}, []Zone{Green}},
		{"yellow after dwell", []time.Duration{20 * ms, 20 * ms, 20 * ms, 20 * ms}, []Zone{Green, Green, Yellow, Yellow}},
		{"dwell broken", []time.Duration{20 * ms, 20 * ms, 5 * ms, 20 * ms, 20 * ms, 20 * ms}, []Zone{Green, Green, Green, Green, Green, Yellow}},
		{"deadband holds yellow", []time.Duration{20 * ms, 20 * ms, 20 * ms, 14 * ms, 14500 * time.Microsecond, 11900 * time.Microsecond}, []Zone{Green, Green, Yellow, Yellow, Yellow, Green}},
		{"red down to yellow", []time.Duration{90 * ms, 20 * ms}, []Zone{Red, Yellow}},
		{"red through deadband", []time.Duration{90 * ms, 13 * ms, 5 * ms}, []Zone{Red, Yellow, Green}},
		{"soft red to red", []time.Duration{50 * ms, 85 * ms, 50 * ms}, []Zone{SoftRed, Red, SoftRed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, instantWAN())
			for i, d := range tt.seq {
				got := h.cycle(d).Download.Zone
				if got != tt.zones[i] {
					t.Fatalf("cycle %d (delta %v): zone %v, want %v", i, d, got, tt.zones[i])
				}
			}
		})
	}
}

func TestZonesUpload(t *testing.T) {
	h := newHarness(t, instantWAN())
	for _, tc := range []struct {
		delta time.Duration
		want  Zone
	}{{46 * ms, Red}, {90 * ms, Red}, {30 * ms, Yellow}, {13 * ms, Yellow}, {5 * ms, Green}, {44 * ms, Green}, {44 * ms, Green}, {44 * ms, Yellow}} {
		if got := h.cycle(tc.delta).Upload.Zone; got != tc.want {
			t.Fatalf("delta %v: upload zone %v, want %v", tc.delta, got, tc.want)
		}
	}
}

func TestRedDecreasesToFloor(t *testing.T) {
	h := newHarness(t, instantWAN())
	d := h.cycle(100 * ms)
	if d.Download.Rate != 846e6 || d.Download.Action != Decrease || !d.Download.Changed {
		t.Fatalf("first RED: %+v", d.Download)
	}
	if d.Upload.Rate != int64(float64(38e6)*0.85) {
		t.Fatalf("upload after RED %d", d.Upload.Rate)
	}
	// Refractory: the next RED cycles within 300 ms hold.
	for i := range 5 {
		if d = h.cycle(100 * ms); d.Download.Rate != 846e6 {
			t.Fatalf("cycle %d in refractory: %d", i, d.Download.Rate)
		}
	}
	if d = h.cycle(100 * ms); d.Download.Rate != int64(846e6*0.9) {
		t.Fatalf("after refractory: %d", d.Download.Rate)
	}
	for range 200 {
		d = h.cycle(100 * ms)
	}
	if d.Download.Rate != 200e6 || d.Upload.Rate != 8e6 {
		t.Fatalf("sustained RED: %d / %d, want the red floors", d.Download.Rate, d.Upload.Rate)
	}
}

func TestSoftRedClampsAndHolds(t *testing.T) {
	h := newHarness(t, instantWAN())
	d := h.cycle(50 * ms)
	if d.Download.Rate != 275e6 || d.Download.Zone != SoftRed {
		t.Fatalf("SOFT_RED: %+v", d.Download)
	}
	for range 100 {
		if d = h.cycle(50 * ms); d.Download.Rate != 275e6 || d.Download.Changed {
			t.Fatalf("SOFT_RED decayed: %+v", d.Download)
		}
	}
}

func TestFloorsAreNotTargets(t *testing.T) {
	// Drive the rate to the red floor, then let the delta sit in SOFT_RED
	// and YELLOW: neither may raise it to its own (higher) floor.
	h := newHarness(t, instantWAN())
	var d Decision
	for range 300 {
		d = h.cycle(100 * ms)
	}
	if d.Download.Rate != 200e6 {
		t.Fatalf("rate %d, want the red floor", d.Download.Rate)
	}
	for _, delta := range []time.Duration{50 * ms, 20 * ms} {
		for range 40 {
			d = h.cycle(delta)
			if d.Download.Rate != 200e6 {
				t.Fatalf("delta %v (%v) moved the rate to %d", delta, d.Download.Zone, d.Download.Rate)
			}
		}
	}
}

func TestYellowDecreasesToFloor(t *testing.T) {
	h := newHarness(t, instantWAN())
	h.cycles(2, 20*ms) // dwell
	d := h.cycle(20 * ms)
	if d.Download.Zone != Yellow || d.Download.Rate != int64(940e6*0.96) {
		t.Fatalf("YELLOW: %+v", d.Download)
	}
	for range 1000 {
		d = h.cycle(20 * ms)
	}
	if d.Download.Rate != 350e6 || d.Upload.Rate != 20e6 {
		t.Fatalf("sustained YELLOW: %d / %d, want the yellow floors", d.Download.Rate, d.Upload.Rate)
	}
}

func TestWorseZoneActsAtOnce(t *testing.T) {
	h := newHarness(t, instantWAN())
	h.cycles(2, 20*ms)
	d := h.cycle(20 * ms) // YELLOW decrease
	r := d.Download.Rate
	d = h.cycle(100 * ms) // RED within the refractory: acts at once
	if d.Download.Rate != int64(float64(r)*0.9) {
		t.Fatalf("RED after YELLOW: %d, want %d", d.Download.Rate, int64(float64(r)*0.9))
	}
	r = d.Download.Rate
	d = h.cycle(20 * ms) // better zone within the refractory of RED: waits
	if d.Download.Rate != r || d.Download.Zone != Yellow {
		t.Fatalf("YELLOW right after RED: %+v", d.Download)
	}
}

func TestGreenStepsUpToCeiling(t *testing.T) {
	h := newHarness(t, instantWAN())
	h.cycle(100 * ms) // 846M
	for i := 1; i <= 4; i++ {
		if d := h.cycle(0); d.Download.Rate != 846e6 || d.Download.GreenStreak != i {
			t.Fatalf("GREEN cycle %d: %+v", i, d.Download)
		}
	}
	d := h.cycle(0)
	if d.Download.Rate != 861e6 || d.Download.Action != Increase {
		t.Fatalf("5th GREEN cycle: %+v", d.Download)
	}
	d = h.cycle(0)
	if d.Download.Rate != 876e6 {
		t.Fatalf("6th GREEN cycle: %d (steps every cycle once green_required is met)", d.Download.Rate)
	}
	d = h.cycles(10, 0)
	if d.Download.Rate != 940e6 || d.Upload.Rate != 38e6 {
		t.Fatalf("ceiling: %d / %d", d.Download.Rate, d.Upload.Rate)
	}
	if d = h.cycle(0); d.Download.Changed || d.Download.Action != Hold {
		t.Fatalf("at the ceiling: %+v", d.Download)
	}
}

func TestDwellCyclesDoNotCountAsGreen(t *testing.T) {
	h := newHarness(t, instantWAN())
	h.cycle(100 * ms)
	h.cycles(4, 0)
	d := h.cycle(20 * ms) // raw YELLOW, still shown GREEN during dwell
	if d.Download.Zone != Green || d.Download.GreenStreak != 0 || d.Download.Changed {
		t.Fatalf("dwell cycle: %+v", d.Download)
	}
}

func TestReconfigureKeepsStateAndClamps(t *testing.T) {
	h := newHarness(t, instantWAN())
	h.cycle(100 * ms)
	before := h.c.Snapshot()
	w := instantWAN()
	w.Download.Ceiling = 500e6
	w.Download.Floor = config.Floors{Green: 400e6, Yellow: 300e6, SoftRed: 250e6, Red: 100e6}
	w.Measurement.Reflectors = append(w.Measurement.Reflectors[1:], netip.MustParseAddr("4.2.2.2"))
	h.c.Reconfigure(w)
	s := h.c.Snapshot()
	if s.Download.Rate != 500e6 || s.Upload.Rate != before.Upload.Rate || s.Download.Zone != Red {
		t.Fatalf("after reconfigure: %+v", s)
	}
	if s.Reflectors[0].Addr != before.Reflectors[1].Addr || s.Reflectors[0].Baseline != before.Reflectors[1].Baseline {
		t.Fatalf("baseline of a kept reflector lost: %+v", s.Reflectors)
	}
	if s.Reflectors[3].Baseline != 0 {
		t.Fatalf("new reflector has a baseline: %+v", s.Reflectors[3])
	}
}

func TestRestoreClamps(t *testing.T) {
	c := NewController(testWAN())
	c.Restore(Snapshot{
		Download:   DirSnapshot{Zone: Yellow, Rate: 10e6},
		Upload:     DirSnapshot{Zone: SoftRed, Rate: 99e9},
		Reflectors: []ReflectorSnapshot{{Addr: netip.MustParseAddrPort("9.9.9.9:0"), Baseline: 17 * ms}, {Addr: netip.MustParseAddrPort("7.7.7.7:0"), Baseline: 3 * ms}},
	})
	s := c.Snapshot()
	if s.Download.Rate != 200e6 || s.Upload.Rate != 38e6 || s.Download.Zone != Yellow || s.Upload.Zone != Red {
		t.Fatalf("restored %+v", s)
	}
	if s.Reflectors[2].Baseline != 17*ms || s.Baseline != 17*ms {
		t.Fatalf("baselines %+v", s.Reflectors)
	}
	c.Restore(Snapshot{})
	if s = c.Snapshot(); s.Download.Rate != 940e6 {
		t.Fatalf("unknown rate restored as %d, want the ceiling", s.Download.Rate)
	}
}

func TestDeterministic(t *testing.T) {
	run := func() []Decision {
		h := newHarness(t, testWAN())
		var out []Decision
		for i := range 400 {
			d := time.Duration((i*7919)%97) * ms
			out = append(out, h.cycle(d))
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("cycle %d differs: %+v vs %+v", i, a[i], b[i])
		}
	}
}

func TestStepDoesNotAllocate(t *testing.T) {
	h := newHarness(t, testWAN())
	allocs := testing.AllocsPerRun(1000, func() { h.cycle(7 * ms) })
	if allocs != 0 {
		t.Fatalf("Observe+Step allocate %v times per cycle", allocs)
	}
	w := testWAN()
	w.Measurement.Timestamps = true
	c, now := NewController(w), t0
	allocs = testing.AllocsPerRun(1000, func() {
		now = now.Add(50 * ms)
		c.ObserveOneWay(0, 27*ms, 17*ms, 10*ms, now)
		c.Step(now)
	})
	if allocs != 0 {
		t.Fatalf("ObserveOneWay+Step allocate %v times per cycle", allocs)
	}
}

func BenchmarkControllerStep(b *testing.B) {
	c := NewController(testWAN())
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(50 * ms)
		// One reply per cycle (20/s over 4 reflectors at 20 Hz cycles).
		c.Observe(i%4, 20*ms+time.Duration(i%13)*ms, now)
		c.Step(now)
	}
}

// BenchmarkControllerStepLoaded is the costly case: the delay rising
// (growth estimates, decreases) and six requests in flight every cycle,
// reported through ResetPending/Pending as the Loop does; with timestamps
// (measurement.timestamps) each leg has its own.
func BenchmarkControllerStepLoaded(b *testing.B) {
	for _, stamped := range []bool{false, true} {
		name := "round-trips"
		if stamped {
			name = "timestamps"
		}
		b.Run(name, func(b *testing.B) {
			w := testWAN()
			w.Measurement.Timestamps = stamped
			c := NewController(w)
			now := t0
			for i := range 4 {
				c.ObserveOneWay(i, 20*ms, 10*ms, 10*ms, now)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				now = now.Add(50 * ms)
				q := time.Duration(i%40) * 5 * ms // a queue growing 0.1 ms/ms, then gone
				c.ObserveOneWay(i%4, 20*ms+q, 10*ms+q, 10*ms, now)
				c.ResetPending()
				for k := range 6 {
					c.Pending((i+k)%4, now.Add(-time.Duration(k)*50*ms))
				}
				c.SetApplied(false, c.Rate(false), now)
				c.SetApplied(true, c.Rate(true), now)
				c.Step(now)
			}
		})
	}
}

func TestTCPFallbackSources(t *testing.T) {
	w := instantWAN()
	w.Measurement.TCPFallback = []netip.AddrPort{netip.MustParseAddrPort("1.1.1.1:443"), netip.MustParseAddrPort("8.8.8.8:443")}
	c := NewController(w)
	if c.Sources() != 6 {
		t.Fatalf("sources %d", c.Sources())
	}
	if i := c.SourceIndex(netip.MustParseAddr("1.1.1.1"), false); i != 0 {
		t.Fatalf("ICMP 1.1.1.1 -> %d", i)
	}
	if i := c.SourceIndex(netip.MustParseAddr("8.8.8.8"), true); i != 5 {
		t.Fatalf("TCP 8.8.8.8 -> %d", i)
	}
	if i := c.SourceIndex(netip.MustParseAddr("9.9.9.9"), true); i != -1 {
		t.Fatalf("TCP 9.9.9.9 -> %d", i)
	}
	now := t0
	for i := range 4 {
		c.Observe(i, 20*ms, now)
	}
	c.Step(now)
	// ICMP blackout: only the TCP targets answer, with their own (higher)
	// baselines; the signal continues and congestion is still seen.
	for k := range 40 {
		now = now.Add(50 * ms)
		rtt := 45 * ms
		if k >= 20 {
			rtt = 145 * ms
		}
		c.Observe(4+k%2, rtt, now)
		d := c.Step(now)
		if !d.Signal {
			t.Fatalf("cycle %d: no signal with TCP replies", k)
		}
		if k == 39 && (d.Download.Zone != Red || d.Fresh != 2) {
			t.Fatalf("blackout with TCP bloat: %+v", d)
		}
	}
	s := c.Snapshot()
	if b := s.Reflectors[4].Baseline; b < 45*ms || b > 46*ms || s.Reflectors[0].Baseline != 20*ms {
		t.Fatalf("baselines %+v", s.Reflectors)
	}
}

// While only the TCP fallback measures (a few connects a second), a probe's
// overshoot would show too late: GREEN holds instead of climbing, and
// climbs again once the reflectors answer.
func TestNoIncreaseOnTCPFallbackAlone(t *testing.T) {
	w := instantWAN()
	w.Measurement.TCPFallback = []netip.AddrPort{netip.MustParseAddrPort("1.1.1.1:443"), netip.MustParseAddrPort("8.8.8.8:443")}
	c := NewController(w)
	c.Restore(Snapshot{Download: DirSnapshot{Rate: 500e6}, Upload: DirSnapshot{Rate: 20e6}})
	now := t0
	c.SetApplied(false, 500e6, now)
	c.SetApplied(true, 20e6, now)
	for i := range 4 {
		c.Observe(i, 20*ms, now)
	}
	c.Step(now)
	for k := range 40 { // 2 s of blackout, GREEN on the TCP targets
		now = now.Add(50 * ms)
		c.Observe(4+k%2, 45*ms, now)
		d := c.Step(now)
		if d.Download.Zone != Green || d.Download.Rate != 500e6 || d.Upload.Rate != 20e6 {
			t.Fatalf("cycle %d of the blackout: %+v", k, d)
		}
	}
	for range 20 { // the reflectors answer again
		now = now.Add(50 * ms)
		for i := range 4 {
			c.Observe(i, 20*ms, now)
		}
		c.Step(now)
	}
	if c.Rate(false) <= 500e6 {
		t.Fatalf("no climb after the blackout: %d", c.Rate(false))
	}
}

// Through an ICMP blackout the TCP fallback's few connects a second never
// fit a growth: a RED that the queue keeps feeding must still repeat once
// the repeat gate's wait is over, not hold the rate above the capacity for
// the whole blackout.
func TestFallbackRedRepeats(t *testing.T) {
	w := instantWAN()
	w.Measurement.TCPFallback = []netip.AddrPort{netip.MustParseAddrPort("1.1.1.1:443"), netip.MustParseAddrPort("8.8.8.8:443")}
	c := NewController(w)
	now := t0
	c.SetApplied(false, c.Rate(false), now)
	c.SetApplied(true, c.Rate(true), now)
	for i := range 4 {
		c.Observe(i, 20*ms, now)
	}
	c.Step(now)
	// The blackout: the TCP targets answer 5 times a second, their queue
	// growing 10 ms a second above a standing 120 ms.
	var cuts []int64
	prev := c.Rate(true)
	for k := range 100 { // 5 s
		now = now.Add(50 * ms)
		if k%4 == 0 {
			c.Observe(4+(k/4)%2, 45*ms+120*ms+time.Duration(k)*500*time.Microsecond, now)
		}
		d := c.Step(now)
		c.SetApplied(false, d.Download.Rate, now)
		c.SetApplied(true, d.Upload.Rate, now)
		if d.Upload.Rate < prev {
			cuts = append(cuts, d.Upload.Rate)
		}
		prev = d.Upload.Rate
	}
	if len(cuts) < 3 {
		t.Fatalf("upload cuts through 5 s of a growing queue on the TCP fallback: %v", cuts)
	}
}
