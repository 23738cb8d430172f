package commands

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/ping"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/systemd"
)

// autorateDeps are what `wanctl autorate` builds for itself; tests replace
// them through IO.autorate. Nil fields get the production pieces.
type autorateDeps struct {
	clock autorate.Clock
	// newMeasurer starts a WAN's measurement (default: a ping.Stream).
	newMeasurer func(w *config.WAN) (autorate.Measurer, error)
	// newExecutor returns a router's max-limit executor (default: the REST
	// client).
	newExecutor func(r *config.Router) (autorate.Executor, error)
	notifier    autorate.Notifier
	// signals replaces signal.Notify (tests send SIGHUP/SIGUSR1/SIGTERM).
	signals chan os.Signal
	writer  autorate.WriterConfig
	// started, when set, is called with the daemon before it runs.
	started func(*autorate.Daemon)
	// keepProcs leaves GOMAXPROCS alone (tests share the process).
	keepProcs bool
	// reload, when set, replaces reading the configuration on SIGHUP
	// (tests make it hang).
	reload func() (*config.Config, error)
}

// reloadTimeout bounds a SIGHUP reload. Reading and checking the file takes
// milliseconds; a file system that hangs must not leave a reload pending
// forever (a later SIGHUP waits for it).
const reloadTimeout = 10 * time.Second

func autorateCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "autorate",
		Usage:     "run the latency-driven shaper control loops (daemon, systemd Type=notify)",
		ArgsUsage: " ",
		Description: "Runs one control loop per WAN of the configuration (or the -wan ones) in one process:\n" +
			"pings the reflectors, moves the CAKE queues' max-limit on the router, serves /metrics and\n" +
			"/health on daemon.listen and keeps a state file per WAN in daemon.state_dir.\n" +
			"Signals: SIGTERM/SIGINT stop (state written, exit 0), SIGHUP reloads thresholds and rates,\n" +
			"SIGUSR1 toggles debug logging. Exit status 1 on a configuration, lock or socket error.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "wan", Usage: "run only this WAN (repeatable; default: every WAN)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("autorate takes no arguments (got %q); select WANs with -wan NAME", c.Args().First()), 1)
			}
			log, level, err := newLogger(c, stdio)
			if err != nil {
				return err
			}
			deps := autorateDeps{}
			if stdio.autorate != nil {
				deps = *stdio.autorate
			}
			return runAutorate(c, stdio, log, level, deps)
		},
	}
}

// pingerConfig is the daemon's pinger pool: one raw IPv4 socket serves echo
// and timestamp requests alike, so any WAN with timestamps makes the pool's
// sockets raw.
func pingerConfig(cfg *config.Config, log *slog.Logger) ping.Config {
	stamps := slices.ContainsFunc(cfg.WANs, func(w *config.WAN) bool { return w.Measurement.Timestamps })
	return ping.Config{Logger: log, Timestamps: stamps}
}

// streamConfig is w's ping stream; externalPacing: the loop paces it.
func streamConfig(w *config.WAN, externalPacing bool) ping.StreamConfig {
	m := &w.Measurement
	return ping.StreamConfig{
		Targets: m.Reflectors, Rate: float64(m.PingRate), Fallback: m.TCPFallback,
		ExternalPacing: externalPacing, Timestamps: m.Timestamps,
	}
}

// loadForDaemon loads the configuration; invalid -> an exit error carrying
// the rendered diagnostics. Warnings are logged.
func loadForDaemon(path string, stdio IO, log *slog.Logger) (*config.Config, error) {
	cfg, diags := loadConfig(path, stdio, nil)
	if cfg == nil {
		var b bytes.Buffer
		diags.WriteText(&b, false)
		return nil, fmt.Errorf("%s is invalid:\n%s", path, strings.TrimRight(b.String(), "\n"))
	}
	if w := diags.Warnings(); len(w) > 0 {
		var b bytes.Buffer
		(&config.Diagnostics{Diags: w, Files: diags.Files}).WriteText(&b, false)
		log.Warn("configuration warnings", "file", path, "diagnostics", strings.TrimRight(b.String(), "\n"))
	}
	return cfg, nil
}

