package autorate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/lockfile"
	"github.com/wanctl/wanctl/statefile"
)

// Notifier is the service manager (systemd's sd_notify; *systemd.Notifier
// implements it). WatchdogInterval returns how often to send WATCHDOG=1
// (already half of WATCHDOG_USEC), ok=false without a watchdog.
type Notifier interface {
	Ready() error
	Reloading() error
	Stopping() error
	Watchdog() error
	Status(string) error
	WatchdogInterval() (time.Duration, bool)
}

type nopNotifier struct{}

func (nopNotifier) Ready() error                            { return nil }
func (nopNotifier) Reloading() error                        { return nil }
func (nopNotifier) Stopping() error                         { return nil }
func (nopNotifier) Watchdog() error                         { return nil }
func (nopNotifier) Status(string) error                     { return nil }
func (nopNotifier) WatchdogInterval() (time.Duration, bool) { return 0, false }
func (nopNotifier) Enabled() bool                           { return false }

// DaemonConfig configures a Daemon. Config, NewMeasurer and NewExecutor
// are required.
type DaemonConfig struct {
	Config *config.Config
	// WANs names the WANs to run; empty runs every WAN of Config.
	WANs     []string
	Logger   *slog.Logger
	Clock    Clock    // nil: RealClock
	Notifier Notifier // nil: none
	Metrics  *Metrics // nil: NewMetrics()
	// Version and Revision label wanctl_build_info ("" : "unknown").
	Version, Revision string
	// NewMeasurer starts a WAN's measurement (a *ping.Stream in
	// production). A measurer with a Close() method is closed on exit.
	NewMeasurer func(w *config.WAN) (Measurer, error)
	// NewExecutor returns the executor writing to a router.
	NewExecutor func(r *config.Router) (Executor, error)
	// Writer tunes the writers (timeout, backoff); Logger, Now, Observe
	// and ObserveRead are set by the daemon.
	Writer WriterConfig
	// Listener replaces listening on daemon.listen (tests); nil listens.
	Listener net.Listener
}

// Daemon runs the control loops of one process: a goroutine per WAN on a
// ticker (one timer for all, see loopTickers), a writer goroutine per
// router, the state persister, the HTTP server for /metrics and /health,
// and the systemd notifications.
type Daemon struct {
	cfg      *config.Config
	log      *slog.Logger
	clock    Clock
	notify   Notifier
	metrics  *Metrics
	interval time.Duration
	wans     []*wanRun
	writers  []*Writer
	ln       net.Listener
	pers     *persister
	// writeFinal is the state write at shutdown (WriteState; tests
	// inject failures).
	writeFinal func(path string, s *State) error
	http       httpLimits
}

// httpLimits bound what HTTP clients can hold of the daemon. Without them
// 5,000 idle keep-alive connections took it from 23 to 130 MB, and 20,000
// exhausted its file descriptors (state writes failed).
type httpLimits struct {
	// conns is the most connections served at once; beyond it a new one
	// replaces the longest idle (connLimit). Prometheus and a health
	// check need a few.
	conns int
	// readHeader bounds a request's headers (slow clients), read the
	// whole request, write the reply; idle is how long a keep-alive
	// connection may wait for its next request.
	readHeader, read, write, idle time.Duration
}

func defaultHTTPLimits() httpLimits {
	return httpLimits{conns: 64, readHeader: 5 * time.Second, read: 10 * time.Second, write: 10 * time.Second, idle: 30 * time.Second}
}

// httpServer is the server of /metrics and /health on ln, with the limits.
func (d *Daemon) httpServer(ln net.Listener) (*http.Server, net.Listener) {
	srv := &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: d.http.readHeader,
		ReadTimeout:       d.http.read,
		WriteTimeout:      d.http.write,
		IdleTimeout:       d.http.idle,
		MaxHeaderBytes:    16 << 10,
	}
	lim := newConnLimit(ln, d.http.conns)
	srv.ConnState = lim.connState
	return srv, lim
}

