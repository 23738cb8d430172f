package commands

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/sim"
	"github.com/wanctl/wanctl/statefile"
)

func simulateCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "simulate",
		Usage:     "run the autorate controller against simulated links and score it beside cake-autorate's algorithm, an oracle and a fixed shaper",
		ArgsUsage: " ",
		Description: "Runs the production autorate loop (controller, write policy, writer semantics) in virtual time\n" +
			"against a simulated bloated link, and the same link with a peer controller (cake-autorate's\n" +
			"algorithm in Go, docs/simulator.md), an oracle shaper (95 % of the true capacity) and a fixed\n" +
			"shaper at the ceiling. Prints utilisation, added delay p50/p95/p99,\n" +
			"recovery time and router writes per hour for each scenario and direction.\n\n" +
			"The WAN comes from -config (or $WANCTL_CONFIG); without either, a built-in example WAN\n" +
			"(450M/45M ceilings, four reflectors, defaults elsewhere) is used. Nothing talks to a router.\n" +
			"Scenarios: " + strings.Join(sim.ScenarioNames(), ", ") + ", or all (the default).\n" +
			"A trace is a CSV of t_seconds,capacity_bps[,upload_bps] rows (docs/simulator.md).\n" +
			"Exit status: 0 done, 1 error.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "wan", Usage: "the WAN of the configuration to simulate (needed when it declares several)"},
			&cli.StringFlag{Name: "scenario", Value: "all", Usage: "built-in scenario to run, or all"},
			&cli.StringFlag{Name: "trace", Usage: "play this capacity trace (CSV) instead of a built-in scenario"},
			&cli.DurationFlag{Name: "duration", Usage: "length of each run, 10s..24h (default: 2m for scenarios, the trace's length for -trace)"},
			&cli.Int64Flag{Name: "seed", Value: 1, Usage: "random seed: the same seed gives the same link and the same figures"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document instead of the table"},
			&cli.StringFlag{Name: "svg", Usage: "also write a plot of capacity, rate and delay over time to this file"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("simulate takes no arguments (got %q); pick scenarios with -scenario NAME", c.Args().First()), 1)
			}
			return runSimulate(c, stdio)
		},
	}
}

// simulateConfig loads -config (or $WANCTL_CONFIG) without requiring its
// env() secrets, or the built-in example when neither is set.
func simulateConfig(c *cli.Context, stdio IO) (*config.Config, error) {
	path := opt(c, "config")
	if path == "" {
		path = stdio.getenv("WANCTL_CONFIG")
	}
	if path == "" {
		cfg, err := sim.ExampleConfig()
		if err != nil {
			return nil, cli.Exit(err.Error(), 1)
		}
		return cfg, nil
	}
	cfg, diags := loadConfig(path, stdio, new([]string))
	if cfg == nil {
		diags.WriteText(stdio.Err, useColor(c, stdio, stdio.Err))
		return nil, cli.Exit(fmt.Sprintf("%s is invalid: fix it first (wanctl validate -config %s)", path, path), 1)
	}
	return cfg, nil
}

func simulateWAN(cfg *config.Config, name string) (*config.WAN, error) {
	if name != "" {
		w := cfg.WAN(name)
		if w == nil {
			return nil, fmt.Errorf("-wan %q: no such wan in %s (declared: %s)", name, cfg.Filename, wanNames(cfg.WANs))
		}
		return w, nil
	}
	switch len(cfg.WANs) {
	case 0:
		return nil, fmt.Errorf("%s declares no wan block: nothing to simulate", cfg.Filename)
	case 1:
		return cfg.WANs[0], nil
	}
	return nil, fmt.Errorf("%s declares %d WANs (%s): pick one with -wan NAME", cfg.Filename, len(cfg.WANs), wanNames(cfg.WANs))
}

func runSimulate(c *cli.Context, stdio IO) error {
	dur := c.Duration("duration")
	if dur != 0 && (dur < sim.MinDuration || dur > sim.MaxDuration) {
		return cli.Exit(fmt.Sprintf("-duration %v: use %v .. %v (e.g. -duration 5m), or leave it out", dur, sim.MinDuration, sim.MaxDuration), 1)
	}
	tracePath := c.String("trace")
	if tracePath != "" && c.IsSet("scenario") {
		return cli.Exit("-trace and -scenario exclude each other: a run plays either a capacity trace or built-in scenarios", 1)
	}
	var names []string
	if tracePath == "" {
		var err error
		if names, err = sim.ExpandScenarios(c.String("scenario")); err != nil {
			return cli.Exit(fmt.Sprintf("-scenario: %v", err), 1)
		}
	}
	cfg, err := simulateConfig(c, stdio)
	if err != nil {
		return err
	}
	w, err := simulateWAN(cfg, c.String("wan"))
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	seed := c.Int64("seed")
	nominal := sim.NominalCapacity(w)

	var scenarios []*sim.Scenario
	if tracePath != "" {
		tr, err := sim.ReadTraceFile(tracePath)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		sc, err := sim.TraceScenario(tr, nominal, dur, seed)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		scenarios = append(scenarios, sc)
	}
	for _, n := range names {
		sc, err := sim.NewScenario(n, nominal, dur, seed)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		scenarios = append(scenarios, sc)
	}

	opts := sim.OptionsFromWAN(w, cfg.Daemon.Interval)
	results := make([]*sim.Result, 0, len(scenarios))
	for _, sc := range scenarios {
		p, err := sim.NewWanctl(w)
		if err != nil {
			return cli.Exit(fmt.Sprintf("wan %q: %v", w.Name, err), 1)
		}
		peer, err := sim.NewCakeAutorate(w)
		if err != nil {
			return cli.Exit(fmt.Sprintf("wan %q: %v", w.Name, err), 1)
		}
		res, err := sim.EvaluateWith(sc, opts, p, peer)
		if err != nil {
			return cli.Exit(fmt.Sprintf("scenario %s: %v", sc.Name, err), 1)
		}
		results = append(results, res)
	}

	if path := c.String("svg"); path != "" {
		var b bytes.Buffer
		if err := sim.WriteSVG(&b, results...); err != nil {
			return cli.Exit(fmt.Sprintf("-svg: %v", err), 1)
		}
		if err := statefile.WriteAtomic(path, b.Bytes(), 0o644); err != nil {
			return cli.Exit(fmt.Sprintf("-svg: %v (is the directory writable?)", err), 1)
		}
	}
	rep := sim.NewReport(results...)
	if c.Bool("json") {
		err = rep.WriteJSON(stdio.Out)
	} else {
		fmt.Fprintf(stdio.Out, "wan %s from %s: download ceiling %s, upload ceiling %s, seed %d\n\n",
			w.Name, cfg.Filename, config.FormatRate(w.Download.Ceiling), config.FormatRate(w.Upload.Ceiling), seed)
		err = rep.WriteText(stdio.Out)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("writing the report: %v", err), 1)
	}
	return nil
}
