package commands

import (
	"bytes"
	"context"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/demo"
	"github.com/wanctl/wanctl/sim"
	"github.com/wanctl/wanctl/statefile"
)

func demoCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "a zero-config tour: the emulated router, two simulated WANs, autorate and steer at work (about 30 s)",
		Description: `Starts the built-in RouterOS emulator on a free loopback port, applies a built-in
dual-WAN configuration to it, then runs the real autorate daemon and steer every 2 s
against simulated links whose capacity drops and recovers. No router, no
configuration and no privileges needed: the demo always runs its built-in
configuration, so -config is refused and $WANCTL_CONFIG ignored.`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Value: 30 * time.Second, Usage: "how long to run"},
			&cli.Float64Flag{Name: "speed", Value: 1, Usage: "virtual seconds per wall second", Hidden: true},
			&cli.Int64Flag{Name: "seed", Value: 1, Usage: "link simulator seed"},
			&cli.StringFlag{Name: "svg", Usage: "also write the plot 'wanctl simulate -svg' draws (capacity, shaper rate, delay) of the primary WAN to this file"},
		},
		Action: func(c *cli.Context) error {
			if opt(c, "config") != "" {
				// Given before the name, the app-level flag reaches here.
				return cli.Exit("-config: the demo runs its built-in configuration against the emulator; use 'wanctl emulator' to try your own", 1)
			}
			log, _, err := newLogger(c, stdio)
			if err != nil {
				return err
			}
			if opt(c, "log-level") == "info" {
				// The timeline is the demo's output; the daemon's info logs
				// would drown it. -log-level debug shows everything.
				log = nil
			}
			if c.Duration("duration") < 10*time.Second {
				return cli.Exit("-duration: at least 10s", 1)
			}
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			sum, err := demo.Run(ctx, demo.Config{Out: stdio.Out, Logger: log, Speed: c.Float64("speed"),
				Duration: c.Duration("duration"), Seed: c.Int64("seed")})
			if err != nil {
				if ctx.Err() != nil && context.Cause(ctx) != nil {
					return cli.Exit("interrupted", 1)
				}
				return cli.Exit(err.Error(), 1)
			}
			if path := c.String("svg"); path != "" {
				if sum.Plot == nil {
					return cli.Exit("-svg: the reference run for the plot failed", 1)
				}
				var b bytes.Buffer
				if err := sim.WriteSVG(&b, sum.Plot); err != nil {
					return cli.Exit(fmt.Sprintf("-svg: %v", err), 1)
				}
				if err := statefile.WriteAtomic(path, b.Bytes(), 0o644); err != nil {
					return cli.Exit(fmt.Sprintf("-svg: %v (is the directory writable?)", err), 1)
				}
				fmt.Fprintf(stdio.Out, "Plot written to %s.\n", path)
			}
			return nil
		},
	}
}
