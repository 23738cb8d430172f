package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Scenario durations.
const (
	DefaultDuration = 120 * time.Second
	MinDuration     = 10 * time.Second
	MaxDuration     = 24 * time.Hour
)

// Span is a half-open interval of virtual time [Start, End).
type Span struct{ Start, End time.Duration }

// Scenario is what a run plays: per direction the true capacity over time
// and the loaded phases (saturating bulk traffic; idle phases offer
// Options.IdleLoad), plus what the path does to pings.
type Scenario struct {
	Name        string
	Description string
	Seed        int64
	Duration    time.Duration
	// Nominal is each direction's nominal capacity (bits/s): the ISP
	// buffer is Options.ISPBuffer at this rate, the idle load a fraction
	// of it.
	Nominal  [2]float64
	Capacity [2]Profile // bits/s
	Loaded   [2][]Span  // sorted, disjoint
	RTTShift Profile    // ms added to every reflector's and flow's base RTT (path changes)
	ICMPLoss Profile    // probability that an echo or its reply is lost, 0..1
	// AppLimit caps, per direction, what the loaded phases offer, as a
	// fraction of Nominal: an application-limited sender (a video stream,
	// a rate-limited download). A profile without points sets no cap;
	// NoAppLimit in a profile lifts it.
	AppLimit [2]Profile
	// Jitter is the random delay every echo adds, unless Options.Jitter or
	// Options.JitterDist override it. Zero: 1 ms, exponential.
	Jitter JitterModel
}

// JitterModel is a distribution of echo jitter and its mean.
type JitterModel struct {
	Mean time.Duration
	Dist JitterDist
}

// NoAppLimit is an AppLimit value that caps nothing (a thousand times the
// nominal capacity).
const NoAppLimit = 1000.0

// Validate checks a scenario built by hand; the catalogue's always pass.
func (s *Scenario) Validate() error {
	if s.Name == "" {
		return fmt.Errorf("simulator: scenario has no name")
	}
	if s.Duration < time.Second || s.Duration > MaxDuration || s.Duration%time.Millisecond != 0 {
		return fmt.Errorf("scenario %s: duration %v must be whole milliseconds, 1s..24h", s.Name, s.Duration)
	}
	for d := range 2 {
		what := fmt.Sprintf("scenario %s: %s", s.Name, Dir(d))
		if !(s.Nominal[d] >= minTraceRate && s.Nominal[d] <= maxTraceRate) {
			return fmt.Errorf("%s: nominal capacity %g bits/s out of range", what, s.Nominal[d])
		}
		if err := s.Capacity[d].validate(what+" capacity", minTraceRate, maxTraceRate); err != nil {
			return err
		}
		for i, sp := range s.Loaded[d] {
			if sp.Start < 0 || sp.End <= sp.Start || sp.End > s.Duration || (i > 0 && sp.Start < s.Loaded[d][i-1].End) {
				return fmt.Errorf("%s: loaded phases must be sorted, disjoint and inside the run (phase %d: %v..%v)", what, i, sp.Start, sp.End)
			}
		}
	}
	for d := range 2 {
		if len(s.AppLimit[d].Points) > 0 {
			if err := s.AppLimit[d].validate(fmt.Sprintf("scenario %s: %s application limit", s.Name, Dir(d)), 0, NoAppLimit); err != nil {
				return err
			}
		}
	}
	if s.Jitter.Mean < 0 || s.Jitter.Mean > 10*time.Second || s.Jitter.Dist < JitterDefault || s.Jitter.Dist > JitterLognormal {
		return fmt.Errorf("scenario %s: jitter %v (distribution %d) out of range", s.Name, s.Jitter.Mean, s.Jitter.Dist)
	}
	if err := s.RTTShift.validate("scenario "+s.Name+": RTT shift (ms)", 0, 10000); err != nil {
		return err
	}
	return s.ICMPLoss.validate("scenario "+s.Name+": ICMP loss", 0, 1)
}

type scenarioDef struct {
	name, desc string
	build      func(g *gen)
}

// gen carries what every scenario builder needs.
type gen struct {
	s   *Scenario
	d   time.Duration
	nom [2]float64
}

// at is a fraction of the run's duration, on the millisecond.
func (g *gen) at(f float64) time.Duration {
	return time.Duration(math.Round(f*float64(g.d/time.Millisecond))) * time.Millisecond
}

func (g *gen) rng(purpose string) *rand.Rand { return newRand(g.s.Seed, g.s.Name+"/"+purpose) }

