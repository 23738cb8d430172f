package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/loops/autorate"
)

// The robustness matrix: every policy against the references over
// scenarios × link parameters × seeds, so that a controller is judged on
// how often it meets the quality bar across links, not on one seed.

// MatrixPoint is one combination of the link parameters the matrix varies.
type MatrixPoint struct {
	Jitter       time.Duration // mean echo jitter (the scenario's distribution); 0: the scenario's mean
	BaseRTT      time.Duration // centre of the base RTT range (± 25 %); 0: the default range, 8-25 ms
	WriteLatency time.Duration // per router write
	PingRate     int           // echoes per second (the WAN's measurement.ping_rate)
	Load         Load
	ISPBuffer    time.Duration
}

// MarshalJSON writes durations in milliseconds (null: the default), the
// load by name.
func (p MatrixPoint) MarshalJSON() ([]byte, error) {
	orNull := func(d time.Duration) *float64 {
		if d == 0 {
			return nil
		}
		v := ms(d)
		return &v
	}
	return json.Marshal(struct {
		Jitter       *float64 `json:"jitter_ms"`
		BaseRTT      *float64 `json:"base_rtt_ms"`
		WriteLatency float64  `json:"write_latency_ms"`
		PingRate     int      `json:"ping_rate"`
		Load         string   `json:"load"`
		ISPBuffer    float64  `json:"isp_buffer_ms"`
	}{orNull(p.Jitter), orNull(p.BaseRTT), ms(p.WriteLatency), p.PingRate, p.Load.String(), ms(p.ISPBuffer)})
}

func (p MatrixPoint) String() string {
	return fmt.Sprintf("jitter %s, base RTT %s, write %v, %d pings/s, %s load, ISP buffer %v",
		jitterLevel(p), baseRTTLevel(p), p.WriteLatency, p.PingRate, p.Load, p.ISPBuffer)
}

func jitterLevel(p MatrixPoint) string {
	if p.Jitter == 0 {
		return "scenario's"
	}
	return p.Jitter.String()
}

func baseRTTLevel(p MatrixPoint) string {
	if p.BaseRTT == 0 {
		return "8ms-25ms"
	}
	return p.BaseRTT.String()
}

// The levels of each factor (read only).
var (
	matrixJitters        = []time.Duration{time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}
	matrixBaseRTTs       = []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond}
	matrixWriteLatencies = []time.Duration{20 * time.Millisecond, 60 * time.Millisecond, 150 * time.Millisecond}
	matrixPingRates      = []int{10, 20, 40}
	matrixLoads          = []Load{LoadSaturating, LoadElastic}
	matrixISPBuffers     = []time.Duration{300 * time.Millisecond, 500 * time.Millisecond}
)

// MatrixCentre is the point the one-factor-at-a-time points vary from:
// wanctl simulate's defaults on the example WAN (the scenario's jitter,
// base RTTs 8-25 ms, 30 ms writes, 20 pings/s, elastic load, a 500 ms
// buffer), so the matrix's first point is what `wanctl simulate -seed N`
// reports.
func MatrixCentre() MatrixPoint {
	return MatrixPoint{WriteLatency: 30 * time.Millisecond, PingRate: 20, Load: LoadElastic, ISPBuffer: 500 * time.Millisecond}
}

// matrixFactor is one dimension of the matrix: its name, its levels'
// count and how a point takes level i (or tells its level).
type matrixFactor struct {
	name  string
	n     int
	set   func(p *MatrixPoint, i int)
	level func(p MatrixPoint) string
}

var matrixFactors = []matrixFactor{
	{"jitter", len(matrixJitters), func(p *MatrixPoint, i int) { p.Jitter = matrixJitters[i] }, jitterLevel},
	{"base_rtt", len(matrixBaseRTTs), func(p *MatrixPoint, i int) { p.BaseRTT = matrixBaseRTTs[i] }, baseRTTLevel},
	{"write_latency", len(matrixWriteLatencies), func(p *MatrixPoint, i int) { p.WriteLatency = matrixWriteLatencies[i] },
		func(p MatrixPoint) string { return p.WriteLatency.String() }},
	{"ping_rate", len(matrixPingRates), func(p *MatrixPoint, i int) { p.PingRate = matrixPingRates[i] },
		func(p MatrixPoint) string { return fmt.Sprint(p.PingRate) }},
	{"load", len(matrixLoads), func(p *MatrixPoint, i int) { p.Load = matrixLoads[i] },
		func(p MatrixPoint) string { return p.Load.String() }},
	{"isp_buffer", len(matrixISPBuffers), func(p *MatrixPoint, i int) { p.ISPBuffer = matrixISPBuffers[i] },
		func(p MatrixPoint) string { return p.ISPBuffer.String() }},
}

