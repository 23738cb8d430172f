package commands

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/loops/steer"
)

// steerDeps replace what `wanctl steer` builds for itself (tests only);
// nil fields get the production pieces.
type steerDeps struct {
	rtt steer.RTTMeasurer
	now func() time.Time
}

func steerCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "steer",
		Usage:     "run one steering cycle (started every 2 s by wanctl-steer.timer)",
		ArgsUsage: " ",
		Description: "Reads the primary and alternate WANs' autorate state, measures the primary's RTT with a short\n" +
			"ICMP burst, reads its download queue's drops and backlog, and enables the steering\n" +
			"mark-connection rules while the primary stays congested (disables them once it is healthy).\n" +
			"State: daemon.state_dir/steering.json; metrics: daemon.state_dir/steering.prom.\n" +
			"Logs one line per run at info level when it changed or blocked something, at debug when quiet.\n" +
			"-dry-run (or steering { dry_run = true }) decides, logs and records what it would switch, writing nothing to the router.\n" +
			"Exit status: 0, also when another run holds daemon.lock_dir/steer.lock (it logs \"skipped\");\n" +
			"1 on a configuration, state or router error (the steering state is then left as it was).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "assess and record what would be switched (state file, metrics with dry_run=\"true\"); never write to the router"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("steer takes no arguments (got %q)", c.Args().First()), 1)
			}
			log, _, err := newLogger(c, stdio)
			if err != nil {
				return err
			}
			path := configPath(c, stdio)
			cfg, err := loadForDaemon(path, stdio, log)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			if cfg.Steering == nil {
				return cli.Exit(steer.NoSteeringError{File: path}.Error(), 1)
			}
			var deps steerDeps
			if stdio.steer != nil {
				deps = *stdio.steer
			}
			prim := cfg.WAN(cfg.Steering.Primary)
			client, err := steer.NewRouterClient(cfg.Router(prim.Router), log)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			rtt := deps.rtt
			if rtt == nil {
				rtt = &steer.PingMeasurer{Log: log}
			}
			// systemd stops a run that overstays TimeoutStartSec with
			// SIGTERM: give up cleanly (the state stays as it was).
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			_, err = steer.Run(ctx, steer.Config{Config: cfg, Router: client, RTT: rtt, Now: deps.now, Log: log, DryRun: c.Bool("dry-run")})
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return cli.Exit("steer: interrupted; the steering state is unchanged", 1)
				}
				return cli.Exit(err.Error(), 1)
			}
			return nil
		},
	}
}
