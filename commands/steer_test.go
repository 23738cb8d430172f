package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/lockfile"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/loops/steer"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// Child mode: the test binary re-executed as `wanctl` with a scripted RTT
// (real processes for the lock tests). WANCTL_STEER_TEST_RTT is the RTT of
// every reflector; WANCTL_STEER_TEST_DELAY makes the measurement take that
// long (holding the lock meanwhile).
const (
	steerChildEnv = "WANCTL_STEER_TEST_CHILD"
	steerRTTEnv   = "WANCTL_STEER_TEST_RTT"
	steerDelayEnv = "WANCTL_STEER_TEST_DELAY"
)

func TestMain(m *testing.M) {
	if os.Getenv(steerChildEnv) != "" {
		os.Exit(steerChild())
	}
	os.Exit(m.Run())
}

func steerChild() int {
	rtt, err := time.ParseDuration(os.Getenv(steerRTTEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 99
	}
	delay, _ := time.ParseDuration(os.Getenv(steerDelayEnv))
	m := steer.RTTFunc(func(ctx context.Context, w *config.WAN) ([]steer.Sample, error) {
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		return steer.ConstantRTT(rtt).MeasureRTT(ctx, w)
	})
	return Run(append([]string{"wanctl"}, os.Args[1:]...), IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, steer: &steerDeps{rtt: m}})
}

// steerEnv is an emulated router with the dual-WAN configuration applied,
// a state and a lock directory, a virtual clock and a scripted RTT.
type steerEnv struct {
	*routerEnv
	cfg      string
	stateDir string
	lockDir  string
	now      time.Time
	rtt      time.Duration
	dropped  int64
}

func newSteerEnv(t *testing.T) *steerEnv {
	t.Helper()
	e := newRouterEnv(t)
	s := &steerEnv{routerEnv: e, stateDir: filepath.Join(e.dir, "state"), lockDir: filepath.Join(e.dir, "run"),
		now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), rtt: 20 * time.Millisecond}
	daemon := fmt.Sprintf("\ndaemon {\n  state_dir = %q\n  lock_dir  = %q\n}\n", s.stateDir, s.lockDir)
	s.cfg = e.config("", daemon+dualWAN)
	e.applied(s.cfg)
	e.emu.ClearRequests()
	return s
}

// autorateState writes a WAN's autorate state file, age before the clock.
func (s *steerEnv) autorateState(wan string, zone autorate.Zone, age time.Duration) {
	s.t.Helper()
	st := autorate.State{Version: autorate.StateVersion, WAN: wan, Timestamp: s.now.Add(-age), Writer: "autorate", Signal: true,
		Download:      autorate.DirectionState{Queue: "wanctl-" + wan + "-down", Zone: zone, Rate: 200_000_000},
		Upload:        autorate.DirectionState{Queue: "wanctl-" + wan + "-up", Zone: autorate.Green, Rate: 30_000_000},
		BaselineRTTMs: 20}
	// The file's modification time is the daemon's heartbeat: a daemon
	// writing at that (virtual) time.
	path := autorate.StatePath(s.stateDir, wan)
	if err := autorate.WriteState(path, &st); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chtimes(path, st.Timestamp, st.Timestamp); err != nil {
		s.t.Fatal(err)
	}
}

// cycle moves the clock 2 s on, writes both autorate states (fresh) and
// the queue counters (drops added to the cumulative counter) and runs
// `wanctl steer` in-process; it returns the result and the router
// requests of that run.
func (s *steerEnv) cycle(primary, alternate autorate.Zone, drops, queued int64) (result, []emulator.Request) {
	s.t.Helper()
	s.now = s.now.Add(2 * time.Second)
	s.autorateState("spectrum", primary, 300*time.Millisecond)
	s.autorateState("att", alternate, 300*time.Millisecond)
	s.dropped += drops
	s.emu.SetQueueStats("wanctl-spectrum-down", emulator.QueueStats{Dropped: s.dropped, QueuedPackets: queued})
	s.emu.ClearRequests()
	r := s.steer()
	return r, s.emu.Requests()
}

func (s *steerEnv) steer(flags ...string) result {
	var out, errb bytes.Buffer
	now := s.now
	code := Run(append([]string{"wanctl", "steer", "-config", s.cfg}, flags...), IO{In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv: func(string) string { return "" },
		steer:  &steerDeps{rtt: steer.ConstantRTT(s.rtt), now: func() time.Time { return now }}})
	r := result{code, out.String(), errb.String()}
	if strings.Contains(r.out+r.err, testPassword) {
		s.t.Fatalf("password in output:\n%s\n%s", r.out, r.err)
	}
	return r
}

