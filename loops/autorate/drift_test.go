package autorate

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

const driftLog = "is not the rate last written"

// settle runs the fixture until its writes are done and no read is due
// (steady state: the controller holds its rates), and returns the
// download queue's last written rate.
func (f *loadFixture) settle(t *testing.T) int64 {
	t.Helper()
	f.run(2 * time.Second)
	want := f.d.wans[0].slots[0].Status().Written
	if ml, ok := f.emu.QueueMaxLimit("wanctl-spectrum-down"); !ok || ml != want || want == 0 {
		t.Fatalf("router has %d (%v), daemon wrote %d", ml, ok, want)
	}
	return want
}

// stepUntil steps the fixture until cond holds, at most limit of virtual
// time, and returns the virtual time it took.
func (f *loadFixture) stepUntil(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := f.clock.Now()
	for !cond() {
		if f.clock.Now().Sub(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		f.step()
	}
	return f.clock.Now().Sub(start)
}

// A max-limit changed on the router behind the daemon (a hand edit, a
// reset) is found by the next counter read, written back, logged once for
// the episode and counted; the other queues are left alone.
func TestDaemonReassertsDriftedMaxLimit(t *testing.T) {
	f := newLoadFixture(t)
	f.start()
	defer f.stop()
	want := f.settle(t)
	upload := f.d.wans[0].slots[1].Status().Written

	for episode := 1; episode <= 2; episode++ {
		for _, found := range []string{"100000000", "0"} { // a hand edit; unlimited (a reset)
			if err := f.emu.SetObject(routeros.MenuQueueTree, "wanctl-spectrum-down", routeros.Object{"max-limit": found}); err != nil {
				t.Fatal(err)
			}
			f.emu.ClearRequests()
			took := f.stepUntil(t, LoadReadInterval+time.Second, "drift "+found+" restored", func() bool {
				ml, _ := f.emu.QueueMaxLimit("wanctl-spectrum-down")
				return ml == want
			})
			// Found by the next read, written at the cycle after it.
			if took > LoadReadInterval+f.d.interval {
				t.Errorf("episode %d: %s restored after %v", episode, found, took)
			}
			patches := 0
			for _, rq := range f.emu.Requests() {
				if rq.Method == http.MethodPatch {
					patches++
				}
			}
			if patches != 1 {
				t.Errorf("episode %d: %d writes to restore one queue: %+v", episode, patches, f.emu.Requests())
			}
			if found == "100000000" {
				// Still the same episode: the next change comes before a
				// read saw the rate restored.
				continue
			}
			f.run(2 * LoadReadInterval)
		}
		if n := strings.Count(f.logs.String(), driftLog); n != episode {
			t.Errorf("after episode %d: %d drift logs, want one per episode:\n%s", episode, n, f.logs)
		}
		if c := testutil.ToFloat64(f.d.metrics.drift.WithLabelValues("spectrum", "download")); c != float64(2*episode) {
			t.Errorf("after episode %d: %v drifts counted, want %d", episode, c, 2*episode)
		}
	}
	if !strings.Contains(f.logs.String(), `queue=wanctl-spectrum-down found_max_limit=100000000 max_limit=`+fmt.Sprint(want)) {
		t.Errorf("drift log lacks the queue, the rate found and the rate written:\n%s", f.logs)
	}
	if ml, _ := f.emu.QueueMaxLimit("wanctl-spectrum-up"); ml != upload {
		t.Errorf("upload %d, want %d untouched", ml, upload)
	}
	if c := testutil.ToFloat64(f.d.metrics.drift.WithLabelValues("spectrum", "upload")); c != 0 {
		t.Errorf("%v upload drifts counted", c)
	}
	lintMetrics(t, f.d.metrics)
	f.metric(t, `wanctl_router_rate_drift_total{direction="download",wan="spectrum"} 4`)
	f.metric(t, `wanctl_router_rate_drift_total{direction="upload",wan="att"} 0`)
}

// The router's rounding is no drift, and neither is a failed write the
// router applied after all: that is the daemon's own rate, written
// again without a report.
func TestDaemonDriftIgnoresRoundingAndOwnWrites(t *testing.T) {
	f := newLoadFixture(t)
	f.start()
	defer f.stop()
	want := f.settle(t)

	rounded := want - want/1000
	if err := f.emu.SetObject(routeros.MenuQueueTree, "wanctl-spectrum-down", routeros.Object{"max-limit": fmt.Sprint(rounded)}); err != nil {
		t.Fatal(err)
	}
	f.run(2 * LoadReadInterval)
	if ml, _ := f.emu.QueueMaxLimit("wanctl-spectrum-down"); ml != rounded {
		t.Fatalf("a 0.1%% difference was rewritten: %d", ml)
	}

	// A write of half the rate failed (a reply lost after the router
	// applied it) and the controller went back to the rate it had: the
	// router keeps the half, which the next read finds.
	slot, w := f.d.wans[0].slots[0], f.d.wans[0].writer
	w.mu.Lock()
	slot.tried = want / 2 // between steps: the writer is idle
	w.mu.Unlock()
	if err := f.emu.SetObject(routeros.MenuQueueTree, "wanctl-spectrum-down", routeros.Object{"max-limit": fmt.Sprint(want / 2)}); err != nil {
		t.Fatal(err)
	}
	f.stepUntil(t, 2*LoadReadInterval, "own write undone", func() bool {
		ml, _ := f.emu.QueueMaxLimit("wanctl-spectrum-down")
		return ml == want
	})
	if strings.Contains(f.logs.String(), driftLog) || testutil.ToFloat64(f.d.metrics.drift.WithLabelValues("spectrum", "download")) != 0 {
		t.Fatalf("own write reported as a drift:\n%s", f.logs)
	}
}

// A re-assert spends the write budget, but waits for it at most one
// token's refill from the drift's discovery, even with the bucket at its
// deepest debt.
func TestDaemonDriftWaitsForBudgetAtMostOneRefill(t *testing.T) {
	f := newLoadFixture(t)
	f.start()
	defer f.stop()
	want := f.settle(t)
	b := &f.d.wans[0].loop.Policy(false).bucket
	refill := time.Minute / time.Duration(b.perMinute)
	b.credit = -b.burst * token // between cycles: the loop is waiting for its tick

	if err := f.emu.SetObject(routeros.MenuQueueTree, "wanctl-spectrum-down", routeros.Object{"max-limit": "100000000"}); err != nil {
		t.Fatal(err)
	}
	f.stepUntil(t, LoadReadInterval, "drift found", func() bool {
		return testutil.ToFloat64(f.d.metrics.drift.WithLabelValues("spectrum", "download")) == 1
	})
	took := f.stepUntil(t, 2*refill, "drift restored", func() bool {
		ml, _ := f.emu.QueueMaxLimit("wanctl-spectrum-down")
		return ml == want
	})
	if took != refill {
		t.Fatalf("restored %v after the drift was found, want the budget's refill %v", took, refill)
	}
}

// A router that stops answering while no rate changes is unreachable in
// /health (503, degraded) and /metrics within RouterUnreachableAfter of
// the first failed counter read, not at the first one, and reachable
// again at the first read it answers.
func TestDaemonRouterUnreachableWithoutWrites(t *testing.T) {
	for _, fault := range []emulator.Fault{
		{Kind: emulator.FaultDrop, Count: 1 << 20},
		{Kind: emulator.FaultServerError, Status: 503, Count: 1 << 20},
	} {
		t.Run(fault.Kind.String(), func(t *testing.T) {
			f := newLoadFixture(t)
			f.start()
			defer f.stop()
			f.settle(t)
			reachable := func() bool {
				code, h := f.health()
				r := h.WANs[0].Router.Reachable
				if r != (code == 200) || r != (h.Status == "ok") || r != h.WANs[1].Router.Reachable {
					t.Fatalf("health %d %s, router %+v", code, h.Status, h.WANs[0].Router)
				}
				return r
			}
			if !reachable() {
				t.Fatal("unreachable before the fault")
			}
			f.emu.Inject(fault)
			took := f.stepUntil(t, RouterUnreachableAfter+LoadReadInterval, "unreachable", func() bool { return !reachable() })
			if took < RouterUnreachableAfter {
				t.Fatalf("unreachable after %v: one failed read must not flip it", took)
			}
			_, h := f.health()
			if reasons := strings.Join(h.WANs[0].DegradedReasons, "; "); !strings.Contains(reasons, "router edge: no request succeeded for 3.0s") {
				t.Errorf("reasons %q", reasons)
			}
			if h.WANs[0].Router.LastReply == nil || h.WANs[0].Router.Failures != 0 {
				t.Errorf("router %+v", h.WANs[0].Router)
			}
			f.metric(t, `wanctl_router_reachable{router="edge"} 0`)
			f.metric(t, `wanctl_controlling{wan="spectrum"} 0`)
			failedReads := testutil.ToFloat64(f.d.metrics.reads.WithLabelValues("edge", "error"))
			f.metric(t, fmt.Sprintf(`wanctl_router_reachable_changed_timestamp_seconds{router="edge"} %v`,
				float64(f.d.writers[0].Status().Unanswered.Add(RouterUnreachableAfter).UnixMilli())/1000))
			if failedReads == 0 {
				t.Fatal("no failed read counted")
			}
			// The loops kept cycling through it.
			if age := *h.WANs[0].Cycles.LastAgeS; age != 0 {
				t.Errorf("last cycle %vs ago", age)
			}

			f.emu.ClearFaults()
			f.stepUntil(t, LoadReadInterval, "reachable again", reachable)
			f.metric(t, `wanctl_router_reachable{router="edge"} 1`)
			f.metric(t, `wanctl_controlling{wan="spectrum"} 1`)
			f.metric(t, fmt.Sprintf(`wanctl_router_reachable_changed_timestamp_seconds{router="edge"} %v`,
				float64(f.clock.Now().UnixMilli())/1000))
		})
	}
}