// MatrixSample is the default sample of the factors' product (432
// points): the centre, every level of each factor that differs from it
// with the rest at the centre (one factor at a time: 15 points in all, so
// each factor's effect shows on its own), then lhs points of a Latin
// hypercube over the whole product (each factor's levels equally often,
// combined at random from seed), which catches what factors do together.
func MatrixSample(lhs int, seed int64) []MatrixPoint {
	pts := []MatrixPoint{MatrixCentre()}
	for _, f := range matrixFactors {
		for i := range f.n {
			p := MatrixCentre()
			f.set(&p, i)
			if p != MatrixCentre() {
				pts = append(pts, p)
			}
		}
	}
	r := newRand(seed, "matrix/lhs")
	hyper := make([]MatrixPoint, lhs)
	for _, f := range matrixFactors {
		perm := r.Perm(lhs)
		for k := range hyper {
			f.set(&hyper[k], perm[k]*f.n/lhs)
		}
	}
	return append(pts, hyper...)
}

// MatrixFull is the whole product of the factors' levels (432 points).
func MatrixFull() []MatrixPoint {
	pts := []MatrixPoint{{}}
	for _, f := range matrixFactors {
		var next []MatrixPoint
		for _, p := range pts {
			for i := range f.n {
				q := p
				f.set(&q, i)
				next = append(next, q)
			}
		}
		pts = next
	}
	return pts
}

// PolicyFactory makes a fresh policy for one run of the matrix. w is the
// WAN as the cell configures it (measurement.ping_rate set to the cell's),
// opt the cell's simulator options (after defaults).
type PolicyFactory struct {
	Name string
	New  func(w *config.WAN, opt Options) (Policy, error)
}

// WanctlFactory is the production autorate loop (NewWanctl).
func WanctlFactory() PolicyFactory {
	return PolicyFactory{Name: "wanctl", New: func(w *config.WAN, _ Options) (Policy, error) { return NewWanctl(w) }}
}

// WanctlWithoutFactory is the production loop with some of the
// controller's rules removed (autorate.Controller.Disable): the ablation
// that tells what each rule is worth on the matrix. Its name is
// "wanctl-no-<rules>".
func WanctlWithoutFactory(r autorate.Rule) PolicyFactory {
	return PolicyFactory{Name: "wanctl-no-" + r.String(), New: func(w *config.WAN, _ Options) (Policy, error) {
		p, err := NewWanctl(w)
		if err != nil {
			return nil, err
		}
		p.Loop().Controller().Disable(r)
		return p, nil
	}}
}

// CakeAutorateFactory is the peer policy, cake-autorate's algorithm
// (NewCakeAutorate), run with its own timing (TimedPolicy).
func CakeAutorateFactory() PolicyFactory {
	return PolicyFactory{Name: CakeAutorateName, New: func(w *config.WAN, _ Options) (Policy, error) { return NewCakeAutorate(w) }}
}

// MatrixConfig is what RunMatrix plays.
type MatrixConfig struct {
	WAN       *config.WAN
	Interval  time.Duration // the daemon's control interval
	Base      Options       // any other options (Flows, JitterDist, ...); the matrix sets Ceiling, Reflectors, Fallbacks, TargetBloat and each point's factors
	Scenarios []string
	Points    []MatrixPoint
	Seeds     []int64
	Duration  time.Duration // of each run; 0: DefaultDuration
	Policies  []PolicyFactory
	Workers   int // cells run in parallel; 0: GOMAXPROCS
	// Bound, when set, also plays each cell with a DelayedOracle, the
	// shaper "bound": what a controller that learns the capacity Lag late
	// could reach at best.
	Bound *MatrixBound
}

// MatrixBound is the delayed oracle of a matrix: its lag and the factors it
// tries in each cell, in order, until one meets the bar.
type MatrixBound struct {
	Lag     time.Duration
	Factors []float64
}

