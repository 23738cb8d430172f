package commands

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// find returns the emulator's object with that comment (or name).
func (e *routerEnv) find(menu, key string) routeros.Object {
	e.t.Helper()
	for _, o := range e.emu.Objects(menu) {
		if o["comment"] == key || o["name"] == key {
			return o
		}
	}
	e.t.Fatalf("no %s in /%s", key, menu)
	return nil
}

func (e *routerEnv) set(menu, key string, fields routeros.Object) {
	e.t.Helper()
	if err := e.emu.SetObject(menu, e.find(menu, key).ID(), fields); err != nil {
		e.t.Fatal(err)
	}
}

func (e *routerEnv) client() *routeros.Client {
	e.t.Helper()
	cl, err := routeros.New(routeros.Config{Name: "edge", URL: e.srv.URL, Username: "wanctl", Password: testPassword})
	if err != nil {
		e.t.Fatal(err)
	}
	return cl
}

var spaces = regexp.MustCompile(` +=`)

// contains is strings.Contains with the alignment before "=" ignored.
func contains(out, want string) bool {
	return strings.Contains(spaces.ReplaceAllString(out, " ="), spaces.ReplaceAllString(want, " ="))
}

// writes returns the requests that were not reads.
func writes(reqs []emulator.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Method != "GET" && !strings.HasSuffix(r.Path, "/print") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// applied brings the router to the configuration.
func (e *routerEnv) applied(cfg string) {
	e.t.Helper()
	e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve")
	r := e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")
	if !strings.Contains(r.out, "No changes. The router matches the configuration.") {
		e.t.Fatalf("after apply:\n%s", r.out)
	}
}

func TestPlanApplyEmptyRouter(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	r := e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	for _, addr := range []string{
		"wan.spectrum.routing_table", "wan.att.routing_table", "wan.spectrum.route", "wan.att.route",
		"wan.spectrum.pin.1.1.1.1", "wan.spectrum.pin.8.8.8.8", "wan.att.pin.9.9.9.9",
		"wan.spectrum.download.queue_type", "wan.spectrum.upload.queue_type", "wan.att.download.queue_type",
		"wan.att.upload.queue_type", "wan.spectrum.download.queue", "wan.spectrum.upload.queue",
		"wan.att.download.queue", "wan.att.upload.queue", "steering.not_steered.10.0.0.0/8",
		"steering.address_list.work-laptops.192.168.88.50", "steering.address_list.work-laptops.192.168.88.51",
		"wan.spectrum.download.mark", "wan.att.download.mark", "steering.rule.voip",
		"steering.rule.latency-sensitive.dscp-46", "steering.rule.latency-sensitive.dscp-26",
		"steering.rule.work-vpn", "steering.mark_routing", "wan.spectrum.download.mark_ipv6", "wan.att.download.mark_ipv6",
	} {
		if !strings.Contains(r.out, "# "+addr+" will be created") {
			t.Errorf("plan does not create %s", addr)
		}
	}
	if !strings.Contains(r.out, "Plan: 32 to add, 0 to change, 0 to destroy.") {
		t.Errorf("footer:\n%s", r.out)
	}
	r = e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve")
	for _, want := range []string{
		"wan.spectrum.download.queue: Creating...", "wan.spectrum.download.queue: Creation complete (id *",
		"Apply complete! Resources: 32 added, 0 changed, 0 destroyed.",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, r.out)
		}
	}
	// Dependency order: tables, routes, rules, types, trees, lists, mangle, mangle6.
	order := []string{"wan.spectrum.routing_table:", "wan.spectrum.route:", "wan.spectrum.pin.1.1.1.1:",
		"wan.spectrum.download.queue_type:", "wan.spectrum.download.queue:", "steering.not_steered.10.0.0.0/8:",
		"steering.mark_routing:", "wan.spectrum.download.mark_ipv6:"}
	last := -1
	for _, s := range order {
		i := strings.Index(r.out, s+" Creating")
		if i < last {
			t.Errorf("%s created out of order:\n%s", s, r.out)
		}
		last = i
	}
	r = e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")
	if !strings.Contains(r.out, "No changes. The router matches the configuration.") {
		t.Errorf("second plan:\n%s", r.out)
	}
	r = e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve")
	if !strings.Contains(r.out, "No changes.") {
		t.Errorf("second apply:\n%s", r.out)
	}

	// The router holds exactly the objects, in the managed order.
	if got, _ := e.emu.QueueMaxLimit("wanctl-spectrum-down"); got != 940_000_000 {
		t.Errorf("download max-limit %d, want the ceiling", got)
	}
	var comments []string
	for _, o := range e.emu.Objects(routeros.MenuMangle) {
		if o["dynamic"] != "true" {
			comments = append(comments, o["comment"])
		}
	}
	want := []string{"wanctl:wan.spectrum.download.mark", "wanctl:wan.att.download.mark", "wanctl:steering.rule.voip",
		"wanctl:steering.rule.latency-sensitive.dscp-46", "wanctl:steering.rule.latency-sensitive.dscp-26",
		"wanctl:steering.rule.work-vpn", "wanctl:steering.mark_routing"}
	if !reflect.DeepEqual(comments, want) {
		t.Errorf("mangle order:\n%q\nwant\n%q", comments, want)
	}
	for _, o := range plan.SteeringRules(e.emu.Objects(routeros.MenuMangle)) {
		if o["disabled"] != "true" {
			t.Errorf("steering rule %s created enabled", o["comment"])
		}
	}
	if n := len(plan.SteeringRules(e.emu.Objects(routeros.MenuMangle))); n != 4 {
		t.Errorf("SteeringRules found %d rules, want 4", n)
	}
}

