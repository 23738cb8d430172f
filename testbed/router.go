package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wanctl/wanctl/apply"
	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
	"github.com/wanctl/wanctl/sim"
)

// The router: the RouterOS emulator, served on the LAN namespace's
// loopback where the daemon runs, and a hook that gives the real shaper
// (the router namespace's HTB) every max-limit the emulator accepts
// before the emulator's answer leaves: the daemon's write completes when
// the kernel has the rate, as on a router.

const (
	wanName    = "lab"
	healthPort = 19101
	emuLatency = 20 * time.Millisecond // about a small MikroTik's time per REST request
)

// rateEvent is one max-limit the hook gave the shaper.
type rateEvent struct {
	At   time.Time // when the emulator had it
	Dir  sim.Dir
	Bps  int64
	Took time.Duration // until the kernel had it
}

type router struct {
	emu      *emulator.Emulator
	srv      *http.Server
	url      string
	password string
	queues   [2]string
	topo     *topology
	lan      netns

	mu      sync.Mutex
	follow  bool
	applied [2]int64
	events  []rateEvent
	errs    []error
	// counters: the kernel shaper's byte counter the emulator last showed
	// per direction, and when it was read (for the rate).
	counters [2]counterRead
}

// counterRead is one reading of a router shaper's counters.
type counterRead struct {
	at    time.Time
	bytes uint64
}

// startRouter serves a fresh emulator on lan's loopback.
func startRouter(topo *topology, lan netns, ceiling [2]int64) (*router, error) {
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	r := &router{
		password: hex.EncodeToString(pw),
		queues:   [2]string{"wanctl-" + wanName + "-down", "wanctl-" + wanName + "-up"},
		topo:     topo, lan: lan,
		applied: ceiling,
	}
	r.emu = emulator.New(emulator.Config{Username: "wanctl", Password: r.password, Latency: emuLatency})
	// The default configuration FastTracks, which plan refuses (nothing
	// would be shaped); a user disables it first, so does the lab.
	for _, o := range r.emu.Objects(routeros.MenuFilter) {
		if o["action"] == "fasttrack-connection" && o["dynamic"] != "true" {
			if err := r.emu.SetObject(routeros.MenuFilter, o.ID(), routeros.Object{"disabled": "true"}); err != nil {
				return nil, err
			}
		}
	}
	var ln net.Listener
	if err := lan.do(func() error {
		var err error
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		return nil, fmt.Errorf("emulator listener: %w", err)
	}
	r.url = "http://" + ln.Addr().String()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// ServeHTTP is the hook that reads the kernel's counters, the emulator,
// then the hook that follows a max-limit.
func (r *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if strings.HasPrefix(req.URL.Path, "/rest/queue/tree") && (req.Method == http.MethodGet || strings.HasSuffix(req.URL.Path, "/print")) {
		r.readCounters()
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r.emu.ServeHTTP(sw, req)
	if req.Method != http.MethodGet && strings.HasPrefix(req.URL.Path, "/rest/queue/tree") && sw.status < 300 {
		r.sync()
	}
}

// sync gives the shaper the emulator's max-limit where it changed.
func (r *router) sync() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.follow {
		return
	}
	for d := range 2 {
		bps, ok := r.emu.QueueMaxLimit(r.queues[d])
		if !ok || bps <= 0 || bps == r.applied[d] {
			continue
		}
		at := time.Now()
		if err := r.topo.setHTB(sim.Dir(d), bps); err != nil {
			r.errs = append(r.errs, err)
			continue
		}
		r.applied[d] = bps
		r.events = append(r.events, rateEvent{At: at, Dir: sim.Dir(d), Bps: bps, Took: time.Since(at)})
	}
}

// readCounters gives the emulator's queue-tree entries the counters of the
// kernel shaper they stand for, so that a read of the queues sees the
// traffic the real flows pass: without it the daemon's load signal reads
// an idle router whatever the load.
func (r *router) readCounters() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.topo == nil {
		return
	}
	for d := range 2 {
		ks, err := r.topo.shaperStats(sim.Dir(d))
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s counters: %w", sim.Dir(d), err))
			continue
		}
		st := emulator.QueueStats{Bytes: int64(ks.Bytes), Packets: int64(ks.Packets),
			Dropped: int64(ks.Drops), QueuedBytes: int64(ks.Backlog)}
		now := time.Now()
		if last := r.counters[d]; !last.at.IsZero() && ks.Bytes >= last.bytes {
			if dt := now.Sub(last.at).Seconds(); dt > 0 {
				st.Rate = int64(float64(ks.Bytes-last.bytes) * 8 / dt)
				st.PacketRate = st.Rate / (8 * frameBytes)
			}
		}
		r.counters[d] = counterRead{at: now, bytes: ks.Bytes}
		r.emu.SetQueueStats(r.queues[d], st)
	}
}

// counterBytes is the bytes counter the emulator shows for direction d's
// queue (0 if none).
func (r *router) counterBytes(d sim.Dir) int64 {
	for _, o := range r.emu.Objects(routeros.MenuQueueTree) {
		if o["name"] == r.queues[d] {
			n, _ := strconv.ParseInt(o["bytes"], 10, 64)
			return n
		}
	}
	return 0
}

// setFollow turns the hook on or off.
func (r *router) setFollow(on bool) {
	r.mu.Lock()
	r.follow = on
	r.mu.Unlock()
}

