package steer

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

// defaults are the documented steering thresholds. The edge cases below
// are written against their values (rtt 15ms, queue 10/50, ...).
func defaults() config.SteerThresholds { return config.DefaultSteerThresholds() }

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const baseline = 20 * time.Millisecond

// run builds Inputs for a trusted primary and alternate with an RTT of
// baseline+delta, the cumulative dropped counter and the backlog.
func run(now time.Time, delta time.Duration, dropped, queued int64) Inputs {
	return Inputs{
		Now:       now,
		Primary:   WANState{Trusted: true, BaselineRTT: baseline, DownloadZone: "GREEN"},
		Alternate: WANState{Trusted: true, BaselineRTT: 30 * time.Millisecond, DownloadZone: "GREEN"},
		RTTOK:     true,
		RTT:       baseline + delta,
		Queue:     QueueStats{OK: true, Name: "wanctl-spectrum-down", Dropped: dropped, QueuedPackets: queued},
	}
}

// withHistory returns a state that already saw one run with the counter at
// dropped and an EWMA of ewmaMs, so the next run's drops and EWMA are
// exactly what a test sets.
func withHistory(ewmaMs float64, dropped int64) State {
	s := NewState("spectrum")
	s.RTTDeltaEWMAMs, s.RTTEWMAValid = ewmaMs, true
	s.Dropped = map[string]int64{"wanctl-spectrum-down": dropped}
	s.LastRun = t0.Add(-2 * time.Second)
	return s
}

func TestAssessThresholdEdges(t *testing.T) {
	th := defaults()
	// alpha 1 makes the EWMA equal to this run's delta: edges are exact.
	th.RTTEWMAAlpha = 1
	prev := withHistory(0, 1000)
	cases := []struct {
		name    string
		delta   time.Duration
		drops   int64
		queued  int64
		want    Level
		wantWhy string
	}{
		{"all three above", 16 * time.Millisecond, 5, 80, Red, "red"},
		{"ewma equal to rtt_red is not greater", 15 * time.Millisecond, 5, 80, Yellow, "yellow"},
		{"ewma just above rtt_red", 15*time.Millisecond + time.Microsecond, 1, 50, Red, "red"},
		{"drops equal to min_drops_red", 30 * time.Millisecond, 1, 50, Red, "red"},
		{"no drops, deep queue", 30 * time.Millisecond, 0, 80, Red, "red"},
		{"drops, short queue", 30 * time.Millisecond, 3, 0, Red, "red"},
		{"no drops, queued equal to queue_red", 30 * time.Millisecond, 0, 50, Red, "red"},
		{"no drops, queued one below queue_red", 30 * time.Millisecond, 0, 49, Yellow, "yellow"},
		{"high rtt alone", 200 * time.Millisecond, 0, 0, Yellow, "yellow"},
		{"low rtt, drops, deep queue", 5 * time.Millisecond, 9, 500, Yellow, "yellow"},
		{"queued equal to queue_yellow", 0, 0, 10, Yellow, "yellow"},
		{"queued one below queue_yellow", 0, 0, 9, Green, ""},
		{"ewma equal to rtt_yellow", 15 * time.Millisecond, 0, 0, Green, ""},
		{"ewma above rtt_yellow only", 15*time.Millisecond + time.Microsecond, 0, 0, Yellow, "yellow"},
		{"rtt below baseline clamps to zero", -8 * time.Millisecond, 0, 0, Green, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Assess(prev, run(t0, tc.delta, 1000+tc.drops, tc.queued), th)
			if a.Level != tc.want {
				t.Fatalf("level %s, want %s (%s)", a.Level, tc.want, a.Reason)
			}
			if a.Drops != tc.drops || a.Queued != tc.queued {
				t.Errorf("drops %d queued %d, want %d %d", a.Drops, a.Queued, tc.drops, tc.queued)
			}
			if tc.wantWhy != "" && !strings.Contains(a.Reason, tc.wantWhy+":") {
				t.Errorf("reason %q does not say %q", a.Reason, tc.wantWhy)
			}
		})
	}
	a := Assess(prev, run(t0, -8*time.Millisecond, 1000, 0), th)
	if a.RTTDelta != 0 || a.RTTDeltaEWMAMs != 0 {
		t.Errorf("rtt below baseline: delta %v ewma %v, want 0", a.RTTDelta, a.RTTDeltaEWMAMs)
	}
}