func TestPlanReadsOneGETPerMenu(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	e.applied(cfg)
	e.emu.ClearRequests()
	p := e.planJSON(cfg)
	reqs := e.emu.Requests()
	if w := writes(reqs); len(w) > 0 {
		t.Errorf("plan wrote: %v", w)
	}
	seen := map[string]int{}
	for _, r := range reqs {
		// A filtered menu is one POST <menu>/print (an OR of equalities).
		seen[strings.TrimSuffix(strings.TrimPrefix(r.Path, "/rest/"), "/print")]++
	}
	menus := p.Routers[0].MenusRead
	if len(reqs) != len(menus) {
		t.Errorf("%d requests for %d menus: %v", len(reqs), len(menus), reqs)
	}
	for _, m := range menus {
		if seen[m] != 1 {
			t.Errorf("menu %s read %d times", m, seen[m])
		}
	}
	// Without steering, NAT and interface-list members are not needed.
	cfg = e.config("", strings.Split(dualWAN, "steering {")[0])
	e.emu.ClearRequests()
	e.run(nil, "plan", "-config", cfg)
	for _, r := range e.emu.Requests() {
		if strings.Contains(r.Path, "firewall/nat") || strings.Contains(r.Path, "list/member") {
			t.Errorf("plan without steering read %s", r.Path)
		}
	}
}

func TestPlanEdits(t *testing.T) {
	e := newRouterEnv(t)
	e.applied(e.config("", dualWAN))

	edited := strings.NewReplacer(
		`ceiling = "940M"`, `ceiling = "800M"`, // lowered below the current rate
		"overhead = 18", "overhead = 22",
		`dst_ports = "3478-3481,5060"`, `dst_ports = "3478-3481,5060,5061"`,
	).Replace(dualWAN)
	cfg := e.config("", edited)
	r := e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	for _, want := range []string{
		`~ max-limit = "940000000" -> "800000000"`,
		`~ cake-overhead = "18" -> "22"`,
		`~ dst-port = "3478-3481,5060" -> "3478-3481,5060,5061"`,
		"Plan: 0 to add, 3 to change, 0 to destroy.",
	} {
		if !contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}
	e.applied(cfg)
	// Raising the ceiling is autorate's business: no change.
	cfg = e.config("", strings.Replace(edited, `ceiling = "800M"`, `ceiling = "1G"`, 1))
	e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")

	// A matcher removed: src-address-list can be emptied in place; a port
	// list needs RouterOS's unset, so the rule is replaced.
	edited2 := strings.NewReplacer(`src_address_list = "work-laptops"`, `dst_address = "203.0.113.0/24"`,
		"    protocol  = \"udp\"\n    dst_ports = \"3478-3481,5060,5061\"\n", "    protocol  = \"udp\"\n").Replace(edited)
	cfg = e.config("", strings.Replace(edited2, `ceiling = "800M"`, `ceiling = "1G"`, 1))
	r = e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	for _, want := range []string{
		`- src-address-list = "work-laptops" -> null`, `+ dst-address = "203.0.113.0/24"`,
		"# steering.rule.voip must be replaced", `- dst-port = "3478-3481,5060,5061" -> null # forces replacement`,
	} {
		if !contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}
	e.applied(cfg)
	voip := e.find(routeros.MenuMangle, "wanctl:steering.rule.voip")
	if _, ok := voip["dst-port"]; ok || voip["protocol"] != "udp" {
		t.Errorf("voip rule after replace: %v", voip)
	}
}

