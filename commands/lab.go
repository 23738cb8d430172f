package commands

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/sim"
	"github.com/wanctl/wanctl/testbed"
)

func labCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "lab",
		Usage:     "run the real autorate daemon against a real-kernel link in network namespaces (root) and score it",
		ArgsUsage: " ",
		Description: "Builds a closed loop from real parts in network namespaces it creates and deletes: the\n" +
			"router's HTB follows the max-limit the real `wanctl autorate` writes to the RouterOS emulator,\n" +
			"the ISP's TBF plays a simulator scenario's capacity behind a 300 ms buffer, a delay line adds\n" +
			"the base RTT, cubic TCP flows load it, and a UDP probe's timestamps give the added delay.\n" +
			"Prints simulate's scores for wanctl and the references (oracle: 95 % of the capacity; fixed:\n" +
			"the ceiling). Needs root, iproute2 (ip, tc) and a kernel with HTB and TBF. Each run takes the\n" +
			"-duration plus a few seconds. See docs/testbed.md.\n" +
			"Scenarios: " + strings.Join(sim.ScenarioNames(), ", ") + ", or all.\n" +
			"Exit status: 0 done, 1 error.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "scenario", Value: "step-drop", Usage: "built-in scenario(s), comma-separated, or all"},
			&cli.StringFlag{Name: "trace", Usage: "play this capacity trace (CSV, as simulate -trace) instead"},
			&cli.DurationFlag{Name: "duration", Value: time.Minute, Usage: "length of each run (10s..1h)"},
			&cli.Int64Flag{Name: "seed", Value: 1, Usage: "scenario seed"},
			&cli.StringFlag{Name: "policy", Value: "all", Usage: "wanctl, oracle, fixed (comma-separated), or all"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document instead of the table"},
			&cli.StringFlag{Name: "download", Value: "50M", Usage: "nominal download capacity of the ISP link"},
			&cli.StringFlag{Name: "upload", Value: "10M", Usage: "nominal upload capacity of the ISP link"},
			&cli.DurationFlag{Name: "buffer", Value: 300 * time.Millisecond, Usage: "ISP buffer, in time at the nominal capacity"},
			&cli.DurationFlag{Name: "rtt", Value: 20 * time.Millisecond, Usage: "base round-trip time of the path"},
			&cli.IntFlag{Name: "flows", Value: 4, Usage: "bulk TCP flows per loaded direction"},
			&cli.BoolFlag{Name: "timestamps", Usage: "the daemon measures with ICMP timestamp requests (measurement.timestamps): one-way delays"},
			&cli.StringFlag{Name: "load", Value: "both", Usage: "directions that get bulk flows: both, download or upload"},
			&cli.StringFlag{Name: "log-dir", Usage: "keep the daemon's and the delay line's logs and the generated configuration here"},
		},
		Subcommands: []*cli.Command{{
			// The delay line runs as a process of its own (real-time
			// priority, its own threads); lab starts it as `lab bridge`.
			Name:   "bridge",
			Hidden: true,
			Usage:  "the testbed's delay line (started by wanctl lab)",
			Action: func(*cli.Context) error {
				if err := testbed.RunBridge(stdio.In, stdio.Out); err != nil {
					return cli.Exit(err.Error(), 1)
				}
				return nil
			},
		}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("lab takes no arguments (got %q); pick scenarios with -scenario NAME", c.Args().First()), 1)
			}
			return runLab(c, stdio)
		},
	}
}

