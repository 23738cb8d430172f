package testbed

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/wanctl/wanctl/sim"
)

// Setup describes the testbed a report was measured on.
type Setup struct {
	NominalBps [2]int64 `json:"nominal_bps"` // download, upload
	CeilingBps [2]int64 `json:"ceiling_bps"`
	BufferMS   float64  `json:"isp_buffer_ms"`
	BaseRTTMS  float64  `json:"base_rtt_ms"`
	Flows      int      `json:"flows_per_direction"`
	Load       string   `json:"load"`
	Timestamps bool     `json:"timestamps"` // the daemon measured one-way delays
}

// ShaperScores are one direction's scores of the policies run (nil: not
// run).
type ShaperScores struct {
	Wanctl *Scores `json:"wanctl,omitempty"`
	Oracle *Scores `json:"oracle,omitempty"`
	Fixed  *Scores `json:"fixed,omitempty"`
}

// ScenarioReport is one scenario: as in `wanctl simulate -json`, the
// top-level figures are the download direction; Runs has each run's
// measurement details.
type ScenarioReport struct {
	Name string `json:"name"`
	Seed int64  `json:"seed"`
	ShaperScores
	Upload ShaperScores `json:"upload"`
	Runs   []*Result    `json:"runs"`
}

// Report is `wanctl lab -json`'s document.
type Report struct {
	FormatVersion int              `json:"format_version"`
	TargetBloatMS float64          `json:"target_bloat_ms"`
	Testbed       Setup            `json:"testbed"`
	Scenarios     []ScenarioReport `json:"scenarios"`
}

// NewReport groups results by scenario (in order of first appearance).
func NewReport(setup Setup, target time.Duration, results ...*Result) *Report {
	r := &Report{FormatVersion: sim.FormatVersion, TargetBloatMS: float64(target) / float64(time.Millisecond), Testbed: setup, Scenarios: []ScenarioReport{}}
	for _, res := range results {
		var s *ScenarioReport
		for i := range r.Scenarios {
			if r.Scenarios[i].Name == res.Scenario {
				s = &r.Scenarios[i]
			}
		}
		if s == nil {
			r.Scenarios = append(r.Scenarios, ScenarioReport{Name: res.Scenario, Seed: res.Seed})
			s = &r.Scenarios[len(r.Scenarios)-1]
		}
		s.Runs = append(s.Runs, res)
		for d, ss := range [2]*ShaperScores{&s.ShaperScores, &s.Upload} {
			sc := res.Dirs[d].Scores.Rounded()
			switch res.Policy {
			case PolicyWanctl:
				ss.Wanctl = &sc
			case PolicyOracle:
				ss.Oracle = &sc
			case PolicyFixed:
				ss.Fixed = &sc
			}
		}
	}
	return r
}

// WriteJSON writes the document, indented, with a trailing newline.
func (r *Report) WriteJSON(w io.Writer) error { return sim.WriteIndentedJSON(w, r) }

// WriteText renders the scores as simulate's table (one row per scenario,
// direction and policy run),
// then one line of measurement details per run.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\tdirection\tshaper\tutilisation\tp50 ms\tp95 ms\tp99 ms\trecovery s\t>2x s\twrites/h\t\n")
	for _, s := range r.Scenarios {
		first := true
		for d, ss := range [2]ShaperScores{s.ShaperScores, s.Upload} {
			dirFirst := true
			for _, row := range []struct {
				name string
				sc   *Scores
			}{{"wanctl", ss.Wanctl}, {"oracle", ss.Oracle}, {"fixed", ss.Fixed}} {
				if row.sc == nil {
					continue
				}
				name, dir := "", ""
				if first {
					name = s.Name
				}
				if dirFirst {
					dir = sim.Dir(d).String()
				}
				first, dirFirst = false, false
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f%%\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t\n", name, dir, row.name,
					100*row.sc.Utilisation, row.sc.AddedDelayMS.P50, row.sc.AddedDelayMS.P95, row.sc.AddedDelayMS.P99,
					row.sc.RecoveryS, row.sc.AboveMaxS, row.sc.WritesPerHour)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "testbed: nominal %s/%s bit/s down/up, ceilings %s/%s, ISP buffer %g ms, base RTT %g ms, %d cubic flows per loaded direction (%s)\n",
		rate(r.Testbed.NominalBps[0]), rate(r.Testbed.NominalBps[1]), rate(r.Testbed.CeilingBps[0]), rate(r.Testbed.CeilingBps[1]),
		r.Testbed.BufferMS, r.Testbed.BaseRTTMS, r.Testbed.Flows, r.Testbed.Load)
	if r.Testbed.Timestamps {
		fmt.Fprintln(w, "the daemon measured with ICMP timestamp requests (one-way delays)")
	}
	fmt.Fprintf(w, "added delay: one-way, from the probe's packet timestamps, above the idle link's, while loaded; recovery: worst time after a drop or load onset until delay stays < %g ms for 1 s;\n"+
		">2x s: the most loaded time any such event spent with the delay above 2 x target_bloat (%g ms)\n", r.TargetBloatMS, 2*r.TargetBloatMS)
	for _, s := range r.Scenarios {
		for _, x := range s.Runs {
			fmt.Fprintf(w, "%s/%s: %s\n", s.Name, x.Policy, x.Details())
		}
	}
	return nil
}

// Details is one line of a run's measurement facts: what to check before
// trusting its scores.
func (x *Result) Details() string {
	dn, up := &x.Dirs[sim.Download], &x.Dirs[sim.Upload]
	s := fmt.Sprintf("probes %d (lost %d/%d, discarded %d/%d), max ISP queue %.0f/%.0f ms, goodput %s/%s, drops: ISP %d/%d, router %d/%d, elsewhere %d",
		x.ProbesSent, dn.ProbeLost, up.ProbeLost, dn.ProbeDiscarded, up.ProbeDiscarded, dn.MaxISPQueueMS, up.MaxISPQueueMS,
		rate(int64(dn.GoodputBps)), rate(int64(up.GoodputBps)), dn.ISPDrops, up.ISPDrops, dn.RouterDrops, up.RouterDrops,
		x.VethDrops+x.SoftnetDrops+x.bridgeDrops())
	if x.Bridge != nil {
		s += fmt.Sprintf(", delay line late p99 %d/%d us", x.Bridge.Dirs[1].LateP99US, x.Bridge.Dirs[0].LateP99US)
	}
	if x.Policy == PolicyWanctl {
		s += fmt.Sprintf(", writes %d/%d (max %.1f ms to the kernel)", dn.Writes, up.Writes, x.MaxApplyMS)
	}
	return s + fmt.Sprintf("; CPU: machine %.0f%% busy (softirq %.0f%%) of %d cores, lab %.0f%%, daemon %.1f%%, delay line %.0f%% of a core; %.0f s",
		x.CPU.BusyPct, x.CPU.SoftirqPct, x.CPU.Cores, x.CPU.LabPct, x.CPU.DaemonPct, x.CPU.BridgePct, x.WallS)
}

func (x *Result) bridgeDrops() uint64 {
	if x.Bridge == nil {
		return 0
	}
	var n uint64
	for _, d := range x.Bridge.Dirs {
		n += d.RingFull + d.Oversize + d.SendErrors + d.KernelDrops
	}
	return n
}

func rate(bps int64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.3gG", float64(bps)/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.3gM", float64(bps)/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.3gk", float64(bps)/1e3)
	}
	return fmt.Sprint(bps)
}