func runAutorate(c *cli.Context, stdio IO, log *slog.Logger, level *slog.LevelVar, deps autorateDeps) error {
	path := configPath(c, stdio)
	cfg, err := loadForDaemon(path, stdio, log)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	// The daemon does microseconds of work per cycle; its cost is the Go
	// runtime waking up for tickers and replies. One P avoids handing every
	// wake-up between threads (measured: about a third less CPU with two
	// WANs at 20 pings/s). GOMAXPROCS in the environment still wins.
	if stdio.getenv("GOMAXPROCS") == "" && !deps.keepProcs {
		runtime.GOMAXPROCS(1)
	}
	for _, r := range cfg.Routers {
		if r.TLSSkipVerify {
			log.Warn("tls_skip_verify is set: the router's certificate is NOT verified; set ca_file instead", "router", r.Name)
		}
	}
	pingers := ping.NewPool(pingerConfig(cfg, log))
	defer pingers.Close()
	if deps.newMeasurer == nil {
		deps.newMeasurer = func(w *config.WAN) (autorate.Measurer, error) {
			m := &w.Measurement
			p, err := pingers.Get(m.Source)
			if err != nil {
				return nil, err
			}
			// On the real clock the loop paces the pings (autorate.Pacer):
			// one wake-up per cycle sends them and runs the cycle. Stream.Tick
			// needs the real time; on another clock the stream paces itself.
			return p.Stream(streamConfig(w, deps.clock == nil))
		}
	}
	if deps.newExecutor == nil {
		deps.newExecutor = func(r *config.Router) (autorate.Executor, error) {
			cc := r.ClientConfig()
			cc.Logger = log
			cl, err := routeros.New(cc)
			if err != nil {
				return nil, err
			}
			return autorate.NewRouterExecutor(cl, routeros.IsNotFound), nil
		}
	}
	if deps.notifier == nil {
		n := systemd.NewNotifier(stdio.getenv)
		defer n.Close()
		deps.notifier = n
	}
	sigs := deps.signals
	if sigs == nil {
		sigs = make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
		defer signal.Stop(sigs)
	}

	ver, rev := buildVersion()
	d, err := autorate.NewDaemon(autorate.DaemonConfig{
		Config: cfg, WANs: c.StringSlice("wan"), Logger: log, Clock: deps.clock, Notifier: deps.notifier,
		NewMeasurer: deps.newMeasurer, NewExecutor: deps.newExecutor, Writer: deps.writer,
		Version: ver, Revision: rev,
	})
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if deps.started != nil {
		deps.started(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	// A reload reads files, which can block (a FIFO did, wedging this loop
	// so that SIGTERM went unheard): it runs off the loop, one at a time,
	// with a timeout; the loop only applies its result.
	clock := deps.clock
	if clock == nil {
		clock = autorate.RealClock{}
	}
	load := deps.reload
	if load == nil {
		load = func() (*config.Config, error) { return loadForDaemon(path, stdio, log) }
	}
	reloads := make(chan reloadResult, 1)
	reloading, again := false, false
	startReload := func() {
		reloading = true
		d.NotifyReloading()
		go func() { reloads <- loadWithTimeout(clock, reloadTimeout, load) }()
	}

	base := level.Level()
	for {
		select {
		case err := <-done:
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			return nil
		case r := <-reloads:
			reloading = false
			applyReload(d, r, path, log)
			d.NotifyReloaded()
			if again {
				again = false
				startReload()
			}
		case s := <-sigs:
			switch s {
			case syscall.SIGTERM, syscall.SIGINT:
				log.Info("stopping", "signal", s.String())
				cancel()
			case syscall.SIGUSR1:
				if level.Level() == slog.LevelDebug {
					level.Set(base)
					if base == slog.LevelDebug {
						level.Set(slog.LevelInfo)
					}
				} else {
					level.Set(slog.LevelDebug)
				}
				log.Warn("log level changed (SIGUSR1)", "level", level.Level().String())
			case syscall.SIGHUP:
				if reloading {
					// The file may have changed again since the running
					// reload read it: read it once more afterwards.
					again = true
					log.Info("reload already in progress; reloading again when it ends")
					continue
				}
				startReload()
			}
		}
	}
}

type reloadResult struct {
	cfg *config.Config
	err error
}

// loadWithTimeout runs load, giving up after timeout on clock. A load that
// times out is abandoned: its goroutine ends whenever the read returns.
func loadWithTimeout(clock autorate.Clock, timeout time.Duration, load func() (*config.Config, error)) reloadResult {
	res := make(chan reloadResult, 1)
	go func() {
		cfg, err := load()
		res <- reloadResult{cfg, err}
	}()
	t := clock.NewTicker(timeout)
	defer t.Stop()
	select {
	case r := <-res:
		return r
	case <-t.C():
		return reloadResult{err: fmt.Errorf("reading the configuration took longer than %v", timeout)}
	}
}

// applyReload applies a re-read configuration (SIGHUP). An invalid or
// unreadable file is logged and the daemon keeps running on the old one.
func applyReload(d *autorate.Daemon, r reloadResult, path string, log *slog.Logger) {
	if r.err != nil {
		log.Error("reload failed; still running on the previous configuration", "file", path, "err", r.err)
		return
	}
	for _, w := range d.Reload(r.cfg) {
		log.Warn("reload: " + w)
	}
	log.Info("configuration reloaded", "file", path)
}