func (s *steerEnv) mustCycle(primary, alternate autorate.Zone, drops, queued int64) (result, []emulator.Request) {
	s.t.Helper()
	r, reqs := s.cycle(primary, alternate, drops, queued)
	if r.code != 0 {
		s.t.Fatalf("wanctl steer: exit %d\n%s%s", r.code, r.out, r.err)
	}
	return r, reqs
}

// mangle returns disabled by comment for the steering rules, and the
// mark-routing rule's disabled.
func (s *steerEnv) mangle() (map[string]string, string) {
	rules, mr := map[string]string{}, ""
	for _, o := range s.emu.Objects(routeros.MenuMangle) {
		if plan.IsSteeringRule(o) {
			rules[o["comment"]] = o["disabled"]
		}
		if o["comment"] == plan.Marker(plan.MarkRoutingAddress) {
			mr = o["disabled"]
		}
	}
	return rules, mr
}

func (s *steerEnv) wantRules(want string) {
	s.t.Helper()
	rules, mr := s.mangle()
	// voip, latency-sensitive (ef, af31), work-vpn
	if len(rules) != 4 {
		s.t.Fatalf("steering rules: %v", rules)
	}
	for c, d := range rules {
		if d != want {
			s.t.Errorf("%s disabled=%s, want %s", c, d, want)
		}
	}
	if mr != "false" {
		s.t.Errorf("mark-routing rule disabled=%q: it must never be touched", mr)
	}
}

