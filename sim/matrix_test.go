package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

// simpleFactory is a second policy (the crude delay controller of
// policy_test.go) so the matrix is exercised with more than one, as the
// peer policy will be.
var simpleFactory = PolicyFactory{Name: "simple", New: func(_ *config.WAN, o Options) (Policy, error) {
	return newTestPolicy(o.Ceiling, o.Reflectors, o.TargetBloat), nil
}}

// bloatsWhileLoaded lists the scenarios whose capacity falls below the
// ceiling (90 % of nominal) for seconds while loaded: there a shaper at
// the ceiling fills the ISP buffer, or starts to.
var bloatsWhileLoaded = []string{"step-drop", "cable-evening", "lte", "idle-then-burst", "icmp-blackout",
	"download-only", "upload-only", "idle-rise", "app-limited"}

// TestMatrix plays a sample of the robustness matrix that fits in CI
// (every scenario, three points: the centre (simulate's defaults), the
// centre under saturating load with a 300 ms buffer, and the harsh
// corner; 30 s runs; two policies) and checks what must hold whatever the controller: every cell
// ran every shaper, the summaries add up, the oracle meets its own bar
// with its delay CAKE's alone, and a fixed shaper misses the delay bar
// wherever the capacity falls below it under load. It does not ask
// wanctl to meet the bar: `wanctl simulate -matrix` measures how often it
// does (BENCHMARKS.md, "Bench v2"). -v prints the tables.
func TestMatrix(t *testing.T) {
	w, interval := defaultWAN(t)
	saturating := MatrixCentre()
	saturating.Load, saturating.ISPBuffer = LoadSaturating, 300*time.Millisecond
	corner := MatrixPoint{Jitter: 5 * time.Millisecond, BaseRTT: 60 * time.Millisecond, WriteLatency: 150 * time.Millisecond,
		PingRate: 10, Load: LoadElastic, ISPBuffer: 300 * time.Millisecond}
	cfg := MatrixConfig{
		WAN: w, Interval: interval, Scenarios: ScenarioNames(),
		Points:   []MatrixPoint{MatrixCentre(), saturating, corner},
		Seeds:    []int64{1},
		Duration: 30 * time.Second,
		Policies: []PolicyFactory{WanctlFactory(), simpleFactory},
	}
	start := time.Now()
	m, err := RunMatrix(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cells in %v", len(m.Cells), time.Since(start).Round(time.Millisecond))

	if want := len(cfg.Scenarios) * len(cfg.Points) * len(cfg.Seeds); len(m.Cells) != want {
		t.Fatalf("%d cells, want %d", len(m.Cells), want)
	}
	if !slices.Equal(m.Shapers(), []string{"wanctl", "simple", "fixed", "oracle"}) {
		t.Errorf("shapers %v", m.Shapers())
	}
	target := 2 * ms(m.TargetBloat)
	for i := range m.Cells {
		c := &m.Cells[i]
		what := c.Scenario + ", " + c.Point.String()
		if want := cfg.Scenarios[i/len(cfg.Points)]; c.Scenario != want || c.Point != cfg.Points[i%len(cfg.Points)] {
			t.Fatalf("cell %d is %s, want %s in matrix order", i, what, want)
		}
		if len(c.Policies) != 2 {
			t.Fatalf("%s: %d policy runs", what, len(c.Policies))
		}
		for _, sh := range m.Shapers() {
			s := m.Scores(c, sh)
			for d := range Dir(2) {
				loaded := c.Oracle[d].Utilisation > 0
				if want := !strings.HasSuffix(c.Scenario, "-only") || strings.HasPrefix(c.Scenario, d.String()); loaded != want {
					t.Errorf("%s: %s loaded %v, want %v", what, d, loaded, want)
				}
				if loaded && s[d].Utilisation <= 0 {
					t.Errorf("%s: %s %s did not run: %+v", what, sh, d, s[d])
				}
			}
		}
		if !m.Met(c, "oracle") {
			t.Errorf("%s: the oracle misses its own bar", what)
		}
		for d := range Dir(2) {
			// An elastic download meets the ISP FIFO before the oracle's
			// CAKE: slow-start bursts and capacity drops queue there
			// whatever the oracle does (TestTandem*).
			if d == Download && c.Point.Load == LoadElastic {
				continue
			}
			if p99 := c.Oracle[d].AddedDelayMS.P99; p99 > 3 {
				t.Errorf("%s: oracle %s p99 %.1f ms, want CAKE's own delay only", what, d, p99)
			}
		}
		// Against 2 x target, not the bar (which adds the oracle's p99): in
		// a 30 s download-only run the oracle's download p99 carries the
		// load onset's slow-start burst at the ISP (about 20 ms), and the
		// fixed shaper's ISP queue after the drop grows at CUBIC's pace
		// (about 50 ms by the end of the 9 s drop).
		if slices.Contains(bloatsWhileLoaded, c.Scenario) &&
			c.Fixed[Download].AddedDelayMS.P99 <= target && c.Fixed[Upload].AddedDelayMS.P99 <= target {
			t.Errorf("%s: the fixed shaper's p99 %.1f / %.1f ms stays within 2 x target_bloat (%.0f ms)",
				what, c.Fixed[Download].AddedDelayMS.P99, c.Fixed[Upload].AddedDelayMS.P99, target)
		}
	}

	sums := m.Summaries()
	if want := (len(cfg.Scenarios) + 1) * len(m.Shapers()); len(sums) != want {
		t.Fatalf("%d summaries, want %d", len(sums), want)
	}
	for _, s := range sums {
		runs := len(cfg.Points) * len(cfg.Seeds)
		if s.Scenario == "all" {
			runs *= len(cfg.Scenarios)
		}
		if s.Runs != runs || s.Met < 0 || s.Met > s.Runs || s.Fraction < 0 || s.Fraction > 1 || s.Fraction != float64(s.Met)/float64(s.Runs) {
			t.Errorf("summary %+v: want %d runs and a fraction of them in [0, 1]", s, runs)
		}
		if s.Shaper == "oracle" && s.Fraction != 1 {
			t.Errorf("oracle on %s: %v of the runs meet its own bar", s.Scenario, s.Fraction)
		}
		// The worst event after the first: a median only where the
		// scenario has a second event in the direction, never more than
		// the worst event's (every run of a scenario has the same events).
		if s.Scenario != "all" {
			sc, err := NewScenario(s.Scenario, NominalCapacity(w), cfg.Duration, cfg.Seeds[0])
			if err != nil {
				t.Fatal(err)
			}
			later := [2]float64{s.AboveLaterS.Download, s.AboveLaterS.Upload}
			worst := [2]float64{s.AboveMaxS.Download, s.AboveMaxS.Upload}
			for d := range Dir(2) {
				if want := len(sc.Loaded[d]) > 0 && len(recoveryEvents(sc, d)) > 1; math.IsNaN(later[d]) == want {
					t.Errorf("%s %s %s: later events' median %v, want one: %v", s.Scenario, s.Shaper, d, later[d], want)
				} else if want && later[d] > worst[d]+1e-9 {
					t.Errorf("%s %s %s: later events' median %v above the worst event's %v", s.Scenario, s.Shaper, d, later[d], worst[d])
				}
			}
		}
		// Every run counts for the writes, loaded or not: wanctl writes at
		// least its first rate, the references none.
		w := s.WritesPerHour
		reference := s.Shaper == "oracle" || s.Shaper == "fixed"
		if math.IsNaN(w.Download) || math.IsNaN(w.Upload) || (reference && w != DirMedians{}) || (s.Shaper == "wanctl" && (w.Download <= 0 || w.Upload <= 0)) {
			t.Errorf("summary %s %s: writes/h %+v", s.Scenario, s.Shaper, w)
		}
	}
	for _, f := range m.ByFactor() {
		if f.Runs == 0 || f.Fraction < 0 || f.Fraction > 1 {
			t.Errorf("by factor %+v", f)
		}
	}

	var js, txt bytes.Buffer
	rep := m.Report()
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatalf("matrix JSON: %v", err)
	}
	if doc["cells"] != float64(len(m.Cells)) || len(doc["summary"].([]any)) != len(sums) {
		t.Errorf("matrix JSON: cells %v, %d summaries", doc["cells"], len(doc["summary"].([]any)))
	}
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	for _, want := range append(ScenarioNames(), "all", "wanctl", "simple", "fixed", "oracle", "write_latency", "150ms") {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("matrix table lacks %q", want)
		}
	}
	t.Log("\n" + txt.String())
}

