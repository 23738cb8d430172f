package autorate

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/ping"
)

// Measurer is a Loop's measurement source: a *ping.Stream in production, a
// scripted source in tests and the simulator. Drain must not block.
type Measurer interface {
	Drain(dst []ping.Reply) []ping.Reply
}

// StatsSource is implemented by measurers that count per target
// (*ping.Stream): the Loop then exports replies and timeouts per reflector
// and reports ICMP blackouts.
type StatsSource interface {
	StatsInto(dst *ping.Stats)
}

// PendingSource is implemented by measurers that report their echo
// requests still in flight (*ping.Stream): the controller then learns that
// a round trip takes at least as long as an unanswered request has been
// out, before its reply arrives (or when it never does, beyond the ping
// timeout).
type PendingSource interface {
	PendingInto(dst []ping.Pending) []ping.Pending
}

// Pacer is implemented by measurers whose requests the loop paces (a
// *ping.Stream with ExternalPacing): each Cycle calls Tick first with the
// cycle's time (from the daemon's Clock: a *ping.Stream needs RealClock),
// so that one timer wake-up drives both the control cycle and the pings
// due by then. Tick must not block.
type Pacer interface {
	Tick(now time.Time)
}

// RateSink receives the rates the write policy lets through: a writer
// *Slot in production.
type RateSink interface {
	Set(bps int64)
}

// Persist intervals: the state file is rewritten at most once per second
// when a zone, rate or written rate changed, and every 30 s regardless (the
// baselines and the loaded delta drift); in between, a heartbeat refreshes
// its modification time at least every 2 s (steer's sign of a live daemon).
const (
	persistMinInterval = time.Second
	persistHeartbeat   = 2 * time.Second
	persistRefresh     = 30 * time.Second
)

// LoopConfig configures a Loop.
type LoopConfig struct {
	WAN      *config.WAN
	Measurer Measurer
	// Download and Upload receive the rates to write; nil decides without
	// writing.
	Download, Upload RateSink
	Metrics          *WANMetrics // nil: none
	Logger           *slog.Logger
	// Persist, when set, is handed the state to save (see the persist
	// intervals); heartbeat means that the file's contents are as last
	// saved and only its modification time needs refreshing (a saver that
	// cannot, e.g. because the file was removed, writes s). It must not
	// block: the daemon's saves asynchronously.
	Persist func(s State, heartbeat bool)
	// Load, when set, gives the WAN's queue counter readings (the load
	// signal); nil: the controller has none.
	Load LoadSource
}

// Loop drives one WAN: each Cycle drains the measurer, feeds the replies to
// the controller, steps it, offers the rates to the write policies, hands
// what they allow to the sinks, updates metrics and status and persists
// state. Cycle is called from one goroutine; Status is safe from others.
type Loop struct {
	wan      *config.WAN
	ctrl     *Controller
	policy   [2]*WritePolicy
	sink     [2]RateSink
	measurer Measurer
	load     LoadSource
	stats    StatsSource
	pending  PendingSource
	pacer    Pacer
	metrics  *WANMetrics
	log      *slog.Logger
	persist  func(State, bool)

	buf     []ping.Reply
	pend    []ping.Pending
	pstats  ping.Stats
	lastDec Decision
	// persistence bookkeeping
	saved     bool
	savedAt   time.Time // contents
	beatAt    time.Time // contents or heartbeat
	savedKey  persistKey
	calibrate *time.Time

	mu     sync.Mutex
	status LoopStatus
}

type persistKey struct {
	zone    [2]Zone
	rate    [2]int64
	written [2]int64
	signal  bool
}

// LoopStatus is a Loop's latest outcome, for health and systemd status.
type LoopStatus struct {
	WAN      string
	Decision Decision
	Verdict  [2]Verdict // write policy verdict per direction in the last cycle
	// Blackout is true while the ICMP reflectors are silent (TCP fallback
	// in use, if configured).
	Blackout bool
	// Achieved is the throughput per direction from the load signal (zero
	// At: none, or none since a counter reset).
	Achieved [2]AchievedRate
	// Cycles counts completed cycles; Overruns those longer than the
	// interval; Failures those that panicked.
	Cycles, Overruns, Failures uint64
	LastCycle                  time.Time // time of the last completed cycle (zero: none)
	LastDuration               time.Duration
	LastFailure                string
}

// AchievedRate is a direction's measured throughput (Controller.Achieved):
// bits/s between the two newest counter readings, measured At the newer.
type AchievedRate struct {
	Bps float64
	At  time.Time
}

