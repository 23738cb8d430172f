package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/signal"
	"slices"
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
	// burst pings w's reflectors with echo requests (default:
	// ping.Pinger.Burst).
	burst burstFunc
	// stampBurst pings them with ICMP timestamp requests (IPv6 ones with
	// echo), for a WAN with measurement.timestamps (default:
	// ping.Pinger.BurstTimestamps).
	stampBurst burstFunc
	now        func() time.Time
}

type burstFunc func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error)

// The flags of an IPv4 reflector of a WAN with timestamps that gives no
// one-way delays: the daemon would count its RTTs in both directions.
const (
	// It answered echo requests, no timestamp request (the daemon falls
	// back to echo for it).
	flagIgnoresTimestamps = "ignores timestamps"
	// Its timestamp replies carry no usable stamps (high bit set, or
	// transmit before receive).
	flagNonStandardTimestamps = "non-standard timestamps"
)

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

// defaultBursts sets the bursts left nil to real ones, whose pingers the
// returned func closes.
func (d *calibrateDeps) defaultBursts(log *slog.Logger) (closePingers func()) {
	pingers := ping.NewPool(ping.Config{Logger: log})
	// A WAN with timestamps needs a raw IPv4 socket (the pinger's error
	// says how to allow it); the other WANs keep the socket they had, so a
	// missing CAP_NET_RAW fails only the WANs that ask for timestamps.
	stampers := ping.NewPool(ping.Config{Logger: log, Timestamps: true})
	pinger := func(w *config.WAN) (*ping.Pinger, error) {
		if w.Measurement.Timestamps {
			return stampers.Get(w.Measurement.Source)
		}
		return pingers.Get(w.Measurement.Source)
	}
	// via is a burst by method m of the WAN's pinger.
	via := func(m func(*ping.Pinger, context.Context, []netip.Addr, int, time.Duration, time.Duration) ([]ping.Reply, ping.Stats, error)) burstFunc {
		return func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error) {
			p, err := pinger(w)
			if err != nil {
				return nil, ping.Stats{}, err
			}
			return m(p, ctx, w.Measurement.Reflectors, count, interval, timeout)
		}
	}
	if d.burst == nil {
		d.burst = via((*ping.Pinger).Burst)
	}
	if d.stampBurst == nil {
		d.stampBurst = via((*ping.Pinger).BurstTimestamps)
	}
	return func() {
		pingers.Close()
		stampers.Close()
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
	defer deps.defaultBursts(log)()

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
	var errMu sync.Mutex // the WANs' goroutines share stdio.Err
	var wg sync.WaitGroup
	for i, w := range wans {
		wg.Go(func() {
			m := &w.Measurement
			interval := time.Duration(float64(time.Second) * float64(len(m.Reflectors)) / float64(max(m.PingRate, 1)))
			count := max(1, int(dur/interval))
			if !m.Timestamps {
				replies, stats, err := deps.burst(ctx, w, count, interval, time.Second)
				if err != nil {
					results[i].err = err
					return
				}
				results[i].cal = autorate.Calibrate(w, dur, replies, stats)
				return
			}
			again := func(silent []netip.Addr) {
				errMu.Lock()
				defer errMu.Unlock()
				fmt.Fprintf(stdio.Err, "wan %s: %s answered no timestamp request; pinging with echo requests for another %v...\n", w.Name, joinAddrs(silent), dur)
			}
			results[i].cal, results[i].err = calibrateTimestamps(ctx, deps, w, dur, count, interval, again)
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

// calibrateTimestamps measures the reflectors of w, a WAN with timestamps,
// as the daemon will ping them: with timestamp requests (IPv6 ones with
// echo). An IPv4 reflector that answers none of them is pinged again with
// echo (again says so first), so that its RTT statistics exist too, and is
// flagged when echo answers: the daemon would fall back to echo for it. One
// that answers neither is just "no replies": nothing tells whether it
// ignores timestamps.
func calibrateTimestamps(ctx context.Context, deps calibrateDeps, w *config.WAN, dur time.Duration, count int, interval time.Duration, again func([]netip.Addr)) (autorate.Calibration, error) {
	replies, stats, err := deps.stampBurst(ctx, w, count, interval, time.Second)
	if err != nil {
		return autorate.Calibration{}, err
	}
	flags := make(map[netip.Addr]string)
	var silent []netip.Addr
	for _, a := range w.Measurement.Reflectors {
		if !a.Unmap().Is4() {
			continue
		}
		ts, _ := stats.Target(a)
		switch {
		case ts.Replies == 0:
			silent = append(silent, a)
		case ts.Stamped == 0:
			flags[a] = flagNonStandardTimestamps
		}
	}
	if len(silent) > 0 {
		again(silent)
		// Only the silent reflectors, at the same per-reflector rate and
		// count, so that their statistics compare with the others'.
		echoWAN := *w
		echoWAN.Measurement.Reflectors = silent
		echoReplies, echoStats, err := deps.burst(ctx, &echoWAN, count, interval, time.Second)
		if err != nil {
			return autorate.Calibration{}, err
		}
		// They had no replies: their counts are replaced, their echo
		// replies added.
		for i, t := range stats.Targets {
			if e, ok := echoStats.Target(t.Target); ok {
				stats.Targets[i] = e
			}
		}
		replies = append(replies, echoReplies...)
		stats.Blackout = stats.Blackout && echoStats.Blackout
		for _, a := range silent {
			if e, _ := echoStats.Target(a); e.Replies > 0 {
				flags[a] = flagIgnoresTimestamps
			}
		}
	}
	cal := autorate.Calibrate(w, dur, replies, stats)
	for i := range cal.Reflectors {
		if f, ok := flags[cal.Reflectors[i].Addr]; ok {
			cal.Reflectors[i].Flags = append(cal.Reflectors[i].Flags, f)
		}
	}
	return cal, nil
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
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
	stamps := ""
	if w.Measurement.Timestamps {
		stamps = ", timestamp requests"
	}
	fmt.Fprintf(stdio.Out, "WAN %s: %d reflectors, %v at %d pings/s%s\n", w.Name, len(c.Reflectors), c.Duration, w.Measurement.PingRate, stamps)
	tw := tabwriter.NewWriter(stdio.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REFLECTOR\tSENT\tREPLIES\tLOSS\tMIN\tMEDIAN\tP95\tJITTER\tBASELINE\tNOTE")
	bad, oneWay := 0, 0
	for _, r := range c.Reflectors {
		note := "ok"
		if len(r.Flags) > 0 {
			note = strings.Join(r.Flags, "; ")
			bad++
		}
		if slices.Contains(r.Flags, flagIgnoresTimestamps) || slices.Contains(r.Flags, flagNonStandardTimestamps) {
			oneWay++
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Addr, r.Sent, r.Replies, 100*r.Loss,
			fmtMs(r.Min), fmtMs(r.Median), fmtMs(r.P95), fmtMs(r.Jitter), fmtMs(r.Baseline), note)
	}
	tw.Flush()
	fmt.Fprintf(stdio.Out, "Baseline (median of the reflectors): %s\n", fmtMs(c.Baseline))
	if bad > 0 {
		hint := ""
		if oneWay > 0 {
			hint = fmt.Sprintf(" %d of them without one-way delays (the daemon would count their RTTs in both directions): replace them, or set timestamps = false in the WAN's measurement block.", oneWay)
		}
		fmt.Fprintf(stdio.Out, "%d reflector(s) flagged: consider replacing them in measurement.reflectors (the median tolerates one bad reflector, not several).%s\n", bad, hint)
	}
}
