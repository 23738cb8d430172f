package steer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/lockfile"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/statefile"
)

// LockFileName is the run lock inside daemon.lock_dir.
const LockFileName = "steer.lock"

// Router is the part of a RouterOS client a run needs; *routeros.Client
// satisfies it (so do test doubles and the simulator's router).
type Router interface {
	Query(ctx context.Context, menu string, q routeros.Query) ([]routeros.Object, error)
	Set(ctx context.Context, menu, id string, fields routeros.Object) (routeros.Object, error)
}

// Config is what a run talks to. Only its Config (the parsed
// configuration) is required.
type Config struct {
	Config *config.Config
	// Router is the steering router (the primary WAN's); nil builds a
	// routeros client from the router block.
	Router Router
	// RTT measures the primary's RTT; nil is a PingMeasurer with its
	// defaults (ICMP burst, TCP fallback).
	RTT RTTMeasurer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log receives the run's log lines; nil discards them.
	Log *slog.Logger
	// DryRun (`wanctl steer -dry-run`), like steering.dry_run in the
	// configuration, makes the run assess, apply the hysteresis, log and
	// record what it would switch, and never write to the router.
	DryRun bool
}

// Action is what a run did to the router's rules.
type Action string

// Actions.
const (
	ActionNone      Action = "none"      // the rules already matched the state
	ActionEnable    Action = "enable"    // transition to DEGRADED: rules enabled
	ActionDisable   Action = "disable"   // transition to GOOD: rules disabled
	ActionReconcile Action = "reconcile" // no transition; hand-changed rules put back
)

// Result is what one run did.
type Result struct {
	// Skipped: another run held the lock; nothing else was done.
	Skipped bool
	// State is the persisted state after the run. After a failed run it is
	// the previous state (unchanged on disk; the next run retries).
	State State
	// Decision is Step's verdict (zero when the run failed before Step).
	Decision Decision
	Action   Action
	// Patched are the comments of the rules whose `disabled` was changed;
	// in a dry run, on a transition, every managed rule (what a real run
	// following the dry state would switch).
	Patched []string
	// DryRun: nothing was written to the router (Config.DryRun or
	// steering.dry_run).
	DryRun bool
	// RTT is the median RTT measured this run (0 with no answer); RTTError
	// says why there was none, or what failed on the way to an answer.
	RTT      time.Duration
	RTTError string
	// RouterRequests counts REST requests (2 on a quiet run: queue stats
	// and mangle rules; a change adds one PATCH per rule and one GET).
	RouterRequests int
	// Duration is the run's time by Config.Now.
	Duration time.Duration
}