func TestAssessSeparateYellowAndRedThresholds(t *testing.T) {
	th := defaults()
	th.RTTEWMAAlpha = 1
	th.RTTYellow = 10 * time.Millisecond
	th.RTTRed = 30 * time.Millisecond
	prev := withHistory(0, 0)
	if a := Assess(prev, run(t0, 20*time.Millisecond, 5, 80), th); a.Level != Yellow {
		t.Errorf("ewma between rtt_yellow and rtt_red with drops and queue: %s, want YELLOW", a.Level)
	}
	if a := Assess(prev, run(t0, 31*time.Millisecond, 5, 80), th); a.Level != Red {
		t.Errorf("ewma above rtt_red: %s, want RED", a.Level)
	}
}

func TestAssessEWMA(t *testing.T) {
	th := defaults()
	// First sample initialises.
	fresh := NewState("spectrum")
	a := Assess(fresh, run(t0, 20*time.Millisecond, 0, 0), th)
	if !a.EWMAValid || a.RTTDeltaEWMAMs != 20 {
		t.Fatalf("first sample: ewma %v valid %v, want 20 true", a.RTTDeltaEWMAMs, a.EWMAValid)
	}
	// Then alpha * sample + (1 - alpha) * previous.
	a = Assess(withHistory(10, 0), run(t0, 20*time.Millisecond, 0, 0), th)
	if math.Abs(a.RTTDeltaEWMAMs-13) > 1e-9 {
		t.Errorf("ewma %v, want 0.3*20 + 0.7*10 = 13", a.RTTDeltaEWMAMs)
	}
	// One spike does not reach RED with alpha 0.3 from a quiet history.
	a = Assess(withHistory(0, 0), run(t0, 40*time.Millisecond, 10, 100), th)
	if a.Level != Yellow || math.Abs(a.RTTDeltaEWMAMs-12) > 1e-9 {
		t.Errorf("single 40 ms spike: %s ewma %v, want YELLOW 12", a.Level, a.RTTDeltaEWMAMs)
	}
}

func TestAssessMissingEvidence(t *testing.T) {
	th := defaults()
	prev := withHistory(50, 0) // a congested history: only missing evidence keeps it from RED
	cases := []struct {
		name   string
		mod    func(*Inputs)
		reason string
	}{
		{"untrusted primary", func(in *Inputs) { in.Primary.Trusted = false }, "primary autorate state untrusted"},
		{"no rtt", func(in *Inputs) { in.RTTOK = false }, "no RTT measurement"},
		{"no queue stats", func(in *Inputs) { in.Queue.OK = false }, "no queue statistics"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := run(t0, 80*time.Millisecond, 100, 500)
			tc.mod(&in)
			a := Assess(prev, in, th)
			if a.Level != Yellow {
				t.Fatalf("level %s, want YELLOW (hold)", a.Level)
			}
			if !strings.Contains(a.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", a.Reason, tc.reason)
			}
		})
	}
	// Without a trusted baseline the EWMA is not fed.
	in := run(t0, 80*time.Millisecond, 0, 0)
	in.Primary.Trusted = false
	if a := Assess(prev, in, th); a.RTTMeasured || a.RTTDeltaEWMAMs != 50 {
		t.Errorf("untrusted primary fed the EWMA: measured %v ewma %v", a.RTTMeasured, a.RTTDeltaEWMAMs)
	}
	// Even an all-clear run is no GREEN while evidence is missing.
	in = run(t0, 0, 0, 0)
	in.Primary.Trusted = false
	if a := Assess(withHistory(0, 0), in, th); a.Level != Yellow {
		t.Errorf("untrusted primary, quiet link: %s, want YELLOW", a.Level)
	}
}

