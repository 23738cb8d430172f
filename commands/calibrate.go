package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/lockfile"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/ping"
)

// calibrateDeps replace what `wanctl calibrate` builds (tests only).
type calibrateDeps struct {
	// burst pings w's reflectors (default: ping.Pinger.Burst).
	burst func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error)
	now   func() time.Time
}

func calibrateCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "calibrate",
		Usage:     "measure the idle RTT of each reflector and write the baselines into the WAN's state file",
		ArgsUsage: " ",
		Description: "Pings every reflector of the WAN(s) for -duration at the WAN's ping_rate while the link is idle,\n" +
			"prints loss, RTT and jitter per reflector, flags bad reflectors, and writes the baselines into\n" +
			"state_dir/autorate-<wan>.json so that autorate starts with them. Stop wanctl autorate first\n" +
			"(it holds the WAN's lock and would overwrite the file). Exit status: 0 written, 1 error.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "wan", Usage: "calibrate only this WAN (repeatable; default: every WAN)"},
			&cli.DurationFlag{Name: "duration", Value: 20 * time.Second, Usage: "how long to ping"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("calibrate takes no arguments (got %q); select WANs with -wan NAME", c.Args().First()), 1)
			}
			d := c.Duration("duration")
			if d < 100*time.Millisecond || d > time.Hour {
				return cli.Exit(fmt.Sprintf("-duration %v: use 100ms .. 1h (e.g. -duration 20s)", d), 1)
			}
			log, _, err := newLogger(c, stdio)
			if err != nil {
				return err
			}
			deps := calibrateDeps{}
			if stdio.calibrate != nil {
				deps = *stdio.calibrate
			}
			return runCalibrate(c, stdio, log, d, deps)
		},
	}
}

func runCalibrate(c *cli.Context, stdio IO, log *slog.Logger, dur time.Duration, deps calibrateDeps) error {
	path := configPath(c, stdio)
	cfg, diags := loadConfig(path, stdio, new([]string))
	if cfg == nil {
		diags.WriteText(stdio.Err, useColor(c, stdio, stdio.Err))
		return cli.Exit(fmt.Sprintf("%s is invalid: fix it first (wanctl validate -config %s)", path, path), 1)
	}
	wans, err := cfg.SelectWANs(c.StringSlice("wan"))
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if deps.now == nil {
		deps.now = time.Now
	}
	pingers := ping.NewPool(ping.Config{Logger: log})
	defer pingers.Close()
	if deps.burst == nil {
		deps.burst = func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error) {
			p, err := pingers.Get(w.Measurement.Source)
			if err != nil {
				return nil, ping.Stats{}, err
			}
			return p.Burst(ctx, w.Measurement.Reflectors, count, interval, timeout)
		}
	}

	// The daemon's lock: a running daemon would overwrite the baselines
	// (and its own traffic is not an idle link); holding it also keeps one
	// from starting while we measure.
	for _, w := range wans {
		lk, err := lockfile.TryLock(autorate.LockPath(cfg.Daemon.LockDir, w.Name))
		if err != nil {
			var held *lockfile.HeldError
			if errors.As(err, &held) {
				return cli.Exit(fmt.Sprintf("wan %q: wanctl autorate is running (%v): stop it first (systemctl stop wanctl-autorate) and calibrate while the link is idle", w.Name, held), 1)
			}
			return cli.Exit(fmt.Sprintf("wan %q: %v", w.Name, err), 1)
		}
		defer lk.Unlock()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdio.Err, "Pinging the reflectors of %s for %v; keep the link idle...\n", wanNames(wans), dur)
	type result struct {
		cal autorate.Calibration
		err error
	}
	results := make([]result, len(wans))
	var wg sync.WaitGroup
	for i, w := range wans {
		wg.Go(func() {
			m := &w.Measurement
			interval := time.Duration(float64(time.Second) * float64(len(m.Reflectors)) / float64(max(m.PingRate, 1)))
			count := max(1, int(dur/interval))
			replies, stats, err := deps.burst(ctx, w, count, interval, time.Second)
			if err != nil {
				results[i].err = err
				return
			}
			results[i].cal = autorate.Calibrate(w, dur, replies, stats)
		})
	}
	wg.Wait()
	failed := 0
	for i, w := range wans {
		r := results[i]
		if r.err != nil {
			fmt.Fprintf(stdio.Err, "wan %s: %v\n", w.Name, r.err)
			failed++
			continue
		}
		printCalibration(stdio, w, &r.cal)
		if r.cal.Baseline == 0 {
			fmt.Fprintf(stdio.Out, "No reflector answered: nothing written. Check the WAN's connectivity and measurement.reflectors.\n\n")
			failed++
			continue
		}
		sp := autorate.StatePath(cfg.Daemon.StateDir, w.Name)
		note, err := autorate.ApplyCalibration(sp, w, &r.cal, deps.now())
		if err != nil {
			fmt.Fprintf(stdio.Err, "wan %s: %v\n", w.Name, err)
			failed++
			continue
		}
		fmt.Fprintf(stdio.Out, "Baselines written to %s (%s).\n\n", sp, note)
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("calibration failed for %d of %d WANs", failed, len(wans)), 1)
	}
	return nil
}

func wanNames(wans []*config.WAN) string {
	n := make([]string, len(wans))
	for i, w := range wans {
		n[i] = w.Name
	}
	return strings.Join(n, ", ")
}

// fmtMs renders a duration in milliseconds with 3 significant digits
// (loopback and LAN RTTs are well below a millisecond).
func fmtMs(d time.Duration) string {
	v := autorate.DurationMs(d)
	switch {
	case d == 0:
		return "-"
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	case v >= 1:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.3fms", v)
}

func printCalibration(stdio IO, w *config.WAN, c *autorate.Calibration) {
	fmt.Fprintf(stdio.Out, "WAN %s: %d reflectors, %v at %d pings/s\n", w.Name, len(c.Reflectors), c.Duration, w.Measurement.PingRate)
	tw := tabwriter.NewWriter(stdio.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REFLECTOR\tSENT\tREPLIES\tLOSS\tMIN\tMEDIAN\tP95\tJITTER\tBASELINE\tNOTE")
	bad := 0
	for _, r := range c.Reflectors {
		note := "ok"
		if len(r.Flags) > 0 {
			note = strings.Join(r.Flags, "; ")
			bad++
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Addr, r.Sent, r.Replies, 100*r.Loss,
			fmtMs(r.Min), fmtMs(r.Median), fmtMs(r.P95), fmtMs(r.Jitter), fmtMs(r.Baseline), note)
	}
	tw.Flush()
	fmt.Fprintf(stdio.Out, "Baseline (median of the reflectors): %s\n", fmtMs(c.Baseline))
	if bad > 0 {
		fmt.Fprintf(stdio.Out, "%d reflector(s) flagged: consider replacing them in measurement.reflectors (the median tolerates one bad reflector, not several).\n", bad)
	}
}
