//go:build reliability

package reliability

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/loops/steer"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// replyFaults are the malformed and oversized replies: every odd body where
// an array or object belongs, a reply just over the menu cap, and one of
// 2 GiB (which took plan and steer to 1.8 GB before replies were capped).
var replyFaults = []string{
	"body:empty", "body:null", "body:object", "body:error",
	fmt.Sprintf("big:%d", routeros.MaxMenuReply+1), "big:2G",
}

// heapBound is the most heap a refused reply may cost: generous (the
// suite's own bookkeeping shares the process), and far below the size of
// the replies refused.
const heapBound = 32 << 20

// reads returns the read requests (GETs and prints) since the last
// ClearRequests, as "METHOD path".
func (r *router) reads() []emulator.Request {
	var out []emulator.Request
	for _, q := range r.emu.Requests() {
		if !isWrite(q.Method, q.Path) {
			out = append(out, q)
		}
	}
	return out
}

// menuOf is the menu a request path names ("/rest/queue/tree/*1" ->
// "queue/tree").
func menuOf(path string) string {
	m := strings.TrimPrefix(path, "/rest/")
	if i := strings.Index(m, "/*"); i >= 0 {
		m = m[:i]
	}
	return strings.TrimSuffix(m, "/print")
}

// TestOddRepliesToPlan gives every read of a plan (from a drifted router,
// so the plan has changes) each malformed or oversized reply: the plan
// fails naming the menu, nothing is written, the heap stays bounded, and
// a plan without the fault still works.
func TestOddRepliesToPlan(t *testing.T) {
	r := newRouter(t)
	drifted(r)
	cfg := r.config("")
	r.emu.ClearRequests()
	if p, err := r.plan(cfg); err != nil || !p.HasChanges() {
		t.Fatalf("fault-free plan: %v, changes %v", err, p != nil && p.HasChanges())
	}
	reads := r.reads()
	var tried, refused int
	var peak uint64
	for _, q := range reads {
		menu := menuOf(q.Path)
		for _, spec := range replyFaults {
			t.Run(menu+"/"+spec, func(t *testing.T) {
				tried++
				fs, err := emulator.ParseFaults(spec + "@" + q.Method + "/" + menu)
				if err != nil {
					t.Fatal(err)
				}
				// Two: a read is retried once after a transport failure.
				fs[0].Count = 2
				r.emu.Inject(fs[0])
				defer r.emu.ClearFaults()
				r.emu.ClearRequests()
				var p *plan.Plan
				used := heapPeak(func() { p, err = r.plan(cfg) })
				peak = max(peak, used)
				if err == nil {
					t.Fatalf("plan from a %s reply to %s %s: %s", spec, q.Method, menu, describe(p))
				}
				if !strings.Contains(err.Error(), menu) {
					t.Errorf("the error does not name %s: %v", menu, err)
				}
				if w := r.writes(); len(w) > 0 {
					t.Errorf("wrote %v", w)
				}
				if used > heapBound {
					t.Errorf("heap grew %d MiB refusing the reply, want at most %d MiB", used>>20, heapBound>>20)
				}
				refused++
			})
		}
	}
	r.emu.ClearFaults()
	if p, err := r.plan(cfg); err != nil || !p.HasChanges() {
		t.Fatalf("plan after the faults: %v", err)
	}
	t.Logf("plan: %d reads x %d replies: %d tried, %d refused with an error naming the menu; peak heap growth %.1f MiB",
		len(reads), len(replyFaults), tried, refused, float64(peak)/(1<<20))
}

// steerEnv is the example applied, with a daemon block for steer's state
// and lock, both WANs' autorate state fresh and GREEN, and one steer run
// done.
type steerEnv struct {
	*router
	cfg *config.Config
	now time.Time
}