func TestRuntimeOwnedFieldsAreNotDrift(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	e.applied(cfg)
	e.set(routeros.MenuQueueTree, "wanctl-spectrum-down", routeros.Object{"max-limit": "512000000"})
	e.set(routeros.MenuMangle, "wanctl:steering.rule.voip", routeros.Object{"disabled": "false"})
	e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")
	r := e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve")
	if !strings.Contains(r.out, "No changes.") {
		t.Errorf("apply:\n%s", r.out)
	}
	if got, _ := e.emu.QueueMaxLimit("wanctl-spectrum-down"); got != 512_000_000 {
		t.Errorf("apply reset max-limit to %d", got)
	}
	if d := e.find(routeros.MenuMangle, "wanctl:steering.rule.voip")["disabled"]; d != "false" {
		t.Errorf("apply reset the steering rule's disabled to %s", d)
	}
	// Unshaped (max-limit 0) is drift: no autorate state is 0.
	e.set(routeros.MenuQueueTree, "wanctl-spectrum-down", routeros.Object{"max-limit": "0"})
	r = e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	if !strings.Contains(r.out, `~ max-limit = "0" -> "940000000"`) {
		t.Errorf("plan:\n%s", r.out)
	}
	// Drift in a managed field of a managed rule is shown and repaired.
	e.set(routeros.MenuMangle, "wanctl:steering.mark_routing", routeros.Object{"disabled": "true"})
	r = e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	if !strings.Contains(r.out, `~ disabled = "true" -> "false"`) {
		t.Errorf("plan:\n%s", r.out)
	}
	e.applied(cfg)
}

// userObjects puts a user's own configuration on the router: unmarked
// mangle rules (some in chain prerouting), a queue tree with its own type,
// address-list entries (one in a list wanctl manages too), routes, rules.
func (e *routerEnv) userObjects() map[string][]routeros.Object {
	e.t.Helper()
	add := func(menu string, o routeros.Object) {
		if _, err := e.emu.AddObject(menu, o); err != nil {
			e.t.Fatal(err)
		}
	}
	add(routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "mark-connection", "new-connection-mark": "games", "protocol": "udp", "dst-port": "27015", "passthrough": "true", "comment": "my games"})
	add(routeros.MenuMangle, routeros.Object{"chain": "forward", "action": "change-dscp", "new-dscp": "46", "passthrough": "true"})
	add(routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "mark-packet", "new-packet-mark": "wanctl-spectrum-down", "in-interface": "ether3", "passthrough": "true", "comment": "looks like wanctl's but is not"})
	add(routeros.MenuMangle6, routeros.Object{"chain": "prerouting", "action": "accept", "comment": "v6 user"})
	add(routeros.MenuQueueType, routeros.Object{"name": "my-fq", "kind": "fq-codel"})
	add(routeros.MenuQueueTree, routeros.Object{"name": "guests", "parent": "bridge", "queue": "my-fq", "max-limit": "50000000"})
	add(routeros.MenuAddressList, routeros.Object{"list": "work-laptops", "address": "192.168.88.99", "comment": "mine"})
	add(routeros.MenuAddressList, routeros.Object{"list": "blocked", "address": "203.0.113.7"})
	add(routeros.MenuRoutingTable, routeros.Object{"name": "vpn", "fib": ""})
	add(routeros.MenuRoute, routeros.Object{"dst-address": "10.8.0.0/24", "gateway": "ether3", "comment": "office"})
	add(routeros.MenuRoutingRule, routeros.Object{"src-address": "192.168.88.20", "action": "lookup", "table": "vpn"})
	snap := map[string][]routeros.Object{}
	for _, m := range plan.ManagedMenus {
		for _, o := range e.emu.Objects(m) {
			if !plan.IsMarked(o) {
				snap[m] = append(snap[m], o)
			}
		}
	}
	return snap
}

func (e *routerEnv) checkUntouched(snap map[string][]routeros.Object, when string) {
	e.t.Helper()
	for _, m := range plan.ManagedMenus {
		var now []routeros.Object
		for _, o := range e.emu.Objects(m) {
			if !plan.IsMarked(o) && !strings.HasPrefix(o["name"], "wanctl-") {
				now = append(now, o)
			}
		}
		var before []routeros.Object
		for _, o := range snap[m] {
			if !strings.HasPrefix(o["name"], "wanctl-") {
				before = append(before, o)
			}
		}
		if !reflect.DeepEqual(before, now) {
			e.t.Errorf("%s: the user's objects in /%s changed:\nbefore %v\nafter  %v", when, m, before, now)
		}
	}
}

