package steer

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/lockfile"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
	"github.com/wanctl/wanctl/statefile"
)

// fresh writes both WANs' autorate states, half a second old.
func (e *env) fresh(primary, alternate autorate.Zone) {
	e.autorate("spectrum", primary, 500*time.Millisecond)
	e.autorate("att", alternate, 500*time.Millisecond)
}

func (e *env) statePath() string { return filepath.Join(e.cfg.Daemon.StateDir, StateFileName) }

func (e *env) stateBytes() []byte {
	e.t.Helper()
	b, err := os.ReadFile(e.statePath())
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// congest runs RED cycles (RTT 40 ms over the baseline, 100 drops per run,
// 80 packets queued) until the run before the transition, and returns the
// cumulative drop counter.
func (e *env) congestUntilOneShort() int64 {
	e.t.Helper()
	e.rtt = 60 * time.Millisecond
	var dropped int64
	for i := 0; i < 20; i++ {
		dropped += 100
		e.fresh(autorate.Red, autorate.Green)
		e.queue(dropped, 80)
		r := e.mustRun()
		if r.Decision.Transition != nil {
			e.t.Fatalf("transition too early: %+v", r.Decision)
		}
		if r.State.RedStreak == 1 { // red_samples = 2: the next RED run steers
			return dropped
		}
	}
	e.t.Fatal("never RED")
	return 0
}

func TestRunSteersAndReturns(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	r := e.mustRun()
	if r.State.State != "SPECTRUM_GOOD" || r.Action != ActionNone || r.Decision.Assessment.Level != Green {
		t.Fatalf("first run: %+v", r)
	}
	if got := e.requests(); !reflect.DeepEqual(got, []string{"GET queue/tree", "GET ip/firewall/mangle"}) || r.RouterRequests != 2 {
		t.Fatalf("quiet run requests %d: %v", r.RouterRequests, got)
	}
	e.wantRules("true")

	dropped := e.congestUntilOneShort()
	e.requests()
	dropped += 100
	e.fresh(autorate.Red, autorate.Green)
	e.queue(dropped, 80)
	r = e.mustRun()
	if r.Action != ActionEnable || r.State.State != "SPECTRUM_DEGRADED" || r.Decision.Transition == nil || len(r.Patched) != 3 {
		t.Fatalf("steering run: %+v", r)
	}
	e.wantRules("false")
	reqs := e.requests()
	want := []string{"GET queue/tree", "GET ip/firewall/mangle", "PATCH ip/firewall/mangle/", "PATCH ip/firewall/mangle/", "PATCH ip/firewall/mangle/", "GET ip/firewall/mangle"}
	if len(reqs) != len(want) || r.RouterRequests != 6 {
		t.Fatalf("steering run requests %d: %v", r.RouterRequests, reqs)
	}
	for i := range want {
		if !strings.HasPrefix(reqs[i], want[i]) {
			t.Fatalf("steering run requests: %v, want %v", reqs, want)
		}
	}
	var onDisk State
	if st, err := LoadState(e.statePath()); err != nil || st.State != "SPECTRUM_DEGRADED" || st.TransitionsTotal != 1 || len(st.History) != 1 {
		t.Fatalf("saved state %+v %v", st, err)
	} else {
		onDisk = st
	}
	if !strings.Contains(onDisk.History[0].Reason, "RED for 2 consecutive runs") {
		t.Errorf("history reason %q", onDisk.History[0].Reason)
	}
	if !strings.Contains(e.log.String(), "steering SPECTRUM_GOOD -> SPECTRUM_DEGRADED") {
		t.Errorf("no transition log line:\n%s", e.log.String())
	}

	// Healthy again: the EWMA decays (YELLOW runs), then green_samples (3)
	// GREEN runs end steering.
	e.rtt = 20 * time.Millisecond
	var greens int
	for i := 0; i < 30; i++ {
		e.fresh(autorate.Green, autorate.Green)
		e.queue(dropped, 0)
		r = e.mustRun()
		if r.Decision.Assessment.Level == Green {
			greens++
		}
		if r.Decision.Transition != nil {
			break
		}
		e.wantRules("false")
	}
	if r.Action != ActionDisable || r.State.State != "SPECTRUM_GOOD" || greens != 3 {
		t.Fatalf("after %d GREEN runs: %+v", greens, r)
	}
	e.wantRules("true")
	// The textfile follows the state.
	prom, err := os.ReadFile(filepath.Join(e.cfg.Daemon.StateDir, TextfileFileName))
	if err != nil {
		t.Fatal(err)
	}
	lint(t, prom)
	mfs := parse(t, prom)
	if v := value(t, mfs, "wanctl_steering_transitions_total", map[string]string{"wan": "spectrum"}); v != 2 {
		t.Errorf("transitions_total %v", v)
	}
	if v := value(t, mfs, "wanctl_steering_degraded", map[string]string{"wan": "spectrum"}); v != 0 {
		t.Errorf("degraded %v", v)
	}
}

func TestRunFilesModes(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	e.mustRun()
	for name, want := range map[string]os.FileMode{StateFileName: 0o600, TextfileFileName: 0o644} {
		st, err := os.Stat(filepath.Join(e.cfg.Daemon.StateDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, st.Mode().Perm(), want)
		}
	}
	ents, _ := os.ReadDir(e.cfg.Daemon.StateDir)
	for _, en := range ents {
		if strings.Contains(en.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", en.Name())
		}
	}
}

func TestRunFailedPatchKeepsState(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	e.mustRun()
	dropped := e.congestUntilOneShort()
	before := e.stateBytes()

	// The second rule's PATCH fails: one rule is already enabled.
	rules := plan.SteeringRules(e.emu.Objects(routeros.MenuMangle))
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Method: "PATCH", Path: routeros.MenuMangle + "/" + rules[1].ID(), Status: 503, Detail: "busy"})
	dropped += 100
	e.fresh(autorate.Red, autorate.Green)
	e.queue(dropped, 80)
	r, err := e.run()
	if err == nil {
		t.Fatalf("run succeeded despite the failed PATCH: %+v", r)
	}
	for _, w := range []string{rules[1]["comment"], "503", "busy", "enable steering rule", "next run retries", "SPECTRUM_GOOD"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if !bytes.Equal(e.stateBytes(), before) {
		t.Fatalf("state changed after a failed run:\n%s\n->\n%s", before, e.stateBytes())
	}
	if r.State.State != "SPECTRUM_GOOD" {
		t.Errorf("result state %q", r.State.State)
	}
	st, _ := e.rules()
	if st[rules[0]["comment"]] != "false" || st[rules[1]["comment"]] != "true" {
		t.Fatalf("partial change expected: %v", st)
	}

	// The next run retries the transition and finishes it.
	dropped += 100
	e.fresh(autorate.Red, autorate.Green)
	e.queue(dropped, 80)
	r = e.mustRun()
	if r.Action != ActionEnable || r.State.State != "SPECTRUM_DEGRADED" || len(r.Patched) != 2 {
		t.Fatalf("retry: %+v", r)
	}
	e.wantRules("false")
}

