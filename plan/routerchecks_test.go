package plan_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/apply"
	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
)

// configFT is the dual-WAN configuration with allow_fasttrack as given.
func (e *routerEnv) configFT(allowFastTrack bool) *config.Config {
	e.t.Helper()
	src := fmt.Sprintf("router \"edge\" {\n  url          = %q\n  username     = \"wanctl\"\n  password     = \"pw\"\n  host_address = \"192.168.88.10\"\n  allow_fasttrack = %t\n}\n", e.url, allowFastTrack) +
		testenv.DualWANConfig(testenv.DualWAN{})
	cfg, diags := config.Parse("test.hcl", []byte(src), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if cfg == nil {
		e.t.Fatalf("config does not parse: %v", diags)
	}
	return cfg
}

func (e *routerEnv) disableFastTrack() {
	e.t.Helper()
	for _, f := range e.emu.Objects(routeros.MenuFilter) {
		if f["action"] == "fasttrack-connection" {
			if err := e.emu.SetObject(routeros.MenuFilter, f.ID(), routeros.Object{"disabled": "true"}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

func diagsText(ds plan.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Summary + ": " + d.Detail + "\n")
	}
	return b.String()
}

func (e *routerEnv) mustPlan(cfg *config.Config) *plan.Plan {
	e.t.Helper()
	p, err := e.plan(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// oneGETPerMenu fails when a plan read a menu more than once.
func (e *routerEnv) oneGETPerMenu() {
	e.t.Helper()
	seen := map[string]int{}
	for _, r := range e.emu.Requests() {
		if r.Method == "GET" {
			seen[r.Path]++
		}
	}
	for p, n := range seen {
		if n > 1 {
			e.t.Errorf("%s read %d times", p, n)
		}
	}
}

// IPv6 FastTrack (RouterOS 7.18+) skips the IPv6 download marks and the
// queues at global like IPv4's: an error unless allow_fasttrack.
func TestIPv6FastTrack(t *testing.T) {
	e := newRouterEnv(t)
	e.disableFastTrack()
	cfg := e.configFT(false)
	if p := e.mustPlan(cfg); len(p.Errors) > 0 {
		t.Fatalf("defconf IPv6 filter: %s", diagsText(p.Errors))
	}
	if _, err := e.emu.AddObject(routeros.MenuFilter6, routeros.Object{"chain": "forward", "action": "fasttrack-connection",
		"connection-state": "established,related", "comment": "defconf: fasttrack6"}); err != nil {
		t.Fatal(err)
	}
	e.emu.ClearRequests()
	p := e.mustPlan(cfg)
	e.oneGETPerMenu()
	if len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Summary, "IPv6 FastTrack is enabled") ||
		!strings.Contains(p.Errors[0].Detail, "/ipv6/firewall/filter rule") || !strings.Contains(p.Errors[0].Detail, "/ipv6 firewall filter disable") {
		t.Errorf("errors:\n%s", diagsText(p.Errors))
	}
	p = e.mustPlan(e.configFT(true))
	if len(p.Errors) != 0 || !strings.Contains(diagsText(p.Warnings), "IPv6 FastTrack is enabled: FastTracked IPv6 traffic is not shaped") {
		t.Errorf("allow_fasttrack: errors:\n%s\nwarnings:\n%s", diagsText(p.Errors), diagsText(p.Warnings))
	}
}

// Simple queues run before the queue trees of the same HTB: the plan names
// those that could catch WAN traffic.
func TestSimpleQueuesWarned(t *testing.T) {
	e := newRouterEnv(t)
	e.disableFastTrack()
	cfg := e.configFT(false)
	if w := diagsText(e.mustPlan(cfg).Warnings); strings.Contains(w, "simple queue") {
		t.Fatalf("no simple queues, yet:\n%s", w)
	}
	for _, q := range []routeros.Object{
		{"name": "guests", "target": "192.168.88.0/24", "max-limit": "10M/10M"},
		{"name": "nas-lan", "target": "192.168.88.20", "dst": "192.168.88.0/24,10.0.0.0/8"},
		{"name": "off", "target": "192.168.88.30", "disabled": "true"},
		{"name": "cam-wan", "target": "192.168.88.40", "dst": "0.0.0.0/0"},
		{"name": "<pppoe-bob>", "target": "<pppoe-bob>", "dynamic": "true"},
	} {
		if _, err := e.emu.AddObject(routeros.MenuQueueSimple, q); err != nil {
			t.Fatal(err)
		}
	}
	e.emu.ClearRequests()
	p := e.mustPlan(cfg)
	e.oneGETPerMenu()
	w := diagsText(p.Warnings)
	if !strings.Contains(w, "3 simple queue(s) can take WAN traffic before wanctl's queue trees") {
		t.Fatalf("warnings:\n%s", w)
	}
	for _, want := range []string{`"guests" (target 192.168.88.0/24)`, `"cam-wan"`, `"<pppoe-bob>" (target <pppoe-bob>) (dynamic)`, "/queue simple disable"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning lacks %s:\n%s", want, w)
		}
	}
	for _, not := range []string{`"nas-lan"`, `"off"`} {
		if strings.Contains(w, not) {
			t.Errorf("warning names %s:\n%s", not, w)
		}
	}
}

// Only the router knows whether a WAN's default route is active: apply
// reads it back and plan checks it, with the fix.
func TestInactiveWANRoute(t *testing.T) {
	e := newRouterEnv(t)
	e.disableFastTrack()
	cfg := e.configFT(false)
	e.emu.SetRouteInactive("192.168.1.254", true)
	p := e.mustPlan(cfg)
	if strings.Contains(diagsText(p.Warnings), "is not active") {
		t.Fatalf("no routes yet, but:\n%s", diagsText(p.Warnings))
	}
	var out strings.Builder
	res, err := apply.Apply(context.Background(), p, map[string]apply.Client{"edge": e.client()}, &out)
	if err != nil {
		t.Fatal(err)
	}
	const want = `wan "att": its default route (table wanctl-att, gateway 192.168.1.254@main) is not active`
	if len(res.Warnings) != 1 || res.Warnings[0].Summary != want || res.Warnings[0].Router != "edge" ||
		!strings.Contains(out.String(), "Warning: "+want) || !strings.Contains(out.String(), "/ping 192.168.1.254") {
		t.Errorf("apply warnings %+v\noutput:\n%s", res.Warnings, out.String())
	}
	e.emu.ClearRequests()
	p = e.mustPlan(cfg)
	e.oneGETPerMenu()
	if p.HasChanges() {
		t.Errorf("changes after apply: %+v", p.Changes)
	}
	var got []string
	for _, w := range p.Warnings {
		if strings.Contains(w.Summary, "is not active") {
			got = append(got, w.Address+": "+w.Summary)
		}
	}
	if len(got) != 1 || got[0] != "wan.att.route: "+want {
		t.Errorf("plan warnings: %q", got)
	}
	e.emu.SetRouteInactive("192.168.1.254", false)
	if w := diagsText(e.mustPlan(cfg).Warnings); strings.Contains(w, "is not active") {
		t.Errorf("active again, yet:\n%s", w)
	}
}