type wanRun struct {
	loop     *Loop
	writer   *Writer
	slots    [2]*Slot
	load     *LoadReader // nil: the executor cannot read counters
	measurer Measurer
	lock     *lockfile.Lock
	path     string
	first    sync.Once
	cycled   chan struct{} // closed after the first completed cycle

	mu     sync.Mutex
	reload *config.WAN
}

// NewDaemon takes the WANs' locks, loads their state, opens the
// measurements and the HTTP listener. Its errors are fatal (exit 1): an
// unknown WAN, a lock held by another daemon, a measurement or listener
// that cannot be opened.
func NewDaemon(dc DaemonConfig) (_ *Daemon, err error) {
	cfg := dc.Config
	if cfg == nil || dc.NewMeasurer == nil || dc.NewExecutor == nil {
		return nil, errors.New("autorate: DaemonConfig needs Config, NewMeasurer and NewExecutor")
	}
	dm := &Daemon{
		cfg: cfg, log: dc.Logger, clock: dc.Clock, notify: dc.Notifier, metrics: dc.Metrics,
		interval: cfg.Daemon.Interval, writeFinal: WriteState, http: defaultHTTPLimits(),
	}
	if dm.log == nil {
		dm.log = slog.New(slog.DiscardHandler)
	}
	if dm.clock == nil {
		dm.clock = RealClock{}
	}
	if dm.notify == nil {
		dm.notify = nopNotifier{}
	}
	if dm.metrics == nil {
		dm.metrics = NewMetrics()
	}
	if dm.interval <= 0 {
		dm.interval = 50 * time.Millisecond
	}
	wans, err := cfg.SelectWANs(dc.WANs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			dm.release()
		}
	}()
	for _, w := range wans {
		lk, lerr := lockfile.TryLock(LockPath(cfg.Daemon.LockDir, w.Name))
		if lerr != nil {
			var held *lockfile.HeldError
			if errors.As(lerr, &held) {
				return nil, fmt.Errorf("wan %q is already controlled by another wanctl autorate (%w); stop it first", w.Name, held)
			}
			return nil, fmt.Errorf("wan %q: %w", w.Name, lerr)
		}
		dm.wans = append(dm.wans, &wanRun{lock: lk, path: StatePath(cfg.Daemon.StateDir, w.Name), cycled: make(chan struct{})})
	}
	dm.pers = newPersister(dm.log)
	stateMetrics := map[string]*WANMetrics{}
	dm.pers.observe = func(wan string, err error) { stateMetrics[wan].observeStateWrite(err) }

	writers := map[string]*Writer{}
	type route struct {
		m      *WANMetrics
		upload bool
	}
	routes := map[*Writer]map[string]route{}
	for i, w := range wans {
		run := dm.wans[i]
		wr := writers[w.Router]
		if wr == nil {
			r := cfg.Router(w.Router)
			if r == nil {
				return nil, fmt.Errorf("wan %q: router %q is not declared", w.Name, w.Router)
			}
			exec, eerr := dc.NewExecutor(r)
			if eerr != nil {
				return nil, fmt.Errorf("router %q: %w", r.Name, eerr)
			}
			o := dc.Writer
			o.Logger, o.Now = dm.log, dm.clock.Now
			wr = NewWriter(r.Name, exec, o)
			rt := map[string]route{}
			routes[wr] = rt
			failed := dm.metrics.writeFailureObserver(r.Name)
			wr.o.Observe = func(q string, err error, dur time.Duration) {
				failed(err)
				if t, ok := rt[q]; ok {
					t.m.observeWrite(t.upload, err, dur.Seconds())
				}
			}
			if wr.reader != nil {
				wr.o.ObserveRead = dm.metrics.readObserver(r.Name)
				wr.o.ObserveDrift = func(q string) {
					if t, ok := rt[q]; ok {
						t.m.observeDrift(t.upload)
					}
				}
			}
			if m, ok := exec.(interface{ OnMisdirected(func(MisdirectedWrite)) }); ok {
				router := r.Name
				m.OnMisdirected(func(mw MisdirectedWrite) {
					dm.log.Error("router write landed on a queue-tree entry that is not the configured queue (its .id was reused); looking the queue up again by name. Restore the overwritten entry's max-limit on the router (its previous value is not known)",
						"router", router, "queue", mw.Queue, "id", mw.ID, "overwritten_queue", mw.Name, "overwritten_comment", mw.Comment, "max_limit_written", mw.MaxLimit)
					if t, ok := rt[mw.Queue]; ok {
						t.m.observeMisdirected(t.upload)
					}
				})
			}
			writers[w.Router] = wr
			dm.writers = append(dm.writers, wr)
		}
		m, merr := dc.NewMeasurer(w)
		if merr != nil {
			return nil, fmt.Errorf("wan %q: measurement: %w", w.Name, merr)
		}
		run.measurer = m
		run.writer = wr
		run.slots = [2]*Slot{wr.Queue(w.Download.Queue), wr.Queue(w.Upload.Queue)}
		wm := dm.metrics.WAN(w)
		stateMetrics[w.Name] = wm
		routes[wr][w.Download.Queue] = route{wm, false}
		routes[wr][w.Upload.Queue] = route{wm, true}
		name, path := w.Name, run.path
		lc := LoopConfig{
			WAN: w, Measurer: m, Download: run.slots[0], Upload: run.slots[1],
			Metrics: wm, Logger: dm.log,
			Persist: func(s State, heartbeat bool) { dm.pers.save(name, path, s, heartbeat) },
		}
		if run.load = wr.Load(w.Download.Queue, w.Upload.Queue); run.load != nil {
			lc.Load = run.load
		}
		run.loop = NewLoop(lc)
		st, found, lerr := LoadState(run.path)
		switch {
		case errors.Is(lerr, statefile.ErrCorrupt):
			dm.log.Warn("state file is corrupt; starting fresh", "wan", w.Name, "err", lerr)
		case lerr != nil:
			dm.log.Warn("state file unreadable; starting fresh", "wan", w.Name, "err", lerr)
		case found && st.WAN != w.Name:
			dm.log.Warn("state file belongs to another wan; starting fresh", "wan", w.Name, "file_wan", st.WAN, "path", run.path)
		case found:
			run.loop.Restore(&st)
			snap := run.loop.Controller().Snapshot()
			age := "unknown (written by calibrate)"
			if seen := st.LastSeen(); !seen.IsZero() {
				age = dm.clock.Now().Sub(seen).Round(time.Millisecond).String()
			}
			dm.log.Info("state restored", "wan", w.Name, "age", age,
				"download", snap.Download.Rate, "upload", snap.Upload.Rate, "baseline", snap.Baseline)
		}
	}
	if err := dm.metrics.Registry.Register(newDaemonCollector(dm, dc.Version, dc.Revision)); err != nil {
		return nil, fmt.Errorf("metrics: %w (a Metrics serves one daemon)", err)
	}
	dm.ln = dc.Listener
	if dm.ln == nil {
		dm.ln, err = net.Listen("tcp", cfg.Daemon.Listen)
		if err != nil {
			return nil, fmt.Errorf("daemon.listen %q: %w (set daemon.listen to a free address)", cfg.Daemon.Listen, err)
		}
	}
	return dm, nil
}