// MatrixBoundFactors are the factors a matrix's bound tries: the highest
// that keeps a margin below the capacity, then the lowest whose
// utilisation still passes against an oracle at 95 %.
var MatrixBoundFactors = []float64{0.9, 0.85}

// MatrixCell is one scenario × point × seed: every shaper's scores.
type MatrixCell struct {
	Scenario string
	Point    MatrixPoint
	Seed     int64
	Oracle   [2]Scores
	Fixed    [2]Scores
	Policies [][2]Scores // in MatrixConfig.Policies order
	Bound    [2]Scores   // the first of MatrixBound.Factors that meets the bar, else the last
}

// Matrix is RunMatrix's outcome, cells in scenario, point, seed order.
type Matrix struct {
	TargetBloat time.Duration
	Duration    time.Duration
	Scenarios   []string
	Points      []MatrixPoint
	Seeds       []int64
	Policies    []string
	Bounded     bool // the cells have the shaper "bound"
	Cells       []MatrixCell
}

// RunMatrix plays every cell of cfg, Workers at a time. The outcome is the
// same for any number of workers: each cell depends only on its scenario,
// point and seed.
func RunMatrix(ctx context.Context, cfg MatrixConfig) (*Matrix, error) {
	if cfg.WAN == nil || len(cfg.Policies) == 0 || len(cfg.Scenarios) == 0 || len(cfg.Points) == 0 || len(cfg.Seeds) == 0 {
		return nil, fmt.Errorf("matrix: needs a WAN, policies, scenarios, points and seeds")
	}
	m := &Matrix{TargetBloat: cfg.WAN.Thresholds.TargetBloat, Duration: cfg.Duration, Scenarios: cfg.Scenarios,
		Points: cfg.Points, Seeds: cfg.Seeds, Bounded: cfg.Bound != nil}
	if b := cfg.Bound; b != nil {
		if b.Lag < 0 || len(b.Factors) == 0 {
			return nil, fmt.Errorf("matrix: bound lag %v, factors %v: want a lag >= 0 and a factor", b.Lag, b.Factors)
		}
		for _, f := range b.Factors {
			if f <= 0 || f > 1 {
				return nil, fmt.Errorf("matrix: bound factor %g: want (0, 1]", f)
			}
		}
	}
	if m.Duration == 0 {
		m.Duration = DefaultDuration
	}
	for _, p := range cfg.Policies {
		if p.New == nil || p.Name == "" || p.Name == "oracle" || p.Name == "fixed" || p.Name == "bound" || slices.Contains(m.Policies, p.Name) {
			return nil, fmt.Errorf("matrix: policy %q: needs a unique name (not oracle, fixed or bound) and a constructor", p.Name)
		}
		m.Policies = append(m.Policies, p.Name)
	}
	for _, sc := range cfg.Scenarios {
		for _, pt := range cfg.Points {
			for _, seed := range cfg.Seeds {
				m.Cells = append(m.Cells, MatrixCell{Scenario: sc, Point: pt, Seed: seed})
			}
		}
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(m.Cells)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := cfg.runCell(&m.Cells[i]); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range m.Cells {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	return m, nil
}

func (cfg *MatrixConfig) runCell(c *MatrixCell) error {
	w := *cfg.WAN
	w.Measurement.PingRate = c.Point.PingRate
	opt := cfg.Base
	opt.Ceiling = [2]int64{w.Download.Ceiling, w.Upload.Ceiling}
	opt.Interval = cfg.Interval
	opt.Reflectors = len(w.Measurement.Reflectors)
	opt.Fallbacks = len(w.Measurement.TCPFallback)
	opt.TargetBloat = w.Thresholds.TargetBloat
	opt.PingRate = c.Point.PingRate
	opt.Timestamps = w.Measurement.Timestamps
	opt.Jitter = c.Point.Jitter
	if c.Point.BaseRTT != 0 {
		opt.BaseRTTMin, opt.BaseRTTMax = c.Point.BaseRTT*3/4, c.Point.BaseRTT*5/4
	}
	opt.WriteLatency = c.Point.WriteLatency
	opt.Load = c.Point.Load
	opt.ISPBuffer = c.Point.ISPBuffer
	opt = opt.WithDefaults()
	if err := opt.Validate(); err != nil {
		return fmt.Errorf("%s, %v: %w", c.Scenario, c.Point, err)
	}
	sc, err := NewScenario(c.Scenario, NominalCapacity(&w), cfg.Duration, c.Seed)
	if err != nil {
		return err
	}
	events := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	scores := func(r *Run) [2]Scores { return [2]Scores{r.Dirs[Download].Scores, r.Dirs[Upload].Scores} }
	c.Oracle = scores(newEngine(sc, &opt, modeOracle, nil, events).run())
	c.Fixed = scores(newEngine(sc, &opt, modeFixed, nil, events).run())
	c.Policies = make([][2]Scores, len(cfg.Policies))
	for i, f := range cfg.Policies {
		p, err := f.New(&w, opt)
		if err != nil {
			return fmt.Errorf("policy %s: %w", f.Name, err)
		}
		popt, err := policyOptions(opt, p)
		if err != nil {
			return fmt.Errorf("policy %s: %w", f.Name, err)
		}
		c.Policies[i] = scores(newEngine(sc, &popt, modePolicy, p, events).run())
	}
	if b := cfg.Bound; b != nil {
		for _, f := range b.Factors {
			c.Bound = scores(newEngine(sc, &opt, modePolicy, NewDelayedOracle(sc, b.Lag, f, w.RouterWrites.IncreaseInterval), events).run())
			if meetsBoth(c.Bound, c.Oracle, opt.TargetBloat) {
				break
			}
		}
	}
	return nil
}

// MeetsBar reports whether s meets DESIGN.md's quality bar against the
// oracle's o in direction d: utilisation at least 85 % of the oracle's
// and a loaded p99 added delay at most 2 × target + the oracle's p99. A
// direction that was never loaded meets it (both are zero).
func MeetsBar(s, o Scores, target time.Duration) bool {
	return s.Utilisation >= 0.85*o.Utilisation && MeetsDelayBar(s, o, target)
}

// MeetsDelayBar is the delay half of MeetsBar.
func MeetsDelayBar(s, o Scores, target time.Duration) bool {
	return s.AddedDelayMS.P99 <= 2*ms(target)+o.AddedDelayMS.P99
}

// Shapers lists the matrix's shapers: the policies, then fixed and oracle,
// then bound if played.
func (m *Matrix) Shapers() []string {
	s := append(slices.Clone(m.Policies), "fixed", "oracle")
	if m.Bounded {
		s = append(s, "bound")
	}
	return s
}

// Scores returns shaper's scores in cell c (a policy's name, fixed, oracle
// or bound).
func (m *Matrix) Scores(c *MatrixCell, shaper string) [2]Scores {
	switch shaper {
	case "oracle":
		return c.Oracle
	case "fixed":
		return c.Fixed
	case "bound":
		return c.Bound
	}
	return c.Policies[slices.Index(m.Policies, shaper)]
}

// Met reports whether shaper meets the bar in both directions of cell c.
func (m *Matrix) Met(c *MatrixCell, shaper string) bool {
	s := m.Scores(c, shaper)
	return meetsBoth(s, c.Oracle, m.TargetBloat)
}

// meetsBoth is MeetsBar in both directions.
func meetsBoth(s, o [2]Scores, target time.Duration) bool {
	return MeetsBar(s[Download], o[Download], target) && MeetsBar(s[Upload], o[Upload], target)
}

// DirMedians are medians per direction; a direction never loaded in any
// run is NaN (null in JSON).
type DirMedians struct {
	Download float64 `json:"download"`
	Upload   float64 `json:"upload"`
}

// MarshalJSON writes NaN as null.
func (d DirMedians) MarshalJSON() ([]byte, error) {
	v := func(x float64) any {
		if math.IsNaN(x) {
			return nil
		}
		return x
	}
	return json.Marshal(map[string]any{"download": v(d.Download), "upload": v(d.Upload)})
}

// MatrixSummary is one shaper on one scenario (Scenario "all": every
// scenario) over the matrix's points and seeds.
type MatrixSummary struct {
	Scenario string  `json:"scenario"`
	Shaper   string  `json:"shaper"`
	Runs     int     `json:"runs"`
	Met      int     `json:"met"`
	Fraction float64 `json:"fraction"` // Met / Runs
	// Medians over the runs whose direction was loaded: utilisation /
	// the oracle's, loaded p99 added delay (ms), the worst event's time
	// above 2 x target_bloat (s).
	UtilisationVsOracle DirMedians `json:"utilisation_vs_oracle_median"`
	P99MS               DirMedians `json:"p99_ms_median"`
	AboveMaxS           DirMedians `json:"above_2x_target_s_median"`
	// AboveLaterS: the same for the worst event after the first (a
	// load start or capacity change the shaper has seen one of before;
	// idle-then-burst: the second and third bursts), over the runs with
	// one (NaN: none).
	AboveLaterS DirMedians `json:"above_2x_target_after_first_s_median"`
	// WritesPerHour is the median of completed router writes per hour
	// over every run, loaded or not: what the shaper costs the router
	// (router_writes' budget).
	WritesPerHour DirMedians `json:"writes_per_hour_median"`
}

// FactorSummary is one shaper's fraction of runs meeting the bar at one
// level of one factor, over all scenarios and the other factors.
type FactorSummary struct {
	Factor   string  `json:"factor"`
	Level    string  `json:"level"`
	Shaper   string  `json:"shaper"`
	Runs     int     `json:"runs"`
	Met      int     `json:"met"`
	Fraction float64 `json:"fraction"`
}

// Summaries are, per scenario (in matrix order, then "all") and shaper,
// the fraction of runs meeting the bar and the medians.
func (m *Matrix) Summaries() []MatrixSummary {
	var out []MatrixSummary
	for _, sc := range append(slices.Clone(m.Scenarios), "all") {
		for _, sh := range m.Shapers() {
			s := MatrixSummary{Scenario: sc, Shaper: sh}
			var util, p99, above, later, writes [2][]float64
			for i := range m.Cells {
				c := &m.Cells[i]
				if sc != "all" && c.Scenario != sc {
					continue
				}
				s.Runs++
				if m.Met(c, sh) {
					s.Met++
				}
				got := m.Scores(c, sh)
				for d := range 2 {
					writes[d] = append(writes[d], got[d].WritesPerHour)
					if c.Oracle[d].Utilisation == 0 {
						continue // never loaded
					}
					util[d] = append(util[d], got[d].Utilisation/c.Oracle[d].Utilisation)
					p99[d] = append(p99[d], got[d].AddedDelayMS.P99)
					above[d] = append(above[d], got[d].AboveMaxS)
					if ev := got[d].AboveEventsS; len(ev) > 1 {
						later[d] = append(later[d], slices.Max(ev[1:]))
					}
				}
			}
			if s.Runs > 0 {
				s.Fraction = float64(s.Met) / float64(s.Runs)
			}
			s.UtilisationVsOracle = DirMedians{median(util[0]), median(util[1])}
			s.P99MS = DirMedians{median(p99[0]), median(p99[1])}
			s.AboveMaxS = DirMedians{median(above[0]), median(above[1])}
			s.AboveLaterS = DirMedians{median(later[0]), median(later[1])}
			s.WritesPerHour = DirMedians{median(writes[0]), median(writes[1])}
			out = append(out, s)
		}
	}
	return out
}

// ByFactor is, per factor level and shaper, the fraction of runs meeting
// the bar: which link parameters a policy is fragile to.
func (m *Matrix) ByFactor() []FactorSummary {
	var out []FactorSummary
	for _, f := range matrixFactors {
		var levels []string // the centre's, then in the factor's order, those the points have
		for i := -1; i < f.n; i++ {
			q := MatrixCentre()
			if i >= 0 {
				f.set(&q, i)
			}
			l := f.level(q)
			if !slices.Contains(levels, l) && slices.ContainsFunc(m.Points, func(p MatrixPoint) bool { return f.level(p) == l }) {
				levels = append(levels, l)
			}
		}
		shapers := m.Policies
		if m.Bounded {
			shapers = append(slices.Clone(shapers), "bound") // where even knowing the capacity fails
		}
		for _, l := range levels {
			for _, sh := range shapers {
				s := FactorSummary{Factor: f.name, Level: l, Shaper: sh}
				for i := range m.Cells {
					c := &m.Cells[i]
					if f.level(c.Point) != l {
						continue
					}
					s.Runs++
					if m.Met(c, sh) {
						s.Met++
					}
				}
				s.Fraction = float64(s.Met) / float64(s.Runs)
				out = append(out, s)
			}
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// MatrixReport is `wanctl simulate -matrix -json`'s document.
type MatrixReport struct {
	FormatVersion int             `json:"format_version"`
	TargetBloatMS float64         `json:"target_bloat_ms"`
	DurationS     float64         `json:"duration_s"`
	Seeds         []int64         `json:"seeds"`
	Points        []MatrixPoint   `json:"points"`
	Cells         int             `json:"cells"`
	Summary       []MatrixSummary `json:"summary"`
	ByFactor      []FactorSummary `json:"by_factor"`
}

// Report collects the matrix into its JSON document (figures rounded as
// the scenario report's: fractions and ratios to 0.0001, ms to 0.01, s to
// 0.001).
func (m *Matrix) Report() *MatrixReport {
	r := &MatrixReport{FormatVersion: FormatVersion, TargetBloatMS: ms(m.TargetBloat), DurationS: m.Duration.Seconds(),
		Seeds: m.Seeds, Points: m.Points, Cells: len(m.Cells), Summary: m.Summaries(), ByFactor: m.ByFactor()}
	rd := func(d DirMedians, unit float64) DirMedians {
		return DirMedians{round(d.Download, unit), round(d.Upload, unit)}
	}
	for i := range r.Summary {
		s := &r.Summary[i]
		s.Fraction = round(s.Fraction, 1e-4)
		s.UtilisationVsOracle = rd(s.UtilisationVsOracle, 1e-4)
		s.P99MS = rd(s.P99MS, 0.01)
		s.AboveMaxS = rd(s.AboveMaxS, 0.001)
		s.AboveLaterS = rd(s.AboveLaterS, 0.001)
		s.WritesPerHour = rd(s.WritesPerHour, 0.1)
	}
	for i := range r.ByFactor {
		r.ByFactor[i].Fraction = round(r.ByFactor[i].Fraction, 1e-4)
	}
	return r
}

// WriteJSON writes the document, indented, with a trailing newline.
func (r *MatrixReport) WriteJSON(w io.Writer) error { return WriteIndentedJSON(w, r) }

// WriteText renders the summaries as tables.
func (r *MatrixReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%d cells: %d points x %d seeds per scenario, %v each. Bar, both directions: utilisation >= 85 %% of the oracle's, p99 <= %g ms + the oracle's p99.\n\n",
		r.Cells, len(r.Points), len(r.Seeds), time.Duration(r.DurationS*float64(time.Second)), 2*r.TargetBloatMS)
	pct := func(v float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf("%.0f%%", 100*v)
	}
	num := func(v float64, f string) string {
		if math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf(f, v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\tshaper\tbar met\t\tutil/oracle down\tup\tp99 ms down\tup\t>2x s down\tup\tlater >2x s down\tup\twrites/h down\tup\t\n")
	prev := ""
	for _, s := range r.Summary {
		name := s.Scenario
		if name == prev {
			name = ""
		}
		prev = s.Scenario
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Shaper, s.Met, s.Runs, pct(s.Fraction),
			pct(s.UtilisationVsOracle.Download), pct(s.UtilisationVsOracle.Upload),
			num(s.P99MS.Download, "%.1f"), num(s.P99MS.Upload, "%.1f"),
			num(s.AboveMaxS.Download, "%.1f"), num(s.AboveMaxS.Upload, "%.1f"),
			num(s.AboveLaterS.Download, "%.2f"), num(s.AboveLaterS.Upload, "%.2f"),
			num(s.WritesPerHour.Download, "%.0f"), num(s.WritesPerHour.Upload, "%.0f"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nbar met by factor level (all scenarios):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "factor\tlevel\tshaper\tbar met\t\t\n")
	prev = ""
	for _, f := range r.ByFactor {
		name := f.Factor
		if name == prev {
			name = ""
		}
		prev = f.Factor
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t\n", name, f.Level, f.Shaper, f.Met, f.Runs, pct(f.Fraction))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var pts []string
	for i, p := range r.Points {
		pts = append(pts, fmt.Sprintf("  %2d  %v", i+1, p))
	}
	_, err := fmt.Fprintf(w, "\nmedians over runs with the direction loaded (writes/h: over every run); >2x s: the worst event's loaded time above 2 x target_bloat.\npoints:\n%s\n", strings.Join(pts, "\n"))
	return err
}