func TestUserObjectsAreNeverTouched(t *testing.T) {
	e := newRouterEnv(t)
	snap := e.userObjects()
	cfg := e.config("", dualWAN)
	e.applied(cfg)
	e.checkUntouched(snap, "after apply")
	// Managed rules sit before the user's first prerouting rule.
	mangle := e.emu.Objects(routeros.MenuMangle)
	firstUser, lastOurs := -1, -1
	for i, o := range mangle {
		if plan.IsMarked(o) {
			lastOurs = i
		} else if o["chain"] == "prerouting" && firstUser < 0 {
			firstUser = i
		}
	}
	if lastOurs > firstUser {
		t.Errorf("managed rules are not ahead of the user's prerouting rules: %v", mangle)
	}
	// Steering removed: its objects go, in reverse order; the user's stay.
	cfg = e.config("", strings.Split(dualWAN, "steering {")[0])
	r := e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve")
	if !strings.Contains(r.out, "Resources: 0 added, 0 changed, 13 destroyed.") {
		t.Errorf("apply:\n%s", r.out)
	}
	if i, j := strings.Index(r.out, "steering.mark_routing: Destroying"), strings.Index(r.out, "steering.not_steered.10.0.0.0/8: Destroying"); i < 0 || j < 0 || i > j {
		t.Errorf("mangle rules must go before the address lists they use:\n%s", r.out)
	}
	e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")
	e.checkUntouched(snap, "after removing steering")
	for _, o := range e.emu.Objects(routeros.MenuAddressList) {
		if plan.IsMarked(o) {
			t.Errorf("left behind: %v", o)
		}
	}
	// A WAN removed: everything of it goes, the routing table last.
	cfg = e.config("", strings.Split(dualWAN, `wan "att"`)[0])
	r = e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve")
	if !strings.Contains(r.out, "Resources: 0 added, 0 changed, 9 destroyed.") ||
		strings.Index(r.out, "wan.att.routing_table: Destroying") < strings.Index(r.out, "wan.att.route: Destroying") ||
		strings.Index(r.out, "wan.att.download.queue_type: Destroying") < strings.Index(r.out, "wan.att.download.queue: Destroying") {
		t.Errorf("removing a WAN:\n%s", r.out)
	}
	e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")
	e.checkUntouched(snap, "after removing a WAN")
}

func TestReorderedRulesAreMoved(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	e.applied(cfg)
	cl := e.client()
	first := e.find(routeros.MenuMangle, "wanctl:wan.spectrum.download.mark")
	last := e.find(routeros.MenuMangle, "wanctl:steering.mark_routing")
	if err := cl.Move(context.Background(), routeros.MenuMangle, []string{last.ID()}, first.ID()); err != nil {
		t.Fatal(err)
	}
	if err := cl.Move(context.Background(), routeros.MenuMangle6, []string{e.find(routeros.MenuMangle6, "wanctl:wan.spectrum.download.mark_ipv6").ID()}, ""); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	for _, want := range []string{"# steering.mark_routing will be moved to the end of the menu",
		"# wan.spectrum.download.mark_ipv6 will be moved before wan.att.download.mark_ipv6",
		"Plan: 0 to add, 2 to change, 0 to destroy."} {
		if !contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}
	e.applied(cfg)
	e.emu.ClearRequests()
	e.applied(cfg)
	if w := writes(e.emu.Requests()); len(w) > 0 {
		t.Errorf("a converged apply wrote %v", w)
	}
}

func TestApplyFaultThenConverge(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Method: "PUT", Path: "queue/tree", Status: 503, Detail: "busy"})
	r := e.mustRun(nil, 1, "apply", "-config", cfg, "-auto-approve")
	for _, want := range []string{"Apply failed. Done before the failure: 11 added, 0 changed, 0 destroyed.",
		"wan.spectrum.download.queue: could not create /queue/tree", "503", "run 'wanctl plan' to see exactly what is left"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("apply error lacks %q:\nstdout:\n%s\nstderr:\n%s", want, r.out, r.err)
		}
	}
	r = e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	if !strings.Contains(r.out, "Plan: 21 to add, 0 to change, 0 to destroy.") || strings.Contains(r.out, "queue_type will be created") {
		t.Errorf("re-plan after the failure:\n%s", r.out)
	}
	e.applied(cfg)
}

func TestApplyHandles400ButApplied(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultBadRequestApplied, Method: "PUT", Path: "queue/type"})
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultBadRequestApplied, Method: "PUT", Path: "ip/firewall/mangle"})
	r := e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve")
	if strings.Count(r.out, "the router answered 400 but had applied it") != 2 {
		t.Errorf("apply:\n%s", r.out)
	}
	e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode") // no duplicates, nothing missing

	// A PATCH and a DELETE answered 400 but applied.
	edited := strings.Replace(dualWAN, "overhead = 18", "overhead = 20", 1)
	edited = strings.Replace(edited, `    addresses = ["192.168.88.50", "192.168.88.51"]`, `    addresses = ["192.168.88.50"]`, 1)
	cfg = e.config("", edited)
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultBadRequestApplied, Method: "PATCH"})
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultBadRequestApplied, Method: "DELETE"})
	r = e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve")
	if strings.Count(r.out, "the router answered 400 but had applied it") != 2 {
		t.Errorf("apply:\n%s", r.out)
	}
	e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")

	// A 400 that was not applied is a failure.
	cfg = e.config("", strings.Replace(edited, "overhead = 20", "overhead = 21", 1))
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Method: "PATCH", Status: 500})
	r = e.mustRun(nil, 1, "apply", "-config", cfg, "-auto-approve")
	if !strings.Contains(r.err, "wan.spectrum.download.queue_type: could not update") {
		t.Errorf("apply:\n%s", r.err)
	}
}

