package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/lockfile"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/ping"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

const ms = time.Millisecond

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// scriptedPings is the scripted measurement source: every Drain returns one
// reply per reflector at the virtual time, with the current RTT (none while
// muted).
type scriptedPings struct {
	clock autorate.Clock
	refl  []netip.Addr
	mu    sync.Mutex
	rtt   time.Duration
	mute  bool
}

func (s *scriptedPings) set(rtt time.Duration, mute bool) {
	s.mu.Lock()
	s.rtt, s.mute = rtt, mute
	s.mu.Unlock()
}

func (s *scriptedPings) Drain(dst []ping.Reply) []ping.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mute {
		return dst
	}
	now := s.clock.Now()
	for _, a := range s.refl {
		dst = append(dst, ping.Reply{Target: a, RTT: s.rtt, At: now})
	}
	return dst
}

// safeBuffer is a goroutine-safe writer for logs.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

const testConfigHCL = `
router "edge" {
  url      = "%s"
  username = "wanctl"
  password = "wanctl"
  timeout  = "%s"
}

daemon {
  state_dir = "%s"
  lock_dir  = "%s"
  interval  = "50ms"
  listen    = "%s"
}

wan "spectrum" {
  router    = "edge"
  interface = "ether1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222"]
    ping_rate  = 20
  }

  download {
    queue              = "wanctl-spectrum-down"
    ceiling            = "%s"
    step_up            = "15M"
    factor_down        = 0.90
    factor_down_yellow = 0.96

    floor {
      green    = "550M"
      yellow   = "350M"
      soft_red = "275M"
      red      = "200M"
    }
  }

  upload {
    queue              = "wanctl-spectrum-up"
    ceiling            = "38M"
    step_up            = "1M"
    factor_down        = 0.85
    factor_down_yellow = 0.94

    floor {
      green  = "30M"
      yellow = "20M"
      red    = "8M"
    }
  }
}
`

type e2e struct {
	t       *testing.T
	emu     *emulator.Emulator
	srv     *httptest.Server
	dir     string
	cfgPath string
	clock   *autorate.ManualClock
	meas    *scriptedPings
	notify  *testenv.Notifier
	sigs    chan os.Signal
	daemon  chan *autorate.Daemon
	d       *autorate.Daemon
	stderr  *safeBuffer
	stdout  *safeBuffer
	code    chan int
	reload  func() (*config.Config, error) // replaces the SIGHUP read when set
	ids     map[string]string
	listen  string
}

