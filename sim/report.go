package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// FormatVersion is the JSON report's format_version.
const FormatVersion = 1

// Percentiles of the added delay while loaded, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Scores are one shaper's figures for one direction of a scenario.
type Scores struct {
	// Utilisation is delivered / capacity, summed over the loaded phases.
	Utilisation float64 `json:"utilisation"`
	// AddedDelayMS is the delay above base RTT (ISP queue + CAKE), sampled
	// every millisecond of the loaded phases.
	AddedDelayMS Percentiles `json:"added_delay_ms"`
	// RecoveryS is the worst recovery time over the scenario's events
	// (capacity drops and load onsets): from the event until the added
	// delay has stayed below target_bloat for 1 s. 0 when there is none.
	RecoveryS float64 `json:"recovery_s"`
	// WritesPerHour counts completed router writes, scaled to an hour.
	WritesPerHour float64 `json:"writes_per_hour"`
	// AboveMaxS and AboveMeanS are the loaded time with the added delay
	// above 2 x target_bloat per event (from an event until the next: the
	// whole loaded time, which p99 leaves 1 % of unscored), the worst
	// event's and the mean over the events followed by loaded time.
	AboveMaxS  float64 `json:"above_2x_target_s"`
	AboveMeanS float64 `json:"above_2x_target_mean_s"`
	// AboveEventsS is each of those events' time in order (idle-then-burst:
	// one per burst).
	AboveEventsS []float64 `json:"above_2x_target_events_s,omitempty"`
}

// ShaperScores are one direction's scores of the shapers.
type ShaperScores struct {
	Wanctl       Scores  `json:"wanctl"`
	CakeAutorate *Scores `json:"cake_autorate,omitempty"` // the peer, when run
	Oracle       Scores  `json:"oracle"`
	Fixed        Scores  `json:"fixed"`
}

// ScenarioReport is one scenario in the JSON document: the top-level
// figures are the download direction.
type ScenarioReport struct {
	Name         string       `json:"name"`
	Seed         int64        `json:"seed"`
	Wanctl       Scores       `json:"wanctl"`
	CakeAutorate *Scores      `json:"cake_autorate,omitempty"` // the peer, when run
	Oracle       Scores       `json:"oracle"`
	Fixed        Scores       `json:"fixed"`
	Upload       ShaperScores `json:"upload"`
}

// Report is `wanctl simulate -json`'s document.
type Report struct {
	FormatVersion int              `json:"format_version"`
	TargetBloatMS float64          `json:"target_bloat_ms"`
	Scenarios     []ScenarioReport `json:"scenarios"`
	// Bounds are the delayed oracle's frontiers (simulate -bound), one per
	// scenario.
	Bounds []*Bound `json:"bounds,omitempty"`
}