// shape sets dir's capacity from (fraction of duration, fraction of nominal)
// pairs, linear in between.
func (g *gen) shape(d Dir, pts ...[2]float64) {
	var b builder
	for _, p := range pts {
		b.add(g.at(p[0]), p[1]*g.nom[d])
	}
	g.s.Capacity[d] = b.profile()
}

// loaded sets both directions' loaded phases from fraction pairs.
func (g *gen) loaded(spans ...[2]float64) {
	for d := range Dir(2) {
		g.loadedDir(d, spans...)
	}
}

// loadedDir sets one direction's loaded phases from fraction pairs.
func (g *gen) loadedDir(d Dir, spans ...[2]float64) {
	g.s.Loaded[d] = nil
	for _, sp := range spans {
		g.s.Loaded[d] = append(g.s.Loaded[d], Span{g.at(sp[0]), g.at(sp[1])})
	}
}

// stepDrop sets dir's capacity to nominal, frac of it from `from` to `to`
// (fractions of the run).
func (g *gen) stepDrop(d Dir, frac, from, to float64) {
	var b builder
	b.add(0, g.nom[d])
	b.step(g.at(from), frac*g.nom[d])
	b.step(g.at(to), g.nom[d])
	g.s.Capacity[d] = b.profile()
}

// noisy multiplies dir's capacity by exp(x), x a mean-reverting (AR(1))
// walk sampled every step with correlation time tau and stationary standard
// deviation sd; the result is clamped to [lo, hi] times nominal.
func (g *gen) noisy(d Dir, r *rand.Rand, step, tau time.Duration, sd, lo, hi float64) {
	base := g.s.Capacity[d]
	a := math.Exp(-step.Seconds() / tau.Seconds())
	x := 0.0
	var b builder
	for t := time.Duration(0); t <= g.d; t += step {
		v := base.At(t) * math.Exp(x)
		b.add(t, min(max(v, lo*g.nom[d]), hi*g.nom[d]))
		x = a*x + sd*math.Sqrt(1-a*a)*r.NormFloat64()
	}
	g.s.Capacity[d] = b.profile()
}

