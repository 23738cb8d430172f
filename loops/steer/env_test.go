package steer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wanctl/wanctl/apply"
	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// testConfig is the router and daemon blocks in front of the two-WAN
// configuration with steering; %s are the router URL, the state and the
// lock directory.
const testConfig = `
router "edge" {
  url          = %q
  username     = "wanctl"
  password     = "pw"
  host_address = "192.168.88.10"
}

daemon {
  state_dir = %q
  lock_dir  = %q
}
`

// env is an emulated router with the configuration applied, a state
// directory and a virtual clock.
type env struct {
	t      *testing.T
	emu    *emulator.Emulator
	srv    *httptest.Server
	cfg    *config.Config
	path   string // the configuration file (for real processes)
	client *routeros.Client
	now    time.Time
	rtt    time.Duration // the scripted RTT of every reflector
	// primaryRate is the download rate autorate's state file gives the
	// primary; 0 is 500M.
	primaryRate int64
	log         *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	s.b.Reset()
	s.mu.Unlock()
}

func newEnv(t testing.TB, latency time.Duration, thresholds string) *env {
	return newEnvReflectors(t, latency, thresholds, "1.1.1.1", "8.8.8.8")
}

// newEnvReflectors is newEnv with other primary reflectors (loopback ones
// for runs that really ping).
func newEnvReflectors(t testing.TB, latency time.Duration, thresholds string, reflectors ...string) *env {
	tt, _ := t.(*testing.T)
	emu, srv := testenv.Emulator(t, emulator.Config{Username: "wanctl", Password: "pw", Latency: latency})
	dir := t.TempDir()
	if thresholds == "" {
		thresholds = "    red_samples   = 2\n    green_samples = 3"
	}
	src := fmt.Sprintf(testConfig, srv.URL, filepath.Join(dir, "state"), filepath.Join(dir, "run")) +
		testenv.DualWANConfig(testenv.DualWAN{Reflectors: reflectors, NoCake: true, Rules: []string{"voip", "latency-sensitive"}, Thresholds: thresholds})
	path := filepath.Join(dir, "wanctl.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Parse(path, []byte(src), config.Options{FileMode: 0o600})
	if cfg == nil {
		var b bytes.Buffer
		diags.WriteText(&b, false)
		t.Fatalf("config: %s", b.String())
	}
	// defconf FastTracks; turn it off like a user would before apply.
	for _, f := range emu.Objects(routeros.MenuFilter) {
		if f["action"] == "fasttrack-connection" {
			if err := emu.SetObject(routeros.MenuFilter, f.ID(), routeros.Object{"disabled": "true"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	client, err := routeros.New(cfg.Routers[0].ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := plan.Make(ctx, cfg, func(*config.Router) (plan.Reader, error) { return client, nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Errors) > 0 {
		t.Fatalf("plan errors: %v", p.Errors)
	}
	if _, err := apply.Apply(ctx, p, map[string]apply.Client{"edge": client}, io.Discard); err != nil {
		t.Fatal(err)
	}
	emu.ClearRequests()
	return &env{t: tt, emu: emu, srv: srv, cfg: cfg, path: path, client: client,
		now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), rtt: 20 * time.Millisecond, log: &syncBuffer{}}
}

// autorate writes a WAN's autorate state file stamped age before now.
func (e *env) autorate(wan string, zone autorate.Zone, age time.Duration) {
	rate := int64(500_000_000)
	if wan == "spectrum" && e.primaryRate > 0 {
		rate = e.primaryRate
	}
	st := autorate.State{
		Version: autorate.StateVersion, WAN: wan, Timestamp: e.now.Add(-age), Writer: "autorate", Signal: true,
		Download:      autorate.DirectionState{Queue: e.cfg.WAN(wan).Download.Queue, Zone: zone, Rate: rate},
		Upload:        autorate.DirectionState{Queue: e.cfg.WAN(wan).Upload.Queue, Zone: autorate.Green, Rate: 30_000_000},
		BaselineRTTMs: 20,
	}
	for _, r := range e.cfg.WAN(wan).Measurement.Reflectors {
		st.Reflectors = append(st.Reflectors, autorate.ReflectorState{Address: r.String(), BaselineRTTMs: 20})
	}
	for _, r := range e.cfg.WAN(wan).Measurement.TCPFallback {
		st.Reflectors = append(st.Reflectors, autorate.ReflectorState{Address: r.String(), BaselineRTTMs: 20})
	}
	// The file's modification time is the daemon's heartbeat: a daemon
	// writing at that (virtual) time.
	path := autorate.StatePath(e.cfg.Daemon.StateDir, wan)
	if err := autorate.WriteState(path, &st); err != nil {
		panic(err)
	}
	if err := os.Chtimes(path, st.Timestamp, st.Timestamp); err != nil {
		panic(err)
	}
}

// queue sets the primary download queue's counters.
func (e *env) queue(dropped, queued int64) {
	e.emu.SetQueueStats("wanctl-spectrum-down", emulator.QueueStats{Dropped: dropped, QueuedPackets: queued})
}

func (e *env) deps() Config {
	return Config{
		Config: e.cfg,
		Router: e.client,
		RTT: RTTFunc(func(ctx context.Context, w *config.WAN) ([]Sample, error) {
			return ConstantRTT(e.rtt).MeasureRTT(ctx, w)
		}),
		Now: func() time.Time { return e.now },
		Log: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// run advances the clock by 2 s and runs one cycle.
func (e *env) run() (Result, error) {
	e.now = e.now.Add(2 * time.Second)
	return Run(context.Background(), e.deps())
}

func (e *env) mustRun() Result {
	e.t.Helper()
	r, err := e.run()
	if err != nil {
		e.t.Fatalf("run: %v\nlog:\n%s", err, e.log.String())
	}
	return r
}

// rules returns the steering mark-connection rules' disabled values by
// comment, and the mark-routing rule's.
func (e *env) rules() (steering map[string]string, markRouting string) {
	steering = map[string]string{}
	for _, o := range e.emu.Objects(routeros.MenuMangle) {
		switch {
		case plan.IsSteeringRule(o):
			steering[o["comment"]] = o["disabled"]
		case o["comment"] == plan.Marker(plan.MarkRoutingAddress):
			markRouting = o["disabled"]
		}
	}
	return steering, markRouting
}

// wantRules checks that every steering rule has disabled=want and that the
// mark-routing rule stays enabled.
func (e *env) wantRules(want string) {
	e.t.Helper()
	st, mr := e.rules()
	if len(st) != 3 { // voip, latency-sensitive ef and af31
		e.t.Fatalf("steering rules on the router: %v", st)
	}
	for c, d := range st {
		if d != want {
			e.t.Errorf("rule %s disabled=%s, want %s", c, d, want)
		}
	}
	if mr != "false" {
		e.t.Errorf("mark-routing rule disabled=%q, want false (never touched)", mr)
	}
}

func (e *env) requests() []string {
	var out []string
	for _, r := range e.emu.Requests() {
		p := r.Method + " " + strings.TrimPrefix(r.Path, "/rest/")
		out = append(out, p)
	}
	e.emu.ClearRequests()
	return out
}