// NewReport collects results (all run with the same target bloat) into a
// document. Figures are rounded to what is meaningful (utilisation to
// 0.0001, delays to 0.01 ms, recovery to 1 ms, writes to 0.1/h). A result
// with a peer run gets its cake_autorate scores; without one the document
// is what it was before the peer existed (format_version 1 either way: the
// key is only added).
func NewReport(results ...*Result) *Report {
	r := &Report{FormatVersion: FormatVersion, Scenarios: []ScenarioReport{}}
	peer := func(res *Result, d Dir) *Scores {
		if res.Peer == nil {
			return nil
		}
		s := res.Peer.Dirs[d].Scores.Rounded()
		return &s
	}
	for _, res := range results {
		r.TargetBloatMS = ms(res.TargetBloat)
		r.Scenarios = append(r.Scenarios, ScenarioReport{
			Name:         res.Scenario,
			Seed:         res.Seed,
			Wanctl:       res.Wanctl.Dirs[Download].Scores.Rounded(),
			CakeAutorate: peer(res, Download),
			Oracle:       res.Oracle.Dirs[Download].Scores.Rounded(),
			Fixed:        res.Fixed.Dirs[Download].Scores.Rounded(),
			Upload: ShaperScores{
				Wanctl:       res.Wanctl.Dirs[Upload].Scores.Rounded(),
				CakeAutorate: peer(res, Upload),
				Oracle:       res.Oracle.Dirs[Upload].Scores.Rounded(),
				Fixed:        res.Fixed.Dirs[Upload].Scores.Rounded(),
			},
		})
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// round rounds v to a multiple of unit (a power of ten). Dividing by the
// integer 1/unit, rather than multiplying by unit, gives the double nearest
// the decimal (0.95, not 0.9500000000000001).
func round(v, unit float64) float64 {
	if unit < 1 {
		return math.Round(v/unit) / math.Round(1/unit)
	}
	return math.Round(v/unit) * unit
}

// Rounded is s as the reports print it: utilisation to 0.0001, delays to
// 0.01 ms, times to 1 ms, writes to 0.1 per hour.
func (s Scores) Rounded() Scores {
	return Scores{
		Utilisation: round(s.Utilisation, 1e-4),
		AddedDelayMS: Percentiles{
			P50: round(s.AddedDelayMS.P50, 0.01),
			P95: round(s.AddedDelayMS.P95, 0.01),
			P99: round(s.AddedDelayMS.P99, 0.01),
		},
		RecoveryS:     round(s.RecoveryS, 0.001),
		WritesPerHour: round(s.WritesPerHour, 0.1),
		AboveMaxS:     round(s.AboveMaxS, 0.001),
		AboveMeanS:    round(s.AboveMeanS, 0.001),
		AboveEventsS:  roundAll(s.AboveEventsS, 0.001),
	}
}

// SetAbove fills the time above 2 x target (AboveMaxS, AboveMeanS,
// AboveEventsS) from, per event, the loaded milliseconds above it and the
// loaded milliseconds: an event in an idle phase has nothing to score
// until the next. The simulator and the testbed score the same way.
func (s *Scores) SetAbove(above, evLoaded []int64) {
	var sum, n int64
	if len(above) > 0 {
		s.AboveEventsS = make([]float64, 0, len(above))
	}
	for i, a := range above {
		if evLoaded[i] > 0 {
			s.AboveMaxS = max(s.AboveMaxS, float64(a)/1e3)
			s.AboveEventsS = append(s.AboveEventsS, float64(a)/1e3)
			sum += a
			n++
		}
	}
	if n > 0 {
		s.AboveMeanS = float64(sum) / float64(n) / 1e3
	}
}

func roundAll(v []float64, unit float64) []float64 {
	if v == nil {
		return nil
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = round(x, unit)
	}
	return out
}

// WriteJSON writes the document, indented, with a trailing newline.
func (r *Report) WriteJSON(w io.Writer) error { return WriteIndentedJSON(w, r) }

// WriteIndentedJSON writes v as JSON indented by two spaces, with a
// trailing newline: the form of every report document (simulate, the
// matrix, the testbed).
func WriteIndentedJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteText renders the scores as a table: one row per scenario, direction
// and shaper.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\tdirection\tshaper\tutilisation\tp50 ms\tp95 ms\tp99 ms\trecovery s\t>2x s\twrites/h\t\n")
	type row struct {
		dir, shaper string
		sc          Scores
	}
	for _, s := range r.Scenarios {
		var rows []row
		for _, d := range []struct {
			name string
			sh   ShaperScores
		}{
			{"download", ShaperScores{Wanctl: s.Wanctl, CakeAutorate: s.CakeAutorate, Oracle: s.Oracle, Fixed: s.Fixed}},
			{"upload", s.Upload},
		} {
			rows = append(rows, row{d.name, "wanctl", d.sh.Wanctl})
			if d.sh.CakeAutorate != nil {
				rows = append(rows, row{"", CakeAutorateName, *d.sh.CakeAutorate})
			}
			rows = append(rows, row{"", "oracle", d.sh.Oracle}, row{"", "fixed", d.sh.Fixed})
		}
		for i, row := range rows {
			name := ""
			if i == 0 {
				name = s.Name
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f%%\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t\n", name, row.dir, row.shaper,
				100*row.sc.Utilisation, row.sc.AddedDelayMS.P50, row.sc.AddedDelayMS.P95, row.sc.AddedDelayMS.P99,
				row.sc.RecoveryS, row.sc.AboveMaxS, row.sc.WritesPerHour)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "added delay: above base RTT while loaded (ISP queue + CAKE); recovery: worst time after a drop or load onset until delay stays < %g ms for 1 s;\n"+
		">2x s: the most loaded time any such event spent with the delay above 2 x target_bloat (%g ms)\n", r.TargetBloatMS, 2*r.TargetBloatMS)
	return err
}

// RecoveryEvents lists, in milliseconds from the run's start, the events
// that the recovery and the time above 2 x target_bloat are scored from
// (recoveryEvents' rules): the testbed scores its measurements with them.
func RecoveryEvents(sc *Scenario, d Dir) []int64 { return recoveryEvents(sc, d) }

// recoveryEvents lists, in ms, when dir's recovery is measured: each start
// of a loaded phase, each lift of an application limit (the offered load
// rising by more than a quarter at once), and each capacity drop — the
// capacity falling below 80% of its maximum over the preceding second, at
// most one per second.
func recoveryEvents(sc *Scenario, d Dir) []int64 {
	var ev []int64
	for _, s := range sc.Loaded[d] {
		ev = append(ev, int64(s.Start/time.Millisecond))
	}
	if app := &sc.AppLimit[d]; len(app.Points) > 1 {
		for i := 1; i < len(app.Points); i++ {
			// A lift is a jump from the previous point (a step profile, or
			// a ramp of 1 ms).
			p, q := app.Points[i-1], app.Points[i]
			if q.V > 1.25*p.V && (app.Step || q.At-p.At <= time.Millisecond) {
				ev = append(ev, int64(q.At/time.Millisecond))
			}
		}
	}
	const bucket = 100 // ms; the reference maximum is kept per bucket
	var ring [10]float64
	cur, last := 0.0, int64(-1)
	c := cursor{p: &sc.Capacity[d]}
	steps := int64(sc.Duration / time.Millisecond)
	for ms := range steps {
		if ms > 0 && ms%bucket == 0 {
			ring[(ms/bucket-1)%10] = cur
			cur = 0
		}
		v := c.at(time.Duration(ms) * time.Millisecond)
		ref := cur
		for _, m := range ring {
			ref = max(ref, m)
		}
		if v < 0.8*ref && (last < 0 || ms-last >= 1000) {
			ev = append(ev, ms)
			last = ms
		}
		cur = max(cur, v)
	}
	slices.Sort(ev)
	return slices.Compact(ev)
}

// Summary is a one-line description of a run's pings and writes, for
// verbose output.
func (r *Run) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "writes download %d upload %d", r.Dirs[Download].Writes, r.Dirs[Upload].Writes)
	if r.Pings.Sent > 0 {
		fmt.Fprintf(&b, "; pings sent %d, replies %d, lost %d, timeouts %d", r.Pings.Sent, r.Pings.Replies, r.Pings.Lost, r.Pings.Timeouts)
	}
	return b.String()
}
