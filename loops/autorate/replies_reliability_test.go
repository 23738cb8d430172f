//go:build reliability

package autorate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// The daemon's part of the reliability suite's odd replies (make
// reliability, docs/reliability.md); here because it steps the loops and
// watches the writer, which are not exported.

// oddRouter is the emulator behind a handler that injects one fault into
// the first matching request after arm, and knows whether that request
// has been answered yet (a held one has not).
type oddRouter struct {
	emu *emulator.Emulator

	mu       sync.Mutex
	armed    *emulator.Fault
	fired    bool
	answered bool
}

func (o *oddRouter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	o.mu.Lock()
	mine := false
	if f := o.armed; f != nil && req.Method == f.Method && strings.HasPrefix(req.URL.Path, "/rest/queue/tree") {
		o.emu.Inject(*f)
		o.armed, o.fired, mine = nil, true, true
	}
	o.mu.Unlock()
	o.emu.ServeHTTP(w, req)
	if mine {
		o.mu.Lock()
		o.answered = true
		o.mu.Unlock()
	}
}

func (o *oddRouter) arm(f emulator.Fault) {
	f.Count = 1
	o.mu.Lock()
	o.armed, o.fired, o.answered = &f, false, false
	o.mu.Unlock()
}

func (o *oddRouter) state() (fired, answered bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fired, o.answered
}

// oddClientTimeout is the router timeout of the daemon here: a held
// request costs this much real time.
const oddClientTimeout = 2 * time.Second

