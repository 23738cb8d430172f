package commands

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/loops/steer"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// OldestSupportedRouterOS is the oldest RouterOS version whose schema
// accepts every request wanctl makes (README.md, "Requirements"); every
// schema from it on is checked.
const OldestSupportedRouterOS = "7.9.2"

// schemaDir holds the RouterOS REST schemas, one file per version.
const schemaDir = "../routeros/emulator/schema"

// supportedSchemas returns the schemas of OldestSupportedRouterOS and
// every later version in schemaDir, oldest first.
func supportedSchemas(t *testing.T) []*emulator.Schema {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*emulator.Schema
	for _, f := range files {
		v := strings.TrimSuffix(filepath.Base(f), ".json")
		if versionLess(v, OldestSupportedRouterOS) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := emulator.ParseSchema(v, b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return versionLess(out[i].Version, out[j].Version) })
	if len(out) == 0 || out[0].Version != OldestSupportedRouterOS {
		t.Fatalf("no schema for the oldest supported RouterOS %s in %s", OldestSupportedRouterOS, schemaDir)
	}
	return out
}

// versionLess orders RouterOS versions ("7.9.2" < "7.11.3" < "7.24").
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			fmt.Sscan(pa[i], &x)
		}
		if i < len(pb) {
			fmt.Sscan(pb[i], &y)
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"7.9.2", "7.11.3", true}, {"7.11.3", "7.9.2", false}, {"7.20.6", "7.24", true}, {"7.24", "7.24", false}, {"7.16", "7.16.2", true}} {
		t.Run(c.a+"<"+c.b, func(t *testing.T) {
			if got := versionLess(c.a, c.b); got != c.want {
				t.Fatalf("versionLess(%s, %s) = %v", c.a, c.b, got)
			}
		})
	}
}

// unverifiedReads are menus wanctl only reads (plan's checks) that the
// schema extract leaves out. Both are in every RouterOS 7 (MikroTik's manual:
// Queues, IPv6 Firewall); a write to them, or any other menu missing from
// the extract, fails the test.
var unverifiedReads = map[string]bool{"queue/simple": true, "ipv6/firewall/filter": true}

// exampleRun is one example configuration pointed at an emulated router.
type exampleRun struct {
	t        *testing.T
	emu      *emulator.Emulator
	cfgPath  string
	cfg      *config.Config
	stateDir string
	getenv   func(string) string
}

var urlAttr = regexp.MustCompile(`(?m)^(\s*url\s*=\s*)"[^"]*"`)