var catalogue = []scenarioDef{
	{"steady", "constant capacity at the nominal rate, loaded from 10% to 90% of the run", func(g *gen) {
		for d := range Dir(2) {
			g.shape(d, [2]float64{0, 1})
		}
		g.loaded([2]float64{0.1, 0.9})
	}},
	{"step-drop", "capacity falls to 40% at 30% of the run and recovers at 60%, under load", func(g *gen) {
		for d := range Dir(2) {
			g.stepDrop(d, 0.4, 0.3, 0.6)
		}
		g.loaded([2]float64{0.1, 0.9})
	}},
	{"cable-evening", "a slow evening decline to ~60% with a deeper sag to ~45% and correlated noise, then partial recovery", func(g *gen) {
		g.shape(Download, [2]float64{0, 1}, [2]float64{0.15, 1}, [2]float64{0.45, 0.65}, [2]float64{0.5, 0.45},
			[2]float64{0.55, 0.65}, [2]float64{0.6, 0.6}, [2]float64{0.9, 0.85}, [2]float64{1, 0.9})
		g.shape(Upload, [2]float64{0, 1}, [2]float64{0.15, 1}, [2]float64{0.45, 0.8}, [2]float64{0.5, 0.7},
			[2]float64{0.55, 0.8}, [2]float64{0.9, 0.9}, [2]float64{1, 0.95})
		g.noisy(Download, g.rng("download"), 250*time.Millisecond, 3*time.Second, 0.06, 0.2, 1)
		g.noisy(Upload, g.rng("upload"), 250*time.Millisecond, 3*time.Second, 0.04, 0.2, 1)
		g.s.ICMPLoss = Const(0.002)
		g.s.Jitter = JitterModel{2 * time.Millisecond, JitterExp} // DOCSIS request-grant cycles
		g.loaded([2]float64{0.1, 0.9})
	}},
	{"lte", "capacity is a correlated random walk (log-normal, 8 s correlation) between 10% and 100% of nominal, 1% ping loss, +20 ms base RTT", func(g *gen) {
		g.shape(Download, [2]float64{0, 0.6})
		g.shape(Upload, [2]float64{0, 0.5})
		g.noisy(Download, g.rng("download"), 100*time.Millisecond, 8*time.Second, 0.4, 0.1, 1)
		g.noisy(Upload, g.rng("upload"), 100*time.Millisecond, 8*time.Second, 0.4, 0.1, 1)
		g.s.ICMPLoss = Const(0.01)
		g.s.RTTShift = Const(20)
		g.s.Jitter = JitterModel{6 * time.Millisecond, JitterLognormal} // scheduling, HARQ retransmissions
		g.loaded([2]float64{0.1, 0.9})
	}},
	{"starlink", "every 15 s the satellite changes: capacity jumps to a new level (45..100%), base RTT to a new +20..32 ms, with a 100 ms dip and ping loss at the boundary", func(g *gen) {
		r := g.rng("slots")
		var down, up, shift, loss builder
		down.add(0, g.nom[Download])
		up.add(0, g.nom[Upload])
		shift.add(0, 20+12*r.Float64())
		loss.add(0, 0.005)
		for t := 15 * time.Second; t < g.d; t += 15 * time.Second {
			dl, ul := (0.45+0.55*r.Float64())*g.nom[Download], (0.5+0.5*r.Float64())*g.nom[Upload]
			down.step(t, 0.2*g.nom[Download])
			down.step(t+100*time.Millisecond, dl)
			up.step(t, 0.2*g.nom[Upload])
			up.step(t+100*time.Millisecond, ul)
			shift.step(t, 20+12*r.Float64())
			loss.step(t, 0.5)
			loss.step(t+150*time.Millisecond, 0.005)
		}
		g.s.Capacity = [2]Profile{down.profile(), up.profile()}
		g.s.RTTShift, g.s.ICMPLoss = shift.profile(), loss.profile()
		g.s.RTTShift.Step, g.s.ICMPLoss.Step = true, true
		g.s.Jitter = JitterModel{4 * time.Millisecond, JitterPareto} // rare long stalls beside the slot changes
		g.loaded([2]float64{0.1, 0.9})
	}},
	{"idle-then-burst", "capacity falls to 50% (upload 60%) while the link is idle; then three bulk bursts of 10% of the run each", func(g *gen) {
		for d, f := range [2]float64{0.5, 0.6} {
			var b builder
			b.add(0, g.nom[d])
			b.step(g.at(0.2), f*g.nom[d])
			g.s.Capacity[d] = b.profile()
		}
		g.loaded([2]float64{0.4, 0.5}, [2]float64{0.6, 0.7}, [2]float64{0.8, 0.9})
	}},
	{"icmp-blackout", "capacity at 60% from 25% to 75% of the run; every ping is lost from 40% to 60%", func(g *gen) {
		for d := range Dir(2) {
			var b builder
			b.add(0, g.nom[d])
			b.step(g.at(0.25), 0.6*g.nom[d])
			b.step(g.at(0.75), g.nom[d])
			g.s.Capacity[d] = b.profile()
		}
		var l builder
		l.add(0, 0)
		l.step(g.at(0.4), 1)
		l.step(g.at(0.6), 0)
		g.s.ICMPLoss = l.profile()
		g.s.ICMPLoss.Step = true
		g.loaded([2]float64{0.1, 0.9})
	}},
	{"download-only", "only the download is loaded (10% to 90% of the run); its capacity falls to 40% at 30% and recovers at 60%", func(g *gen) {
		g.stepDrop(Download, 0.4, 0.3, 0.6)
		g.shape(Upload, [2]float64{0, 1})
		g.loadedDir(Download, [2]float64{0.1, 0.9})
	}},
	{"upload-only", "only the upload is loaded (10% to 90% of the run); its capacity falls to 40% at 30% and recovers at 60%", func(g *gen) {
		g.shape(Download, [2]float64{0, 1})
		g.stepDrop(Upload, 0.4, 0.3, 0.6)
		g.loadedDir(Upload, [2]float64{0.1, 0.9})
	}},
	{"idle-rise", "capacity falls to 50% under load at 25% of the run; the load stops at 40%, the capacity returns at 50% while idle, the load resumes at 60%", func(g *gen) {
		for d := range Dir(2) {
			g.stepDrop(d, 0.5, 0.25, 0.5)
		}
		g.loaded([2]float64{0.1, 0.4}, [2]float64{0.6, 0.9})
	}},
	{"app-limited", "the load is capped at 50% of nominal (a video stream) from 10% to 50% of the run while the capacity falls to 70% at 30%; at 50% the cap lifts and bulk traffic meets the shaper's rate", func(g *gen) {
		for d := range Dir(2) {
			var c builder
			c.add(0, g.nom[d])
			c.step(g.at(0.3), 0.7*g.nom[d])
			g.s.Capacity[d] = c.profile()
			var b builder
			b.add(0, 0.5)
			b.step(g.at(0.5), NoAppLimit)
			g.s.AppLimit[d] = b.profile()
			g.s.AppLimit[d].Step = true
		}
		g.loaded([2]float64{0.1, 0.9})
	}},
}

// ScenarioNames lists the built-in scenarios in catalogue order ("all"
// excluded).
func ScenarioNames() []string {
	out := make([]string, len(catalogue))
	for i, s := range catalogue {
		out[i] = s.name
	}
	return out
}