// nsClient is an HTTP client whose connections are made in the LAN
// namespace (the emulator and the daemon's health endpoint listen on its
// loopback).
func (r *router) nsClient() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := r.lan.do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		DisableKeepAlives: true,
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// configText is the daemon's configuration: one WAN whose reflectors are
// the server namespace's addresses, thresholds at their defaults.
func (r *router) configText(dir string, ceiling [2]int64, timestamps bool) string {
	refl := make([]string, len(reflectorAddrs))
	for i, a := range reflectorAddrs {
		refl[i] = fmt.Sprintf("%q", a)
	}
	return fmt.Sprintf(`# Generated by wanctl lab: the daemon under test.
router "lab" {
  url      = %q
  username = "wanctl"
  password = env("WANCTL_LAB_PASSWORD")
}

daemon {
  state_dir = %q
  lock_dir  = %q
  listen    = "127.0.0.1:%d"
}

wan %q {
  router    = "lab"
  interface = "ether1"

  measurement {
    reflectors   = [%s]
    tcp_fallback = ["%s:443", "%s:443"]
    timestamps   = %t
  }

  download {
    ceiling = "%d"
  }

  upload {
    ceiling = "%d"
  }
}
`, r.url, filepath.Join(dir, "state"), filepath.Join(dir, "run"), healthPort, wanName,
		strings.Join(refl, ", "), reflectorAddrs[0], reflectorAddrs[1], timestamps, ceiling[0], ceiling[1])
}

// provision writes the configuration and applies it to the emulator, as
// `wanctl apply -auto-approve` would; the queues start at the ceilings.
func (r *router) provision(ctx context.Context, dir string, ceiling [2]int64, timestamps bool) (string, error) {
	path := filepath.Join(dir, "wanctl.hcl")
	src := r.configText(dir, ceiling, timestamps)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		return "", err
	}
	cfg, diags := config.Parse(path, []byte(src), config.Options{
		FileMode: 0o600,
		LookupEnv: func(k string) (string, bool) {
			if k == "WANCTL_LAB_PASSWORD" {
				return r.password, true
			}
			return "", false
		},
	})
	if diags.HasErrors() {
		return "", fmt.Errorf("testbed: generated configuration: %s", diags.Error())
	}
	rc := cfg.Routers[0].ClientConfig()
	rc.Transport = r.nsClient().Transport
	client, err := routeros.New(rc)
	if err != nil {
		return "", err
	}
	p, err := plan.Make(ctx, cfg, func(*config.Router) (plan.Reader, error) { return client, nil })
	if err != nil {
		return "", fmt.Errorf("testbed: plan: %w", err)
	}
	if len(p.Errors) > 0 {
		var b strings.Builder
		plan.WriteDiagnostics(&b, p.Errors, false)
		return "", fmt.Errorf("testbed: plan: %s", b.String())
	}
	if _, err := apply.Apply(ctx, p, map[string]apply.Client{cfg.Routers[0].Name: client}, io.Discard); err != nil {
		return "", fmt.Errorf("testbed: apply: %w", err)
	}
	return path, nil
}

// startDaemon runs `wanctl autorate` in the LAN namespace and waits until
// its health endpoint says it is controlling.
func (r *router) startDaemon(ctx context.Context, exe, env []string, cfgPath string, log io.Writer) (*proc, error) {
	args := append(append([]string(nil), exe[1:]...), "autorate", "-config", cfgPath)
	cmd := exec.Command(exe[0], args...)
	cmd.Env = append(append(os.Environ(), env...), "WANCTL_LAB_PASSWORD="+r.password)
	cmd.Stdout, cmd.Stderr = log, log
	p, err := startIn(r.lan, cmd)
	if err != nil {
		return nil, err
	}
	hc := r.nsClient()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for {
		if p.exited() {
			return nil, fmt.Errorf("testbed: the daemon exited during start-up: %v", p.err)
		}
		h, err := health(ctx, hc)
		if err == nil && h.Status == "ok" {
			return p, nil
		}
		if err != nil {
			last = err.Error()
		} else {
			b, _ := json.Marshal(h)
			last = string(b)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, errors.Join(fmt.Errorf("testbed: the daemon is not controlling after 15 s (health: %s)", last), p.stop(5*time.Second))
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type healthDoc struct {
	Status string `json:"status"`
}

func health(ctx context.Context, hc *http.Client) (*healthDoc, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/health", healthPort), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var h healthDoc
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return nil, err
	}
	return &h, nil
}

// writes counts the completed max-limit writes per direction from the
// emulator's request log, from since on.
func (r *router) writes(since time.Time) [2]int {
	names := map[string]string{}
	for _, o := range r.emu.Objects(routeros.MenuQueueTree) {
		names[o.ID()] = o["name"]
	}
	var n [2]int
	for _, q := range r.emu.Requests() {
		if q.Method != http.MethodPatch || q.Status >= 300 || q.Status == 0 || q.Start.Before(since) {
			continue
		}
		id, ok := strings.CutPrefix(q.Path, "/rest/queue/tree/")
		if !ok {
			continue
		}
		for d := range 2 {
			if names[id] == r.queues[d] && strings.Contains(q.Body, "max-limit") {
				n[d]++
			}
		}
	}
	return n
}

// close stops serving.
func (r *router) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(append([]error{err}, r.errs...)...)
}