func (s *steerEnv) state() steer.State {
	s.t.Helper()
	st, err := steer.LoadState(filepath.Join(s.stateDir, steer.StateFileName))
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

func methods(reqs []emulator.Request) string {
	var b []string
	for _, r := range reqs {
		b = append(b, r.Method+" "+strings.TrimPrefix(r.Path, "/rest/"))
	}
	return strings.Join(b, ", ")
}

func countMethod(reqs []emulator.Request, m string) int {
	n := 0
	for _, r := range reqs {
		if r.Method == m {
			n++
		}
	}
	return n
}

// TestSteerEndToEnd drives `wanctl steer` through a congestion episode on
// an applied router: the red_samples-th (2nd) RED run enables every
// steering mark-connection rule, the green_samples-th (15th) GREEN run
// disables them, and the mark-routing rule is never touched. A quiet run
// costs 2 requests (GET queue/tree, GET mangle); a change adds one PATCH
// per rule and one verifying GET.
func TestSteerEndToEnd(t *testing.T) {
	s := newSteerEnv(t)
	_, reqs := s.mustCycle(autorate.Green, autorate.Green, 0, 0)
	if methods(reqs) != "GET queue/tree, GET ip/firewall/mangle" {
		t.Fatalf("quiet run: %s", methods(reqs))
	}
	if q := reqs[0].Query; !strings.Contains(q, "name=wanctl-spectrum-down") || !strings.Contains(q, "proplist=name%2Cdropped%2Cqueued-packets") {
		t.Errorf("queue GET query %q", q)
	}
	s.wantRules("true")

	// Congestion: RTT 40 ms over the baseline, drops and a backlog. The
	// EWMA (alpha 0.3) needs a run to climb over 15 ms, then two RED runs.
	s.rtt = 60 * time.Millisecond
	reds := 0
	var r result
	for i := 0; i < 10 && s.state().State != "SPECTRUM_DEGRADED"; i++ {
		r, reqs = s.mustCycle(autorate.Red, autorate.Green, 100, 80)
		if s.state().LastAssessment == steer.Red {
			reds++
		}
		if s.state().State == "SPECTRUM_GOOD" {
			s.wantRules("true")
			if countMethod(reqs, "PATCH") != 0 {
				t.Fatalf("PATCH while GOOD: %s", methods(reqs))
			}
		}
	}
	if reds != 2 {
		t.Fatalf("steered after %d RED runs, want red_samples = 2\n%s", reds, r.err)
	}
	s.wantRules("false")
	if countMethod(reqs, "PATCH") != 4 || countMethod(reqs, "GET") != 3 || len(reqs) != 7 {
		t.Fatalf("steering run requests: %s", methods(reqs))
	}
	for _, q := range reqs {
		if q.Method == "PATCH" && q.Body != `{"disabled":"false"}` {
			t.Errorf("PATCH body %s", q.Body)
		}
	}
	if !strings.Contains(r.err, "steering SPECTRUM_GOOD -> SPECTRUM_DEGRADED") {
		t.Errorf("log:\n%s", r.err)
	}

	// Recovery: the EWMA decays through YELLOW, then 15 GREEN runs.
	s.rtt = 20 * time.Millisecond
	greens := 0
	for i := 0; i < 40 && s.state().State != "SPECTRUM_GOOD"; i++ {
		r, reqs = s.mustCycle(autorate.Green, autorate.Green, 0, 0)
		if s.state().LastAssessment == steer.Green {
			greens++
		}
		if s.state().State == "SPECTRUM_DEGRADED" {
			s.wantRules("false")
			if len(reqs) != 2 {
				t.Fatalf("quiet DEGRADED run: %s", methods(reqs))
			}
		}
	}
	if greens != 15 {
		t.Fatalf("stopped steering after %d GREEN runs, want green_samples = 15", greens)
	}
	s.wantRules("true")
	if countMethod(reqs, "PATCH") != 4 || len(reqs) != 7 {
		t.Fatalf("unsteering run requests: %s", methods(reqs))
	}
	st := s.state()
	if st.TransitionsTotal != 2 || len(st.History) != 2 || st.History[1].To != "SPECTRUM_GOOD" {
		t.Fatalf("state %+v", st)
	}

	// wanctl status reads the steering state.
	sr := s.run(nil, "status", "-config", s.cfg, "-json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(sr.out), &doc); err != nil {
		t.Fatalf("status -json: %v\n%s", err, sr.out)
	}
	if doc.Steering == nil || doc.Steering.State != "SPECTRUM_GOOD" || doc.Steering.Error != "" {
		t.Fatalf("status steering: %+v", doc.Steering)
	}
	sr = s.run(nil, "status", "-config", s.cfg)
	if !strings.Contains(sr.out, "Steering: SPECTRUM_GOOD") {
		t.Errorf("status:\n%s", sr.out)
	}
}

func TestSteerFailedPatchRetries(t *testing.T) {
	s := newSteerEnv(t)
	s.mustCycle(autorate.Green, autorate.Green, 0, 0)
	s.rtt = 60 * time.Millisecond
	for s.state().RedStreak < 1 {
		s.mustCycle(autorate.Red, autorate.Green, 100, 80)
	}
	before, err := os.ReadFile(filepath.Join(s.stateDir, steer.StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	s.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Method: "PATCH", Status: 500, Detail: "action timed out"})
	r, reqs := s.cycle(autorate.Red, autorate.Green, 100, 80)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.err)
	}
	for _, w := range []string{"enable steering rule", "wanctl:steering.rule.voip", "500", "action timed out", "next run retries"} {
		if !strings.Contains(r.err, w) {
			t.Errorf("error lacks %q:\n%s", w, r.err)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(s.stateDir, steer.StateFileName)); !bytes.Equal(before, after) {
		t.Fatalf("state changed by a failed run:\n%s\n->\n%s", before, after)
	}
	if countMethod(reqs, "PATCH") != 1 {
		t.Errorf("requests after the failure: %s", methods(reqs))
	}
	s.wantRules("true")

	r, _ = s.mustCycle(autorate.Red, autorate.Green, 100, 80)
	if s.state().State != "SPECTRUM_DEGRADED" {
		t.Fatalf("retry did not steer:\n%s", r.err)
	}
	s.wantRules("false")
}

func TestSteerReconcilesHandToggle(t *testing.T) {
	s := newSteerEnv(t)
	s.mustCycle(autorate.Green, autorate.Green, 0, 0)
	s.set(routeros.MenuMangle, plan.Marker(plan.SteerRuleAddress("work-vpn")), routeros.Object{"disabled": "false"})
	r, reqs := s.mustCycle(autorate.Green, autorate.Green, 0, 0)
	s.wantRules("true")
	if countMethod(reqs, "PATCH") != 1 || len(reqs) != 4 {
		t.Errorf("reconcile requests: %s", methods(reqs))
	}
	if !strings.Contains(r.err, "level=WARN") || !strings.Contains(r.err, "wanctl:steering.rule.work-vpn") || !strings.Contains(r.err, "action=reconcile") {
		t.Errorf("log:\n%s", r.err)
	}
}