func TestRunFailedPatchThenRecoveredReverts(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	e.mustRun()
	dropped := e.congestUntilOneShort()
	rules := plan.SteeringRules(e.emu.Objects(routeros.MenuMangle))
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Method: "PATCH", Path: routeros.MenuMangle + "/" + rules[2].ID()})
	dropped += 100
	e.fresh(autorate.Red, autorate.Green)
	e.queue(dropped, 80)
	if _, err := e.run(); err == nil {
		t.Fatal("no error")
	}
	// The link recovered meanwhile: no transition, and the half-enabled
	// rules go back to the persisted GOOD state.
	e.rtt = 20 * time.Millisecond
	e.fresh(autorate.Green, autorate.Green)
	e.queue(dropped, 0)
	r := e.mustRun()
	if r.Action != ActionReconcile || r.State.State != "SPECTRUM_GOOD" || len(r.Patched) != 2 {
		t.Fatalf("%+v", r)
	}
	e.wantRules("true")
}

func TestRunReconcilesHandToggledRules(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	e.mustRun()
	rules := plan.SteeringRules(e.emu.Objects(routeros.MenuMangle))
	if err := e.emu.SetObject(routeros.MenuMangle, rules[0].ID(), routeros.Object{"disabled": "false"}); err != nil {
		t.Fatal(err)
	}
	e.log.Reset()
	e.fresh(autorate.Green, autorate.Green)
	r := e.mustRun()
	if r.Action != ActionReconcile || !reflect.DeepEqual(r.Patched, []string{rules[0]["comment"]}) || r.Decision.Transition != nil {
		t.Fatalf("%+v", r)
	}
	e.wantRules("true")
	if l := e.log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, rules[0]["comment"]) || !strings.Contains(l, "putting them back") {
		t.Errorf("reconcile not logged at warn with the rule:\n%s", l)
	}
	// A quiet run after that changes nothing.
	e.requests()
	e.fresh(autorate.Green, autorate.Green)
	if r := e.mustRun(); r.Action != ActionNone || r.RouterRequests != 2 {
		t.Fatalf("%+v", r)
	}
}