func TestSavedPlan(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	pf := filepath.Join(e.dir, "edge.tfplan")
	r := e.mustRun(nil, 2, "plan", "-config", cfg, "-out", pf, "-detailed-exitcode")
	// The command it suggests works as printed: with the same -config.
	if !strings.Contains(r.out, "wanctl apply -config "+cfg+" "+pf) {
		t.Errorf("plan -out suggests:\n%s", r.out)
	}
	b, err := os.ReadFile(pf)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testPassword) || strings.Contains(string(b), "(sensitive)") {
		t.Errorf("the saved plan holds the password")
	}
	if st, _ := os.Stat(pf); st.Mode().Perm() != 0o600 {
		t.Errorf("saved plan mode %v", st.Mode().Perm())
	}
	// Autorate moving max-limit or steer toggling rules in between does not
	// make a plan stale; any other change does.
	e.mustRun(nil, 0, "apply", "-config", cfg, pf)
	e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")

	cfg2 := e.config("", strings.Replace(dualWAN, "overhead = 18", "overhead = 30", 1))
	e.mustRun(nil, 2, "plan", "-config", cfg2, "-out", pf, "-detailed-exitcode")
	e.set(routeros.MenuQueueTree, "wanctl-spectrum-down", routeros.Object{"max-limit": "600000000"})
	e.set(routeros.MenuMangle, "wanctl:steering.rule.voip", routeros.Object{"disabled": "false"})
	e.emu.SetQueueStats("wanctl-spectrum-down", emulator.QueueStats{Bytes: 1e9, Dropped: 40})
	e.mustRun(nil, 0, "apply", "-config", cfg2, pf)

	cfg3 := e.config("", strings.Replace(dualWAN, "overhead = 18", "overhead = 31", 1))
	e.mustRun(nil, 2, "plan", "-config", cfg3, "-out", pf, "-detailed-exitcode")
	if _, err := e.emu.AddObject(routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "accept", "comment": "added meanwhile"}); err != nil {
		t.Fatal(err)
	}
	e.emu.ClearRequests()
	r = e.mustRun(nil, 1, "apply", "-config", cfg3, pf)
	if !strings.Contains(r.err, "saved plan is stale") || !strings.Contains(r.err, "wanctl plan -config "+cfg3+" -out "+pf) {
		t.Errorf("stale plan applied:\n%s\n%s", r.out, r.err)
	}
	if w := writes(e.emu.Requests()); len(w) > 0 {
		t.Errorf("a stale plan wrote %v", w)
	}
	// Not a plan file.
	bad := filepath.Join(e.dir, "bad")
	_ = os.WriteFile(bad, []byte(`{"kind":"something"}`), 0o600)
	r = e.mustRun(nil, 1, "apply", "-config", cfg3, bad)
	if !strings.Contains(r.err, "not a wanctl plan file") {
		t.Errorf("%s", r.err)
	}
}

func TestApplyConfirmation(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	e.emu.ClearRequests()
	r := e.mustRun(strings.NewReader("yes\n"), 1, "apply", "-config", cfg)
	if !strings.Contains(r.err, "stdin is not a terminal") || !strings.Contains(r.err, "-auto-approve") {
		t.Errorf("non-TTY apply:\n%s", r.err)
	}
	if w := writes(e.emu.Requests()); len(w) > 0 {
		t.Errorf("refused apply wrote %v", w)
	}
	r = e.mustRun(nil, 1, "apply", "-config", cfg, "-json")
	if !strings.Contains(r.err, "-auto-approve") {
		t.Errorf("apply -json without approval:\n%s", r.err)
	}
}

func TestApplyJSON(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	r := e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve", "-json")
	var doc struct {
		FormatVersion int
		Plan          plan.Plan
		Result        struct{ Added, Changed, Destroyed int }
		Error         *struct{ Address, Operation, Message string }
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if doc.Result.Added != 32 || doc.Error != nil || len(doc.Plan.Changes) != 32 {
		t.Errorf("apply -json: %+v", doc.Result)
	}
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Method: "PATCH"})
	cfg = e.config("", strings.Replace(dualWAN, "overhead = 18", "overhead = 19", 1))
	r = e.mustRun(nil, 1, "apply", "-config", cfg, "-auto-approve", "-json")
	doc.Error = nil
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil || doc.Error == nil || doc.Error.Address != "wan.spectrum.download.queue_type" {
		t.Errorf("apply -json failure: %v %+v\n%s", err, doc.Error, r.out)
	}
}