// Addr is the address the HTTP server listens on.
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// Loops returns the WANs' loops, in order.
func (d *Daemon) Loops() []*Loop {
	out := make([]*Loop, len(d.wans))
	for i, r := range d.wans {
		out[i] = r.loop
	}
	return out
}

// Handler serves /metrics and /health, to GET and HEAD only: anything
// else is 405 with an Allow header (the mux's method patterns).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /health", HealthHandler(d.Health))
	return mux
}

// Health returns the /health document.
func (d *Daemon) Health() Health {
	now := d.clock.Now()
	h := Health{Status: "ok", Time: now.UTC(), PID: os.Getpid()}
	for _, r := range d.wans {
		wh := d.wanHealth(r, now)
		if !wh.Controlling {
			h.Status = "degraded"
		}
		h.WANs = append(h.WANs, wh)
	}
	return h
}

// wanHealth is r's part of /health at now (and of the metrics that
// report the same state).
func (d *Daemon) wanHealth(r *wanRun, now time.Time) WANHealth {
	wh := wanHealth(now, d.interval, r.loop, r.writer, r.slots, r.load)
	stateFileHealth(&wh, now, r.path, d.pers.Status(wh.WAN))
	return wh
}

// Reload applies a new configuration (SIGHUP): each running WAN takes the
// new thresholds, rates and router_writes between two cycles, keeping its
// state. Changes that need a restart (measurement, router, queue names,
// daemon block, WANs added or removed) are returned as warnings and not
// applied.
func (d *Daemon) Reload(cfg *config.Config) (warnings []string) {
	if !reflect.DeepEqual(cfg.Daemon, d.cfg.Daemon) {
		warnings = append(warnings, "daemon block changed: takes effect after a restart")
	}
	for _, r := range d.wans {
		old := r.loop.WAN()
		nw := cfg.WAN(old.Name)
		if nw == nil {
			warnings = append(warnings, fmt.Sprintf("wan %q is no longer in the configuration: it keeps running with its old settings until a restart", old.Name))
			continue
		}
		if !reflect.DeepEqual(nw.Measurement, old.Measurement) {
			warnings = append(warnings, fmt.Sprintf("wan %q: measurement changed: takes effect after a restart", old.Name))
		}
		if nw.Router != old.Router || nw.Download.Queue != old.Download.Queue || nw.Upload.Queue != old.Upload.Queue {
			warnings = append(warnings, fmt.Sprintf("wan %q: router or queue names changed: take effect after a restart", old.Name))
			c := *nw
			c.Router = old.Router
			c.Download.Queue, c.Upload.Queue = old.Download.Queue, old.Upload.Queue
			nw = &c
		}
		if !reflect.DeepEqual(cfg.Router(old.Router), d.cfg.Router(old.Router)) {
			warnings = append(warnings, fmt.Sprintf("router %q changed: takes effect after a restart", old.Router))
		}
		r.mu.Lock()
		r.reload = nw
		r.mu.Unlock()
	}
	for _, w := range cfg.WANs {
		if d.find(w.Name) == nil && d.cfg.WAN(w.Name) == nil {
			warnings = append(warnings, fmt.Sprintf("wan %q is new: start it with a restart", w.Name))
		}
	}
	return warnings
}

