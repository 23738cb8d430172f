package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/loops/autorate"
)

// boundRuns plays the delayed oracle on a scenario for each f and reports
// whether any f meets DESIGN.md's quality bar in both directions.
func boundRuns(t *testing.T, name string, lag time.Duration) (met bool, table string) {
	t.Helper()
	w, interval := defaultWAN(t)
	var b strings.Builder
	fmt.Fprintf(&b, "%s, capacity known %v late, increases at most once per %v:\n", name, lag, w.RouterWrites.IncreaseInterval)
	for f := 0.95; f > 0.805; f -= 0.01 {
		sc, err := NewScenario(name, NominalCapacity(w), 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		opt := v1Options(w, interval)
		opt.WriteLatency = time.Millisecond
		res, err := Evaluate(sc, opt, NewDelayedOracle(sc, lag, f, w.RouterWrites.IncreaseInterval))
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		fmt.Fprintf(&b, "  f %.2f", f)
		for d := range Dir(2) {
			s, o := res.Wanctl.Dirs[d].Scores, res.Oracle.Dirs[d].Scores
			bar := 2*res.TargetBloat.Seconds()*1e3 + o.AddedDelayMS.P99
			ok = ok && MeetsBar(s, o, res.TargetBloat)
			fmt.Fprintf(&b, "  %s util %.1f%% of oracle, p99 %.1f ms (bar %.1f)", d, 100*s.Utilisation/o.Utilisation, s.AddedDelayMS.P99, bar)
		}
		fmt.Fprintf(&b, "  meets the bar: %v\n", ok)
		met = met || ok
	}
	return met, b.String()
}

// The quality bar is out of reach on starlink and lte for a controller
// that learns the capacity from round trips. Even one that knew the true
// capacity and queue exactly, increases included (which round trips only
// reveal by overshooting them), and drained as wanctl's cut does, misses
// the p99 at every rate that keeps the utilisation once its knowledge is
// 110 ms (starlink) or 340 ms (lte) late; with 100 ms and 320 ms it can
// just make it (the test logs the tables). Round trips cannot tell sooner
// on starlink: its dips last 100 ms and its base RTT is 28-57 ms before the
// queue a reply carries; LTE's adds 20 ms and its drifts only show once a
// queue has grown.
// TestReactionTime measures wanctl's own delay.
func TestQualityBarIsOutOfReachOnStarlinkAndLTE(t *testing.T) {
	for _, tc := range []struct {
		name          string
		lag, justMeet time.Duration
	}{
		{"starlink", 110 * time.Millisecond, 100 * time.Millisecond},
		{"lte", 340 * time.Millisecond, 320 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			met, table := boundRuns(t, tc.name, tc.lag)
			t.Log("\n" + table)
			if met {
				t.Errorf("a controller %v late can meet the quality bar: the claim in BENCHMARKS.md is wrong", tc.lag)
			}
			met, table = boundRuns(t, tc.name, tc.justMeet)
			t.Log("\n" + table)
			if !met {
				t.Errorf("%v late no longer meets the bar: update BENCHMARKS.md's bound", tc.justMeet)
			}
		})
	}
}

// wanctl's reaction to a capacity drop under load: from the drop to the
// first decrease it decides is the information delay of round trips (a
// request sent after the drop must come back late, or be late) plus up to
// a control cycle.
func TestReactionTime(t *testing.T) {
	w, interval := defaultWAN(t)
	sc, err := NewScenario("step-drop", NominalCapacity(w), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	drop := 36 * time.Second // 30 % of 120 s
	p, _ := NewWanctl(w)
	var first time.Duration
	p.OnCycle(func(now time.Time, d autorate.Decision) {
		at := now.Sub(Epoch)
		if first == 0 && at >= drop && d.Download.Action == autorate.Decrease {
			first = at - drop
		}
	})
	if _, err := Evaluate(sc, v1Options(w, interval), p); err != nil {
		t.Fatal(err)
	}
	t.Logf("step-drop: first decrease %v after the capacity fell", first)
	if first == 0 || first > 250*time.Millisecond {
		t.Errorf("first decrease %v after the drop, want within 250 ms", first)
	}
}

// EvaluateBound refuses what it cannot play, and its frontier is ordered
// as asked: a lower factor never carries more.
func TestEvaluateBound(t *testing.T) {
	w, interval := defaultWAN(t)
	sc, err := NewScenario("step-drop", NominalCapacity(w), 20*time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	opt := OptionsFromWAN(w, interval)
	for _, tc := range []struct {
		lag     time.Duration
		factors []float64
	}{
		{-time.Millisecond, []float64{0.9}},
		{0, []float64{0}},
		{0, []float64{1.1}},
	} {
		if _, err := EvaluateBound(sc, opt, tc.lag, time.Second, tc.factors); err == nil {
			t.Errorf("lag %v, factors %v: no error", tc.lag, tc.factors)
		}
	}
	b, err := EvaluateBound(sc, opt, 200*time.Millisecond, time.Second, BoundFactors)
	if err != nil {
		t.Fatal(err)
	}
	if b.Scenario != "step-drop" || b.LagMS != 200 || b.IncreaseEveryMS != 1000 || len(b.Points) != len(BoundFactors) {
		t.Fatalf("bound %+v", b)
	}
	for i := 1; i < len(b.Points); i++ {
		if p, q := b.Points[i-1], b.Points[i]; q.Download.Utilisation > p.Download.Utilisation || q.Upload.Utilisation > p.Upload.Utilisation {
			t.Errorf("factor %v carries more than %v: %+v vs %+v", q.Factor, p.Factor, q, p)
		}
	}
	var out strings.Builder
	if err := WriteBoundText(&out, b); err != nil || !strings.Contains(out.String(), "200 ms late") {
		t.Errorf("text %q, %v", out.String(), err)
	}
}