func TestFastTrack(t *testing.T) {
	e := newRouterEnv(t)
	e.setFastTrack(true)
	cfg := e.config("", dualWAN)
	e.emu.ClearRequests()
	r := e.mustRun(nil, 1, "plan", "-config", cfg)
	for _, want := range []string{"FastTrack is enabled", "skip the mangle rules and the queues", "disable the rule",
		"connection-mark=no-mark", "allow_fasttrack = true"} {
		if !strings.Contains(strings.Join(strings.Fields(r.err), " "), want) {
			t.Errorf("FastTrack error lacks %q:\n%s", want, r.err)
		}
	}
	if strings.Contains(r.out, "will be created") {
		t.Errorf("a plan with errors shows changes:\n%s", r.out)
	}
	r = e.mustRun(nil, 1, "plan", "-config", cfg, "-json")
	p := plan.Plan{}
	if err := json.Unmarshal([]byte(r.out), &p); err != nil || len(p.Errors) != 1 || len(p.Changes) != 0 {
		t.Errorf("plan -json with FastTrack: %v %+v", err, p.Errors)
	}
	r = e.mustRun(nil, 1, "apply", "-config", cfg, "-auto-approve")
	if w := writes(e.emu.Requests()); len(w) > 0 {
		t.Errorf("apply with a plan error wrote %v", w)
	}
	cfg = e.config("  allow_fasttrack = true\n", dualWAN)
	r = e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	if !strings.Contains(r.out, "Warning: FastTrack is enabled") {
		t.Errorf("no FastTrack warning:\n%s", r.out)
	}
}

func TestWarnings(t *testing.T) {
	e := newRouterEnv(t)
	for _, n := range e.emu.Objects(routeros.MenuNAT) {
		_ = e.emu.RemoveObject(routeros.MenuNAT, n.ID())
	}
	cfg := e.config("  lan_interface_list = \"LANS\"\n", strings.Replace(dualWAN, `interface = "ether2"`, `interface = "ether9"`, 1))
	r := e.mustRun(nil, 0, "plan", "-config", cfg)
	for _, want := range []string{`no srcnat rule covers the steering alternate's interface "ether9"`,
		`wan "att" interface "ether9" does not exist`, `lan_interface_list "LANS" does not exist`} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks warning %q:\n%s", want, r.out)
		}
	}
	// defconf's masquerade: out-interface-list WAN, which holds ether1
	// only, so the second WAN (the alternate, ether2) is not covered.
	if _, err := e.emu.AddObject(routeros.MenuNAT, routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface-list": "WAN"}); err != nil {
		t.Fatal(err)
	}
	r = e.mustRun(nil, 0, "plan", "-config", e.config("", dualWAN))
	if !strings.Contains(r.out, `no srcnat rule covers the steering alternate's interface "ether2"`) {
		t.Errorf("plan lacks the masquerade warning for ether2:\n%s", r.out)
	}
	// Masquerade through an interface list that holds the interface: fine.
	if _, err := e.emu.AddObject(routeros.MenuInterfaceMember, routeros.Object{"list": "WAN", "interface": "ether2"}); err != nil {
		t.Fatal(err)
	}
	r = e.mustRun(nil, 0, "plan", "-config", e.config("", dualWAN))
	if strings.Contains(r.out, "Warning") {
		t.Errorf("unexpected warnings:\n%s", r.out)
	}
}