// Run performs one steering cycle (the `wanctl steer` one-shot):
//
//  1. take lock_dir/steer.lock without waiting (held: log "skipped", return
//     Skipped with no error);
//  2. load state_dir/steering.json (missing: fresh; corrupt: moved aside,
//     warning, fresh);
//  3. read both WANs' autorate state files (too old: untrusted);
//  4. measure the primary's RTT, and meanwhile read the primary download
//     queue's counters and the mangle rules (one GET each);
//  5. Step; make the managed mark-connection rules' `disabled` match the
//     new state (PATCH each differing rule, then one GET to verify);
//  6. save the state and the node_exporter textfile atomically.
//
// Any router failure returns an error and leaves the previous state on
// disk, so the next run retries the same transition.
func Run(ctx context.Context, d Config) (res Result, err error) {
	cfg := d.Config
	if cfg == nil {
		return res, errors.New("steer: no configuration")
	}
	s := cfg.Steering
	if s == nil {
		return res, NoSteeringError{File: cfg.Filename}
	}
	prim, alt := cfg.WAN(s.Primary), cfg.WAN(s.Alternate)
	if prim == nil || alt == nil {
		return res, fmt.Errorf("steering: primary %q or alternate %q is not a wan block of %s", s.Primary, s.Alternate, cfg.Filename)
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := now()

	lockPath := filepath.Join(cfg.Daemon.LockDir, LockFileName)
	lock, err := lockfile.TryLock(lockPath)
	if errors.Is(err, lockfile.ErrHeld) {
		var he *lockfile.HeldError
		holder := ""
		if errors.As(err, &he) {
			holder = he.Holder
		}
		log.Info("skipped: previous run still active", "lock", lockPath, "holder", holder)
		return Result{Skipped: true, Action: ActionNone}, nil
	}
	if err != nil {
		return res, fmt.Errorf("%w (set daemon.lock_dir to a writable directory; the systemd unit's RuntimeDirectory=wanctl provides /run/wanctl)", err)
	}
	defer lock.Unlock()

	stateDir := cfg.Daemon.StateDir
	statePath := filepath.Join(stateDir, StateFileName)
	prev, warn := LoadState(statePath)
	if warn != nil {
		log.Warn("steering state unusable, starting fresh", "err", warn)
	}
	dryRun := d.DryRun || s.DryRun
	res.DryRun = dryRun
	if prev.DryRun && !dryRun && prev.Degraded() {
		// A dry run never enabled the rules: its DEGRADED was what it
		// would have done. The real runs start from the rules as they are.
		log.Info("dry run ended: steering starts from GOOD", "dry_run_state", prev.State)
		prev.State = StateName(prim.Name, false)
		prev.RedStreak, prev.GreenStreak = 0, 0
	}
	res.State = prev

	in := Inputs{Now: start}
	var primBase map[string]time.Duration
	in.Primary, primBase = readWAN(stateDir, prim, start, s.Thresholds.StateMaxAge)
	in.Alternate, _ = readWAN(stateDir, alt, start, s.Thresholds.StateMaxAge)

	rt := d.Router
	if rt == nil {
		r := cfg.Router(prim.Router)
		if r == nil {
			return res, fmt.Errorf("wan %q names router %q, which is not in %s", prim.Name, prim.Router, cfg.Filename)
		}
		c, err := NewRouterClient(r, log)
		if err != nil {
			return res, err
		}
		rt = c
	}
	cr := &countingRouter{r: rt}
	defer func() { res.RouterRequests = cr.n }()

	meas := d.RTT
	if meas == nil {
		meas = &PingMeasurer{}
	}
	// The burst waits on the network for up to half a second; the router
	// reads proceed meanwhile.
	type rttResult struct {
		samples []Sample
		err     error
	}
	rttc := make(chan rttResult, 1)
	go func() {
		smp, err := meas.MeasureRTT(ctx, prim)
		rttc <- rttResult{smp, err}
	}()
	queue, qerr := readQueue(ctx, cr, prim.Download.Queue)
	var rules []routeros.Object
	if qerr == nil {
		rules, qerr = readRules(ctx, cr)
	}
	rr := <-rttc
	if qerr != nil {
		return res, qerr
	}
	if len(rules) == 0 {
		return res, fmt.Errorf("the router has no wanctl steering rules (mark-connection rules in /%s commented %q): run `wanctl apply -config %s` first, which creates them (disabled)",
			routeros.MenuMangle, plan.Marker(plan.SteerRuleAddress("<rule>")), cfg.Filename)
	}
	in.Queue = queue
	if !queue.OK {
		log.Warn("download queue not found on the router: run `wanctl apply` (steering holds until it is back)", "queue", prim.Download.Queue)
	}
	if rr.err != nil {
		res.RTTError = rr.err.Error()
	}
	switch {
	case len(rr.samples) > 0:
		res.RTT = medianRTT(rr.samples)
		delta := aggregateDelta(rr.samples, primBase, in.Primary.BaselineRTT)
		in.RTTOK = true
		in.RTT = in.Primary.BaselineRTT + delta
	case in.Primary.Trusted && in.Primary.Congested():
		// No echo came back within its timeout while the primary's own
		// autorate says it is congested: the queue holds the echoes
		// longer than the timeout, the worst case steering is for, not
		// a missing measurement. The delay is at least the timeout.
		timeout := echoTimeout(meas)
		in.RTTOK = true
		in.RTT = in.Primary.BaselineRTT + timeout
		log.Info("no echo answered within its timeout while the primary is congested: taking the delay as at least the timeout",
			"wan", prim.Name, "zone", in.Primary.DownloadZone, "timeout", timeout)
	}

	next, dec := Step(prev, in, s.Thresholds, prim.Name, alt.Name)
	next.DryRun = dryRun
	if dryRun && dec.Transition != nil {
		dec.Transition.DryRun = true
		next.History[len(next.History)-1].DryRun = true
	}
	res.Decision = dec

	// Make the rules match the state: on a transition that is the point;
	// otherwise it repairs rules someone toggled by hand.
	var fix []routeros.Object
	for _, r := range rules {
		if ruleDisabled(r) != dec.Disabled {
			fix = append(fix, r)
		}
	}
	res.Action = ActionNone
	switch {
	case dec.Transition != nil && dec.Disabled:
		res.Action = ActionDisable
	case dec.Transition != nil:
		res.Action = ActionEnable
	case dryRun:
		// The rules stay as they were, so they differ from a dry DEGRADED
		// on every run: nothing to report between transitions.
		fix = nil
	case len(fix) > 0:
		res.Action = ActionReconcile
		log.Warn("steering rules were changed on the router: putting them back to match the steering state",
			"state", next.State, "rules", comments(fix), "want_disabled", dec.Disabled)
	}
	switch {
	case dryRun:
		if dec.Transition != nil {
			// A real run following the dry state would switch them all.
			res.Patched = comments(rules)
		}
	case len(fix) > 0:
		if err := setRules(ctx, cr, fix, dec.Disabled); err != nil {
			return res, fmt.Errorf("%w; the steering state stays %s and the next run retries", err, prev.stateName(prim.Name))
		}
		res.Patched = comments(fix)
	}

	if err := SaveState(statePath, next); err != nil {
		return res, fmt.Errorf("save steering state: %w (the router's rules already match %s; the next run re-evaluates)", err, next.State)
	}
	res.State = next
	res.Duration = now().Sub(start)
	promErr := WriteTextfile(filepath.Join(stateDir, TextfileFileName), next, prim.Name, res.Duration, dryRun)

	res.RouterRequests = cr.n
	logRun(ctx, log, &res, &in, alt.Name)
	if promErr != nil {
		return res, promErr
	}
	return res, nil
}

// stateName is the state's name, or the fresh GOOD state's for an empty
// state.
func (s State) stateName(primary string) string {
	if s.State == "" {
		return StateName(primary, false)
	}
	return s.State
}

// NoSteeringError: the configuration has no steering block.
type NoSteeringError struct{ File string }

func (e NoSteeringError) Error() string {
	return fmt.Sprintf("%s has no steering block, so there is nothing to steer: add one (steering { primary = \"<wan>\" alternate = \"<wan>\" rule \"...\" { ... } }, see docs/steering.md) and run `wanctl apply`, or stop wanctl-steer.timer", e.File)
}

// LoadState reads the steering state file. A missing file gives a fresh
// state and no warning; an unreadable or corrupt one (moved aside to
// <path>.corrupt) gives a fresh state and a warning saying so.
func LoadState(path string) (State, error) {
	var st State
	found, err := statefile.ReadJSON(path, &st, func() error {
		if st.Version != StateVersion {
			return fmt.Errorf("state version %d, this wanctl reads version %d", st.Version, StateVersion)
		}
		return nil
	})
	if err != nil || !found {
		return State{}, err
	}
	return st, nil
}

// SaveState writes the steering state file atomically (temporary file,
// fsync, rename: a crash leaves the old or the new state), mode 0600,
// creating the state directory (0755) if needed.
func SaveState(path string, st State) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("%w (set daemon.state_dir to a writable directory)", err)
	}
	return statefile.WriteJSON(path, st, 0o600)
}