func (d *Daemon) find(name string) *wanRun {
	for _, r := range d.wans {
		if r.loop.WAN().Name == name {
			return r
		}
	}
	return nil
}

// Run runs until ctx ends, then finishes the cycles in progress, writes
// every WAN's state, notifies STOPPING and releases everything. It returns
// nil on a clean stop.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.release()
	wctx, stopWriters := context.WithCancel(context.Background())
	var bg, persisting sync.WaitGroup
	for _, w := range d.writers {
		bg.Go(func() { w.Run(wctx) })
	}
	pctx, stopPersister := context.WithCancel(context.Background())
	persisting.Go(func() { d.pers.run(pctx) })
	srv, ln := d.httpServer(d.ln)
	bg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "addr", d.ln.Addr().String(), "err", err)
		}
	})

	var loops sync.WaitGroup
	tickers := d.loopTickers()
	for i, r := range d.wans {
		loops.Go(func() { d.runLoop(ctx, r, tickers[i]) })
	}
	sctx, stopSupervisor := context.WithCancel(ctx)
	var sup sync.WaitGroup
	sup.Go(func() { d.supervise(sctx) })

	names := make([]string, len(d.wans))
	for i, r := range d.wans {
		names[i] = r.loop.WAN().Name
	}
	d.log.Info("autorate running", "wans", strings.Join(names, ","), "interval", d.interval, "listen", d.ln.Addr().String())

	<-ctx.Done()
	loops.Wait()
	stopSupervisor()
	sup.Wait()
	if err := d.notify.Stopping(); err != nil {
		d.log.Warn("sd_notify", "err", err)
	}
	stopPersister()
	// The persister is stopped before the final writes so that an older
	// state cannot land after them.
	persisting.Wait()
	now := d.clock.Now()
	var unsaved []string
	for _, r := range d.wans {
		st := r.loop.State(now)
		if err := d.writeFinal(r.path, &st); err != nil {
			d.log.Error("final state write failed", "wan", st.WAN, "err", err)
			unsaved = append(unsaved, st.WAN)
		}
	}
	shctx, cancel := context.WithTimeout(context.Background(), time.Second)
	srv.Shutdown(shctx)
	cancel()
	stopWriters()
	bg.Wait()
	if len(unsaved) > 0 {
		// The next start restores an older state for these (or none).
		d.log.Error("autorate stopped; state NOT written", "wans", strings.Join(unsaved, ","))
	} else {
		d.log.Info("autorate stopped; state written")
	}
	return nil
}

