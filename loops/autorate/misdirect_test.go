package autorate

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

// The router is reset and re-applied under the running daemon, and the
// queue-tree ids come back in another order: a user's queue takes the
// download queue's old id, the download queue the upload queue's. Each
// direction's next write lands on the wrong entry once (the PATCH by id
// cannot be made conditional), is reported and counted, and from then on
// the daemon writes only its own queues.
func TestDaemonReusedQueueIDs(t *testing.T) {
	f := newLoadFixture(t)
	f.start()
	defer f.stop()
	f.run(time.Second)

	ids := map[string]string{}
	for _, o := range f.emu.Objects(routeros.MenuQueueTree) {
		ids[o["name"]] = o.ID()
		if err := f.emu.RemoveObject(routeros.MenuQueueTree, o.ID()); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []routeros.Object{
		{".id": ids["wanctl-spectrum-down"], "name": "user-q1", "parent": "global", "max-limit": "5000000", "comment": "guests"},
		{".id": ids["wanctl-spectrum-up"], "name": "wanctl-spectrum-down", "parent": "global", "max-limit": "940000000"},
		{"name": "wanctl-spectrum-up", "parent": "ether1", "max-limit": "38000000"},
		{".id": ids["wanctl-att-down"], "name": "wanctl-att-down", "parent": "global", "max-limit": "940000000"},
		{".id": ids["wanctl-att-up"], "name": "wanctl-att-up", "parent": "ether2", "max-limit": "38000000"},
	} {
		if _, err := f.emu.AddObject(routeros.MenuQueueTree, o); err != nil {
			t.Fatal(err)
		}
	}
	f.emu.ClearRequests()
	f.meas["spectrum"].set(320*ms, false) // a decrease of both directions every cycle
	f.run(time.Second)

	patches := map[string]int{}
	for _, rq := range f.emu.Requests() {
		if rq.Method == http.MethodPatch {
			patches[strings.TrimPrefix(rq.Path, "/rest/queue/tree/")]++
		}
	}
	if n := patches[ids["wanctl-spectrum-down"]]; n != 1 {
		t.Errorf("user-q1 (%s) written %d times, want once (the write that found out)", ids["wanctl-spectrum-down"], n)
	}
	l := f.d.Loops()[0].Controller()
	for q, want := range map[string]int64{"wanctl-spectrum-down": l.Rate(false), "wanctl-spectrum-up": l.Rate(true)} {
		if got, _ := f.emu.QueueMaxLimit(q); got != want {
			t.Errorf("%s max-limit %d, want the controller's %d", q, got, want)
		}
	}
	logs := f.logs.String()
	for _, want := range []string{"overwritten_queue=user-q1", `overwritten_comment=guests`, "overwritten_queue=wanctl-spectrum-down"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	lintMetrics(t, f.d.metrics)
	f.metric(t, `wanctl_router_misdirected_writes_total{direction="download",wan="spectrum"} 1`)
	f.metric(t, `wanctl_router_misdirected_writes_total{direction="upload",wan="spectrum"} 1`)
	f.metric(t, `wanctl_router_misdirected_writes_total{direction="download",wan="att"} 0`)
	if code, h := f.health(); code != http.StatusOK || !h.WANs[0].Controlling {
		t.Fatalf("health %d %+v: the writes reach the right queues again", code, h.WANs[0])
	}
}