// ScenarioDescription returns a built-in scenario's one-line description.
func ScenarioDescription(name string) string {
	for _, s := range catalogue {
		if s.name == name {
			return s.desc
		}
	}
	return ""
}

// ExpandScenarios resolves a -scenario value: a built-in name, or "all" for
// every one of them.
func ExpandScenarios(name string) ([]string, error) {
	if name == "all" {
		return ScenarioNames(), nil
	}
	if ScenarioDescription(name) != "" {
		return []string{name}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q: choose one of %s, or all", name, strings.Join(ScenarioNames(), ", "))
}

// NewScenario builds a built-in scenario for a link with the given nominal
// capacities (bits/s, usually the ceilings). Its shape is laid out in
// fractions of the duration (0 = DefaultDuration), so a longer run
// stretches the story; what has a physical time scale keeps it (Starlink's
// 15 s slots, noise correlation times).
func NewScenario(name string, nominal [2]int64, duration time.Duration, seed int64) (*Scenario, error) {
	i := slices.IndexFunc(catalogue, func(s scenarioDef) bool { return s.name == name })
	if i < 0 {
		_, err := ExpandScenarios(name)
		if err == nil {
			err = fmt.Errorf("scenario %q is a set: expand it with ExpandScenarios", name)
		}
		return nil, err
	}
	d, err := checkDuration(duration)
	if err != nil {
		return nil, err
	}
	if nominal[0] <= 0 || nominal[1] <= 0 {
		return nil, fmt.Errorf("scenario %s: nominal capacities %d/%d bits/s must be > 0", name, nominal[0], nominal[1])
	}
	s := &Scenario{
		Name: name, Description: catalogue[i].desc, Seed: seed, Duration: d,
		Nominal:  [2]float64{float64(nominal[0]), float64(nominal[1])},
		RTTShift: Const(0), ICMPLoss: Const(0),
		Jitter: JitterModel{time.Millisecond, JitterExp},
	}
	catalogue[i].build(&gen{s: s, d: d, nom: s.Nominal})
	return s, s.Validate()
}

func checkDuration(d time.Duration) (time.Duration, error) {
	if d == 0 {
		return DefaultDuration, nil
	}
	if d < MinDuration || d > MaxDuration {
		return 0, fmt.Errorf("duration %v is out of range: want %v..%v", d, MinDuration, MaxDuration)
	}
	return d.Round(time.Millisecond), nil
}

// TraceScenario plays a capacity trace: download (and upload, when the
// trace has the column; otherwise upload stays at its nominal) from the
// trace, idle for the first 10% of the run (at most 10 s) so baselines
// settle, loaded for the rest. The run lasts duration, or the trace's last
// row's time when duration is 0; past the last row its capacity holds.
// Each direction's nominal capacity (ISP buffer size, idle load) is the
// trace's highest capacity, or nominal[Upload] for an upload without data.
func TraceScenario(tr *Trace, nominal [2]int64, duration time.Duration, seed int64) (*Scenario, error) {
	if duration == 0 {
		duration = tr.End
		if duration < MinDuration {
			return nil, fmt.Errorf("%s: the trace ends at %v, shorter than %v: give a duration", tr.Name, tr.End, MinDuration)
		}
	}
	d, err := checkDuration(duration)
	if err != nil {
		return nil, err
	}
	if nominal[Upload] <= 0 && !tr.HasUpload() {
		return nil, fmt.Errorf("%s: no upload column, and the upload nominal capacity %d is not > 0", tr.Name, nominal[Upload])
	}
	peak := func(p Profile) float64 {
		m := 0.0
		for _, pt := range p.Points {
			m = max(m, pt.V)
		}
		return m
	}
	s := &Scenario{
		Name:        "trace:" + filepath.Base(tr.Name),
		Description: "capacity trace " + tr.Name,
		Seed:        seed,
		Duration:    d,
		Capacity:    [2]Profile{tr.Download, tr.Upload},
		Nominal:     [2]float64{peak(tr.Download), peak(tr.Upload)},
		RTTShift:    Const(0),
		ICMPLoss:    Const(0),
		Jitter:      JitterModel{time.Millisecond, JitterExp},
	}
	if !tr.HasUpload() {
		s.Nominal[Upload] = float64(nominal[Upload])
		s.Capacity[Upload] = Const(s.Nominal[Upload])
	}
	start := min(d/10, 10*time.Second).Round(time.Millisecond)
	s.Loaded = [2][]Span{{{start, d}}, {{start, d}}}
	return s, s.Validate()
}