func TestAssessDropCounter(t *testing.T) {
	th := defaults()
	cases := []struct {
		name string
		prev State
		cur  int64
		want int64
	}{
		{"first run", NewState("spectrum"), 12345, 0},
		{"increase", withHistory(0, 100), 130, 30},
		{"unchanged", withHistory(0, 100), 100, 0},
		{"went backwards: reset", withHistory(0, 100), 7, 7},
		{"other queue: first run for this one", func() State { s := withHistory(0, 100); s.Dropped = map[string]int64{"old-queue": 5}; return s }(), 900, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if a := Assess(tc.prev, run(t0, 0, tc.cur, 0), th); a.Drops != tc.want {
				t.Errorf("drops %d, want %d", a.Drops, tc.want)
			}
		})
	}
}

// congested/quiet runs for Step sequences. Each gets the run's time and
// the dropped counter of the previous run: a RED run adds 10 drops (and a
// deep queue), GREEN and YELLOW runs none, so that they carry no evidence
// of congestion and only the RTT decides.
func red(now time.Time, last int64) Inputs   { return run(now, 40*time.Millisecond, last+10, 100) }
func green(now time.Time, last int64) Inputs { return run(now, 0, last, 0) }
func yellow(now time.Time, last int64) Inputs {
	return run(now, 0, last, 20)
}

// sequence steps through runs 2 s apart, carrying the dropped counter from
// run to run.
type gen func(now time.Time, last int64) Inputs

func sequence(t *testing.T, s State, th config.SteerThresholds, start time.Time, gens ...gen) (State, []Decision) {
	t.Helper()
	var ds []Decision
	now := start
	dropped := int64(1000)
	if len(s.Dropped) > 0 {
		dropped = s.Dropped["wanctl-spectrum-down"]
	}
	for _, g := range gens {
		var d Decision
		in := g(now, dropped)
		dropped = in.Queue.Dropped
		s, d = Step(s, in, th, "spectrum", "att")
		ds = append(ds, d)
		now = now.Add(2 * time.Second)
	}
	return s, ds
}

func repeat(g gen, n int) []gen {
	out := make([]gen, n)
	for i := range out {
		out[i] = g
	}
	return out
}

func TestStepFirstRun(t *testing.T) {
	s, d := Step(State{}, run(t0, 40*time.Millisecond, 500, 0), defaults(), "spectrum", "att")
	if s.State != "SPECTRUM_GOOD" || d.State != "SPECTRUM_GOOD" || s.Version != StateVersion {
		t.Fatalf("first run state %q version %d", s.State, s.Version)
	}
	if !d.Disabled || d.Transition != nil {
		t.Errorf("first run: disabled %v transition %v, want rules disabled and no transition", d.Disabled, d.Transition)
	}
	// No counter history: the first run has 0 drops, so that counter
	// cannot make it RED.
	if d.Assessment.Drops != 0 || d.Assessment.Level == Red {
		t.Errorf("first run assessed %s with %d drops", d.Assessment.Level, d.Assessment.Drops)
	}
	if s.Dropped["wanctl-spectrum-down"] != 500 || !s.LastRun.Equal(t0) || s.LastAssessment != d.Assessment.Level {
		t.Errorf("first run did not record counter/time/assessment: %+v", s)
	}
}