// loopTickers gives each WAN's loop its ticker. With a TickerGroup clock
// (RealClock) one timer drives them all: the process costs what its OS
// wake-ups cost (a cycle is microseconds of work), and a ticker per WAN,
// each with its own phase, woke it once per WAN per interval; this wakes
// it once for all of them, and, with externally paced pings (Pacer), for
// their pings too. Each loop still has its own ticker: one late by more
// than an interval misses its own ticks only, as before.
func (d *Daemon) loopTickers() []Ticker {
	if g, ok := d.clock.(TickerGroup); ok {
		return g.NewTickers(d.interval, len(d.wans))
	}
	ts := make([]Ticker, len(d.wans))
	for i := range ts {
		ts[i] = d.clock.NewTicker(d.interval)
	}
	return ts
}

func (d *Daemon) runLoop(ctx context.Context, r *wanRun, t Ticker) {
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C():
			r.mu.Lock()
			nw := r.reload
			r.reload = nil
			r.mu.Unlock()
			if nw != nil {
				r.loop.Reconfigure(nw)
				d.log.Info("configuration reloaded", "wan", nw.Name)
			}
			d.cycle(r, now)
		}
	}
}

// cycle runs one cycle of r at now; a panic becomes a failed cycle.
func (d *Daemon) cycle(r *wanRun, now time.Time) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("control cycle failed", "wan", r.loop.WAN().Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			r.loop.recordCycle(now, time.Since(start), false, fmt.Sprint(p))
		}
	}()
	r.loop.Cycle(now)
	d.reassert(r, now)
	if r.load != nil {
		// After the cycle: the writes it decided are queued first.
		r.load.Poll(now, r.loop.LoadBusy(now))
	}
	dur := time.Since(start)
	r.loop.recordCycle(now, dur, dur > d.interval, "")
	r.first.Do(func() { close(r.cycled) })
}

// reassert hands r's writer the last written rate of a queue whose
// max-limit a read found changed behind the daemon's back, as a write of
// the WAN's own: it spends a token of the direction's write budget, and
// waits for one at most one token's refill (60 s / writes_per_minute)
// from the drift's discovery, then goes into debt like a decrease. Run in
// the loop's goroutine, which owns the policies.
func (d *Daemon) reassert(r *wanRun, now time.Time) {
	for i, s := range r.slots {
		if s == nil {
			continue
		}
		due, ok := s.reassertDue()
		if !ok {
			continue
		}
		b := &r.loop.Policy(i == 1).bucket
		force := b.perMinute <= 0 || now.Sub(due) >= time.Minute/time.Duration(b.perMinute)
		if b.spend(now, force) {
			s.reassert()
		}
	}
}

