package commands

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/loops/autorate"
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
			"-bound LAG adds, per scenario, what a shaper that knew the true capacity and queue LAG late would\n" +
			"reach at 95 % .. 50 % of it, draining as wanctl does: about the best a round-trip controller can hope for. With\n" +
			"-matrix it is the shaper \"bound\" (at 90 %, else 85 %): how many cells are within reach at all.\n" +
			"-matrix plays every scenario over a sample of jitter x base RTT x write latency x ping rate x load\n" +
			"x ISP buffer x seeds and prints, per scenario and policy, how often the quality bar is met.\n" +
			"Exit status: 0 done, 1 error.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "wan", Usage: "the WAN of the configuration to simulate (needed when it declares several)"},
			&cli.StringFlag{Name: "scenario", Value: "all", Usage: "built-in scenario to run, or all"},
			&cli.StringFlag{Name: "trace", Usage: "play this capacity trace (CSV) instead of a built-in scenario"},
			&cli.DurationFlag{Name: "duration", Usage: "length of each run, 10s..24h", DefaultText: "2m for scenarios, the trace's length for -trace"},
			&cli.Int64Flag{Name: "seed", Value: 1, Usage: "random seed: the same seed gives the same link and the same figures"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document instead of the table"},
			&cli.StringFlag{Name: "svg", Usage: "also write a plot of capacity, rate and delay over time to this file"},
			&cli.DurationFlag{Name: "bound", Usage: "also play a shaper that knows the true capacity this late (e.g. 100ms: a round trip and a cycle; its writes take -write-latency), at 95 % .. 50 % of it (-matrix: at 90 %, else 85 %)"},
			&cli.StringFlag{Name: "load", Value: "elastic", Usage: "traffic of the loaded phases: elastic (TCP-like flows) or saturating (more than any rate)"},
			&cli.IntFlag{Name: "flows", Value: 4, Usage: "elastic flows per direction"},
			&cli.DurationFlag{Name: "jitter", Usage: "mean random delay of each echo", DefaultText: "the scenario's, 1ms on wired lines"},
			&cli.StringFlag{Name: "jitter-dist", Usage: "jitter distribution: exp, pareto or lognormal (default: the scenario's)"},
			&cli.StringFlag{Name: "base-rtt", Value: "8ms-25ms", Usage: "base RTT of reflectors and flows: a range (10ms-40ms) or a centre (30ms: ±25 %)"},
			&cli.DurationFlag{Name: "write-latency", Value: 30 * time.Millisecond, Usage: "how long the router takes per write"},
			&cli.BoolFlag{Name: "timestamps", Usage: "measure with ICMP timestamp requests (measurement.timestamps): one-way delays per direction", DefaultText: "the WAN's measurement.timestamps"},
			&cli.IntFlag{Name: "ping-rate", Usage: "echoes per second, all reflectors together", DefaultText: "the WAN's measurement.ping_rate"},
			&cli.DurationFlag{Name: "isp-buffer", Value: 500 * time.Millisecond, Usage: "the ISP's buffer, in time at the nominal capacity"},
			&cli.StringFlag{Name: "nominal", Usage: "DOWN/UP: simulate the built-in example WAN on a line of this nominal capacity (ceilings 90 % of it), e.g. 50M/10M, the testbed's"},
			&cli.Float64Flag{Name: "idle-load", Value: 0.01, Usage: "traffic of the idle phases, a fraction of the nominal capacity (0: none, as in the testbed)"},
			&cli.StringFlag{Name: "shaper", Value: "cake", Usage: "the router's queue: cake, or htb (the testbed's: a priority class for sparse packets, a 20 ms drop-tail FIFO for the rest)"},
			&cli.BoolFlag{Name: "matrix", Usage: "run the robustness matrix (scenarios x link parameters x seeds) and print how often each policy meets the quality bar"},
			&cli.IntFlag{Name: "seeds", Value: 5, Usage: "-matrix: seeds per cell, from -seed on"},
			&cli.IntFlag{Name: "lhs", Value: 12, Usage: "-matrix: Latin hypercube points beside the 15 one-factor-at-a-time ones (the centre included)"},
			&cli.BoolFlag{Name: "full", Usage: "-matrix: every combination of the factors' levels (432 points) instead of the sample"},
			&cli.StringFlag{Name: "ablate", Usage: "-matrix: also run wanctl without each of these controller rules, comma-separated, or \"all\" for one run per rule (" + ruleList() + ")"},
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
// env() secrets, or the built-in example when neither is set (at -nominal's
// capacity when given).
func simulateConfig(c *cli.Context, stdio IO) (*config.Config, error) {
	path := opt(c, "config")
	if path == "" {
		path = stdio.getenv("WANCTL_CONFIG")
	}
	if nom := c.String("nominal"); nom != "" {
		if path != "" {
			return nil, cli.Exit("-nominal sizes the built-in example WAN; with a configuration, set its ceilings there (90 % of the line's capacity)", 1)
		}
		var rates [2]int64
		down, up, ok := strings.Cut(nom, "/")
		for d, v := range [2]string{down, up} {
			r, err := config.ParseRate(v)
			if !ok || err != nil || r < 100_000 {
				return nil, cli.Exit(fmt.Sprintf("-nominal %q: want DOWN/UP rates of at least 100k, e.g. 50M/10M", nom), 1)
			}
			rates[d] = r
		}
		cfg, err := sim.ExampleConfigAt(rates)
		if err != nil {
			return nil, cli.Exit(err.Error(), 1)
		}
		return cfg, nil
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

// simulateOptions applies the link flags to the WAN's options; the WAN's
// ping rate follows -ping-rate, so the controller knows it too.
func simulateOptions(c *cli.Context, w *config.WAN, interval time.Duration) (sim.Options, error) {
	opts := sim.OptionsFromWAN(w, interval)
	var err error
	if opts.Load, err = sim.ParseLoad(c.String("load")); err != nil {
		return opts, fmt.Errorf("-load: %w", err)
	}
	if opts.Flows = c.Int("flows"); opts.Flows < 1 || opts.Flows > 64 {
		return opts, fmt.Errorf("-flows %d: want 1..64", opts.Flows)
	}
	if opts.Jitter = c.Duration("jitter"); c.IsSet("jitter") && (opts.Jitter <= 0 || opts.Jitter > 10*time.Second) {
		return opts, fmt.Errorf("-jitter %v: want more than 0, at most 10s", opts.Jitter)
	}
	if d := c.String("jitter-dist"); d != "" {
		if opts.JitterDist, err = sim.ParseJitterDist(d); err != nil {
			return opts, fmt.Errorf("-jitter-dist: %w", err)
		}
	}
	if opts.BaseRTTMin, opts.BaseRTTMax, err = sim.ParseBaseRTT(c.String("base-rtt")); err != nil {
		return opts, fmt.Errorf("-base-rtt: %w", err)
	}
	if opts.WriteLatency = c.Duration("write-latency"); opts.WriteLatency <= 0 || opts.WriteLatency > 10*time.Second {
		return opts, fmt.Errorf("-write-latency %v: want more than 0, at most 10s", opts.WriteLatency)
	}
	if c.IsSet("ping-rate") {
		if r := c.Int("ping-rate"); r < 1 || r > 100 {
			return opts, fmt.Errorf("-ping-rate %d: want 1..100 per second (measurement.ping_rate's range)", r)
		}
		opts.PingRate = c.Int("ping-rate")
		w.Measurement.PingRate = opts.PingRate
	}
	if c.IsSet("timestamps") {
		opts.Timestamps = c.Bool("timestamps")
		w.Measurement.Timestamps = opts.Timestamps
	}
	if opts.ISPBuffer = c.Duration("isp-buffer"); opts.ISPBuffer < time.Millisecond || opts.ISPBuffer > time.Minute {
		return opts, fmt.Errorf("-isp-buffer %v: want 1ms..1m", opts.ISPBuffer)
	}
	switch il := c.Float64("idle-load"); {
	case il == 0:
		opts.IdleLoad = sim.NoIdleLoad
	case il > 0 && il < 1:
		opts.IdleLoad = il
	default:
		return opts, fmt.Errorf("-idle-load %g: want a fraction of the nominal capacity, 0 to below 1", il)
	}
	if opts.Shaper, err = sim.ParseShaper(c.String("shaper")); err != nil {
		return opts, fmt.Errorf("-shaper: %w", err)
	}
	return opts, nil
}

func runSimulate(c *cli.Context, stdio IO) error {
	if c.Bool("matrix") {
		return runMatrix(c, stdio)
	}
	for _, f := range []string{"seeds", "lhs", "full", "ablate"} {
		if c.IsSet(f) {
			return cli.Exit(fmt.Sprintf("-%s only applies to -matrix", f), 1)
		}
	}
	dur := c.Duration("duration")
	if dur != 0 && (dur < sim.MinDuration || dur > sim.MaxDuration) {
		return cli.Exit(fmt.Sprintf("-duration %v: use %v .. %v (e.g. -duration 5m), or leave it out", dur, sim.MinDuration, sim.MaxDuration), 1)
	}
	if err := checkBound(c); err != nil {
		return err
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
	// A copy: -ping-rate changes it, and the configuration stays as read.
	wc := *w
	w = &wc
	opts, err := simulateOptions(c, w, cfg.Daemon.Interval)
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
	if c.IsSet("bound") {
		for _, sc := range scenarios {
			b, err := sim.EvaluateBound(sc, opts, c.Duration("bound"), w.RouterWrites.IncreaseInterval, sim.BoundFactors)
			if err != nil {
				return cli.Exit(fmt.Sprintf("scenario %s: -bound: %v", sc.Name, err), 1)
			}
			rep.Bounds = append(rep.Bounds, b)
		}
	}
	if c.Bool("json") {
		err = rep.WriteJSON(stdio.Out)
	} else {
		fmt.Fprintf(stdio.Out, "wan %s from %s: download ceiling %s, upload ceiling %s, seed %d%s\n\n",
			w.Name, cfg.Filename, config.FormatRate(w.Download.Ceiling), config.FormatRate(w.Upload.Ceiling), seed, measuredWith(w))
		err = rep.WriteText(stdio.Out)
		if err == nil && len(rep.Bounds) > 0 {
			fmt.Fprintln(stdio.Out)
			err = sim.WriteBoundText(stdio.Out, rep.Bounds...)
		}
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("writing the report: %v", err), 1)
	}
	return nil
}

// runMatrix is simulate -matrix.
func runMatrix(c *cli.Context, stdio IO) error {
	for _, f := range []string{"trace", "svg", "jitter", "base-rtt", "write-latency", "ping-rate", "load", "isp-buffer", "idle-load", "shaper"} {
		if c.IsSet(f) {
			return cli.Exit(fmt.Sprintf("-matrix varies the link itself: drop -%s", f), 1)
		}
	}
	dur := c.Duration("duration")
	if dur != 0 && (dur < sim.MinDuration || dur > sim.MaxDuration) {
		return cli.Exit(fmt.Sprintf("-duration %v: use %v .. %v (e.g. -duration 1m), or leave it out", dur, sim.MinDuration, sim.MaxDuration), 1)
	}
	if err := checkBound(c); err != nil {
		return err
	}
	seeds, lhs := c.Int("seeds"), c.Int("lhs")
	if seeds < 1 || seeds > 1000 || lhs < 0 || lhs > 1000 {
		return cli.Exit(fmt.Sprintf("-seeds %d -lhs %d: want 1..1000 seeds and 0..1000 points", seeds, lhs), 1)
	}
	names, err := sim.ExpandScenarios(c.String("scenario"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("-scenario: %v", err), 1)
	}
	cfg, err := simulateConfig(c, stdio)
	if err != nil {
		return err
	}
	w, err := simulateWAN(cfg, c.String("wan"))
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	base, err := simulateOptions(c, w, cfg.Daemon.Interval) // -flows, -jitter-dist
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	first := c.Int64("seed")
	mc := sim.MatrixConfig{
		WAN: w, Interval: cfg.Daemon.Interval, Scenarios: names, Duration: dur,
		Base:     sim.Options{Flows: base.Flows, JitterDist: base.JitterDist},
		Points:   sim.MatrixSample(lhs, first),
		Policies: []sim.PolicyFactory{sim.WanctlFactory(), sim.CakeAutorateFactory()},
	}
	if c.Bool("full") {
		mc.Points = sim.MatrixFull()
	}
	ablate, err := ablationRules(c.String("ablate"))
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	for _, r := range ablate {
		mc.Policies = append(mc.Policies, sim.WanctlWithoutFactory(r))
	}
	if c.IsSet("bound") {
		mc.Bound = &sim.MatrixBound{Lag: c.Duration("bound"), Factors: sim.MatrixBoundFactors}
	}
	for i := range seeds {
		mc.Seeds = append(mc.Seeds, first+int64(i))
	}
	m, err := sim.RunMatrix(c.Context, mc)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	rep := m.Report()
	if c.Bool("json") {
		err = rep.WriteJSON(stdio.Out)
	} else {
		fmt.Fprintf(stdio.Out, "wan %s from %s: download ceiling %s, upload ceiling %s, seeds %d..%d%s\n",
			w.Name, cfg.Filename, config.FormatRate(w.Download.Ceiling), config.FormatRate(w.Upload.Ceiling), first, first+int64(seeds)-1, measuredWith(w))
		err = rep.WriteText(stdio.Out)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("writing the report: %v", err), 1)
	}
	return nil
}

// checkBound validates -bound.
func checkBound(c *cli.Context) error {
	if lag := c.Duration("bound"); lag < 0 || lag > 10*time.Second {
		return cli.Exit(fmt.Sprintf("-bound %v: want 0..10s (how late the bound knows the capacity)", lag), 1)
	}
	return nil
}

// ablationRules parses -ablate: rule names separated by commas, or "all"
// (each rule on its own).
func ablationRules(s string) ([]autorate.Rule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if s == "all" {
		return autorate.Rules(), nil
	}
	var rs []autorate.Rule
	for _, n := range strings.Split(s, ",") {
		r, ok := autorate.ParseRule(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("-ablate: unknown rule %q; the rules are %s, or all", n, ruleList())
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func ruleList() string {
	var names []string
	for _, r := range autorate.Rules() {
		names = append(names, r.String())
	}
	return strings.Join(names, ", ")
}

// measuredWith is the header's note on how the WAN measures: nothing for
// round trips, the one-way delays with timestamps.
func measuredWith(w *config.WAN) string {
	if w.Measurement.Timestamps {
		return ", one-way delays (ICMP timestamps)"
	}
	return ""
}