// NewLoop builds a loop starting from the controller's initial state.
func NewLoop(cfg LoopConfig) *Loop {
	l := &Loop{
		wan:      cfg.WAN,
		ctrl:     NewController(cfg.WAN),
		sink:     [2]RateSink{cfg.Download, cfg.Upload},
		measurer: cfg.Measurer,
		load:     cfg.Load,
		metrics:  cfg.Metrics,
		log:      cfg.Logger,
		persist:  cfg.Persist,
		buf:      make([]ping.Reply, 0, 256),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if s, ok := cfg.Measurer.(StatsSource); ok {
		l.stats = s
	}
	if s, ok := cfg.Measurer.(Pacer); ok {
		l.pacer = s
	}
	if s, ok := cfg.Measurer.(PendingSource); ok {
		l.pending = s
		l.pend = make([]ping.Pending, 0, 128)
	}
	l.policy[0] = NewWritePolicy(cfg.WAN.RouterWrites, &cfg.WAN.Download)
	l.policy[1] = NewWritePolicy(cfg.WAN.RouterWrites, &cfg.WAN.Upload)
	l.status.WAN = cfg.WAN.Name
	return l
}

// WAN returns the loop's WAN configuration (safe from any goroutine; the
// loop's goroutine replaces it on Reconfigure).
func (l *Loop) WAN() *config.WAN {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wan
}

// LoadBusy reports whether the controller wants the busy counter cadence
// (Controller.LoadBusy).
func (l *Loop) LoadBusy(now time.Time) bool { return l.ctrl.LoadBusy(now) }

// Controller returns the loop's controller (tests, calibration).
func (l *Loop) Controller() *Controller { return l.ctrl }

// Policy returns the write policy of download (false) or upload (true).
func (l *Loop) Policy(upload bool) *WritePolicy { return l.policy[dirIndex(upload)] }

// Restore loads a persisted state into the controller (rates clamped).
func (l *Loop) Restore(s *State) {
	l.ctrl.Restore(s.Snapshot())
	l.calibrate = s.CalibratedAt
}

// Reconfigure applies a reloaded configuration of the same WAN: thresholds,
// rates and router_writes. The measurement block is kept (the pinger keeps
// pinging the old reflectors until a restart).
func (l *Loop) Reconfigure(w *config.WAN) {
	nw := *w
	nw.Measurement = l.wan.Measurement
	l.mu.Lock()
	l.wan = &nw
	l.mu.Unlock()
	l.ctrl.Reconfigure(&nw)
	l.policy[0].Reconfigure(nw.RouterWrites, &nw.Download)
	l.policy[1].Reconfigure(nw.RouterWrites, &nw.Upload)
}

// Cycle runs one control cycle at now and returns the controller's
// decision.
func (l *Loop) Cycle(now time.Time) Decision {
	if l.pacer != nil {
		// The requests due are sent first, at the tick: their send times
		// are as regular as the ticker.
		l.pacer.Tick(now)
	}
	l.buf = l.measurer.Drain(l.buf[:0])
	for i := range l.buf {
		r := &l.buf[i]
		// A timestamp reply's way back is its RTT less the way out and the
		// time the reflector held it.
		if src := l.ctrl.SourceIndex(r.Target, r.TCP); r.Stamped {
			l.ctrl.ObserveOneWay(src, r.RTT, r.Up, r.RTT-r.Up-r.Hold, r.At)
		} else {
			l.ctrl.Observe(src, r.RTT, r.At)
		}
	}
	if l.pending != nil {
		// After the drain: a request answered in between is in neither
		// list, never in both.
		l.pend = l.pending.PendingInto(l.pend[:0])
		l.ctrl.ResetPending()
		for i := range l.pend {
			p := &l.pend[i]
			l.ctrl.Pending(l.ctrl.SourceIndex(p.Target, false), p.Sent)
		}
	}
	var achieved [2]AchievedRate
	if l.load != nil {
		r := l.load.Load()
		l.ctrl.ObserveLoad(false, r[0])
		l.ctrl.ObserveLoad(true, r[1])
		for i := range 2 {
			if bps, at, ok := l.ctrl.Achieved(i == 1); ok {
				achieved[i] = AchievedRate{Bps: bps, At: at}
				l.metrics.observeAchieved(i, bps)
			}
		}
	}
	l.ctrl.SetApplied(false, l.written(0), now)
	l.ctrl.SetApplied(true, l.written(1), now)
	dec := l.ctrl.Step(now)
	var verdict [2]Verdict
	for i := range 2 {
		dd := dec.Dir(i == 1)
		verdict[i] = l.policy[i].Offer(now, dd.Rate)
		if verdict[i] == Write && l.sink[i] != nil {
			l.sink[i].Set(dd.Rate)
		}
	}
	blackout := false
	if l.stats != nil {
		l.stats.StatsInto(&l.pstats)
		blackout = l.pstats.Blackout
		if l.metrics != nil {
			n := len(l.wan.Measurement.Reflectors)
			for i, t := range l.pstats.Targets {
				l.metrics.observeSource(i, t.Replies, t.Timeouts)
				l.metrics.observeStamps(i, t.Stamped, t.Echo)
			}
			for i, f := range l.pstats.Fallback {
				l.metrics.observeSource(n+i, f.Replies, f.Failures)
			}
		}
	}
	l.metrics.observeDecision(&dec)
	l.logTransitions(&dec)
	l.lastDec = dec

	l.mu.Lock()
	l.status.Decision = dec
	l.status.Verdict = verdict
	l.status.Blackout = blackout
	l.status.Achieved = achieved
	l.mu.Unlock()

	if l.persist != nil {
		key := l.persistKey(&dec)
		age := now.Sub(l.savedAt)
		switch {
		case !l.saved || age >= persistRefresh || (key != l.savedKey && age >= persistMinInterval):
			l.saved, l.savedAt, l.beatAt, l.savedKey = true, now, now, key
			// The written rates the key holds: a write completing in
			// between would be saved without the key knowing, and
			// rewritten a second later.
			l.persist(l.state(now, key.written), false)
		case now.Sub(l.beatAt) >= persistHeartbeat:
			l.beatAt = now
			l.persist(l.state(now, key.written), true)
		}
	}
	return dec
}

func (l *Loop) persistKey(d *Decision) persistKey {
	k := persistKey{signal: d.Signal}
	for i := range 2 {
		dd := d.Dir(i == 1)
		k.zone[i], k.rate[i] = dd.Zone, dd.Rate
		k.written[i] = l.written(i)
	}
	return k
}

// written is the last rate the router accepted for direction i, or what
// the policy let through when the sink does not report it.
func (l *Loop) written(i int) int64 {
	if s, ok := l.sink[i].(interface{ Status() SlotStatus }); ok {
		return s.Status().Written
	}
	return l.policy[i].Written()
}

func (l *Loop) logTransitions(d *Decision) {
	prev := &l.lastDec
	if d.Signal != prev.Signal && l.status.Cycles > 0 {
		if d.Signal {
			l.log.Info("signal back", "wan", l.wan.Name, "reflectors_alive", d.Fresh)
		} else {
			l.log.Warn("no signal: no reflector answered recently; rates held (RED keeps decreasing to its floor)", "wan", l.wan.Name)
		}
	}
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	for i := range 2 {
		dd, pd := d.Dir(i == 1), prev.Dir(i == 1)
		if dd.Zone != pd.Zone || dd.Changed {
			l.log.Debug("cycle", "wan", l.wan.Name, "direction", dirName(i), "zone", dd.Zone.String(),
				"rate", dd.Rate, "action", dd.Action.String(), "delta", dd.Delta, "baseline", d.Baseline)
		}
	}
}

func dirName(i int) string {
	if i == 1 {
		return config.Upload
	}
	return config.Download
}

// State returns the loop's persistent state at now.
func (l *Loop) State(now time.Time) State {
	return l.state(now, [2]int64{l.written(0), l.written(1)})
}

func (l *Loop) state(now time.Time, written [2]int64) State {
	snap := l.ctrl.Snapshot()
	s := stateFrom(l.wan.Name, now, &snap)
	s.Writer = "autorate"
	s.Download.Queue = l.wan.Download.Queue
	s.Upload.Queue = l.wan.Upload.Queue
	s.Download.LastWrittenRate = written[0]
	s.Upload.LastWrittenRate = written[1]
	s.CalibratedAt = l.calibrate
	return s
}

// recordCycle is called by the runner after each cycle attempt.
func (l *Loop) recordCycle(now time.Time, d time.Duration, overrun bool, failure string) {
	l.mu.Lock()
	if failure != "" {
		l.status.Failures++
		l.status.LastFailure = failure
	} else {
		l.status.Cycles++
		l.status.LastCycle = now
		l.status.LastDuration = d
		if overrun {
			l.status.Overruns++
		}
	}
	l.mu.Unlock()
	if m := l.metrics; m != nil {
		if failure != "" {
			m.failures.Inc()
			return
		}
		m.cycles.Inc()
		m.cycleDuration.Observe(d.Seconds())
		if overrun {
			m.overruns.Inc()
		}
	}
}

// Status returns the loop's latest outcome.
func (l *Loop) Status() LoopStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}