// supervise sends READY=1 once every loop completed a cycle, then
// WATCHDOG=1 each watchdog period (half of WatchdogSec) only while every
// loop completed a cycle within that period, and STATUS= (at most once a
// second, when it changed).
func (d *Daemon) supervise(ctx context.Context) {
	for _, r := range d.wans {
		select {
		case <-ctx.Done():
			return
		case <-r.cycled:
		}
	}
	if err := d.notify.Ready(); err != nil {
		d.log.Warn("sd_notify", "err", err)
	}
	if l, ok := d.notify.(interface{ Enabled() bool }); ok && !l.Enabled() {
		// Nobody listens (not started by systemd): no status line to
		// build, no watchdog, and no reason to wake up every second.
		<-ctx.Done()
		return
	}
	lastStatus := ""
	sendStatus := func() {
		if s := d.StatusLine(); s != lastStatus {
			lastStatus = s
			if err := d.notify.Status(s); err != nil {
				d.log.Debug("sd_notify", "err", err)
			}
		}
	}
	sendStatus()
	period := time.Second
	wd, wdOK := d.notify.WatchdogInterval()
	if wdOK && wd > 0 && wd < period {
		period = wd
	}
	if wdOK {
		d.notify.Watchdog()
	}
	t := d.clock.NewTicker(period)
	defer t.Stop()
	for {
		var at time.Time
		select {
		case <-ctx.Done():
			return
		case at = <-t.C():
		}
		if wdOK {
			if stuck := d.stuckLoops(at, period); stuck == "" {
				if err := d.notify.Watchdog(); err != nil {
					d.log.Debug("sd_notify", "err", err)
				}
			} else {
				d.log.Warn("control loop completed no cycle in the last watchdog period; not pinging the watchdog", "wans", stuck)
			}
		}
		sendStatus()
	}
}

// stuckLoops names the loops whose last completed cycle is older than
// period at at ("" when every loop is cycling).
func (d *Daemon) stuckLoops(at time.Time, period time.Duration) string {
	var stuck []string
	for _, r := range d.wans {
		st := r.loop.Status()
		if st.Cycles == 0 || at.Sub(st.LastCycle) > period {
			stuck = append(stuck, st.WAN)
		}
	}
	return strings.Join(stuck, ",")
}

// NotifyReloaded tells the service manager a reload finished.
func (d *Daemon) NotifyReloaded() {
	if err := d.notify.Ready(); err != nil {
		d.log.Debug("sd_notify", "err", err)
	}
}

// NotifyReloading tells the service manager a reload started.
func (d *Daemon) NotifyReloading() {
	if err := d.notify.Reloading(); err != nil {
		d.log.Debug("sd_notify", "err", err)
	}
}

// StatusLine is the systemd STATUS=: one line per WAN, e.g.
// "spectrum: down GREEN 940M up GREEN 38M, delta 1.2ms".
func (d *Daemon) StatusLine() string {
	var b strings.Builder
	for i, r := range d.wans {
		if i > 0 {
			b.WriteByte('\n')
		}
		st := r.loop.Status()
		dec := &st.Decision
		fmt.Fprintf(&b, "%s: down %s %s up %s %s", st.WAN, dec.Download.Zone, config.FormatRate(RoundRate(dec.Download.Rate)),
			dec.Upload.Zone, config.FormatRate(RoundRate(dec.Upload.Rate)))
		if dec.Signal {
			fmt.Fprintf(&b, ", delta %.1fms", DurationMs(dec.Delta))
		} else {
			b.WriteString(", NO SIGNAL (holding)")
		}
		if !r.writer.Status().Reachable {
			b.WriteString(", router unreachable")
		}
	}
	return b.String()
}

// RoundRate rounds a rate to 3 significant digits (half up), so that a
// displayed rate reads "902M", not "902.437M": the systemd status line and
// the demo's table.
func RoundRate(r int64) int64 {
	for _, u := range []int64{1e9, 1e6, 1e3} {
		if r >= u {
			step := u / 100
			if r >= 10*u {
				step = u / 10
			}
			if r >= 100*u {
				step = u
			}
			return (r + step/2) / step * step
		}
	}
	return r
}

// Close releases what NewDaemon acquired when Run is not called (Run
// releases it itself).
func (d *Daemon) Close() { d.release() }

