package plan

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/routeros"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func parseConfig(t testing.TB, src string) *config.Config {
	t.Helper()
	cfg, diags := config.Parse("test.hcl", []byte(src), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if cfg == nil {
		var b bytes.Buffer
		_ = diags.WriteText(&b, false)
		t.Fatalf("config does not parse:\n%s", b.String())
	}
	return cfg
}

// goldenConfig is the two-WAN configuration behind the golden files.
var goldenConfig = `
router "edge" {
  url             = "https://192.168.88.1"
  username        = "wanctl"
  password        = "never-printed"
  host_address    = "192.168.88.10"
  adopt_existing  = true
  allow_fasttrack = true
}
` + testenv.DualWANConfig(testenv.DualWAN{
	Reflectors: []string{"1.1.1.1"},
	QueueType:  "spectrum-dl-cake",
	Rules:      []string{"voip", "work-vpn"},
	Addresses:  []string{"192.168.88.50"},
})

// fixture is a router state under construction.
type fixture struct {
	act  Actual
	next int
}

func newFixture() *fixture {
	f := &fixture{act: Actual{}}
	for _, m := range append(append([]string(nil), ManagedMenus...), routeros.MenuInterface, routeros.MenuInterfaceList,
		routeros.MenuInterfaceMember, routeros.MenuFilter, routeros.MenuNAT) {
		f.act[m] = []routeros.Object{}
	}
	return f
}

func (f *fixture) add(menu string, o routeros.Object) routeros.Object {
	f.next++
	o = clone(o)
	o[".id"] = fmt.Sprintf("*%X", f.next)
	f.act[menu] = append(f.act[menu], o)
	return o
}

// find returns the object with that comment (or name).
func (f *fixture) find(menu, key string) routeros.Object {
	for _, o := range f.act[menu] {
		if o["comment"] == key || o["name"] == key {
			return o
		}
	}
	panic("fixture: no " + key + " in " + menu)
}

func (f *fixture) remove(menu, key string) {
	objs := f.act[menu]
	for i, o := range objs {
		if o["comment"] == key || o["name"] == key {
			f.act[menu] = append(objs[:i], objs[i+1:]...)
			return
		}
	}
	panic("fixture: no " + key + " in " + menu)
}