// The outcome does not depend on how many cells run at once.
func TestMatrixSameForAnyWorkers(t *testing.T) {
	w, interval := defaultWAN(t)
	run := func(workers int) *Matrix {
		m, err := RunMatrix(context.Background(), MatrixConfig{
			WAN: w, Interval: interval, Scenarios: []string{"step-drop", "lte"},
			Points: MatrixSample(2, 1)[9:13], Seeds: []int64{1, 2}, Duration: 10 * time.Second,
			Policies: []PolicyFactory{WanctlFactory()}, Workers: workers,
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	one, three := run(1), run(3)
	if !reflect.DeepEqual(one, three) {
		t.Error("the matrix differs between 1 and 3 workers")
	}
}

func TestMatrixSample(t *testing.T) {
	pts := MatrixSample(12, 1)
	if len(pts) != 15+12 || pts[0] != MatrixCentre() {
		t.Fatalf("%d points, first %v: want the centre, 14 one-factor-at-a-time points, 12 of the hypercube", len(pts), pts[0])
	}
	// One factor at a time: each of points 1..14 differs from the centre
	// in exactly one factor.
	for _, p := range pts[1:15] {
		diff := 0
		for _, f := range matrixFactors {
			if f.level(p) != f.level(MatrixCentre()) {
				diff++
			}
		}
		if diff != 1 {
			t.Errorf("%v differs from the centre in %d factors", p, diff)
		}
	}
	// The hypercube: each factor's levels equally often (±1).
	for _, f := range matrixFactors {
		count := map[string]int{}
		for _, p := range pts[15:] {
			count[f.level(p)]++
		}
		if len(count) != f.n {
			t.Errorf("%s: levels %v in the hypercube, want all %d", f.name, count, f.n)
		}
		for l, n := range count {
			if n < 12/f.n || n > 12/f.n+1 {
				t.Errorf("%s level %s %d times in 12 points", f.name, l, n)
			}
		}
	}
	if !reflect.DeepEqual(MatrixSample(12, 1), pts) || reflect.DeepEqual(MatrixSample(12, 2), pts) {
		t.Error("the hypercube is not a function of its seed")
	}
	full := MatrixFull()
	seen := map[MatrixPoint]bool{}
	for _, p := range full {
		seen[p] = true
	}
	if len(full) != 432 || len(seen) != 432 {
		t.Errorf("full product: %d points, %d distinct, want 432", len(full), len(seen))
	}
}

func TestMatrixErrors(t *testing.T) {
	w, interval := defaultWAN(t)
	base := MatrixConfig{WAN: w, Interval: interval, Scenarios: []string{"steady"}, Points: []MatrixPoint{MatrixCentre()},
		Seeds: []int64{1}, Duration: 10 * time.Second}
	for _, tc := range []struct {
		name     string
		policies []PolicyFactory
		want     string
	}{
		{"no policy", nil, "needs"},
		{"reserved name", []PolicyFactory{{Name: "oracle", New: simpleFactory.New}}, `policy "oracle"`},
		{"duplicate", []PolicyFactory{simpleFactory, simpleFactory}, `policy "simple"`},
		{"failing constructor", []PolicyFactory{{Name: "broken", New: func(*config.WAN, Options) (Policy, error) {
			return nil, errors.New("no such thing")
		}}}, "policy broken: no such thing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.Policies = tc.policies
			if _, err := RunMatrix(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := base
	cfg.Policies = []PolicyFactory{simpleFactory}
	if _, err := RunMatrix(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// The matrix's centre is wanctl simulate's default run: the same scores
// as Evaluate with the WAN's options.
func TestMatrixCentreIsTheDefaultRun(t *testing.T) {
	w, interval := defaultWAN(t)
	m, err := RunMatrix(context.Background(), MatrixConfig{
		WAN: w, Interval: interval, Scenarios: []string{"lte"}, Points: []MatrixPoint{MatrixCentre()},
		Seeds: []int64{3}, Duration: 20 * time.Second, Policies: []PolicyFactory{WanctlFactory()},
	})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := NewScenario("lte", NominalCapacity(w), 20*time.Second, 3)
	p, _ := NewWanctl(w)
	res, err := Evaluate(sc, OptionsFromWAN(w, interval), p)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Cells[0]
	for d := range Dir(2) {
		if !reflect.DeepEqual(c.Policies[0][d], res.Wanctl.Dirs[d].Scores) || !reflect.DeepEqual(c.Oracle[d], res.Oracle.Dirs[d].Scores) || !reflect.DeepEqual(c.Fixed[d], res.Fixed.Dirs[d].Scores) {
			t.Errorf("%s: matrix centre %+v / %+v / %+v, Evaluate %+v / %+v / %+v", d, c.Policies[0][d], c.Oracle[d], c.Fixed[d],
				res.Wanctl.Dirs[d].Scores, res.Oracle.Dirs[d].Scores, res.Fixed.Dirs[d].Scores)
		}
	}
}

// The matrix's bound: a delayed oracle that knows the capacity at once
// meets the bar on a drop; one that knows it seconds late cannot, whatever
// its factor; a bad bound is refused.
func TestMatrixBound(t *testing.T) {
	w, interval := defaultWAN(t)
	sat := MatrixCentre()
	sat.Load = LoadSaturating
	cfg := MatrixConfig{WAN: w, Interval: interval, Scenarios: []string{"step-drop"}, Points: []MatrixPoint{sat},
		Seeds: []int64{1}, Duration: 30 * time.Second, Policies: []PolicyFactory{simpleFactory}}
	met := func(lag time.Duration) (*Matrix, bool) {
		t.Helper()
		c := cfg
		c.Bound = &MatrixBound{Lag: lag, Factors: MatrixBoundFactors}
		m, err := RunMatrix(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(m.Shapers(), "bound") {
			t.Fatalf("shapers %v", m.Shapers())
		}
		return m, m.Met(&m.Cells[0], "bound")
	}
	m, ok := met(0)
	if !ok {
		t.Errorf("a shaper that knows the capacity at once misses the bar: %+v (oracle %+v)", m.Cells[0].Bound, m.Cells[0].Oracle)
	}
	if !slices.ContainsFunc(m.ByFactor(), func(f FactorSummary) bool { return f.Shaper == "bound" && f.Runs == 1 && f.Met == 1 }) {
		t.Errorf("by factor lacks the bound: %+v", m.ByFactor())
	}
	if m, ok := met(3 * time.Second); ok {
		t.Errorf("a shaper 3 s late through a drop to 40 %% under saturating load meets the bar: %+v", m.Cells[0].Bound)
	}
	plain, err := RunMatrix(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(plain.Shapers(), "bound") {
		t.Errorf("no bound asked, shapers %v", plain.Shapers())
	}
	for _, b := range []*MatrixBound{{Lag: -time.Millisecond, Factors: []float64{0.9}}, {Lag: 0}, {Lag: 0, Factors: []float64{1.5}}} {
		c := cfg
		c.Bound = b
		if _, err := RunMatrix(context.Background(), c); err == nil || !strings.Contains(err.Error(), "bound") {
			t.Errorf("bound %+v: error %v", b, err)
		}
	}
}