func (e *e2e) writeConfig(ceiling string) {
	e.t.Helper()
	src := fmt.Sprintf(testConfigHCL, e.srv.URL, "300ms", filepath.Join(e.dir, "state"), filepath.Join(e.dir, "run"), e.listen, ceiling)
	if err := os.WriteFile(e.cfgPath, []byte(src), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func newE2E(t *testing.T) *e2e {
	e := &e2e{t: t, dir: t.TempDir(), clock: autorate.NewManualClock(t0), sigs: make(chan os.Signal, 4),
		daemon: make(chan *autorate.Daemon, 1), stderr: &safeBuffer{}, stdout: &safeBuffer{}, code: make(chan int, 1), ids: map[string]string{}}
	// The queues' counters (SetQueueLoad) grow on the daemon's virtual
	// clock, so its reads see the throughput the test offers.
	e.emu, e.srv = testenv.Emulator(t, emulator.Config{Username: "wanctl", Password: "wanctl", Now: e.clock.Now})
	for _, q := range []routeros.Object{
		{"name": "wanctl-spectrum-down", "parent": "global", "max-limit": "500000000"},
		{"name": "wanctl-spectrum-up", "parent": "ether1", "max-limit": "10000000"},
	} {
		id, err := e.emu.AddObject(routeros.MenuQueueTree, q)
		if err != nil {
			t.Fatal(err)
		}
		e.ids[q["name"]] = id
	}
	e.cfgPath = filepath.Join(e.dir, "wanctl.hcl")
	e.listen = freeTCPAddr(t)
	e.writeConfig("940M")
	e.notify = testenv.NewNotifier(t)
	return e
}

func (e *e2e) deps() *autorateDeps {
	return &autorateDeps{
		clock: e.clock,
		newMeasurer: func(w *config.WAN) (autorate.Measurer, error) {
			e.meas = &scriptedPings{clock: e.clock, refl: w.Measurement.Reflectors, rtt: 20 * ms}
			return e.meas, nil
		},
		signals:   e.sigs,
		writer:    autorate.WriterConfig{BackoffMin: time.Millisecond, BackoffMax: 20 * time.Millisecond},
		started:   func(d *autorate.Daemon) { e.daemon <- d },
		keepProcs: true,
		reload:    e.reload,
	}
}

func (e *e2e) env(k string) string {
	switch k {
	case "NOTIFY_SOCKET":
		return e.notify.Socket
	case "WATCHDOG_USEC":
		return "2000000"
	}
	return ""
}

func (e *e2e) start(args ...string) {
	io := IO{In: strings.NewReader(""), Out: e.stdout, Err: e.stderr, Getenv: e.env, autorate: e.deps()}
	go func() {
		e.code <- Run(append([]string{"wanctl", "autorate", "-config", e.cfgPath}, args...), io)
	}()
	select {
	case e.d = <-e.daemon:
	case c := <-e.code:
		e.t.Fatalf("autorate exited with %d before running: %s", c, e.stderr)
	case <-time.After(10 * time.Second):
		e.t.Fatal("autorate did not start")
	}
	pollUntil(e.t, "loop ticker", func() bool { return e.clock.Tickers() >= 1 })
}

func (e *e2e) exit() int {
	select {
	case c := <-e.code:
		return c
	case <-time.After(10 * time.Second):
		e.t.Fatalf("autorate did not exit: %s", e.stderr)
		return -1
	}
}

func (e *e2e) health() (int, autorate.Health) {
	e.t.Helper()
	resp, err := http.Get("http://" + e.d.Addr().String() + "/health")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var h autorate.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, h
}

func (e *e2e) limit(q string) int64 {
	v, _ := e.emu.QueueMaxLimit(q)
	return v
}

// settled waits until the writer has sent everything it was handed.
func (e *e2e) settled() autorate.WANHealth {
	var h autorate.Health
	pollUntil(e.t, "writes settled", func() bool {
		_, h = e.health()
		w := h.WANs[0]
		return !w.Download.Pending && !w.Upload.Pending && w.Download.LastWrittenRate == e.limit("wanctl-spectrum-down")
	})
	return h.WANs[0]
}

// healthWithin waits until /health answers code, moving the virtual clock
// on by a cycle at a time for at most d.
func (e *e2e) healthWithin(code int, d time.Duration) {
	e.t.Helper()
	by := e.clock.Now().Add(d)
	pollUntil(e.t, fmt.Sprintf("health %d", code), func() bool {
		if c, _ := e.health(); c == code {
			return true
		}
		if e.clock.Now().Before(by) {
			e.clock.Advance(50 * ms)
		}
		return false
	})
}

// readsCaughtUp waits until the counter read due by now has come back. A
// read is a real HTTP request: one still in flight when the virtual clock
// moves on is stamped later than the emulator counted its bytes, and the
// throughput it gives looks lower than the queue's (an idle direction to
// the controller).
func (e *e2e) readsCaughtUp() {
	pollUntil(e.t, "counter reads caught up", func() bool {
		_, h := e.health()
		r := h.WANs[0].LoadReads
		return r != nil && r.LastSuccess != nil && e.clock.Now().Sub(*r.LastSuccess) < autorate.LoadReadInterval
	})
}

// patches returns the max-limit values PATCHed to queue q since the last
// ClearRequests.
func (e *e2e) patches(q string) []int64 {
	var out []int64
	for _, r := range e.emu.Requests() {
		if r.Method == http.MethodPatch && r.Path == "/rest/queue/tree/"+e.ids[q] && r.Status == 200 {
			var b map[string]string
			json.Unmarshal([]byte(r.Body), &b)
			v, _ := strconv.ParseInt(b["max-limit"], 10, 64)
			out = append(out, v)
		}
	}
	return out
}

func TestAutorateEndToEnd(t *testing.T) {
	e := newE2E(t)
	e.start()

	// Idle: the first cycle writes the controller's rates (ceilings).
	e.clock.Advance(time.Second)
	e.notify.WaitFor(t, "READY=1", func() bool { return e.notify.Count("READY=1") == 1 })
	e.settled()
	if e.limit("wanctl-spectrum-down") != 940e6 || e.limit("wanctl-spectrum-up") != 38e6 {
		t.Fatalf("initial limits %d / %d", e.limit("wanctl-spectrum-down"), e.limit("wanctl-spectrum-up"))
	}
	if code, h := e.health(); code != 200 || !h.WANs[0].Controlling || h.WANs[0].Router.Name != "edge" {
		t.Fatalf("health %d %+v", code, h)
	}
	// Only real changes are written: a second of steady state writes nothing.
	e.emu.ClearRequests()
	e.clock.Advance(time.Second)
	if p := e.patches("wanctl-spectrum-down"); len(p) != 0 {
		t.Fatalf("steady state wrote %v", p)
	}

	// Bloat: 300 ms over the baseline under saturating traffic (more
	// than the ceilings offered both ways; the controller climbs only
	// while a direction is loaded). Within 2 cycles the download
	// max-limit goes down on the router.
	e.emu.SetQueueLoad("wanctl-spectrum-down", 2e9)
	e.emu.SetQueueLoad("wanctl-spectrum-up", 100e6)
	e.emu.ClearRequests()
	e.meas.set(320*ms, false)
	e.clock.Advance(100 * ms)
	pollUntil(t, "decrease PATCHed", func() bool {
		p := e.patches("wanctl-spectrum-down")
		return len(p) > 0 && p[0] < 940e6
	})
	if l := e.limit("wanctl-spectrum-down"); l >= 940e6 || l < 200e6 {
		t.Fatalf("download after bloat %d", l)
	}
	// Each further decrease waits for replies to requests sent after the
	// router took the previous one (the writes are real HTTP requests, the
	// clock is virtual): allow 5 s.
	for range 10 {
		e.clock.Advance(500 * ms)
		e.settled()
	}
	w := e.settled()
	if w.Download.Zone != "RED" || w.Download.LastWrittenRate != 200e6 {
		t.Fatalf("sustained bloat %+v", w.Download)
	}

	// Recovery, the link still loaded: increases are coalesced, at most
	// one per second, each at most 25 % above the rate the router has
	// (the directions take turns), except one return at once to the hold
	// level, 90 % of the last capacity estimate, when a cut still had one
	// (a standing queue in RED estimates the capacity at the rate cut
	// from): back at the ceiling in about 14 s. The climb per write shrinks while cuts take
	// longer than 100 ms to land, as they do in virtual time when the
	// HTTP writes are slow (the race detector): within 60 s whatever the
	// timing.
	e.meas.set(20*ms, false)
	e.emu.ClearRequests()
	perStep := []int{}
	for range 120 {
		if e.limit("wanctl-spectrum-down") == 940e6 {
			break
		}
		n := len(e.patches("wanctl-spectrum-down"))
		e.clock.Advance(500 * ms)
		e.settled()
		e.readsCaughtUp()
		perStep = append(perStep, len(e.patches("wanctl-spectrum-down"))-n)
	}
	// At most one increase per second (increase_interval). A write decided
	// in one 500 ms step may reach the emulator in the next (its HTTP
	// request is real, the clock virtual: under the race detector it can
	// land after the clock moved on), so the check allows a step's skew:
	// never two in a step, two at most in any three, and no more than one
	// a second over the whole climb.
	total := 0
	for i, n := range perStep {
		total += n
		if n > 1 || (i >= 2 && perStep[i-2]+perStep[i-1]+n > 2) {
			t.Fatalf("more than one increase per second: writes per 500 ms %v", perStep)
		}
	}
	if total > len(perStep)/2+1 {
		t.Fatalf("more than one increase per second: %d writes in %d steps of 500 ms %v", total, len(perStep), perStep)
	}
	p := e.patches("wanctl-spectrum-down")
	if len(p) < 3 {
		t.Fatalf("recovery wrote %v", p)
	}
	prev, jumps := int64(200e6), 0
	for _, r := range p {
		if r <= prev {
			t.Fatalf("recovery writes from 200M not increasing: %v", p)
		}
		if float64(r) > 1.25*float64(prev)+1 {
			// The hold level: 90 % of an estimate no higher than the
			// rate cut from.
			if jumps++; jumps > 1 || float64(r) > 0.9*940e6 {
				t.Fatalf("recovery writes from 200M not increasing by at most 25 %% but for one return to the hold level: %v", p)
			}
		}
		prev = r
	}
	if e.limit("wanctl-spectrum-down") != 940e6 {
		t.Fatalf("not back at the ceiling after 60 s: %v", p)
	}

	// wanctl status asks the running daemon. Its counter reads are real
	// HTTP requests racing the virtual clock: on a busy machine the one in
	// flight can come back more than RouterUnreachableAfter of virtual
	// time late, the router showing unreachable until it does.
	pollUntil(t, "a counter read back", func() bool { c, _ := e.health(); return c == 200 })
	code, out, errb := runStatus(t, e.cfgPath)
	if code != 0 || !strings.Contains(out, "Source: autorate daemon at http://"+e.listen+"/health (ok)") || !strings.Contains(out, "spectrum  GREEN 940M") {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errb)
	}

	// SIGUSR1 toggles debug logging.
	e.sigs <- syscall.SIGUSR1
	pollUntil(t, "debug on", func() bool { return strings.Contains(e.stderr.String(), "level=DEBUG") })

	// SIGHUP with a lower ceiling: applied without losing state.
	e.writeConfig("800M")
	e.sigs <- syscall.SIGHUP
	pollUntil(t, "reloaded", func() bool { return strings.Contains(e.stderr.String(), "configuration reloaded") })
	e.clock.Advance(100 * ms)
	pollUntil(t, "new ceiling written", func() bool { return e.limit("wanctl-spectrum-down") == 800e6 })
	e.notify.WaitFor(t, "reload notifications", func() bool {
		return e.notify.Count("RELOADING=1") == 1 && e.notify.Count("READY=1") == 2
	})
	// SIGHUP with a broken file: logged, keeps running on the old one.
	os.WriteFile(e.cfgPath, []byte("wan {"), 0o600)
	e.sigs <- syscall.SIGHUP
	pollUntil(t, "reload refused", func() bool {
		return strings.Contains(e.stderr.String(), "reload failed; still running on the previous configuration")
	})
	e.clock.Advance(time.Second)
	if code, _ := e.health(); code != 200 {
		t.Fatalf("health after a failed reload %d", code)
	}
	// The watchdog tick is delivered by Advance but handled (and its
	// datagram read by the socket goroutine) asynchronously: wait for it.
	// The upload may still be climbing back to its ceiling (how far it
	// got depends on how its writes, real HTTP requests, interleaved with
	// the virtual clock): only the download's new ceiling is certain here.
	e.notify.WaitFor(t, "status after the reloads", func() bool {
		return e.notify.Count("WATCHDOG=1") >= 3 && strings.Contains(e.notify.Last("STATUS="), "spectrum: down GREEN 800M up GREEN ")
	})

	// SIGTERM: finish, write state, exit 0.
	e.sigs <- syscall.SIGTERM
	if c := e.exit(); c != 0 {
		t.Fatalf("exit %d: %s", c, e.stderr)
	}
	e.notify.WaitFor(t, "STOPPING=1", func() bool { return e.notify.Count("STOPPING=1") == 1 })
	st, err := autorate.ReadState(autorate.StatePath(filepath.Join(e.dir, "state"), "spectrum"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Timestamp.Equal(e.clock.Now()) || st.Download.Rate != 800e6 || st.Download.LastWrittenRate != 800e6 || st.BaselineRTTMs != 20 {
		t.Fatalf("final state %+v", st)
	}
	if strings.Contains(e.stderr.String(), "wanctl\"") || strings.Contains(e.stderr.String(), "password=wanctl") {
		t.Fatal("password in the logs")
	}
}

func TestAutorateRouterFaults(t *testing.T) {
	e := newE2E(t)
	e.start()
	defer func() {
		e.sigs <- syscall.SIGTERM
		e.exit()
	}()
	e.clock.Advance(time.Second)
	e.settled()

	for _, f := range []emulator.Fault{
		{Kind: emulator.FaultServerError, Status: 503, Count: 1000, Path: "queue/tree"},
		{Kind: emulator.FaultHang, Count: 1000, Path: "queue/tree"}, // held until the client's 300 ms timeout
		{Kind: emulator.FaultDrop, Count: 1000, Path: "queue/tree"},
	} {
		t.Run(f.Kind.String(), func(t *testing.T) {
			e.t = t
			e.emu.Inject(f)
			_, before := e.health()
			// Congestion while the router fails: the loop keeps its
			// cadence and decides, health degrades.
			e.meas.set(320*ms, false)
			e.clock.Advance(time.Second)
			// Advance returns once the ticks are delivered, not processed:
			// the last cycle (and one before the snapshot) may still be
			// running. A loop blocked by the router would fall far short.
			var h autorate.Health
			pollUntil(t, "20 cycles", func() bool {
				_, h = e.health()
				return h.WANs[0].Cycles.Total-before.WANs[0].Cycles.Total >= 20
			})
			if n := h.WANs[0].Cycles.Total - before.WANs[0].Cycles.Total; n > 21 {
				t.Fatalf("%d cycles in 1 s of virtual time with the router failing", n)
			}
			// Health degrades at the first failed write, or, when the rate
			// has nothing left to cut (at its floor since the previous
			// fault), once no request has succeeded for 3 s.
			e.healthWithin(503, 5*time.Second)
			_, h = e.health()
			if h.WANs[0].Router.Reachable || len(h.WANs[0].DegradedReasons) == 0 || h.WANs[0].Download.Rate >= 940e6 {
				t.Fatalf("health while failing %+v", h.WANs[0])
			}
			// Faults cleared: the newest rate lands, health recovers at
			// the next request that succeeds — the write, or with the
			// rate at its floor (no write due) the next counter read.
			e.emu.ClearFaults()
			e.settled()
			e.healthWithin(200, 2*autorate.LoadReadInterval)
			if c, h := e.health(); c != 200 || h.WANs[0].Download.LastWrittenRate != h.WANs[0].Download.Rate {
				t.Fatalf("after recovery: %d %+v", c, h.WANs[0])
			}
			e.meas.set(20*ms, false)
			e.clock.Advance(10 * time.Second)
			e.settled()
		})
	}
}

func TestAutorateBlackout(t *testing.T) {
	e := newE2E(t)
	e.start()
	defer func() {
		e.sigs <- syscall.SIGTERM
		e.exit()
	}()
	// Saturating traffic both ways throughout: the controller climbs only
	// while a direction is loaded.
	e.emu.SetQueueLoad("wanctl-spectrum-down", 2e9)
	e.emu.SetQueueLoad("wanctl-spectrum-up", 100e6)
	e.clock.Advance(time.Second)
	e.meas.set(320*ms, false)
	e.clock.Advance(200 * ms)
	// Every reply lost while RED (the bloat outgrew the ping timeout):
	// the decrease goes on to the red floor.
	e.meas.set(0, true)
	e.clock.Advance(3 * time.Second)
	w := e.settled()
	if w.Signal || w.Download.Zone != "RED" || w.Download.LastWrittenRate != 200e6 {
		t.Fatalf("silent RED %+v", w)
	}
	// Replies back: the rate climbs; silence again while GREEN holds the
	// rate where it is, however long, and writes nothing. (The increase
	// must have landed and been confirmed by replies first: silence undoes
	// an increase no reply has confirmed.)
	e.meas.set(20*ms, false)
	e.clock.Advance(time.Second)
	e.settled()
	for range 4 {
		e.clock.Advance(50 * ms)
		e.settled()
	}
	e.meas.set(0, true)
	e.clock.Advance(2 * time.Second)
	w = e.settled()
	// An increase the policy sent just before the silence may still have
	// been in flight (the writes are real HTTP, slow under -race): the
	// controller drops it and the next cycles write the rate back. Let
	// the router and the controller agree before counting writes.
	for i := 0; w.Download.Rate != w.Download.LastWrittenRate; i++ {
		if i == 100 {
			t.Fatalf("the controller and the router never agree: %+v", w.Download)
		}
		e.clock.Advance(50 * ms)
		w = e.settled()
	}
	if w.Download.Zone != "GREEN" || w.Download.Rate >= 940e6 || w.Download.Rate <= 200e6 {
		t.Fatalf("setup %+v", w.Download)
	}
	e.emu.ClearRequests()
	e.clock.Advance(10 * time.Second)
	if p := e.patches("wanctl-spectrum-down"); len(p) != 0 {
		t.Fatalf("wrote %v without a signal", p)
	}
	code, h := e.health()
	if code != 503 || h.WANs[0].Signal || h.WANs[0].Download.Rate != w.Download.Rate || !strings.Contains(h.WANs[0].DegradedReasons[0], "no signal") {
		t.Fatalf("blackout health %d %+v", code, h.WANs[0])
	}
	if !strings.Contains(e.stderr.String(), "no signal") {
		t.Fatalf("no warning: %s", e.stderr)
	}
}

func TestAutorateLockConflict(t *testing.T) {
	e := newE2E(t)
	lk, err := lockfile.TryLock(autorate.LockPath(filepath.Join(e.dir, "run"), "spectrum"))
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	io := IO{In: strings.NewReader(""), Out: e.stdout, Err: e.stderr, Getenv: e.env, autorate: e.deps()}
	code := Run([]string{"wanctl", "autorate", "-config", e.cfgPath}, io)
	if code != 1 || !strings.Contains(e.stderr.String(), fmt.Sprintf("held by pid %d", os.Getpid())) || !strings.Contains(e.stderr.String(), `wan "spectrum"`) {
		t.Fatalf("exit %d: %s", code, e.stderr)
	}
}

func TestAutorateConfigErrors(t *testing.T) {
	e := newE2E(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-config", filepath.Join(e.dir, "missing.hcl")}, "missing.hcl"},
		{[]string{"-config", e.cfgPath, "-wan", "nope"}, `-wan "nope": no such wan`},
		{[]string{"-config", e.cfgPath, "extra"}, "takes no arguments"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			stderr := &safeBuffer{}
			io := IO{In: strings.NewReader(""), Out: e.stdout, Err: stderr, Getenv: e.env, autorate: e.deps()}
			if code := Run(append([]string{"wanctl", "autorate"}, tc.args...), io); code != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("%v: exit %d: %s", tc.args, code, stderr)
			}
		})
	}
}

func TestAutorateCorruptState(t *testing.T) {
	e := newE2E(t)
	p := autorate.StatePath(filepath.Join(e.dir, "state"), "spectrum")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("garbage"), 0o600)
	e.start()
	e.clock.Advance(100 * ms)
	e.sigs <- syscall.SIGINT
	if c := e.exit(); c != 0 {
		t.Fatalf("exit %d", c)
	}
	if !strings.Contains(e.stderr.String(), "state file is corrupt; starting fresh") {
		t.Fatalf("no warning: %s", e.stderr)
	}
	if b, err := os.ReadFile(p + ".corrupt"); err != nil || string(b) != "garbage" {
		t.Fatal("corrupt file not kept aside")
	}
	if st, err := autorate.ReadState(p); err != nil || st.Download.Rate != 940e6 {
		t.Fatalf("fresh state %+v %v", st, err)
	}
}