func TestRunStaleAutorateNeverRed(t *testing.T) {
	e := newEnv(t, 0, "")
	e.rtt = 100 * time.Millisecond
	var dropped int64
	for i := 0; i < 8; i++ {
		dropped += 500
		e.autorate("spectrum", autorate.Red, 6*time.Second) // state_max_age 5s
		e.autorate("att", autorate.Green, 0)
		e.queue(dropped, 200)
		r := e.mustRun()
		if r.Decision.Assessment.Level == Red || r.State.Degraded() {
			t.Fatalf("run %d: stale primary state gave %+v", i, r.Decision)
		}
		if !strings.Contains(r.Decision.Assessment.Reason, "8s old") { // written 6 s before the clock, which run() moves 2 s on
			t.Fatalf("reason %q", r.Decision.Assessment.Reason)
		}
	}
	e.wantRules("true")
	// No state file at all: the same.
	os.Remove(autorate.StatePath(e.cfg.Daemon.StateDir, "spectrum"))
	e.queue(dropped+500, 200)
	r := e.mustRun()
	if r.Decision.Assessment.Level != Yellow || !strings.Contains(r.Decision.Assessment.Reason, "no state file") {
		t.Fatalf("%+v", r.Decision.Assessment)
	}
}

func TestRunAlternateRedBlocks(t *testing.T) {
	e := newEnv(t, 0, "")
	e.rtt = 60 * time.Millisecond
	var dropped int64
	blocked := 0
	for i := 0; i < 8; i++ {
		dropped += 100
		e.fresh(autorate.Red, autorate.Red)
		e.queue(dropped, 80)
		before := len(e.log.String())
		r := e.mustRun()
		if r.State.Degraded() || r.Action != ActionNone {
			t.Fatalf("steered onto a RED alternate: %+v", r)
		}
		if r.Decision.Blocked != "" {
			blocked++
			if lvl := runLineLevel(t, e.log.String()[before:]); lvl != "INFO" {
				t.Errorf("blocked run logged at %s, want INFO", lvl)
			}
			if !strings.Contains(r.Decision.Blocked, "alternate att is RED") {
				t.Errorf("blocked %q", r.Decision.Blocked)
			}
		}
	}
	if blocked == 0 {
		t.Fatal("never blocked: the primary never looked RED for long enough")
	}
	e.wantRules("true")
	if !strings.Contains(e.log.String(), "blocked=") {
		t.Errorf("blocked runs not logged:\n%s", e.log.String())
	}
}

func TestRunAlternateFailsWhileDegraded(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	e.mustRun()
	dropped := e.congestUntilOneShort() + 100
	e.fresh(autorate.Red, autorate.Green)
	e.queue(dropped, 80)
	if r := e.mustRun(); !r.State.Degraded() {
		t.Fatalf("%+v", r)
	}
	// The alternate's autorate dies: steering stops at once.
	dropped += 100
	e.autorate("spectrum", autorate.Red, 0)
	e.autorate("att", autorate.Green, time.Minute)
	e.queue(dropped, 80)
	r := e.mustRun()
	if r.Action != ActionDisable || r.State.Degraded() || !strings.Contains(r.Decision.Transition.Reason, "alternate att untrusted") {
		t.Fatalf("%+v", r.Decision)
	}
	e.wantRules("true")
}