func TestStepGoodToDegraded(t *testing.T) {
	th := defaults()
	s0 := withHistory(30, 1000)
	s, ds := sequence(t, s0, th, t0, red, red)
	if ds[0].Transition != nil || ds[0].State != "SPECTRUM_GOOD" || s.State != "SPECTRUM_DEGRADED" {
		t.Fatalf("after RED RED: states %q -> %q", ds[0].State, s.State)
	}
	tr := ds[1].Transition
	if tr == nil || tr.From != "SPECTRUM_GOOD" || tr.To != "SPECTRUM_DEGRADED" || !strings.Contains(tr.Reason, "RED for 2 consecutive runs") {
		t.Fatalf("transition %+v", tr)
	}
	if ds[1].Disabled {
		t.Error("DEGRADED must enable the rules (disabled=false)")
	}
	if s.RedStreak != 0 || s.GreenStreak != 0 || s.TransitionsTotal != 1 || len(s.History) != 1 || s.History[0] != *tr {
		t.Errorf("after transition: streaks %d/%d total %d history %+v", s.RedStreak, s.GreenStreak, s.TransitionsTotal, s.History)
	}
	if len(s0.History) != 0 {
		t.Error("Step mutated the previous state's history")
	}
}

func TestStepRedStreakInterrupted(t *testing.T) {
	th := defaults()
	for name, mid := range map[string]gen{"yellow": yellow, "green": green} {
		t.Run(name, func(t *testing.T) {
			s, ds := sequence(t, withHistory(30, 1000), th, t0, red, mid, red)
			if s.State != "SPECTRUM_GOOD" || s.RedStreak != 1 {
				t.Errorf("RED %s RED: state %s red streak %d, want GOOD 1", strings.ToUpper(name), s.State, s.RedStreak)
			}
			for _, d := range ds {
				if d.Transition != nil {
					t.Errorf("unexpected transition %+v", d.Transition)
				}
			}
		})
	}
}