// release closes measurers, the listener and unlocks the WANs; it may be
// called more than once.
func (d *Daemon) release() {
	for _, r := range d.wans {
		if c, ok := r.measurer.(interface{ Close() }); ok {
			c.Close()
		}
		r.measurer = nil
		if r.lock != nil {
			r.lock.Unlock()
			r.lock = nil
		}
	}
	if d.ln != nil {
		d.ln.Close()
		d.ln = nil
	}
}

// persister writes state files from its own goroutine, newest state per
// WAN wins, so a slow disk never delays a control cycle.
type persister struct {
	log *slog.Logger
	// write and touch are refreshState and touchState (tests replace them).
	write func(path string, s *State) error
	touch func(path string, t time.Time) error
	// observe, when set, is told the outcome of every write or touch
	// (metrics).
	observe func(wan string, err error)
	wake    chan struct{}
	mu      sync.Mutex
	pending map[string]*persistItem
	lastErr map[string]string
	status  map[string]*PersistStatus
}

// PersistStatus is a WAN's state file writes as /health reports them.
type PersistStatus struct {
	// LastSuccess is the (daemon clock) time of the state last written
	// or touched; zero: none since the start.
	LastSuccess time.Time
	// Failures counts consecutive failed writes; LastError is the last
	// one's ("" after a success).
	Failures    int
	LastError   string
	LastErrorAt time.Time
}

type persistItem struct {
	path  string
	state State
	// heartbeat: only the modification time needs refreshing.
	heartbeat bool
}

func newPersister(log *slog.Logger) *persister {
	return &persister{log: log, write: refreshState, touch: touchState,
		wake: make(chan struct{}, 1), pending: map[string]*persistItem{}}
}

func (p *persister) save(wan, path string, s State, heartbeat bool) {
	p.mu.Lock()
	if prev := p.pending[wan]; prev != nil && !prev.heartbeat {
		// A rewrite still waiting takes the newer contents with it.
		heartbeat = false
	}
	p.pending[wan] = &persistItem{path: path, state: s, heartbeat: heartbeat}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *persister) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		p.flush()
	}
}

// record notes the outcome of a write (or touch) of wan's state made at
// the daemon's time at.
func (p *persister) record(wan string, at time.Time, err error) {
	p.mu.Lock()
	if p.lastErr == nil {
		p.lastErr = map[string]string{}
	}
	if p.status == nil {
		p.status = map[string]*PersistStatus{}
	}
	st := p.status[wan]
	if st == nil {
		st = &PersistStatus{}
		p.status[wan] = st
	}
	if err != nil {
		p.lastErr[wan] = err.Error()
		st.Failures++
		st.LastError, st.LastErrorAt = err.Error(), at
	} else {
		delete(p.lastErr, wan)
		st.Failures, st.LastError = 0, ""
		st.LastSuccess = at
	}
	p.mu.Unlock()
	if p.observe != nil {
		p.observe(wan, err)
	}
}

// Status returns wan's state file writes so far.
func (p *persister) Status(wan string) PersistStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.status[wan]; st != nil {
		return *st
	}
	return PersistStatus{}
}

// flush writes (or touches) what is pending.
func (p *persister) flush() {
	p.mu.Lock()
	items := p.pending
	p.pending = map[string]*persistItem{}
	p.mu.Unlock()
	for wan, it := range items {
		p.mu.Lock()
		prev := p.lastErr[wan]
		p.mu.Unlock()
		var err error
		// A heartbeat touches the file unless the last write of its
		// contents failed (a touch would pass stale contents off as
		// live) or it cannot (removed by someone): then it rewrites.
		if !it.heartbeat || prev != "" || p.touch(it.path, it.state.Timestamp) != nil {
			err = p.write(it.path, &it.state)
		}
		p.record(wan, it.state.Timestamp, err)
		switch {
		case err != nil && err.Error() != prev:
			p.log.Error("state write failed", "wan", wan, "err", err)
		case err == nil && prev != "":
			p.log.Info("state writes resumed", "wan", wan)
		}
	}
}