func TestConflictsAndAdoption(t *testing.T) {
	e := newRouterEnv(t)
	if _, err := e.emu.AddObject(routeros.MenuQueueType, routeros.Object{"name": "wanctl-spectrum-download", "kind": "fq-codel"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.emu.AddObject(routeros.MenuQueueTree, routeros.Object{"name": "wanctl-spectrum-down", "parent": "global", "queue": "wanctl-spectrum-download", "max-limit": "900M"}); err != nil {
		t.Fatal(err)
	}
	cfg := e.config("", dualWAN)
	r := e.mustRun(nil, 1, "plan", "-config", cfg)
	for _, want := range []string{`queue "wanctl-spectrum-down" already exists and is not managed by wanctl`,
		`queue type "wanctl-spectrum-download" already exists and is not managed by wanctl`,
		"Rename it in the configuration or on the router, or set adopt_existing = true"} {
		if !strings.Contains(strings.Join(strings.Fields(r.err), " "), want) {
			t.Errorf("conflict error lacks %q:\n%s", want, r.err)
		}
	}
	cfg = e.config("  adopt_existing = true\n", dualWAN)
	r = e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	for _, want := range []string{"# wan.spectrum.download.queue will be adopted", `+ comment = "wanctl:wan.spectrum.download.queue"`,
		`~ kind = "fq-codel" -> "cake"`} {
		if !contains(r.out, want) {
			t.Errorf("adoption plan lacks %q:\n%s", want, r.out)
		}
	}
	// Through a saved plan, which is checked for ownership again.
	pf := filepath.Join(e.dir, "adopt.plan")
	e.mustRun(nil, 2, "plan", "-config", cfg, "-out", pf, "-detailed-exitcode")
	e.mustRun(nil, 0, "apply", "-config", cfg, pf)
	e.applied(cfg)
	if got, _ := e.emu.QueueMaxLimit("wanctl-spectrum-down"); got != 900_000_000 {
		t.Errorf("adoption changed the runtime max-limit to %d", got)
	}
}

func TestQueueTypeOwnership(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	// A type left by an apply interrupted before its queue: identical, taken.
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Method: "PUT", Path: "queue/tree"})
	e.mustRun(nil, 1, "apply", "-config", cfg, "-auto-approve")
	e.applied(cfg)
	// Renamed type: replaced (new one first, the queue switches, old one goes).
	cfg = e.config("", strings.Replace(dualWAN, "    ceiling = \"940M\"\n", "    ceiling = \"940M\"\n    queue_type = \"spectrum-cake\"\n", 1))
	r := e.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	for _, want := range []string{"# wan.spectrum.download.queue_type must be replaced",
		`~ name = "wanctl-spectrum-download" -> "spectrum-cake" # forces replacement`,
		`~ queue = "wanctl-spectrum-download" -> "spectrum-cake"`, "Plan: 1 to add, 1 to change, 1 to destroy."} {
		if !contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}
	e.applied(cfg)
	for _, q := range e.emu.Objects(routeros.MenuQueueType) {
		if q["name"] == "wanctl-spectrum-download" {
			t.Error("the old queue type is still there")
		}
	}
	// An unused type that is not a CAKE type is not taken (an unused
	// wanctl-* CAKE type is a left-over and destroyed: plan's tests).
	if _, err := e.emu.AddObject(routeros.MenuQueueType, routeros.Object{"name": "wanctl-extra-download", "kind": "pfifo"}); err != nil {
		t.Fatal(err)
	}
	r = e.mustRun(nil, 0, "plan", "-config", cfg)
	if !strings.Contains(r.out, `queue type "wanctl-extra-download" is not used by any queue`) {
		t.Errorf("no left-over warning:\n%s", r.out)
	}
}

func TestOutputHasNoSecrets(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	for _, args := range [][]string{
		{"plan", "-config", cfg}, {"plan", "-config", cfg, "-json"}, {"apply", "-config", cfg, "-auto-approve"},
		{"apply", "-config", cfg, "-auto-approve", "-json"}, {"plan", "-config", cfg, "-log-level", "debug"},
	} {
		e.run(nil, args...) // run fails the test when the password shows
	}
	// A wrong password: the error names the problem, not the password.
	src, _ := os.ReadFile(cfg)
	_ = os.WriteFile(cfg, []byte(strings.Replace(string(src), testPassword, testPassword+"x", 1)), 0o600)
	r := e.mustRun(nil, 1, "plan", "-config", cfg)
	if !regexp.MustCompile(`(?i)unauthori`).MatchString(r.err) {
		t.Errorf("bad credentials:\n%s", r.err)
	}
}