// readWAN turns a WAN's autorate state file into what steering trusts, and
// the per-source baselines (reflector "1.1.1.1", TCP target "1.1.1.1:443").
func readWAN(stateDir string, cw *config.WAN, now time.Time, maxAge time.Duration) (WANState, map[string]time.Duration) {
	wan := cw.Name
	path := autorate.StatePath(stateDir, wan)
	st, err := autorate.ReadState(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return WANState{Why: "no state file " + path + ": autorate is not running for " + wan}, nil
	case err != nil:
		return WANState{Why: err.Error()}, nil
	case st.WAN != wan:
		// A copy of another WAN's file must not stand in for this one.
		return WANState{Why: fmt.Sprintf("state file %s belongs to wan %q, not %q", path, st.WAN, wan)}, nil
	}
	w := WANState{
		BaselineRTT:  autorate.MsDuration(st.BaselineRTTMs),
		DownloadZone: st.Download.Zone.String(),
		DownloadRate: st.Download.Rate,
	}
	switch st.Download.Zone {
	case autorate.Red:
		w.DownloadFloor = cw.Download.Floor.Red
	case autorate.SoftRed:
		w.DownloadFloor = cw.Download.Floor.SoftRed
	}
	switch seen := st.LastSeen(); {
	case !Fresh(seen, now, maxAge):
		w.Why = fmt.Sprintf("state file %s is %s old, state_max_age is %s: autorate is not running", path, now.Sub(seen).Round(time.Millisecond), maxAge)
	case !st.Signal:
		// A live daemon that hears no reflector: the link may be down.
		w.Why = "autorate has no RTT signal (no reflector answers)"
	case w.BaselineRTT <= 0:
		w.Why = "autorate has no baseline RTT yet"
	default:
		w.Trusted = true
	}
	base := make(map[string]time.Duration, len(st.Reflectors))
	for _, r := range st.Reflectors {
		if b := autorate.MsDuration(r.BaselineRTTMs); b > 0 {
			base[r.Address] = b
		}
	}
	return w, base
}