// defconf adds a RouterOS default configuration's relevant objects.
func (f *fixture) defconf() {
	f.add(routeros.MenuMangle, routeros.Object{"chain": "forward", "action": "change-mss", "dynamic": "true"})
	for _, n := range []string{"ether1", "ether2", "ether3", "bridge", "pppoe-out1"} {
		f.add(routeros.MenuInterface, routeros.Object{"name": n, "running": "true", "rx-byte": "123"})
	}
	f.add(routeros.MenuInterfaceList, routeros.Object{"name": "all", "builtin": "true", "dynamic": "true"})
	f.add(routeros.MenuInterfaceList, routeros.Object{"name": "WAN"})
	f.add(routeros.MenuInterfaceList, routeros.Object{"name": "LAN"})
	f.add(routeros.MenuInterfaceMember, routeros.Object{"list": "LAN", "interface": "bridge"})
	f.add(routeros.MenuInterfaceMember, routeros.Object{"list": "WAN", "interface": "ether1"})
	f.add(routeros.MenuInterfaceMember, routeros.Object{"list": "WAN", "interface": "ether2"})
	f.add(routeros.MenuFilter, routeros.Object{"chain": "forward", "action": "passthrough", "dynamic": "true"})
	f.add(routeros.MenuFilter, routeros.Object{"chain": "forward", "action": "fasttrack-connection", "connection-state": "established,related", "comment": "defconf: fasttrack"})
	f.add(routeros.MenuNAT, routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface-list": "WAN", "comment": "defconf: masquerade"})
	f.add(routeros.MenuQueueType, routeros.Object{"name": "default", "kind": "pfifo", "default": "true"})
	f.add(routeros.MenuRoutingTable, routeros.Object{"name": "main", "fib": "", "dynamic": "true"})
}

// applied adds every desired object as apply would have created it.
func (f *fixture) applied(d *Desired) {
	for _, o := range d.Objects {
		fields := createFields(o)
		if o.Menu == routeros.MenuQueueType {
			fields["default"] = "false"
		}
		if o.Menu == routeros.MenuRoutingTable {
			fields["fib"] = ""
		}
		f.add(o.Menu, fields)
	}
}

func desiredFor(t testing.TB, src string) *Desired {
	t.Helper()
	ds := DesiredState(parseConfig(t, src))
	if len(ds) != 1 {
		t.Fatalf("want 1 router, got %d", len(ds))
	}
	return ds[0]
}

// goldenPlan builds a plan with every kind of change and warning.
func goldenPlan(t *testing.T) *Plan {
	d := desiredFor(t, goldenConfig)
	f := newFixture()
	f.defconf()
	f.applied(d)
	// create: the voip rule and spectrum's pin rule are missing.
	f.remove(routeros.MenuMangle, Marker(SteerRuleAddress("voip")))
	f.remove(routeros.MenuRoutingRule, Marker(PinRuleAddress("spectrum", "1.1.1.1")))
	// update: an unshaped queue, a CAKE field.
	f.find(routeros.MenuQueueTree, Marker(QueueAddress("spectrum", "download")))["max-limit"] = "0"
	f.find(routeros.MenuQueueType, "wanctl-att-download")["cake-diffserv"] = "diffserv3"
	// adopt: the user's own entry in the address list.
	delete(f.find(routeros.MenuAddressList, Marker(AddressListAddress("work-laptops", "192.168.88.50"))), "comment")
	// replace: a renamed queue type (the tree still uses the old one) and a
	// rule with a matcher that only RouterOS's unset could remove.
	f.find(routeros.MenuQueueType, "spectrum-dl-cake")["name"] = "wanctl-spectrum-download"
	f.find(routeros.MenuQueueTree, Marker(QueueAddress("spectrum", "download")))["queue"] = "wanctl-spectrum-download"
	f.find(routeros.MenuMangle, Marker(SteerRuleAddress("work-vpn")))["protocol"] = "tcp"
	// delete: objects of a WAN that is gone.
	f.add(routeros.MenuRoute, routeros.Object{"dst-address": "0.0.0.0/0", "gateway": "ether5", "routing-table": "wanctl-old", "comment": Marker(RouteAddress("old"))})
	f.add(routeros.MenuAddressList, routeros.Object{"list": "gone", "address": "10.1.1.1", "comment": Marker(AddressListAddress("gone", "10.1.1.1"))})
	// move: the mark-routing rule ahead of the steering rules.
	mr := f.find(routeros.MenuMangle, Marker(MarkRoutingAddress))
	f.remove(routeros.MenuMangle, Marker(MarkRoutingAddress))
	f.act[routeros.MenuMangle] = append([]routeros.Object{f.act[routeros.MenuMangle][0], mr}, f.act[routeros.MenuMangle][1:]...)
	// A user's rule after ours, untouched.
	f.add(routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "accept", "comment": "user rule"})
	// warnings: no NAT for the alternate, an unknown interface, double shaping.
	f.act[routeros.MenuNAT] = nil
	f.remove(routeros.MenuInterface, "ether2")
	f.add(routeros.MenuQueueType, routeros.Object{"name": "my-cake", "kind": "cake", "cake-bandwidth": "50000000"})
	f.add(routeros.MenuQueueTree, routeros.Object{"name": "guest", "parent": "bridge", "queue": "my-cake", "max-limit": "20M"})

	p := &Plan{FormatVersion: FormatVersion}
	p.addRouter(d, f.act, extendFilters(d.Filters, f.act))
	p.finish()
	return p
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plan -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (go test ./plan -run Golden -update to accept):\n%s", path, got)
	}
}

func TestGoldenText(t *testing.T) {
	p := goldenPlan(t)
	var b bytes.Buffer
	if err := p.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "plan.txt.golden", b.Bytes())
	if strings.Contains(b.String(), "\x1b[") {
		t.Error("colour without useColor")
	}
	b.Reset()
	if err := p.WriteText(&b, true); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "plan-color.txt.golden", b.Bytes())
}

func TestGoldenJSON(t *testing.T) {
	p := goldenPlan(t)
	var b bytes.Buffer
	if err := p.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "plan.json.golden", b.Bytes())
}

// TestGoldenCoversEveryAction keeps the golden plan honest.
func TestGoldenCoversEveryAction(t *testing.T) {
	p := goldenPlan(t)
	seen := map[Action]bool{}
	adopt, movedUpdate := false, false
	for _, c := range p.Changes {
		seen[c.Action] = true
		adopt = adopt || c.Adopt
		movedUpdate = movedUpdate || (c.Action == Move)
	}
	for _, a := range []Action{Create, Update, Delete, Replace, Move} {
		if !seen[a] {
			t.Errorf("golden plan has no %s", a)
		}
	}
	if !adopt || !movedUpdate {
		t.Errorf("golden plan lacks an adoption (%v) or a move (%v)", adopt, movedUpdate)
	}
	if len(p.Errors) != 0 {
		t.Fatalf("errors: %+v", p.Errors)
	}
	var sums []string
	for _, w := range p.Warnings {
		sums = append(sums, w.Summary)
	}
	all := strings.Join(sums, "\n")
	for _, want := range []string{"FastTrack is enabled", "no srcnat rule", `"ether2" does not exist`, "double shaping"} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning %q in:\n%s", want, all)
		}
	}
	if p.Summary != (Summary{Add: 4, Change: 4, Destroy: 4}) {
		t.Errorf("summary %+v", p.Summary)
	}
}