func TestRunLockHeld(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	l, err := lockfile.TryLock(filepath.Join(e.cfg.Daemon.LockDir, LockFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	r, err := e.run()
	if err != nil || !r.Skipped {
		t.Fatalf("%+v %v", r, err)
	}
	if n := len(e.requests()); n != 0 {
		t.Errorf("%d router requests while skipped", n)
	}
	if _, err := os.Stat(e.statePath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state written while skipped: %v", err)
	}
	if l := e.log.String(); !strings.Contains(l, "skipped: previous run still active") || !strings.Contains(l, "pid ") {
		t.Errorf("log: %s", l)
	}
}

func TestRunNoSteeringRulesOnRouter(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	for _, o := range plan.SteeringRules(e.emu.Objects(routeros.MenuMangle)) {
		if err := e.emu.RemoveObject(routeros.MenuMangle, o.ID()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.run()
	if err == nil || !strings.Contains(err.Error(), "wanctl apply -config") || !strings.Contains(err.Error(), "no wanctl steering rules") {
		t.Fatalf("err = %v", err)
	}
	if _, serr := os.Stat(e.statePath()); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("state written after an error: %v", serr)
	}
}

func TestRunNoSteeringBlock(t *testing.T) {
	e := newEnv(t, 0, "")
	cfg := *e.cfg
	cfg.Steering = nil
	d := e.deps()
	d.Config = &cfg
	_, err := Run(context.Background(), d)
	var ns NoSteeringError
	if !errors.As(err, &ns) || !strings.Contains(err.Error(), "has no steering block") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunCorruptStateStartsFresh(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	if err := os.MkdirAll(e.cfg.Daemon.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.statePath(), []byte(`{"version":1,"state":`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun()
	if r.State.State != "SPECTRUM_GOOD" {
		t.Fatalf("%+v", r)
	}
	if b, err := os.ReadFile(e.statePath() + ".corrupt"); err != nil || string(b) != `{"version":1,"state":` {
		t.Fatalf("corrupt file not kept aside: %q %v", b, err)
	}
	if l := e.log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "moved aside") {
		t.Errorf("no warning:\n%s", l)
	}
	// Another version is moved aside too.
	if err := os.WriteFile(e.statePath(), []byte(`{"version":7,"state":"X"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(e.statePath()); !errors.Is(err, statefile.ErrCorrupt) || !strings.Contains(err.Error(), "version 7") {
		t.Fatalf("err = %v", err)
	}
	if b, err := os.ReadFile(e.statePath() + ".corrupt"); err != nil || string(b) != `{"version":7,"state":"X"}` {
		t.Fatalf("other version not kept aside: %q %v", b, err)
	}
}

func TestRunQueueMissingHolds(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	for _, o := range e.emu.Objects(routeros.MenuQueueTree) {
		if o["name"] == "wanctl-spectrum-down" {
			if err := e.emu.RemoveObject(routeros.MenuQueueTree, o.ID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := e.mustRun()
	if r.Decision.Assessment.Level != Yellow || !strings.Contains(r.Decision.Assessment.Reason, "no queue statistics") {
		t.Fatalf("%+v", r.Decision.Assessment)
	}
	if !strings.Contains(e.log.String(), "download queue not found") {
		t.Errorf("log:\n%s", e.log.String())
	}
}

// lyingRouter accepts PATCHes without applying them.
type lyingRouter struct{ Router }

func (lyingRouter) Set(_ context.Context, _, id string, _ routeros.Object) (routeros.Object, error) {
	return routeros.Object{".id": id}, nil
}

func TestRunVerifyFails(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	e.mustRun()
	rules := plan.SteeringRules(e.emu.Objects(routeros.MenuMangle))
	if err := e.emu.SetObject(routeros.MenuMangle, rules[1].ID(), routeros.Object{"disabled": "false"}); err != nil {
		t.Fatal(err)
	}
	before := e.stateBytes()
	d := e.deps()
	d.Router = lyingRouter{e.client}
	e.now = e.now.Add(2 * time.Second)
	e.fresh(autorate.Green, autorate.Green)
	_, err := Run(context.Background(), d)
	if err == nil || !strings.Contains(err.Error(), "reading back shows") || !strings.Contains(err.Error(), rules[1]["comment"]) {
		t.Fatalf("err = %v", err)
	}
	if !bytes.Equal(before, e.stateBytes()) {
		t.Error("state changed after a failed verification")
	}
}

func TestRunRouterUnreachable(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	e.mustRun()
	before := e.stateBytes()
	e.srv.Close()
	e.fresh(autorate.Green, autorate.Green)
	_, err := e.run()
	if err == nil || !strings.Contains(err.Error(), "read queue \"wanctl-spectrum-down\" statistics") {
		t.Fatalf("err = %v", err)
	}
	if !bytes.Equal(before, e.stateBytes()) {
		t.Error("state changed after a failed run")
	}
}

func TestRunRTTError(t *testing.T) {
	e := newEnv(t, 0, "")
	e.fresh(autorate.Green, autorate.Green)
	e.queue(0, 0)
	d := e.deps()
	d.RTT = RTTFunc(func(context.Context, *config.WAN) ([]Sample, error) {
		return nil, errors.New("no reflector of spectrum answered")
	})
	r, err := Run(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Decision.Assessment.Level != Yellow || !strings.Contains(r.Decision.Assessment.Reason, "no RTT measurement") {
		t.Fatalf("%+v", r.Decision.Assessment)
	}
	if l := e.log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "rtt_error=") {
		t.Errorf("log:\n%s", l)
	}
}

func TestAggregateDelta(t *testing.T) {
	ms := time.Millisecond
	base := map[string]time.Duration{"1.1.1.1": 10 * ms, "8.8.8.8": 30 * ms, "1.1.1.1:443": 12 * ms}
	for _, tc := range []struct {
		name    string
		samples []Sample
		want    time.Duration
	}{
		{"per-reflector baselines", []Sample{{Source: "1.1.1.1", RTT: 15 * ms}, {Source: "8.8.8.8", RTT: 35 * ms}}, 5 * ms},
		{"median per source", []Sample{{Source: "1.1.1.1", RTT: 11 * ms}, {Source: "1.1.1.1", RTT: 90 * ms}, {Source: "1.1.1.1", RTT: 14 * ms}}, 4 * ms},
		{"median over sources", []Sample{{Source: "1.1.1.1", RTT: 10 * ms}, {Source: "8.8.8.8", RTT: 31 * ms}, {Source: "9.9.9.9", RTT: 100 * ms}}, 1 * ms},
		{"unknown source uses the WAN baseline", []Sample{{Source: "9.9.9.9", RTT: 50 * ms}}, 30 * ms},
		{"tcp target baseline", []Sample{{Source: "1.1.1.1:443", RTT: 20 * ms, TCP: true}}, 8 * ms},
		{"below baseline", []Sample{{Source: "8.8.8.8", RTT: 25 * ms}}, -5 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := aggregateDelta(tc.samples, base, 20*ms); got != tc.want {
				t.Errorf("%v, want %v", got, tc.want)
			}
		})
	}
}

// The daemon's heartbeat is the state file's modification time: contents
// written a minute ago in a file touched a moment ago are a live daemon's;
// a file calibrate wrote last is not, however recent.
func TestRunTrustsTheHeartbeatNotACalibration(t *testing.T) {
	e := newEnv(t, 0, "")
	path := autorate.StatePath(e.cfg.Daemon.StateDir, "spectrum")
	touch := func(age time.Duration) {
		t.Helper()
		at := e.now.Add(2*time.Second - age) // run() moves the clock 2 s on
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	e.autorate("spectrum", autorate.Green, time.Minute-2*time.Second)
	e.autorate("att", autorate.Green, 0)
	touch(time.Second)
	if r := e.mustRun(); strings.Contains(r.Decision.Assessment.Reason, "untrusted") {
		t.Fatalf("a heartbeat a second old was not trusted: %q", r.Decision.Assessment.Reason)
	}
	touch(6 * time.Second) // state_max_age 5s
	r := e.mustRun()
	if !strings.Contains(r.Decision.Assessment.Reason, "autorate-spectrum.json is 6s old") {
		t.Fatalf("a heartbeat 6 s old: %q", r.Decision.Assessment.Reason)
	}
	st, err := autorate.ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Writer = "calibrate"
	if err := autorate.WriteState(path, &st); err != nil {
		t.Fatal(err)
	}
	touch(time.Second)
	if r := e.mustRun(); !strings.Contains(r.Decision.Assessment.Reason, "untrusted") {
		t.Fatalf("a calibration was taken for a live daemon: %q", r.Decision.Assessment.Reason)
	}
}

// A parseable but forged alternate state is not a usable alternate: a zone
// that is not one of autorate's (it counted as GREEN), or another WAN's
// file copied over the alternate's.
func TestRunForgedAlternateState(t *testing.T) {
	for _, tc := range []struct {
		name, blocked string
		forge         func(b []byte, spectrum []byte) []byte
	}{
		{"unknown zone", `unknown download zone "BOGUS"`, func(b, _ []byte) []byte {
			return bytes.Replace(b, []byte(`"zone": "GREEN"`), []byte(`"zone": "BOGUS"`), 1)
		}},
		{"lower case zone", `unknown download zone "red"`, func(b, _ []byte) []byte {
			return bytes.Replace(b, []byte(`"zone": "GREEN"`), []byte(`"zone": "red"`), 1)
		}},
		{"empty zone", `unknown download zone ""`, func(b, _ []byte) []byte {
			return bytes.Replace(b, []byte(`"zone": "GREEN"`), []byte(`"zone": ""`), 1)
		}},
		{"no zone", `no download zone`, func(b, _ []byte) []byte {
			return bytes.Replace(b, []byte(`"zone": "GREEN",`), nil, 1)
		}},
		{"another wan's state", `belongs to wan "spectrum", not "att"`, func(_, spectrum []byte) []byte {
			return spectrum
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0, "")
			dropped := e.congestUntilOneShort() + 100
			// A healthy spectrum file to copy, then the real (RED) one.
			e.autorate("spectrum", autorate.Green, 500*time.Millisecond)
			spectrum, err := os.ReadFile(autorate.StatePath(e.cfg.Daemon.StateDir, "spectrum"))
			if err != nil {
				t.Fatal(err)
			}
			e.fresh(autorate.Red, autorate.Green)
			att := autorate.StatePath(e.cfg.Daemon.StateDir, "att")
			b, err := os.ReadFile(att)
			if err != nil {
				t.Fatal(err)
			}
			forged := tc.forge(b, spectrum)
			if bytes.Equal(forged, b) {
				t.Fatal("nothing forged")
			}
			if err := os.WriteFile(att, forged, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(att, e.now.Add(-500*time.Millisecond), e.now.Add(-500*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			e.queue(dropped, 80)
			r := e.mustRun()
			if r.State.Degraded() || r.Action != ActionNone || !strings.Contains(r.Decision.Blocked, "alternate att untrusted") ||
				!strings.Contains(r.Decision.Blocked, tc.blocked) {
				t.Fatalf("state %s action %s blocked %q: want no steering, blocked naming %q", r.State.State, r.Action, r.Decision.Blocked, tc.blocked)
			}
			e.wantRules("true")
			if !strings.Contains(e.log.String(), "not steering: alternate att untrusted") {
				t.Errorf("the reason is not logged:\n%s", e.log.String())
			}
		})
	}
}

// TestRunLogLevels: the timer runs steer every 2 s, so the run line of a
// quiet run is DEBUG and only what changed or needs a look reaches INFO.
func TestRunLogLevels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(e *env) // everything before the run whose line is checked
		last  func(e *env)
		level string
	}{
		{"quiet", func(e *env) {
			e.fresh(autorate.Green, autorate.Green)
			e.queue(0, 0)
			e.mustRun()
		}, func(e *env) { e.fresh(autorate.Green, autorate.Green) }, "DEBUG"},
		{"first run", func(*env) {}, func(e *env) {
			e.fresh(autorate.Green, autorate.Green)
			e.queue(0, 0)
		}, "DEBUG"},
		{"congested, not yet steering", func(*env) {}, func(e *env) {
			e.rtt = 60 * time.Millisecond
			e.fresh(autorate.Red, autorate.Green)
			e.queue(100, 80)
		}, "DEBUG"},
		{"transition", func(e *env) {
			e.queue(e.congestUntilOneShort()+100, 80)
		}, func(e *env) { e.fresh(autorate.Red, autorate.Green) }, "INFO"},
		{"reconcile", func(e *env) {
			e.fresh(autorate.Green, autorate.Green)
			e.queue(0, 0)
			e.mustRun()
			rules := plan.SteeringRules(e.emu.Objects(routeros.MenuMangle))
			if err := e.emu.SetObject(routeros.MenuMangle, rules[0].ID(), routeros.Object{"disabled": "false"}); err != nil {
				e.t.Fatal(err)
			}
		}, func(e *env) { e.fresh(autorate.Green, autorate.Green) }, "INFO"},
		{"alternate untrusted", func(e *env) {
			e.fresh(autorate.Green, autorate.Green)
			e.queue(0, 0)
			e.mustRun()
		}, func(e *env) {
			e.autorate("spectrum", autorate.Green, 0)
			e.autorate("att", autorate.Green, time.Minute)
		}, "INFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0, "")
			tc.setup(e)
			tc.last(e)
			e.log.Reset()
			r := e.mustRun()
			if tc.name == "congested, not yet steering" && (r.Decision.Transition != nil || r.Decision.Assessment.Level == Green) {
				t.Fatalf("not the case under test: %+v", r.Decision)
			}
			if got := runLineLevel(t, e.log.String()); got != tc.level {
				t.Errorf("run line at %s, want %s:\n%s", got, tc.level, e.log.String())
			}
		})
	}
}

// runLineLevel returns the level of the run's one summary line.
func runLineLevel(t *testing.T, log string) string {
	t.Helper()
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `msg="steer run"`) || strings.Contains(l, `msg="steering `) && strings.Contains(l, " -> ") {
			_, rest, _ := strings.Cut(l, "level=")
			lvl, _, _ := strings.Cut(rest, " ")
			return lvl
		}
	}
	t.Fatalf("no run line:\n%s", log)
	return ""
}

// The emulator's CAKE trees report `dropped` 0 whatever they drop, as
// RouterOS 7.23 does: steering must still engage when the delay is high
// and autorate sits at its floor, or the queue is deep; and not on the
// delay alone.
func TestRunEngagesWithoutDropCounter(t *testing.T) {
	floor := func(e *env) int64 { return e.cfg.WAN("spectrum").Download.Floor.Red }
	for _, tc := range []struct {
		name   string
		rate   func(*env) int64
		queued int64
		engage bool
	}{
		{"autorate RED at its floor", floor, 0, true},
		{"deep queue", func(*env) int64 { return 500_000_000 }, 80, true},
		{"delay alone", func(*env) int64 { return 500_000_000 }, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0, "")
			e.rtt = 60 * time.Millisecond
			e.primaryRate = tc.rate(e)
			var dropped int64
			var r Result
			for range 4 {
				dropped += 500 // CAKE drops; the tree does not count them
				e.fresh(autorate.Red, autorate.Green)
				e.queue(dropped, tc.queued)
				r = e.mustRun()
				if r.Decision.Assessment.Drops != 0 {
					t.Fatalf("the CAKE tree reported %d drops", r.Decision.Assessment.Drops)
				}
			}
			if got := r.State.Degraded(); got != tc.engage {
				t.Fatalf("degraded %v, want %v (%s)\n%s", got, tc.engage, r.Decision.Assessment.Reason, e.log.String())
			}
			if tc.engage {
				e.wantRules("false")
			} else {
				e.wantRules("true")
			}
		})
	}
}

// A dry run assesses and applies the hysteresis like a real one, records
// the would-be state and transitions (state file, metrics with
// dry_run="true", log), and sends the router nothing but GETs. Ending the
// dry run starts the real runs from GOOD, as the rules still are.
func TestRunDryRun(t *testing.T) {
	for _, tc := range []struct {
		name      string
		flag      bool
		configure bool
	}{
		{"Config.DryRun", true, false},
		{"steering.dry_run", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0, "")
			e.cfg.Steering.DryRun = tc.configure
			dry := func() Result {
				t.Helper()
				e.now = e.now.Add(2 * time.Second)
				d := e.deps()
				d.DryRun = tc.flag
				r, err := Run(context.Background(), d)
				if err != nil {
					t.Fatalf("run: %v\n%s", err, e.log.String())
				}
				if !r.DryRun {
					t.Fatal("Result.DryRun false")
				}
				return r
			}
			e.rtt = 60 * time.Millisecond
			var engaged, returned Result
			for i := 0; i < 40 && returned.Decision.Transition == nil; i++ {
				if engaged.Decision.Transition == nil {
					e.fresh(autorate.Red, autorate.Green)
					e.queue(0, 80)
				} else {
					e.rtt = 20 * time.Millisecond
					e.fresh(autorate.Green, autorate.Green)
					e.queue(0, 0)
				}
				r := dry()
				switch {
				case r.Decision.Transition == nil:
				case engaged.Decision.Transition == nil:
					engaged = r
				default:
					returned = r
				}
			}
			if engaged.Action != ActionEnable || len(engaged.Patched) != 3 || engaged.State.State != "SPECTRUM_DEGRADED" {
				t.Fatalf("dry engage: %+v", engaged)
			}
			if returned.Action != ActionDisable || len(returned.Patched) != 3 || returned.State.State != "SPECTRUM_GOOD" {
				t.Fatalf("dry return: %+v", returned)
			}
			for _, r := range e.emu.Requests() {
				if r.Method != http.MethodGet {
					t.Errorf("dry run sent %s %s", r.Method, r.Path)
				}
			}
			e.wantRules("true")
			st, err := LoadState(e.statePath())
			if err != nil || !st.DryRun || st.TransitionsTotal != 2 || len(st.History) != 2 || !st.History[0].DryRun || !st.History[1].DryRun {
				t.Fatalf("saved state %+v %v", st, err)
			}
			if !strings.Contains(e.log.String(), `msg="dry run: steering SPECTRUM_GOOD -> SPECTRUM_DEGRADED"`) || !strings.Contains(e.log.String(), "dry_run=true") {
				t.Errorf("log:\n%s", e.log.String())
			}
			prom, err := os.ReadFile(filepath.Join(e.cfg.Daemon.StateDir, TextfileFileName))
			if err != nil {
				t.Fatal(err)
			}
			if v := value(t, parse(t, prom), "wanctl_steering_transitions_total", map[string]string{"wan": "spectrum", "dry_run": "true"}); v != 2 {
				t.Errorf("transitions_total{dry_run=true} %v", v)
			}

			// A dry DEGRADED, then the dry run ends: GOOD, rules untouched.
			e.rtt = 60 * time.Millisecond
			for i := 0; i < 10 && !e.stateNow().Degraded(); i++ {
				e.fresh(autorate.Red, autorate.Green)
				e.queue(0, 80)
				dry()
			}
			e.wantRules("true")
			e.cfg.Steering.DryRun = false
			e.rtt = 20 * time.Millisecond
			e.fresh(autorate.Green, autorate.Green)
			e.queue(0, 0)
			e.emu.ClearRequests()
			r := e.mustRun()
			if r.DryRun || r.State.State != "SPECTRUM_GOOD" || r.State.DryRun || r.Action != ActionNone {
				t.Fatalf("first real run: %+v", r)
			}
			e.wantRules("true")
		})
	}
}

func (e *env) stateNow() State {
	e.t.Helper()
	st, err := LoadState(e.statePath())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// A primary so congested that no echo of the burst comes back within its
// timeout is the case steering is for: with the primary's autorate RED at
// its floor, a burst without answers counts as a delay of at least the
// timeout (it held steering off before). With the primary's autorate GREEN
// the same silence is a missing measurement and steering holds.
func TestRunEngagesWhenNoEchoAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		zone   autorate.Zone
		engage bool
	}{
		{"autorate RED at its floor", autorate.Red, true},
		{"autorate GREEN", autorate.Green, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0, "")
			e.primaryRate = e.cfg.WAN("spectrum").Download.Floor.Red
			var r Result
			for range 4 {
				e.fresh(tc.zone, autorate.Green)
				e.queue(0, 0)
				e.now = e.now.Add(2 * time.Second)
				d := e.deps()
				d.RTT = RTTFunc(func(context.Context, *config.WAN) ([]Sample, error) {
					return nil, errors.New("no echo answered")
				})
				var err error
				if r, err = Run(context.Background(), d); err != nil {
					t.Fatal(err)
				}
			}
			if got := r.State.Degraded(); got != tc.engage {
				t.Fatalf("degraded %v, want %v (%s)\n%s", got, tc.engage, r.Decision.Assessment.Reason, e.log.String())
			}
		})
	}
}