func runLab(c *cli.Context, stdio IO) error {
	dur := c.Duration("duration")
	if dur < sim.MinDuration || dur > time.Hour {
		return cli.Exit(fmt.Sprintf("-duration %v: use %v .. 1h", dur, sim.MinDuration), 1)
	}
	var nominal [2]int64
	for d, f := range [2]string{"download", "upload"} {
		v, err := config.ParseRate(c.String(f))
		if err != nil || v < 1e6 || v > 200e6 {
			return cli.Exit(fmt.Sprintf("-%s %q: give a rate from 1M to 200M (e.g. 50M); the machine must keep up with it", f, c.String(f)), 1)
		}
		nominal[d] = v
	}
	var load testbed.Load
	switch c.String("load") {
	case "both":
		load = testbed.LoadBoth
	case "download":
		load = testbed.LoadDownload
	case "upload":
		load = testbed.LoadUpload
	default:
		return cli.Exit(fmt.Sprintf("-load %q: use both, download or upload", c.String("load")), 1)
	}
	var policies []testbed.Policy
	if p := c.String("policy"); p == "all" {
		policies = testbed.Policies
	} else {
		for _, s := range strings.Split(p, ",") {
			pol := testbed.Policy(strings.TrimSpace(s))
			if pol != testbed.PolicyWanctl && pol != testbed.PolicyOracle && pol != testbed.PolicyFixed {
				return cli.Exit(fmt.Sprintf("-policy %q: use wanctl, oracle, fixed (comma-separated) or all", p), 1)
			}
			policies = append(policies, pol)
		}
	}
	seed := c.Int64("seed")
	var scenarios []*sim.Scenario
	if tr := c.String("trace"); tr != "" {
		if c.IsSet("scenario") {
			return cli.Exit("-trace and -scenario exclude each other", 1)
		}
		t, err := sim.ReadTraceFile(tr)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		sc, err := sim.TraceScenario(t, nominal, dur, seed)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		scenarios = append(scenarios, sc)
	} else {
		for _, s := range strings.Split(c.String("scenario"), ",") {
			names, err := sim.ExpandScenarios(strings.TrimSpace(s))
			if err != nil {
				return cli.Exit(fmt.Sprintf("-scenario: %v", err), 1)
			}
			for _, n := range names {
				sc, err := sim.NewScenario(n, nominal, dur, seed)
				if err != nil {
					return cli.Exit(err.Error(), 1)
				}
				scenarios = append(scenarios, sc)
			}
		}
	}
	if os.Geteuid() != 0 {
		return cli.Exit("wanctl lab needs root: it creates network namespaces and shapers (run it with sudo)", 1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if gone, err := testbed.CleanStale(); err != nil {
		return cli.Exit(err.Error(), 1)
	} else if len(gone) > 0 {
		fmt.Fprintf(stdio.Err, "removed %d namespaces left by an earlier run: %s\n", len(gone), strings.Join(gone, ", "))
	}
	// A trace's nominal capacity is its peak, not -download/-upload.
	ceilings := func(sc *sim.Scenario) (nom, ceil [2]int64) {
		for d := range 2 {
			nom[d] = int64(sc.Nominal[d])
			ceil[d] = int64(sim.CeilingShare * sc.Nominal[d])
		}
		return nom, ceil
	}
	nom, ceil := ceilings(scenarios[0])
	setup := testbed.Setup{
		NominalBps: nom, CeilingBps: ceil, BufferMS: millis(c.Duration("buffer")), BaseRTTMS: millis(c.Duration("rtt")),
		Flows: c.Int("flows"), Load: c.String("load"), Timestamps: c.Bool("timestamps"),
	}
	var results []*testbed.Result
	for _, sc := range scenarios {
		_, ceiling := ceilings(sc)
		for _, pol := range policies {
			opt := testbed.Options{
				Scenario: sc, Policy: pol, Ceiling: ceiling, Buffer: c.Duration("buffer"), BaseRTT: c.Duration("rtt"),
				Flows: c.Int("flows"), Load: load, LogDir: c.String("log-dir"), Timestamps: c.Bool("timestamps"),
				Logf: func(format string, args ...any) {
					fmt.Fprintf(stdio.Err, "lab: %s/%s: %s\n", sc.Name, pol, fmt.Sprintf(format, args...))
				},
			}
			res, err := testbed.Run(ctx, opt)
			if err != nil {
				if ctx.Err() != nil {
					return cli.Exit("interrupted; the namespaces are deleted", 1)
				}
				return cli.Exit(fmt.Sprintf("scenario %s, %s: %v", sc.Name, pol, err), 1)
			}
			fmt.Fprintf(stdio.Err, "lab: %s/%s: %s\n", sc.Name, pol, res.Details())
			results = append(results, res)
		}
	}
	rep := testbed.NewReport(setup, 15*time.Millisecond, results...)
	var err error
	if c.Bool("json") {
		err = rep.WriteJSON(stdio.Out)
	} else {
		err = rep.WriteText(stdio.Out)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("writing the report: %v", err), 1)
	}
	return nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