func TestEditedSavedPlanCannotTouchUserObjects(t *testing.T) {
	e := newRouterEnv(t)
	snap := e.userObjects()
	cfg := e.config("", dualWAN)
	pf := filepath.Join(e.dir, "edge.plan")
	r := e.mustRun(nil, 2, "plan", "-config", cfg, "-out", pf, "-detailed-exitcode")
	// The command it suggests works as printed: with the same -config.
	if !strings.Contains(r.out, "wanctl apply -config "+cfg+" "+pf) {
		t.Errorf("plan -out suggests:\n%s", r.out)
	}
	b, err := os.ReadFile(pf)
	if err != nil {
		t.Fatal(err)
	}
	userRule := e.find(routeros.MenuMangle, "my games")
	for _, tc := range []struct{ name, change string }{
		{"delete", `{"router":"edge","address":"wan.x.route","menu":"ip/firewall/mangle","action":"delete","id":"` + userRule.ID() + `"}`},
		{"update", `{"router":"edge","address":"wan.x.route","menu":"ip/firewall/mangle","action":"update","id":"` + userRule.ID() + `","after":{"disabled":"true"},"changed_fields":["disabled"]}`},
		{"unmarked create", `{"router":"edge","address":"wan.x.route","menu":"ip/route","action":"create","after":{"dst-address":"0.0.0.0/0","gateway":"ether3"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := strings.Replace(string(b), `"changes": [`, `"changes": [`+tc.change+",", 1)
			bad := filepath.Join(e.dir, "edited.plan")
			if err := os.WriteFile(bad, []byte(edited), 0o600); err != nil {
				t.Fatal(err)
			}
			e.emu.ClearRequests()
			r := e.mustRun(nil, 1, "apply", "-config", cfg, bad)
			if !strings.Contains(r.err, "wanctl does not own") && !strings.Contains(r.err, "would not carry its marker") {
				t.Errorf("edited plan:\n%s", r.err)
			}
			if w := writes(e.emu.Requests()); len(w) > 0 {
				t.Errorf("an edited plan wrote %v", w)
			}
		})
	}
	e.checkUntouched(snap, "after edited plans")
	e.mustRun(nil, 0, "apply", "-config", cfg, pf) // the real one still applies
}

func TestTwoRouters(t *testing.T) {
	a, b := newRouterEnv(t), newRouterEnv(t)
	src := ""
	for _, r := range []struct {
		name string
		env  *routerEnv
	}{{"a", a}, {"b", b}} {
		src += `router "` + r.name + `" {
  url      = "` + r.env.srv.URL + `"
  username = "wanctl"
  password = "` + testPassword + `"
}
wan "wan-` + r.name + `" {
  router    = "` + r.name + `"
  interface = "ether1"
  measurement {
    reflectors = ["` + map[string]string{"a": "1.1.1.1", "b": "8.8.8.8"}[r.name] + `"]
  }
  download {
    ceiling = "100M"
    parent  = "bridge"
  }
  upload {
    ceiling = "10M"
  }
}
`
	}
	cfg := filepath.Join(a.dir, "two.hcl")
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	r := a.mustRun(nil, 2, "plan", "-config", cfg, "-detailed-exitcode")
	for _, want := range []string{`actions on router "a"`, `actions on router "b"`, "Plan: 8 to add, 0 to change, 0 to destroy."} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}
	a.applied(cfg)
	if _, ok := a.emu.QueueMaxLimit("wanctl-wan-a-down"); !ok {
		t.Error("router a has no queue")
	}
	if _, ok := b.emu.QueueMaxLimit("wanctl-wan-b-down"); !ok {
		t.Error("router b has no queue")
	}
	if _, ok := a.emu.QueueMaxLimit("wanctl-wan-b-down"); ok {
		t.Error("router b's queue on router a")
	}
}

func TestSavedPlanFromAnotherConfiguration(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config("", dualWAN)
	pf := filepath.Join(e.dir, "edge.plan")
	e.mustRun(nil, 2, "plan", "-config", cfg, "-out", pf, "-detailed-exitcode")
	b, err := os.ReadFile(pf)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(e.dir, "other.hcl")
	refused := func(t *testing.T, cfgPath, plan string, want ...string) {
		t.Helper()
		e.emu.ClearRequests()
		r := e.mustRun(nil, 1, "apply", "-config", cfgPath, plan)
		for _, w := range append(want, "Nothing was changed", "wanctl plan -config "+cfgPath+" -out "+plan) {
			if !strings.Contains(r.err, w) {
				t.Errorf("apply: stderr lacks %q:\n%s", w, r.err)
			}
		}
		if w := writes(e.emu.Requests()); len(w) > 0 {
			t.Errorf("the refused plan wrote %v", w)
		}
	}
	t.Run("other file", func(t *testing.T) {
		// Same router, another WAN setup: only the router was compared before.
		body := strings.Replace(string(src), "overhead = 18", "overhead = 30", 1)
		if err := os.WriteFile(other, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, other, pf, "made from "+cfg+", not from "+other)
	})
	t.Run("edited since", func(t *testing.T) {
		if err := os.WriteFile(cfg, append(append([]byte(nil), src...), "\n# edited\n"...), 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, cfg, pf, "made from "+cfg+", which has changed since")
		if err := os.WriteFile(cfg, src, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("older wanctl", func(t *testing.T) {
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		delete(doc, "config")
		old, _ := json.Marshal(doc)
		oldPF := filepath.Join(e.dir, "old.plan")
		if err := os.WriteFile(oldPF, old, 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, cfg, oldPF, "does not record the configuration it was made from")
	})
	t.Run("same content elsewhere", func(t *testing.T) {
		// What was planned is the content: a copy applies.
		if err := os.WriteFile(other, src, 0o600); err != nil {
			t.Fatal(err)
		}
		e.mustRun(nil, 0, "apply", "-config", other, pf)
		e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")
	})
}