func newOddFixture(t *testing.T) (*loadFixture, *oddRouter) {
	t.Helper()
	cfg := testConfig(t)
	var clock *ManualClock
	emu := emulator.New(emulator.Config{Now: func() time.Time {
		if clock == nil {
			return t0
		}
		return clock.Now()
	}})
	odd := &oddRouter{emu: emu}
	srv := httptest.NewServer(odd)
	t.Cleanup(srv.Close)
	for _, w := range cfg.WANs {
		for _, d := range w.Directions() {
			q := routeros.Object{"name": d.Queue, "parent": d.Parent, "max-limit": strconv.FormatInt(d.Ceiling, 10)}
			if _, err := emu.AddObject(routeros.MenuQueueTree, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	client, err := routeros.New(routeros.Config{Name: "edge", URL: srv.URL, Timeout: oddClientTimeout})
	if err != nil {
		t.Fatal(err)
	}
	f, err := newDaemonFixtureExec(t, cfg, func(*config.Router) (Executor, error) {
		return NewRouterExecutor(client, routeros.IsNotFound), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clock = f.clock
	return &loadFixture{daemonFixture: f, emu: emu, client: client}, odd
}

// cycle advances the clock by one interval and waits for every loop to
// run that cycle, not for the router: a loop waiting on a request fails.
func (f *loadFixture) cycle() {
	f.t.Helper()
	f.clock.Advance(f.d.interval)
	now := f.clock.Now()
	waitFor(f.t, "the loops' cycle", func() bool {
		for _, r := range f.d.wans {
			if r.loop.Status().LastCycle.Before(now) {
				return false
			}
		}
		return true
	})
}

// TestReliabilityDaemonOddReplies: a malformed, oversized, stalled or
// held reply to one of the daemon's max-limit writes (PATCH) or counter
// reads (GET): the loops run every cycle while it lasts (20 cycles while
// a held request is still unanswered), the failure is counted and logged,
// and when the router answers properly again the queues hold the
// controllers' rates, /health is 200 and the reads succeed.
func TestReliabilityDaemonOddReplies(t *testing.T) {
	kinds := []string{"body:empty", "body:null", "body:object", "body:error", "big", "stall", "hangapplied"}
	for _, method := range []string{http.MethodPatch, http.MethodGet} {
		for _, kind := range kinds {
			spec := kind
			if kind == "big" {
				// Over the cap of what is read: one object for a write,
				// a menu for the counters.
				spec = fmt.Sprintf("big:%d", routeros.MaxObjectReply+1)
				if method == http.MethodGet {
					spec = fmt.Sprintf("big:%d", routeros.MaxMenuReply+1)
				}
			}
			t.Run(method+"/"+kind, func(t *testing.T) {
				t.Parallel()
				fs, err := emulator.ParseFaults(spec)
				if err != nil {
					t.Fatal(err)
				}
				fault := fs[0]
				fault.Method = method
				held := kind == "stall" || kind == "hangapplied"

				f, odd := newOddFixture(t)
				f.emu.SetQueueLoad("wanctl-spectrum-down", 300e6)
				f.start()
				defer f.stop()
				f.run(time.Second)
				// Heavy bloat: a decrease, and so a write, every cycle.
				f.meas["spectrum"].set(320*ms, false)
				loop := f.d.Loops()[0]
				odd.arm(fault)
				for i := 0; ; i++ {
					if fired, _ := odd.state(); fired {
						break
					}
					if i == 40 {
						t.Fatalf("no %s to /queue/tree in 2 s of cycles", method)
					}
					f.cycle()
				}
				before := loop.Status().Cycles
				for range 20 {
					f.cycle()
				}
				if got := loop.Status().Cycles - before; got != 20 {
					t.Fatalf("%d cycles in 20 intervals with the %s reply", got, kind)
				}
				if _, answered := odd.state(); held && answered {
					t.Fatalf("the held request was answered within 20 cycles: the test shows nothing")
				}

				// The router answers properly again; the held request
				// runs out its timeout, the writer retries.
				f.meas["spectrum"].set(20*ms, false)
				f.run(oddClientTimeout/2 + LoadReadInterval)
				waitFor(t, "the faulted request ended", func() bool { _, a := odd.state(); return a })
				f.run(2 * LoadReadInterval)

				logs := f.logs.String()
				if method == http.MethodPatch {
					failed := 0.0
					for _, dir := range []string{"download", "upload"} {
						failed += testutil.ToFloat64(f.d.metrics.writes.WithLabelValues("spectrum", dir, "error"))
					}
					if failed < 1 || !strings.Contains(logs, "router write failed") {
						t.Errorf("the %s reply to a write: %v failed writes counted; logs:\n%s", kind, failed, tail(logs))
					}
				} else {
					if n := testutil.ToFloat64(f.d.metrics.reads.WithLabelValues("edge", "error")); n != 1 || !strings.Contains(logs, "router counter read failed") {
						t.Errorf("the %s reply to a counter read: %v failed reads counted; logs:\n%s", kind, n, tail(logs))
					}
				}
				// The queues come to hold the controllers' rates: at once for
				// a decrease, within the write budget's refill for the
				// raises that follow the bloat's end (the bloat spent it).
				l := f.d.Loops()
				var mismatch []string
				for range 30 {
					mismatch = mismatch[:0]
					for i, w := range f.cfg.WANs {
						for _, d := range w.Directions() {
							want := l[i].Controller().Rate(d.Name == config.Upload)
							if got, _ := f.emu.QueueMaxLimit(d.Queue); got != want {
								mismatch = append(mismatch, fmt.Sprintf("%s max-limit %d, the controller's %d", d.Queue, got, want))
							}
						}
					}
					if len(mismatch) == 0 {
						break
					}
					f.run(LoadReadInterval)
				}
				if len(mismatch) > 0 {
					t.Errorf("30 s after the fault: %s", strings.Join(mismatch, "; "))
				}
				code, h := f.health()
				if code != http.StatusOK || !h.WANs[0].Router.Reachable || h.WANs[0].LoadReads == nil || h.WANs[0].LoadReads.Failures != 0 {
					t.Fatalf("health after the fault %d: router %+v, reads %+v, reasons %v", code, h.WANs[0].Router, h.WANs[0].LoadReads, h.WANs[0].DegradedReasons)
				}
			})
		}
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