func TestSteerStaleAutorateNeverRed(t *testing.T) {
	s := newSteerEnv(t)
	s.rtt = 90 * time.Millisecond
	for i := 0; i < 6; i++ {
		s.now = s.now.Add(2 * time.Second)
		s.autorateState("spectrum", autorate.Red, 10*time.Second)
		s.autorateState("att", autorate.Green, 0)
		s.dropped += 1000
		s.emu.SetQueueStats("wanctl-spectrum-down", emulator.QueueStats{Dropped: s.dropped, QueuedPackets: 500})
		if r := s.steer(); r.code != 0 || !strings.Contains(r.err, "assessment=YELLOW") {
			t.Fatalf("exit %d:\n%s", r.code, r.err)
		}
		if st := s.state(); st.RedStreak != 0 || st.State != "SPECTRUM_GOOD" {
			t.Fatalf("stale autorate state: %+v", st)
		}
	}
	s.wantRules("true")
}

func TestSteerAlternateRedNoSteering(t *testing.T) {
	s := newSteerEnv(t)
	s.rtt = 60 * time.Millisecond
	var r result
	for i := 0; i < 6; i++ {
		r, _ = s.mustCycle(autorate.Red, autorate.Red, 100, 80)
		if s.state().State != "SPECTRUM_GOOD" {
			t.Fatal("steered onto a RED alternate")
		}
	}
	s.wantRules("true")
	if !strings.Contains(r.err, "not steering: alternate att is RED") {
		t.Errorf("log:\n%s", r.err)
	}
	// SOFT_RED blocks as well; GREEN lets the next RED run steer.
	s.mustCycle(autorate.Red, autorate.SoftRed, 100, 80)
	if s.state().State != "SPECTRUM_GOOD" {
		t.Fatal("steered onto a SOFT_RED alternate")
	}
	s.mustCycle(autorate.Red, autorate.Green, 100, 80)
	if s.state().State != "SPECTRUM_DEGRADED" {
		t.Fatal("did not steer once the alternate was fit")
	}
	s.wantRules("false")
}

func TestSteerNoSteeringBlock(t *testing.T) {
	e := newRouterEnv(t)
	body := dualWAN[:strings.Index(dualWAN, "steering {")]
	cfg := e.config("", fmt.Sprintf("daemon {\n  state_dir = %q\n  lock_dir = %q\n}\n", e.dir, e.dir)+body)
	r := scriptedSteer(t, cfg)
	if r.code != 1 || !strings.Contains(r.err, "has no steering block") || !strings.Contains(r.err, cfg) {
		t.Fatalf("stderr:\n%s", r.err)
	}
	if len(e.emu.Requests()) != 0 {
		t.Error("talked to the router without a steering block")
	}
}

func TestSteerNotApplied(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", fmt.Sprintf("daemon {\n  state_dir = %q\n  lock_dir = %q\n}\n", e.dir, e.dir)+dualWAN)
	r := scriptedSteer(t, cfg)
	if r.code != 1 || !strings.Contains(r.err, "wanctl apply -config "+cfg) {
		t.Fatalf("stderr:\n%s", r.err)
	}
}

func TestSteerRejectsArguments(t *testing.T) {
	e := newRouterEnv(t)
	r := e.mustRun(nil, 1, "steer", "extra")
	if !strings.Contains(r.err, "steer takes no arguments") {
		t.Fatalf("stderr:\n%s", r.err)
	}
}

// scriptedSteer runs `wanctl steer -config cfg` in-process with a scripted
// RTT (no real pings).
func scriptedSteer(t *testing.T, cfg string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run([]string{"wanctl", "steer", "-config", cfg}, IO{In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv: func(string) string { return "" }, steer: &steerDeps{rtt: steer.ConstantRTT(20 * time.Millisecond)}})
	return result{code, out.String(), errb.String()}
}

// steerProcess runs the test binary as `wanctl steer` in a real process.
func (s *steerEnv) steerProcess(delay time.Duration, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"steer", "-config", s.cfg}, args...)...)
	cmd.Env = append(os.Environ(), steerChildEnv+"=1", steerRTTEnv+"=20ms", steerDelayEnv+"="+delay.String())
	return cmd
}