func newExampleRun(t *testing.T, example string) *exampleRun {
	t.Helper()
	emu, srv := testenv.Emulator(t, emulator.Config{Username: "wanctl", Password: testPassword})
	src, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if !urlAttr.Match(src) {
		t.Fatalf("%s: no router url to point at the emulator", example)
	}
	// The examples' routers have FastTrack off (plan refuses it otherwise):
	// the same router as routerEnv's, changed outside the request log.
	(&routerEnv{t: t, emu: emu}).setFastTrack(false)
	dir := t.TempDir()
	x := &exampleRun{t: t, emu: emu, cfgPath: filepath.Join(dir, "wanctl.hcl"), stateDir: filepath.Join(dir, "state"),
		getenv: func(k string) string {
			if k == "WANCTL_ROUTER_PASSWORD" {
				return testPassword
			}
			return ""
		}}
	// The examples leave the daemon block at its defaults (commented out).
	out := urlAttr.ReplaceAll(src, []byte(`${1}"`+srv.URL+`"`))
	out = fmt.Appendf(out, "\ndaemon {\n  state_dir = %q\n  lock_dir  = %q\n  listen    = %q\n}\n",
		x.stateDir, filepath.Join(dir, "run"), freeTCPAddr(t))
	if err := os.WriteFile(x.cfgPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.LoadFile(x.cfgPath, config.Options{LookupEnv: func(k string) (string, bool) {
		v := x.getenv(k)
		return v, v != ""
	}})
	if cfg == nil {
		t.Fatalf("%s: %v", example, diags)
	}
	x.cfg = cfg
	return x
}

func (x *exampleRun) run(want int, args ...string) {
	x.t.Helper()
	var out, errb bytes.Buffer
	code := Run(append([]string{"wanctl"}, args...), IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: x.getenv})
	if code != want {
		x.t.Fatalf("wanctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
}

// autorate runs the daemon until bloat on every WAN has lowered a limit on
// the router, then stops it.
func (x *exampleRun) autorate() {
	t := x.t
	t.Helper()
	clock := autorate.NewManualClock(t0)
	var meas []*scriptedPings
	measured := make(chan *scriptedPings, len(x.cfg.WANs))
	started, code := make(chan *autorate.Daemon, 1), make(chan int, 1)
	sigs := make(chan os.Signal, 1)
	var errb safeBuffer
	deps := &autorateDeps{
		clock: clock,
		newMeasurer: func(w *config.WAN) (autorate.Measurer, error) {
			m := &scriptedPings{clock: clock, refl: w.Measurement.Reflectors, rtt: 20 * ms}
			measured <- m
			return m, nil
		},
		signals:   sigs,
		writer:    autorate.WriterConfig{BackoffMin: time.Millisecond, BackoffMax: 20 * time.Millisecond},
		started:   func(d *autorate.Daemon) { started <- d },
		keepProcs: true,
	}
	go func() {
		code <- Run([]string{"wanctl", "autorate", "-config", x.cfgPath}, IO{In: strings.NewReader(""), Out: &safeBuffer{}, Err: &errb, Getenv: x.getenv, autorate: deps})
	}()
	select {
	case <-started:
	case c := <-code:
		t.Fatalf("autorate exited with %d before running: %s", c, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("autorate did not start")
	}
	for range x.cfg.WANs {
		meas = append(meas, <-measured)
	}
	pollUntil(t, "loop ticker", func() bool { return clock.Tickers() >= 1 })
	clock.Advance(time.Second)
	for _, m := range meas {
		m.set(320*ms, false)
	}
	patches := func() int {
		n := 0
		for _, r := range x.emu.Requests() {
			if r.Method == http.MethodPatch && strings.HasPrefix(r.Path, "/rest/queue/tree/") && r.Status == http.StatusOK {
				n++
			}
		}
		return n
	}
	pollUntil(t, "a decrease PATCHed on every WAN", func() bool {
		clock.Advance(100 * ms)
		return patches() >= len(x.cfg.WANs)
	})
	sigs <- syscall.SIGTERM
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("autorate: exit %d\n%s", c, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("autorate did not exit: %s", errb.String())
	}
}

// steer runs `wanctl steer` with the primary congested until it steers,
// then with it clear until it steers back.
func (x *exampleRun) steer() {
	t := x.t
	t.Helper()
	s := x.cfg.Steering
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var dropped int64
	cycle := func(primary autorate.Zone, rtt time.Duration) steer.State {
		now = now.Add(2 * time.Second)
		for _, w := range x.cfg.WANs {
			zone := autorate.Green
			if w.Name == s.Primary {
				zone = primary
			}
			st := autorate.State{Version: autorate.StateVersion, WAN: w.Name, Timestamp: now.Add(-300 * ms), Writer: "autorate", Signal: true,
				Download:      autorate.DirectionState{Queue: w.Download.Queue, Zone: zone, Rate: 200_000_000},
				Upload:        autorate.DirectionState{Queue: w.Upload.Queue, Zone: autorate.Green, Rate: 30_000_000},
				BaselineRTTMs: 20}
			path := autorate.StatePath(x.stateDir, w.Name)
			if err := autorate.WriteState(path, &st); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, st.Timestamp, st.Timestamp); err != nil {
				t.Fatal(err)
			}
			if w.Name == s.Primary {
				var queued int64
				if primary == autorate.Red {
					dropped, queued = dropped+100, 80
				}
				x.emu.SetQueueStats(w.Download.Queue, emulator.QueueStats{Dropped: dropped, QueuedPackets: queued})
			}
		}
		var out, errb bytes.Buffer
		if c := Run([]string{"wanctl", "steer", "-config", x.cfgPath}, IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: x.getenv,
			steer: &steerDeps{rtt: steer.ConstantRTT(rtt), now: func() time.Time { return now }}}); c != 0 {
			t.Fatalf("wanctl steer: exit %d\n%s%s", c, out.String(), errb.String())
		}
		st, err := steer.LoadState(filepath.Join(x.stateDir, steer.StateFileName))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	degraded := strings.ToUpper(s.Primary) + "_DEGRADED"
	for i := 0; cycle(autorate.Red, 60*ms).State != degraded; i++ {
		if i == 20 {
			t.Fatalf("steer never steered away from %s", s.Primary)
		}
	}
	for i := 0; cycle(autorate.Green, 20*ms).State == degraded; i++ {
		if i == 60 {
			t.Fatalf("steer never steered back to %s", s.Primary)
		}
	}
}

// TestExamplesConformToRouterOSSchema drives plan, apply, autorate and
// steer with every example configuration against the emulator and checks
// every request it received against the schema of every supported RouterOS
// version: a menu, command or body field one of them lacks is a request
// that version's router refuses.
func TestExamplesConformToRouterOSSchema(t *testing.T) {
	schemas := supportedSchemas(t)
	examples, err := filepath.Glob("../examples/*.hcl")
	if err != nil || len(examples) == 0 {
		t.Fatalf("examples: %v %v", examples, err)
	}
	for _, ex := range examples {
		t.Run(filepath.Base(ex), func(t *testing.T) {
			x := newExampleRun(t, ex)
			x.run(0, "plan", "-config", x.cfgPath)
			x.run(0, "apply", "-config", x.cfgPath, "-auto-approve")
			x.run(0, "plan", "-config", x.cfgPath, "-detailed-exitcode")
			x.autorate()
			if x.cfg.Steering != nil {
				x.steer()
			}
			reqs := x.emu.Requests()
			if len(reqs) == 0 {
				t.Fatal("no requests recorded")
			}
			seen := map[string]bool{}
			for _, r := range reqs {
				if r.Status >= 400 && r.Status != http.StatusNotFound {
					t.Errorf("%s %s %s: the emulator answered %d", r.Method, r.Path, r.Body, r.Status)
				}
				for _, s := range schemas {
					err := s.Check(r.Method, r.Path, []byte(r.Body))
					var v *emulator.SchemaViolation
					if err == nil || errors.As(err, &v) && unverifiedReads[v.Menu] && r.Method == http.MethodGet {
						continue
					}
					key := s.Version + " " + err.Error()
					if !seen[key] {
						seen[key] = true
						t.Errorf("RouterOS %s refuses %s %s %s: %v", s.Version, r.Method, r.Path, r.Body, err)
					}
				}
			}
		})
	}
}
