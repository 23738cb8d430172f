package apply

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

func emulatorClient(t *testing.T) (*emulator.Emulator, *routeros.Client) {
	t.Helper()
	emu, srv := testenv.Emulator(t, emulator.Config{Username: "wanctl", Password: "pw"})
	cl, err := routeros.New(routeros.Config{Name: "edge", URL: srv.URL, Username: "wanctl", Password: routeros.Secret("pw")})
	if err != nil {
		t.Fatal(err)
	}
	return emu, cl
}

func find(emu *emulator.Emulator, menu, comment string) routeros.Object {
	for _, o := range emu.Objects(menu) {
		if o["comment"] == comment || o["name"] == comment {
			return o
		}
	}
	return nil
}

// The router refuses "" for a matcher (or keeps the old value) and sets a
// flag whatever its value: clearing either takes the REST unset form.
func TestApplyUnsetsMatchersAndFlags(t *testing.T) {
	emu, cl := emulatorClient(t)
	ctx := context.Background()
	rule, err := cl.Add(ctx, routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "mark-connection",
		"new-connection-mark": "c", "src-address-list": "work", "connection-mark": "no-mark", "comment": "wanctl:steering.rule.x"})
	if err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Changes: []*plan.Change{
		{Router: "edge", Address: "wan.a.table", Menu: routeros.MenuRoutingTable, Action: plan.Create,
			After: routeros.Object{"name": "wanctl-a", "fib": "true", "comment": "wanctl:wan.a.table"}},
		{Router: "edge", Address: "wan.b.table", Menu: routeros.MenuRoutingTable, Action: plan.Create,
			After: routeros.Object{"name": "wanctl-b", "fib": "false", "comment": "wanctl:wan.b.table"}},
		{Router: "edge", Address: "steering.rule.x", Menu: routeros.MenuMangle, Action: plan.Update, ID: rule.ID(),
			After:         routeros.Object{"chain": "prerouting", "action": "mark-connection", "new-connection-mark": "c", "comment": "wanctl:steering.rule.x"},
			ChangedFields: []string{"connection-mark", "src-address-list"}},
	}}
	if _, err := Apply(ctx, p, map[string]Client{"edge": cl}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if r := find(emu, routeros.MenuMangle, "wanctl:steering.rule.x"); hasAny(r, "src-address-list", "connection-mark") {
		t.Errorf("matchers not removed: %v", r)
	}
	if a := find(emu, routeros.MenuRoutingTable, "wanctl-a"); !hasAny(a, "fib") {
		t.Errorf("wanctl-a lacks fib: %v", a)
	}
	if b := find(emu, routeros.MenuRoutingTable, "wanctl-b"); hasAny(b, "fib") {
		t.Errorf("wanctl-b: fib wanted false but set: %v", b)
	}
	// An update clearing the flag unsets it.
	a := find(emu, routeros.MenuRoutingTable, "wanctl-a")
	p = &plan.Plan{Changes: []*plan.Change{{Router: "edge", Address: "wan.a.table", Menu: routeros.MenuRoutingTable, Action: plan.Update,
		ID: a.ID(), After: routeros.Object{"name": "wanctl-a", "fib": "false"}, ChangedFields: []string{"fib"}}}}
	if _, err := Apply(ctx, p, map[string]Client{"edge": cl}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if a := find(emu, routeros.MenuRoutingTable, "wanctl-a"); hasAny(a, "fib") {
		t.Errorf("wanctl-a: fib not unset: %v", a)
	}
	for _, r := range emu.Requests() {
		if r.Method == "PUT" || r.Method == "PATCH" {
			for _, bad := range []string{`"fib":"false"`, `"fib":"true"`, `"src-address-list":""`, `"connection-mark":""`} {
				if contains(r.Body, bad) {
					t.Errorf("%s %s sent %s: %s", r.Method, r.Path, bad, r.Body)
				}
			}
		}
	}
}

func hasAny(o routeros.Object, keys ...string) bool {
	for _, k := range keys {
		if _, ok := o[k]; ok {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