func TestStepAlternateBlocksDegraded(t *testing.T) {
	th := defaults()
	cases := []struct {
		name    string
		alt     WANState
		blocks  bool
		blocked string
	}{
		{"untrusted", WANState{Trusted: false, DownloadZone: "GREEN"}, true, "alternate att untrusted"},
		{"RED", WANState{Trusted: true, DownloadZone: "RED"}, true, "alternate att is RED"},
		{"SOFT_RED", WANState{Trusted: true, DownloadZone: "SOFT_RED"}, true, "alternate att is SOFT_RED"},
		{"soft_red lower case", WANState{Trusted: true, DownloadZone: "soft_red"}, true, "alternate att is SOFT_RED"},
		{"YELLOW is fine", WANState{Trusted: true, DownloadZone: "YELLOW"}, false, ""},
		// Only autorate's zone names count as evidence (not GREEN).
		{"unknown zone", WANState{Trusted: true, DownloadZone: "BOGUS"}, true, `alternate att untrusted (unknown download zone "BOGUS")`},
		{"no zone", WANState{Trusted: true, DownloadZone: ""}, true, `alternate att untrusted (unknown download zone "")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			blockedRed := func(now time.Time, dropped int64) Inputs {
				in := red(now, dropped)
				in.Alternate = tc.alt
				return in
			}
			s, ds := sequence(t, withHistory(30, 1000), th, t0, blockedRed, blockedRed, blockedRed)
			if !tc.blocks {
				if s.State != "SPECTRUM_DEGRADED" {
					t.Fatalf("state %s, want DEGRADED", s.State)
				}
				return
			}
			if s.State != "SPECTRUM_GOOD" || s.RedStreak != 3 {
				t.Fatalf("state %s red streak %d, want GOOD 3 (blocked)", s.State, s.RedStreak)
			}
			if ds[0].Blocked != "" || !strings.Contains(ds[2].Blocked, tc.blocked) {
				t.Errorf("blocked %q / %q, want the second on mentioning %q", ds[0].Blocked, ds[2].Blocked, tc.blocked)
			}
			// The alternate recovers while the primary stays RED: steer at once.
			s, ds = sequence(t, s, th, t0.Add(6*time.Second), red)
			if s.State != "SPECTRUM_DEGRADED" || ds[0].Transition == nil {
				t.Errorf("alternate recovered: state %s, want DEGRADED", s.State)
			}
		})
	}
}

// degradedState is steering with a quiet EWMA, so each GREEN run counts.
func degradedState() State {
	s := withHistory(0, 1000)
	s.State = "SPECTRUM_DEGRADED"
	return s
}

func TestStepDegradedToGood(t *testing.T) {
	th := defaults()
	s, ds := sequence(t, degradedState(), th, t0, repeat(green, 14)...)
	if s.State != "SPECTRUM_DEGRADED" || s.GreenStreak != 14 {
		t.Fatalf("after 14 GREEN: %s streak %d", s.State, s.GreenStreak)
	}
	for _, d := range ds {
		if d.Disabled {
			t.Fatal("rules disabled while still DEGRADED")
		}
	}
	s, ds = sequence(t, s, th, t0.Add(28*time.Second), green)
	if s.State != "SPECTRUM_GOOD" || ds[0].Transition == nil || !ds[0].Disabled {
		t.Fatalf("15th GREEN: %s transition %v disabled %v", s.State, ds[0].Transition, ds[0].Disabled)
	}
	if !strings.Contains(ds[0].Transition.Reason, "GREEN for 15 consecutive runs") {
		t.Errorf("reason %q", ds[0].Transition.Reason)
	}
}

func TestStepGreenStreakReset(t *testing.T) {
	th := defaults()
	for name, mid := range map[string]gen{"yellow": yellow, "red": red} {
		t.Run(name, func(t *testing.T) {
			gens := append(repeat(green, 14), mid)
			gens = append(gens, repeat(green, 14)...)
			s, _ := sequence(t, degradedState(), th, t0, gens...)
			if s.State != "SPECTRUM_DEGRADED" || s.GreenStreak != 14 {
				t.Fatalf("14 GREEN, %s, 14 GREEN: %s streak %d, want DEGRADED 14", name, s.State, s.GreenStreak)
			}
			s, _ = sequence(t, s, th, t0.Add(time.Minute), green)
			if s.State != "SPECTRUM_GOOD" {
				t.Errorf("15th consecutive GREEN: %s, want GOOD", s.State)
			}
		})
	}
}

func TestStepAlternateForcesGood(t *testing.T) {
	th := defaults()
	cases := map[string]WANState{
		"untrusted": {Trusted: false, DownloadZone: "GREEN"},
		"RED":       {Trusted: true, DownloadZone: "RED"},
		"SOFT_RED":  {Trusted: true, DownloadZone: "SOFT_RED"},
	}
	for name, alt := range cases {
		t.Run(name, func(t *testing.T) {
			// The primary is still RED: the alternate's trouble wins anyway.
			in := red(t0, 1000)
			in.Alternate = alt
			s, d := Step(degradedState(), in, th, "spectrum", "att")
			if s.State != "SPECTRUM_GOOD" || d.Transition == nil || !d.Disabled {
				t.Fatalf("state %s transition %v disabled %v, want GOOD at once", s.State, d.Transition, d.Disabled)
			}
			if !strings.Contains(d.Transition.Reason, "stop steering: alternate att") {
				t.Errorf("reason %q", d.Transition.Reason)
			}
		})
	}
}

func TestStepUntrustedPrimaryHolds(t *testing.T) {
	th := defaults()
	untrusted := func(g gen) gen {
		return func(now time.Time, dropped int64) Inputs {
			in := g(now, dropped)
			in.Primary.Trusted = false
			return in
		}
	}
	s, _ := sequence(t, degradedState(), th, t0, repeat(untrusted(green), 40)...)
	if s.State != "SPECTRUM_DEGRADED" {
		t.Errorf("DEGRADED with untrusted primary: %s, want it held", s.State)
	}
	s, _ = sequence(t, withHistory(50, 1000), th, t0, repeat(untrusted(red), 10)...)
	if s.State != "SPECTRUM_GOOD" || s.RedStreak != 0 {
		t.Errorf("GOOD with untrusted primary: %s red streak %d, want GOOD 0", s.State, s.RedStreak)
	}
}

func TestStepStaleRunStartsOver(t *testing.T) {
	th := defaults()
	s := withHistory(40, 1000)
	s.RedStreak = 1
	// Two minutes since the last run: no streak carried (this RED run
	// starts a new one), drops restart.
	next, d := Step(s, red(t0.Add(2*time.Minute), 5000), th, "spectrum", "att")
	if d.Assessment.Drops != 0 || next.RedStreak != 1 || next.State != "SPECTRUM_GOOD" {
		t.Errorf("stale: drops %d red streak %d state %s", d.Assessment.Drops, next.RedStreak, next.State)
	}
	if math.Abs(d.Assessment.RTTDeltaEWMAMs-40) > 1e-9 {
		t.Errorf("stale: ewma %v, want re-initialised to 40", d.Assessment.RTTDeltaEWMAMs)
	}
	// A clock step backwards counts as stale too.
	_, d = Step(s, red(t0.Add(-time.Hour), 5000), th, "spectrum", "att")
	if d.Assessment.Drops != 0 {
		t.Errorf("clock stepped back: drops %d, want 0", d.Assessment.Drops)
	}
	// Within StaleRunAfter the streak continues.
	next, d = Step(s, red(t0.Add(30*time.Second), 1000), th, "spectrum", "att")
	if next.State != "SPECTRUM_DEGRADED" || d.Assessment.Drops != 10 {
		t.Errorf("30 s later: state %s drops %d, want DEGRADED 10", next.State, d.Assessment.Drops)
	}
}

func TestStepPrimaryChanged(t *testing.T) {
	th := defaults()
	old := withHistory(40, 1000)
	old.State = "ATT_DEGRADED"
	old.TransitionsTotal = 7
	old.RedStreak = 5
	s, d := Step(old, red(t0, 1000), th, "spectrum", "att")
	if s.State != "SPECTRUM_GOOD" || !d.Disabled || d.Transition == nil || d.Transition.From != "ATT_DEGRADED" {
		t.Fatalf("state %s disabled %v transition %+v", s.State, d.Transition, d.Transition)
	}
	if s.TransitionsTotal != 8 || s.RedStreak != 0 || d.Assessment.Drops != 0 {
		t.Errorf("total %d red streak %d drops %d, want 8 0 0", s.TransitionsTotal, s.RedStreak, d.Assessment.Drops)
	}
}

func TestStepHistoryBounded(t *testing.T) {
	th := defaults()
	th.RedSamples, th.GreenSamples = 1, 1
	th.RTTEWMAAlpha = 1 // no smoothing: every run's level follows its own RTT
	var gens []gen
	for range 30 {
		gens = append(gens, red, green)
	}
	s, _ := sequence(t, withHistory(0, 1000), th, t0, gens...)
	// Every RED run degrades, every GREEN one recovers.
	if s.TransitionsTotal != 60 {
		t.Fatalf("transitions_total %d, want 60", s.TransitionsTotal)
	}
	if len(s.History) != HistoryLimit {
		t.Fatalf("history holds %d, want %d", len(s.History), HistoryLimit)
	}
	// The newest is last; the oldest ten were dropped.
	last := s.History[HistoryLimit-1]
	if last.To != "SPECTRUM_GOOD" || !last.Time.Equal(t0.Add(59*2*time.Second)) {
		t.Errorf("last transition %+v", last)
	}
	if first := s.History[0]; !first.Time.Equal(t0.Add(10 * 2 * time.Second)) {
		t.Errorf("oldest kept transition at %v, want run 11", first.Time)
	}
}

func TestStepDoesNotMutate(t *testing.T) {
	th := defaults()
	th.RedSamples = 1
	prev := withHistory(30, 1000)
	prev.History = append(make([]Transition, 0, 10), Transition{Time: t0, From: "A", To: "B", Reason: "r"})
	before, _ := json.Marshal(prev)
	next, d := Step(prev, red(t0, 1000), th, "spectrum", "att")
	after, _ := json.Marshal(prev)
	if string(before) != string(after) {
		t.Fatalf("Step changed its argument:\n%s\n%s", before, after)
	}
	if d.Transition == nil || len(next.History) != 2 {
		t.Fatalf("expected a transition appended to a copy")
	}
	// Writing to the result's map or history must not reach prev.
	next.Dropped["wanctl-spectrum-down"] = -1
	next.History[0].Reason = "changed"
	if prev.Dropped["wanctl-spectrum-down"] != 1000 || prev.History[0].Reason != "r" {
		t.Error("result shares memory with the previous state")
	}
	// The backing array of prev.History (cap 10) must not have been written.
	if extra := prev.History[:2]; extra[1] != (Transition{}) {
		t.Errorf("Step appended into prev's backing array: %+v", extra[1])
	}
}

func TestStateNames(t *testing.T) {
	if got := StateName("spectrum", false); got != "SPECTRUM_GOOD" {
		t.Errorf("good: %q", got)
	}
	if got := StateName("att-fiber", true); got != "ATT-FIBER_DEGRADED" {
		t.Errorf("degraded: %q", got)
	}
	if !(State{State: "X_DEGRADED"}).Degraded() || (State{State: "X_GOOD"}).Degraded() {
		t.Error("Degraded()")
	}
}

func TestFresh(t *testing.T) {
	max := 5 * time.Second
	cases := []struct {
		stamp time.Time
		want  bool
	}{
		{time.Time{}, false},
		{t0, true},
		{t0.Add(-max), true},
		{t0.Add(-max - time.Nanosecond), false},
		{t0.Add(max), true},
		{t0.Add(max + time.Nanosecond), false},
	}
	for _, tc := range cases {
		t.Run(tc.stamp.Format(time.RFC3339Nano), func(t *testing.T) {
			if got := Fresh(tc.stamp, t0, max); got != tc.want {
				t.Errorf("Fresh(%v) = %v, want %v", tc.stamp, got, tc.want)
			}
		})
	}
}

func TestStateJSON(t *testing.T) {
	s, _ := sequence(t, withHistory(30, 1000), defaults(), t0, red, red)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "state", "red_streak", "green_streak", "rtt_delta_ewma_ms", "rtt_ewma_valid", "dropped", "last_run", "last_assessment", "transitions_total", "history"} {
		if _, ok := m[k]; !ok {
			t.Errorf("state JSON lacks %q: %s", k, b)
		}
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("round trip differs:\n%+v\n%+v", back, s)
	}
}

// FuzzStep checks the invariants over arbitrary run sequences: the rules
// are enabled exactly while DEGRADED, evidence gaps never yield RED or
// GREEN, a blocked alternate never ends up carrying steered traffic, the
// history stays bounded and Step never changes its argument.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0x00, 0x10, 0x20, 0xff, 0x7f, 0x01, 0x33})
	f.Add([]byte{0xf0, 0xf1, 0xf2, 0xf3, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f})
	f.Fuzz(func(t *testing.T, seq []byte) {
		th := defaults()
		th.RedSamples, th.GreenSamples = 1, 2
		s := State{}
		now := t0
		var dropped int64
		for i, b := range seq {
			now = now.Add(time.Duration(b&0x07+1) * 500 * time.Millisecond)
			if b&0x08 != 0 {
				dropped += int64(b >> 4)
			} else if b&0x40 != 0 {
				dropped = 0 // router counter reset
			}
			in := run(now, time.Duration(b>>2)*time.Millisecond, dropped, int64(b>>1))
			in.Primary.Trusted = b&0x80 == 0 || i%3 != 0
			in.RTTOK = b != 0x55
			in.Queue.OK = b != 0xaa
			switch b % 5 {
			case 0:
				in.Alternate.Trusted = false
			case 1:
				in.Alternate.DownloadZone = "SOFT_RED"
			}
			before, _ := json.Marshal(s)
			next, d := Step(s, in, th, "spectrum", "att")
			if after, _ := json.Marshal(s); string(before) != string(after) {
				t.Fatal("Step mutated its argument")
			}
			if d.Disabled != !next.Degraded() || d.State != next.State {
				t.Fatalf("decision %+v does not match state %q", d, next.State)
			}
			if next.State != "SPECTRUM_GOOD" && next.State != "SPECTRUM_DEGRADED" {
				t.Fatalf("state %q", next.State)
			}
			if (!in.Primary.Trusted || !in.RTTOK || !in.Queue.OK) && d.Assessment.Level != Yellow {
				t.Fatalf("missing evidence assessed %s", d.Assessment.Level)
			}
			if next.Degraded() && alternateProblem(in.Alternate, "att") != "" {
				t.Fatal("DEGRADED onto an untrusted or congested alternate")
			}
			if len(next.History) > HistoryLimit || next.RedStreak < 0 || next.GreenStreak < 0 || d.Assessment.Drops < 0 {
				t.Fatalf("bounds: history %d streaks %d/%d drops %d", len(next.History), next.RedStreak, next.GreenStreak, d.Assessment.Drops)
			}
			s = next
		}
	})
}

func BenchmarkStep(b *testing.B) {
	th := defaults()
	s := withHistory(10, 1000)
	for range HistoryLimit {
		s.History = append(s.History, Transition{Time: t0, From: "SPECTRUM_GOOD", To: "SPECTRUM_DEGRADED", Reason: "bench"})
	}
	in := red(t0, 1000)
	b.ReportAllocs()
	for b.Loop() {
		Step(s, in, th, "spectrum", "att")
	}
}

// RED needs the delay and any one sign that the shaper cannot fix it:
// drops, a deep queue, or autorate in SOFT_RED/RED at that zone's floor.
// With `dropped` left at 0 (a CAKE tree on RouterOS 7.23) the others
// still engage steering.
func TestAssessRedEvidence(t *testing.T) {
	th := defaults()
	th.RTTEWMAAlpha = 1
	prev := withHistory(0, 1000)
	const redFloor, softRedFloor = 188_000_000, 282_000_000
	cases := []struct {
		name        string
		delta       time.Duration
		queued      int64
		zone        string
		rate, floor int64
		want        Level
		wantWhy     string
	}{
		{"rtt alone", 60 * time.Millisecond, 0, "GREEN", 900_000_000, 0, Yellow, "yellow"},
		{"RED zone above its floor", 60 * time.Millisecond, 0, "RED", 300_000_000, redFloor, Yellow, "yellow"},
		{"RED zone at its floor", 60 * time.Millisecond, 0, "RED", redFloor, redFloor, Red, "autorate at its floor"},
		{"SOFT_RED zone at its floor", 60 * time.Millisecond, 0, "SOFT_RED", softRedFloor, softRedFloor, Red, "autorate at its floor"},
		{"rate rounded just above the floor", 60 * time.Millisecond, 0, "RED", redFloor + redFloor/200, redFloor, Red, "autorate at its floor"},
		{"YELLOW zone with a low rate", 60 * time.Millisecond, 0, "YELLOW", 100_000_000, 0, Yellow, "yellow"},
		{"at its floor, low rtt", 10 * time.Millisecond, 0, "RED", redFloor, redFloor, Green, ""},
		{"queue only", 60 * time.Millisecond, 80, "GREEN", 900_000_000, 0, Red, "queued >= 50"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := run(t0, tc.delta, 1000, tc.queued) // no drops
			in.Primary.DownloadZone, in.Primary.DownloadRate, in.Primary.DownloadFloor = tc.zone, tc.rate, tc.floor
			a := Assess(prev, in, th)
			if a.Level != tc.want {
				t.Fatalf("level %s, want %s (%s)", a.Level, tc.want, a.Reason)
			}
			if tc.wantWhy != "" && !strings.Contains(a.Reason, tc.wantWhy) {
				t.Errorf("reason %q does not say %q", a.Reason, tc.wantWhy)
			}
		})
	}
}