// aggregateDelta is the run's RTT increase: per source the median of its
// samples minus that source's own baseline (the WAN's baseline when it
// has none), then the median over sources — as autorate judges delays.
func aggregateDelta(samples []Sample, base map[string]time.Duration, overall time.Duration) time.Duration {
	by := map[string][]time.Duration{}
	var order []string
	for _, s := range samples {
		if _, ok := by[s.Source]; !ok {
			order = append(order, s.Source)
		}
		by[s.Source] = append(by[s.Source], s.RTT)
	}
	deltas := make([]time.Duration, 0, len(order))
	for _, src := range order {
		b, ok := base[src]
		if !ok {
			b = overall
		}
		deltas = append(deltas, median(by[src])-b)
	}
	return median(deltas)
}

func medianRTT(samples []Sample) time.Duration {
	v := make([]time.Duration, len(samples))
	for i, s := range samples {
		v[i] = s.RTT
	}
	return median(v)
}

// median of v (the mean of the middle two for an even count); v is sorted
// in place.
func median(v []time.Duration) time.Duration {
	if len(v) == 0 {
		return 0
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// readQueue reads the download queue's counters with one GET.
func readQueue(ctx context.Context, r Router, name string) (QueueStats, error) {
	objs, err := r.Query(ctx, routeros.MenuQueueTree, routeros.Query{
		Filter:   map[string]string{"name": name},
		Proplist: []string{"name", "dropped", "queued-packets"},
	})
	if err != nil {
		return QueueStats{}, fmt.Errorf("read queue %q statistics: %w", name, err)
	}
	for _, o := range objs {
		if o["name"] != name {
			continue
		}
		dropped, err1 := o.Int("dropped")
		queued, err2 := o.Int("queued-packets")
		if err := errors.Join(err1, err2); err != nil {
			return QueueStats{}, fmt.Errorf("queue %q statistics: %w", name, err)
		}
		return QueueStats{OK: true, Name: name, Dropped: dropped, QueuedPackets: queued}, nil
	}
	return QueueStats{Name: name}, nil
}

// ruleFields are the mangle fields a run reads: enough to find the managed
// mark-connection rules (comment marker + action) and toggle them.
var ruleFields = []string{".id", "comment", "action", "disabled"}

// readRules reads the managed steering mark-connection rules with one GET.
func readRules(ctx context.Context, r Router) ([]routeros.Object, error) {
	objs, err := r.Query(ctx, routeros.MenuMangle, routeros.Query{Proplist: ruleFields})
	if err != nil {
		return nil, fmt.Errorf("read steering rules: %w", err)
	}
	rules := plan.SteeringRules(objs)
	for _, o := range rules {
		if o.ID() == "" {
			return nil, fmt.Errorf("read steering rules: the router returned rule %q without an .id", o["comment"])
		}
	}
	return rules, nil
}

func ruleDisabled(o routeros.Object) bool {
	v, _ := o.Bool("disabled")
	return v
}

func comments(rules []routeros.Object) []string {
	out := make([]string, len(rules))
	for i, o := range rules {
		out[i] = o["comment"]
	}
	return out
}

// setRules PATCHes `disabled` on each rule, then reads the menu once and
// checks that every one of them took it.
func setRules(ctx context.Context, r Router, rules []routeros.Object, disabled bool) error {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	val := strconv.FormatBool(disabled)
	for i, o := range rules {
		if _, err := r.Set(ctx, routeros.MenuMangle, o.ID(), routeros.Object{"disabled": val}); err != nil {
			done := ""
			if i > 0 {
				done = fmt.Sprintf(" (%d of %d rules were changed before it; the next run puts them in line)", i, len(rules))
			}
			return fmt.Errorf("%s steering rule %q (%s): %w%s — check that the REST user may write /ip/firewall/mangle and that the router is reachable",
				verb, o["comment"], o.ID(), err, done)
		}
	}
	after, err := readRules(ctx, r)
	if err != nil {
		return fmt.Errorf("verify after %s: %w", verb, err)
	}
	got := make(map[string]routeros.Object, len(after))
	for _, o := range after {
		got[o.ID()] = o
	}
	var bad []string
	for _, o := range rules {
		a, ok := got[o.ID()]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%q (%s) is gone", o["comment"], o.ID()))
		case ruleDisabled(a) != disabled:
			bad = append(bad, fmt.Sprintf("%q (%s) still has disabled=%s", o["comment"], o.ID(), a["disabled"]))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s steering rules: the router accepted the change but reading back shows %s (someone else is editing the rules? run `wanctl plan` to see)", verb, strings.Join(bad, ", "))
	}
	return nil
}

// countingRouter counts requests for the run's log line.
type countingRouter struct {
	r Router
	n int
}

func (c *countingRouter) Query(ctx context.Context, menu string, q routeros.Query) ([]routeros.Object, error) {
	c.n++
	return c.r.Query(ctx, menu, q)
}

func (c *countingRouter) Set(ctx context.Context, menu, id string, fields routeros.Object) (routeros.Object, error) {
	c.n++
	return c.r.Set(ctx, menu, id, fields)
}

// logRun writes the run's one log line. The timer runs steer every 2 s, so
// a quiet run (no transition, nothing put back, nothing blocked, both WANs'
// states trusted) is DEBUG: at INFO the journal keeps only what changed or
// needs a look.
func logRun(ctx context.Context, log *slog.Logger, res *Result, in *Inputs, alternate string) {
	dec, a := res.Decision, res.Decision.Assessment
	msg, level := "steer run", slog.LevelDebug
	if dec.Transition != nil || res.Action != ActionNone || dec.Blocked != "" || !in.Primary.Trusted || !in.Alternate.Trusted {
		level = slog.LevelInfo
	}
	if tr := dec.Transition; tr != nil {
		msg = "steering " + tr.From + " -> " + tr.To
	}
	if res.DryRun {
		msg = "dry run: " + msg
	}
	attrs := []slog.Attr{
		slog.String("state", dec.State),
		slog.String("assessment", string(a.Level)),
		slog.String("action", string(res.Action)),
	}
	if res.DryRun {
		// action and rules are what the run would have done.
		attrs = append(attrs, slog.Bool("dry_run", true))
	}
	if tr := dec.Transition; tr != nil {
		attrs = append(attrs, slog.String("reason", tr.Reason))
	} else {
		attrs = append(attrs, slog.String("reason", a.Reason))
	}
	if dec.Blocked != "" {
		attrs = append(attrs, slog.String("blocked", dec.Blocked))
	}
	if a.RTTMeasured {
		attrs = append(attrs, slog.Float64("rtt_delta_ms", ms(a.RTTDelta)))
	}
	if a.EWMAValid {
		attrs = append(attrs, slog.Float64("rtt_delta_ewma_ms", round3(a.RTTDeltaEWMAMs)))
	}
	if res.RTT > 0 {
		attrs = append(attrs, slog.Float64("rtt_ms", ms(res.RTT)))
	}
	if res.RTTError != "" {
		attrs = append(attrs, slog.String("rtt_error", res.RTTError))
		level = slog.LevelWarn
	}
	attrs = append(attrs,
		slog.Int64("drops", a.Drops),
		slog.Int64("queued", a.Queued),
		slog.Bool("primary_at_floor", a.AtFloor),
		slog.Int("red_streak", res.State.RedStreak),
		slog.Int("green_streak", res.State.GreenStreak),
		slog.String("primary_zone", zoneOrWhy(in.Primary)),
		slog.String("alternate", alternate),
		slog.String("alternate_zone", zoneOrWhy(in.Alternate)),
	)
	if len(res.Patched) > 0 {
		attrs = append(attrs, slog.String("rules", strings.Join(res.Patched, ",")))
	}
	attrs = append(attrs, slog.Int("router_requests", res.RouterRequests), slog.Duration("duration", res.Duration))
	log.LogAttrs(ctx, level, msg, attrs...)
}

func zoneOrWhy(w WANState) string {
	if !w.Trusted {
		return "untrusted"
	}
	return w.DownloadZone
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// NewRouterClient is routeros.New with the trust anchors a
// one-shot can afford: loading the system certificate pool costs 10-15 ms
// of CPU — half of a run's budget — so it is loaded only when it can
// matter. Over http, or with tls_skip_verify, no pool is needed; with
// ca_file the router's certificate (or its CA) from that file is the only
// trust anchor, as with curl --cacert; only https without ca_file
// verifies against the system roots.
func NewRouterClient(r *config.Router, log *slog.Logger) (*routeros.Client, error) {
	if r == nil {
		return nil, errors.New("steer: no router block")
	}
	cc := r.ClientConfig()
	cc.Logger = log
	switch u, err := url.Parse(strings.TrimSpace(r.URL)); {
	case err != nil:
		// routeros.New reports it.
	case u.Scheme == "http" || r.TLSSkipVerify:
		cc.RootCAs = x509.NewCertPool()
	case r.CAFile != "":
		pool := x509.NewCertPool()
		if err := routeros.AppendCAFile(pool, r.CAFile); err != nil {
			return nil, fmt.Errorf("router %q: %w", r.Name, err)
		}
		cc.RootCAs = pool
	}
	return routeros.New(cc)
}