// TestSteerProcessLockHeld: a run while another process holds the lock
// (flock conflicts between open file descriptions, so this test's own lock
// counts) logs "skipped", exits 0 and touches nothing.
func TestSteerProcessLockHeld(t *testing.T) {
	s := newSteerEnv(t)
	s.now = time.Now()
	s.autorateState("spectrum", autorate.Green, 0)
	s.autorateState("att", autorate.Green, 0)
	l, err := lockfile.TryLock(filepath.Join(s.lockDir, steer.LockFileName))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.steerProcess(0).CombinedOutput()
	l.Unlock()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "skipped: previous run still active") || !strings.Contains(string(out), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("output:\n%s", out)
	}
	if n := len(s.emu.Requests()); n != 0 {
		t.Errorf("%d router requests from a skipped run", n)
	}
	if _, err := os.Stat(filepath.Join(s.stateDir, steer.StateFileName)); !os.IsNotExist(err) {
		t.Errorf("state written by a skipped run: %v", err)
	}
	// Without the lock the same command runs: a quiet run logs nothing at
	// the default level (the timer starts one every 2 s), its line at debug.
	out, err = s.steerProcess(0).CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("quiet run at the default level: %v\n%s", err, out)
	}
	out, err = s.steerProcess(0, "-log-level", "debug").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `level=DEBUG msg="steer run"`) || !strings.Contains(string(out), "action=none") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestSteerProcessesRace starts two real runs at once, each holding the
// lock for 300 ms: both exit 0, and either one ran and the other skipped
// or (if the second started after the first finished) both ran.
func TestSteerProcessesRace(t *testing.T) {
	s := newSteerEnv(t)
	s.now = time.Now()
	s.autorateState("spectrum", autorate.Green, 0)
	s.autorateState("att", autorate.Green, 0)
	for round := 0; round < 3; round++ {
		a, b := s.steerProcess(300*time.Millisecond, "-log-level", "debug"), s.steerProcess(300*time.Millisecond, "-log-level", "debug")
		var oa, ob bytes.Buffer
		a.Stdout, a.Stderr, b.Stdout, b.Stderr = &oa, &oa, &ob, &ob
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		ea, eb := a.Wait(), b.Wait()
		if ea != nil || eb != nil {
			t.Fatalf("exit: %v / %v\n%s\n%s", ea, eb, oa.String(), ob.String())
		}
		ran, skipped := 0, 0
		for _, o := range []string{oa.String(), ob.String()} {
			switch {
			case strings.Contains(o, "skipped: previous run still active"):
				skipped++
			case strings.Contains(o, "msg=\"steer run\""):
				ran++
			default:
				t.Fatalf("neither ran nor skipped:\n%s", o)
			}
		}
		if ran < 1 || ran+skipped != 2 {
			t.Fatalf("ran %d, skipped %d", ran, skipped)
		}
		t.Logf("round %d: %d ran, %d skipped", round, ran, skipped)
		if _, err := steer.LoadState(filepath.Join(s.stateDir, steer.StateFileName)); err != nil {
			t.Fatal(err)
		}
	}
}

// `wanctl steer -dry-run` goes through a congestion and back: it logs and
// records both transitions and the emulator sees no write.
func TestSteerDryRunFlag(t *testing.T) {
	s := newSteerEnv(t)
	var log strings.Builder
	cycle := func(primary autorate.Zone, queued int64) {
		t.Helper()
		s.now = s.now.Add(2 * time.Second)
		s.autorateState("spectrum", primary, 300*time.Millisecond)
		s.autorateState("att", autorate.Green, 300*time.Millisecond)
		s.emu.SetQueueStats("wanctl-spectrum-down", emulator.QueueStats{QueuedPackets: queued})
		r := s.steer("-dry-run")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
		}
		log.WriteString(r.err)
	}
	s.rtt = 80 * time.Millisecond
	for range 3 {
		cycle(autorate.Red, 80)
	}
	if st := s.state(); st.State != "SPECTRUM_DEGRADED" || !st.DryRun {
		t.Fatalf("after congestion: %+v\n%s", st, log.String())
	}
	s.rtt = 20 * time.Millisecond
	for range 30 {
		cycle(autorate.Green, 0)
	}
	if st := s.state(); st.State != "SPECTRUM_GOOD" || st.TransitionsTotal != 2 {
		t.Fatalf("after recovery: %+v\n%s", st, log.String())
	}
	for _, want := range []string{`"dry run: steering SPECTRUM_GOOD -> SPECTRUM_DEGRADED"`, `"dry run: steering SPECTRUM_DEGRADED -> SPECTRUM_GOOD"`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, log.String())
		}
	}
	for _, r := range s.emu.Requests() {
		if r.Method != "GET" {
			t.Errorf("dry run wrote: %s %s", r.Method, r.Path)
		}
	}
	s.wantRules("true")
}