func newSteerEnv(t *testing.T) *steerEnv {
	r := newRouter(t)
	dir := t.TempDir()
	cfg := r.config(fmt.Sprintf("\ndaemon {\n  state_dir = %q\n  lock_dir  = %q\n}\n", filepath.Join(dir, "state"), filepath.Join(dir, "run")))
	if err := r.planApply(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.Daemon.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	e := &steerEnv{router: r, cfg: cfg, now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	if _, err := e.run(); err != nil {
		t.Fatalf("fault-free steer run: %v", err)
	}
	return e
}

// run writes both WANs' autorate state, half a second old and GREEN, and
// runs steer once, 2 s after the last run.
func (e *steerEnv) run() (steer.Result, error) {
	e.now = e.now.Add(2 * time.Second)
	for _, w := range e.cfg.WANs {
		at := e.now.Add(-500 * time.Millisecond)
		st := autorate.State{
			Version: autorate.StateVersion, WAN: w.Name, Timestamp: at, Writer: "autorate", Signal: true,
			Download:      autorate.DirectionState{Queue: w.Download.Queue, Zone: autorate.Green, Rate: w.Download.Ceiling},
			Upload:        autorate.DirectionState{Queue: w.Upload.Queue, Zone: autorate.Green, Rate: w.Upload.Ceiling},
			BaselineRTTMs: 20,
		}
		for _, a := range w.Measurement.Reflectors {
			st.Reflectors = append(st.Reflectors, autorate.ReflectorState{Address: a.String(), BaselineRTTMs: 20})
		}
		path := autorate.StatePath(e.cfg.Daemon.StateDir, w.Name)
		if err := autorate.WriteState(path, &st); err != nil {
			e.t.Fatal(err)
		}
		// The modification time is the daemon's heartbeat.
		if err := os.Chtimes(path, at, at); err != nil {
			e.t.Fatal(err)
		}
	}
	return steer.Run(context.Background(), steer.Config{
		Config: e.cfg, Router: e.client(e.cfg), RTT: steer.ConstantRTT(20 * time.Millisecond),
		Now: func() time.Time { return e.now },
	})
}

// toggleRules enables the steering rules by hand: the next run, GOOD,
// disables them again (a write).
func (e *steerEnv) toggleRules() {
	for _, o := range e.emu.Objects(routeros.MenuMangle) {
		if plan.IsSteeringRule(o) {
			if err := e.emu.SetObject(routeros.MenuMangle, o.ID(), routeros.Object{"disabled": "false"}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

func (e *steerEnv) stateFile() []byte {
	b, err := os.ReadFile(filepath.Join(e.cfg.Daemon.StateDir, steer.StateFileName))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// TestOddRepliesToSteer gives each read of a steer run that writes (the
// steering rules were enabled by hand, the GOOD state disables them) each
// malformed or oversized reply: the run fails naming the menu, leaves its
// state file as it was, keeps the heap bounded, and writes nothing to the
// router unless the read is the check after the writes; the next run
// without the fault finishes the job.
func TestOddRepliesToSteer(t *testing.T) {
	e := newSteerEnv(t)
	// What a run reads, and whether it has written by then, on a twin.
	probe := newSteerEnv(t)
	probe.toggleRules()
	probe.emu.ClearRequests()
	if res, err := probe.run(); err != nil || res.Action != steer.ActionReconcile {
		t.Fatalf("fault-free run: %+v, %v; want a reconcile", res, err)
	}
	type read struct {
		menu         string
		afterWriting bool
	}
	var reads []read
	wrote := false
	for _, q := range probe.emu.Requests() {
		switch {
		case isWrite(q.Method, q.Path):
			wrote = true
		case q.Method == http.MethodGet:
			reads = append(reads, read{menuOf(q.Path), wrote})
		}
	}
	var tried, refused int
	var peak uint64
	for i, rd := range reads {
		for _, spec := range replyFaults {
			t.Run(fmt.Sprintf("%s#%d/%s", rd.menu, i+1, spec), func(t *testing.T) {
				tried++
				e.toggleRules()
				before := e.stateFile()
				r := e.router
				fs, err := emulator.ParseFaults(spec)
				if err != nil {
					t.Fatal(err)
				}
				f := fs[0]
				f.Count = 2 // a read is retried once after a transport failure
				r.emu.ClearRequests()
				r.armRead(i+1, f)
				defer r.emu.ClearFaults()
				var res steer.Result
				used := heapPeak(func() { res, err = e.run() })
				peak = max(peak, used)
				if !r.fired() {
					t.Fatalf("the run made fewer than %d reads", i+1)
				}
				if err == nil {
					t.Fatalf("run with a %s reply to %s: %+v", spec, rd.menu, res)
				}
				if !strings.Contains(err.Error(), rd.menu) {
					t.Errorf("the error does not name %s: %v", rd.menu, err)
				}
				if w := r.writes(); len(w) > 0 && !rd.afterWriting {
					t.Errorf("wrote %v", w)
				}
				if after := e.stateFile(); !bytes.Equal(before, after) {
					t.Errorf("state file changed:\n%s\nto\n%s", before, after)
				}
				if used > heapBound {
					t.Errorf("heap grew %d MiB refusing the reply, want at most %d MiB", used>>20, heapBound>>20)
				}
				refused++
			})
		}
	}
	e.emu.ClearFaults()
	e.toggleRules()
	if res, err := e.run(); err != nil || res.Action != steer.ActionReconcile {
		t.Fatalf("run after the faults: %+v, %v; want the reconcile", res, err)
	}
	t.Logf("steer: %d reads x %d replies: %d tried, %d refused with an error naming the menu, nothing written before the decision; peak heap growth %.1f MiB",
		len(reads), len(replyFaults), tried, refused, float64(peak)/(1<<20))
}
