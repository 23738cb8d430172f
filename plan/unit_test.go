package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

func TestNormValue(t *testing.T) {
	for _, tc := range []struct {
		menu, field, a, b string
		same              bool
	}{
		{routeros.MenuQueueTree, "max-limit", "940M", "940000000", true},
		{routeros.MenuQueueTree, "max-limit", "37.5M", "37500000", true},
		{routeros.MenuQueueType, "cake-nat", "yes", "true", true},
		{routeros.MenuQueueType, "cake-nat", "no", "true", false},
		{routeros.MenuQueueType, "cake-rtt", "100ms", "00:00:00.1", true},
		{routeros.MenuQueueType, "cake-rtt", "1m30s", "00:01:30", true},
		{routeros.MenuQueueType, "cake-rtt", "1d", "24h", true},
		{routeros.MenuQueueType, "cake-overhead", "+18", "18", true},
		{routeros.MenuQueueType, "cake-overhead-scheme", "docsis,ethernet", "ethernet, docsis", true},
		{routeros.MenuMangle, "dst-port", "5060,3478-3481", "3478-3481,5060", true},
		{routeros.MenuRoutingRule, "src-address", "192.168.88.10/32", "192.168.88.10", true},
		{routeros.MenuAddressList, "address", "10.1.2.3/8", "10.0.0.0/8", true},
		{routeros.MenuMangle, "dst-address", "!10.0.0.0/8", "10.0.0.0/8", false},
		{routeros.MenuMangle, "dst-address-list", "!x", "x", false},
	} {
		t.Run(tc.field+" "+tc.a+" vs "+tc.b, func(t *testing.T) {
			got := normValue(tc.menu, tc.field, tc.a, true) == normValue(tc.menu, tc.field, tc.b, true)
			if got != tc.same {
				t.Errorf("%s %s: %q vs %q: same=%v, want %v", tc.menu, tc.field, tc.a, tc.b, got, tc.same)
			}
		})
	}
	// Absent == the RouterOS default.
	for _, tc := range []struct{ menu, field, v string }{
		{routeros.MenuQueueType, "cake-diffserv", "diffserv3"},
		{routeros.MenuQueueType, "cake-rtt", "100ms"},
		{routeros.MenuMangle, "passthrough", "yes"},
		{routeros.MenuMangle, "disabled", "no"},
		{routeros.MenuQueueTree, "packet-mark", ""},
		{routeros.MenuRoutingTable, "fib", "no"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			if !sameValue(tc.menu, tc.field, tc.v, routeros.Object{}) {
				t.Errorf("%s %s: absent should equal %q", tc.menu, tc.field, tc.v)
			}
		})
	}
	if !sameValue(routeros.MenuRoutingTable, "fib", "true", routeros.Object{"fib": ""}) {
		t.Error("a set flag reads as \"\"")
	}
}

func TestParseROSDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"100ms": 100 * time.Millisecond, "00:00:00.1": 100 * time.Millisecond, "1w2d": 9 * 24 * time.Hour,
		"1d00:00:05": 24*time.Hour + 5*time.Second, "2h3m": 2*time.Hour + 3*time.Minute,
	} {
		if got, ok := parseROSDuration(s); !ok || got != want {
			t.Errorf("%q: %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "x", "1:2", "d"} {
		if _, ok := parseROSDuration(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestMarkers(t *testing.T) {
	if a, ok := AddressOf("wanctl:steering.rule.voip"); !ok || a != "steering.rule.voip" {
		t.Errorf("AddressOf: %q %v", a, ok)
	}
	for _, c := range []string{"", "wanctl:", "defconf: fasttrack", "WANCTL:x"} {
		if _, ok := AddressOf(c); ok {
			t.Errorf("%q is not a marker", c)
		}
	}
	rules := []routeros.Object{
		{"comment": Marker(SteerRuleAddress("voip")), "action": "mark-connection"},
		{"comment": Marker(SteerRuleDSCPAddress("ls", 46)), "action": "mark-connection"},
		{"comment": Marker(MarkRoutingAddress), "action": "mark-routing"},
		{"comment": Marker(PacketMarkAddress("x")), "action": "mark-packet"},
		{"comment": "steering.rule.voip", "action": "mark-connection"},
	}
	got := SteeringRules(rules)
	if len(got) != 2 || got[1]["comment"] != "wanctl:steering.rule.ls.dscp-46" {
		t.Errorf("SteeringRules: %v", got)
	}
}

const singleWAN = `
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = "pw"
  host_address = "192.168.88.10"
}

wan "dsl" {
  interface = "pppoe-out1"
  gateway   = "pppoe-out1"
  measurement {
    reflectors = ["1.1.1.1"]
  }
  download {
    ceiling = "50M"
    parent  = "bridge"
  }
  upload {
    ceiling = "10M"
  }
}
`

func TestDesiredSingleWANOnLANParent(t *testing.T) {
	cfg := parseConfig(t, singleWAN)
	// Validation rejects mixed families; the planner still copes with them.
	cfg.WANs[0].Measurement.Reflectors = append(cfg.WANs[0].Measurement.Reflectors, netip.MustParseAddr("2606:4700:4700::1111"))
	d := DesiredState(cfg)[0]
	byAddr := map[string]*Object{}
	for _, o := range d.Objects {
		byAddr[o.Address] = o
	}
	tree := byAddr[QueueAddress("dsl", "download")]
	if tree.Fields["parent"] != "bridge" || tree.Fields["packet-mark"] != "" {
		t.Errorf("download tree on a LAN parent: %v", tree.Fields)
	}
	if byAddr[PacketMarkAddress("dsl")] != nil || byAddr[PacketMark6Address("dsl")] != nil {
		t.Error("no mark-packet rule is needed on a LAN parent")
	}
	if d.FastTrackMatters {
		t.Error("FastTrack does not bypass interface queues")
	}
	if g := byAddr[RouteAddress("dsl")].Fields["gateway"]; g != "pppoe-out1" {
		t.Errorf("interface gateway written %q", g)
	}
	if byAddr[PinRuleAddress("dsl", "1.1.1.1")] == nil || byAddr[PinRuleAddress("dsl", "2606:4700:4700::1111")] != nil {
		t.Error("pin rules: want the IPv4 reflector only")
	}
	if len(d.Diags) != 1 || d.Diags[0].Severity != SeverityWarning || !strings.Contains(d.Diags[0].Summary, "not pinned") {
		t.Errorf("diags: %+v", d.Diags)
	}
	for _, m := range d.Read {
		if m == routeros.MenuFilter || m == routeros.MenuNAT {
			t.Errorf("reads %s without needing it", m)
		}
	}
	// Order of objects follows ManagedMenus.
	last := -1
	for _, o := range d.Objects {
		if r := MenuRank(o.Menu); r < last {
			t.Errorf("%s out of apply order", o.Address)
		} else {
			last = r
		}
	}
}

func TestDesiredSteeringDetails(t *testing.T) {
	src := strings.Replace(goldenConfig, `  address_list "work-laptops" {`, `  rule "ls" {
    dscp = ["ef", "af31"]
  }
  rule "to-office" {
    dst_address_list = "office"
  }
  address_list "office" {
    addresses = ["198.51.100.0/24"]
  }
  address_list "wanctl-not-steered" {
    addresses = ["203.0.113.0/24", "10.0.0.0/8"]
  }
  address_list "work-laptops" {`, 1)
	d := desiredFor(t, src)
	var notSteered, mangle []string
	byAddr := map[string]*Object{}
	for _, o := range d.Objects {
		byAddr[o.Address] = o
		if o.Menu == routeros.MenuAddressList && o.Fields["list"] == NotSteeredList {
			notSteered = append(notSteered, o.Fields["address"])
		}
		if o.Menu == routeros.MenuMangle {
			mangle = append(mangle, o.Address)
		}
	}
	want := append(append([]string(nil), NotSteeredBuiltin...), "203.0.113.0/24")
	if !reflect.DeepEqual(notSteered, want) {
		t.Errorf("never-steered: %v, want %v (user additions merged, duplicates once)", notSteered, want)
	}
	wantMangle := []string{"wan.spectrum.download.mark", "wan.att.download.mark", "steering.rule.voip", "steering.rule.work-vpn",
		"steering.rule.ls.dscp-46", "steering.rule.ls.dscp-26", "steering.rule.to-office", "steering.mark_routing"}
	if !reflect.DeepEqual(mangle, wantMangle) {
		t.Errorf("mangle order %v, want %v", mangle, wantMangle)
	}
	if f := byAddr["steering.rule.to-office"].Fields; f["dst-address-list"] != "office" {
		t.Errorf("a rule's dst_address_list replaces the exclusion: %v", f)
	}
	if f := byAddr["steering.rule.ls.dscp-26"]; f.Fields["dscp"] != "26" || f.CreateOnly["disabled"] != "true" {
		t.Errorf("dscp rule: %v %v", f.Fields, f.CreateOnly)
	}
	if _, ok := byAddr["steering.rule.voip"].Fields["disabled"]; ok {
		t.Error("disabled of a steering rule is runtime-owned, not managed")
	}
	mr := byAddr[MarkRoutingAddress].Fields
	if mr["new-routing-mark"] != "wanctl-att" || mr["passthrough"] != "false" || mr["connection-mark"] != SteerConnectionMark {
		t.Errorf("mark-routing: %v", mr)
	}
}

func TestOrderMinimalMoves(t *testing.T) {
	d := desiredFor(t, goldenConfig)
	f := newFixture()
	f.defconf()
	f.applied(d)
	user := f.add(routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "accept"})
	// Reverse our five rules: four must move (the longest ordered run is one).
	m := f.act[routeros.MenuMangle]
	ours := m[1:6]
	for i, j := 0, len(ours)-1; i < j; i, j = i+1, j-1 {
		ours[i], ours[j] = ours[j], ours[i]
	}
	changes, diags := Diff(d, f.act)
	if len(diags) > 0 {
		t.Fatalf("diags: %+v", diags)
	}
	moves := 0
	for _, c := range changes {
		if c.Action != Move {
			t.Errorf("unexpected %s %s", c.Action, c.Address)
			continue
		}
		moves++
		if c.PlaceBefore == nil || (c.PlaceBefore.ID == "" && c.PlaceBefore.Address == "") {
			t.Errorf("%s moves nowhere", c.Address)
		}
	}
	if moves != 4 {
		t.Errorf("%d moves, want 4", moves)
	}
	// Our rules after a user prerouting rule: all move before it.
	f2 := newFixture()
	f2.defconf()
	u := f2.add(routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "accept"})
	f2.applied(d)
	changes, _ = Diff(d, f2.act)
	if len(changes) != 5 {
		t.Fatalf("%d changes, want 5 moves", len(changes))
	}
	lastMove := changes[4]
	if lastMove.Address != MarkRoutingAddress || lastMove.PlaceBefore.ID != u.ID() {
		t.Errorf("the last rule goes before the user's rule: %+v", lastMove.PlaceBefore)
	}
	_ = user
}

func TestDestroyOnlyOwned(t *testing.T) {
	d := desiredFor(t, singleWAN)
	f := newFixture()
	f.defconf()
	f.applied(d)
	// Someone else's objects, some looking a lot like ours.
	f.add(routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "mark-packet", "comment": "wanctl something"})
	f.add(routeros.MenuAddressList, routeros.Object{"list": "wanctl-not-steered", "address": "1.2.3.4"})
	f.add(routeros.MenuQueueType, routeros.Object{"name": "wanctl-x", "kind": "cake"})
	f.add(routeros.MenuQueueTree, routeros.Object{"name": "x", "parent": "global", "queue": "wanctl-x"})
	f.add(routeros.MenuRoute, routeros.Object{"dst-address": "0.0.0.0/0", "comment": "wanctl:wan.ghost.route", "dynamic": "true"})
	// Ours, no longer declared.
	f.add(routeros.MenuQueueType, routeros.Object{"name": "old-type", "kind": "cake"})
	f.add(routeros.MenuQueueTree, routeros.Object{"name": "old", "parent": "global", "queue": "old-type", "comment": Marker(QueueAddress("old", "download"))})
	changes, diags := Diff(d, f.act)
	if len(diags) > 0 {
		t.Fatalf("diags %+v", diags)
	}
	var got []string
	for _, c := range changes {
		got = append(got, string(c.Action)+" "+c.Address)
	}
	want := []string{"delete wan.old.download.queue", "delete wan.old.download.queue_type"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
}

// An unused CAKE type in wanctl's namespace is a left-over of an interrupted
// apply: destroyed. Other unused types are not wanctl's to remove.
func TestLeftOverQueueTypes(t *testing.T) {
	d := desiredFor(t, singleWAN)
	f := newFixture()
	f.defconf()
	f.applied(d)
	f.add(routeros.MenuQueueType, routeros.Object{"name": "wanctl-att-upload", "kind": "cake"})
	f.add(routeros.MenuQueueType, routeros.Object{"name": "wanctl-fifo", "kind": "pfifo"})
	f.add(routeros.MenuQueueType, routeros.Object{"name": "my-cake", "kind": "cake"})
	changes, diags := Diff(d, f.act)
	var got []string
	for _, c := range changes {
		got = append(got, string(c.Action)+" "+c.Address+" "+c.Name)
	}
	if want := []string{"delete queue_type.wanctl-att-upload wanctl-att-upload"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if len(diags) != 1 || !strings.Contains(diags[0].Summary, `"wanctl-fifo" is not used`) {
		t.Errorf("diags %+v, want a warning about wanctl-fifo", diags)
	}
}

func TestSavedPlanRoundTrip(t *testing.T) {
	p := goldenPlan(t)
	path := filepath.Join(t.TempDir(), "p.plan")
	src := HashConfig("/etc/wanctl/wanctl.hcl", []byte(`password = "never-printed"`))
	if err := p.Save(path, src); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved plan mode: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none", "p.plan")
	if err := p.Save(missing, src); !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "write "+missing+": ") {
		t.Errorf("save into a missing directory: %v", err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "never-printed") {
		t.Error("the saved plan holds the password")
	}
	q, qsrc, err := LoadSaved(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) || qsrc != src {
		t.Error("saved plan does not round-trip")
	}
	const cfg = `"config":{"path":"/c.hcl","sha256":"ab"},`
	for _, bad := range []string{
		`{}`, `{"kind":"wanctl-plan",` + cfg + `"format_version":2}`,
		`{"kind":"wanctl-plan",` + cfg + `"format_version":1,"routers":[{"name":"r","fingerprint":"x"}],"changes":[{"router":"r","address":"a","menu":"system/reset","action":"delete","id":"*1"}]}`,
		`{"kind":"wanctl-plan",` + cfg + `"format_version":1,"routers":[{"name":"r","fingerprint":"x"}],"changes":[{"router":"q","address":"a","menu":"queue/tree","action":"delete","id":"*1"}]}`,
		`{"kind":"wanctl-plan",` + cfg + `"format_version":1,"routers":[{"name":"r","fingerprint":"x"}],"changes":[{"router":"r","address":"a","menu":"queue/tree","action":"move","id":"*1"}]}`,
		`{"kind":"wanctl-plan",` + cfg + `"format_version":1,"routers":[],"errors":[{"summary":"x"}]}`,
	} {
		if _, _, err := DecodeSaved([]byte(bad)); err == nil || errors.Is(err, ErrNoConfig) {
			t.Errorf("accepted %s: %v", bad, err)
		}
	}
	// A plan saved before the configuration was recorded (or with an
	// empty record) is refused for that reason.
	ok := `"format_version":1,"routers":[{"name":"r","fingerprint":"x"}],"changes":[{"router":"r","address":"a","menu":"queue/tree","action":"delete","id":"*1"}]}`
	if _, _, err := DecodeSaved([]byte(`{"kind":"wanctl-plan",` + cfg + ok)); err != nil {
		t.Errorf("a well-formed plan: %v", err)
	}
	for _, old := range []string{`{"kind":"wanctl-plan",` + ok, `{"kind":"wanctl-plan","config":{"path":"/c.hcl"},` + ok} {
		if _, _, err := DecodeSaved([]byte(old)); !errors.Is(err, ErrNoConfig) {
			t.Errorf("%s: %v, want ErrNoConfig", old, err)
		}
	}
	if strings.Contains(string(b), "never-printed") || !strings.Contains(string(b), `"sha256": "`+src.SHA256+`"`) {
		t.Errorf("the saved plan records the configuration wrongly:\n%s", b)
	}
	p.Errors = Diagnostics{{Summary: "x"}}
	if err := p.Save(path, src); err == nil {
		t.Error("a plan with errors was saved")
	}
}

func FuzzDecodeSaved(f *testing.F) {
	f.Add([]byte(`{"kind":"wanctl-plan","config":{"path":"/c","sha256":"ab"},"format_version":1,"routers":[{"name":"r","fingerprint":"x"}],"changes":[{"router":"r","address":"a","menu":"queue/tree","action":"delete","id":"*1"}]}`))
	f.Add([]byte(`{"kind":"wanctl-plan","format_version":1,"changes":[null]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, err := DecodeSaved(b)
		if err != nil {
			return
		}
		// Whatever decodes is well-formed enough to apply and render.
		for _, c := range p.Changes {
			if c == nil || MenuRank(c.Menu) < 0 {
				t.Fatalf("accepted change %+v", c)
			}
		}
		var sb strings.Builder
		_ = p.WriteText(&sb, false)
	})
}

func TestNATCovers(t *testing.T) {
	act := Actual{
		routeros.MenuInterfaceMember: {{"list": "WAN", "interface": "ether2"}, {"list": "OFF", "interface": "ether2", "disabled": "true"},
			{"list": "LTE", "interface": "lte1"}},
		routeros.MenuInterfaceList: {{"name": "WAN"}, {"name": "OFF"}, {"name": "LTE"},
			{"name": "UPLINKS", "include": "LTE,WAN"},                   // nested: ether2 via WAN
			{"name": "NOT-WAN", "include": "UPLINKS", "exclude": "WAN"}, // ether2 taken out again
			{"name": "LOOP-A", "include": "LOOP-B"}, {"name": "LOOP-B", "include": "LOOP-A,WAN"}},
	}
	for _, tc := range []struct {
		rule routeros.Object
		want bool
	}{
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface": "ether2"}, true},
		{routeros.Object{"chain": "srcnat", "action": "src-nat", "out-interface-list": "WAN"}, true},
		{routeros.Object{"chain": "srcnat", "action": "masquerade"}, true},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface-list": "all"}, true},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface": "!ether1"}, true},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface": "!ether2"}, false},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface-list": "OFF"}, false},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface-list": "UPLINKS"}, true},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface-list": "NOT-WAN"}, false},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface-list": "LTE"}, false},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface-list": "LOOP-A"}, true},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface-list": "!UPLINKS"}, false},
		{routeros.Object{"chain": "srcnat", "action": "masquerade", "out-interface": "ether2", "disabled": "true"}, false},
		{routeros.Object{"chain": "dstnat", "action": "masquerade", "out-interface": "ether2"}, false},
		{routeros.Object{"chain": "srcnat", "action": "accept", "out-interface": "ether2"}, false},
	} {
		t.Run(fmt.Sprint(tc.rule), func(t *testing.T) {
			act[routeros.MenuNAT] = []routeros.Object{tc.rule}
			if got := natCovers(act, "ether2"); got != tc.want {
				t.Errorf("%v: %v, want %v", tc.rule, got, tc.want)
			}
		})
	}
}

func TestFingerprintIgnoresRuntimeState(t *testing.T) {
	d := desiredFor(t, goldenConfig)
	f := newFixture()
	f.defconf()
	f.applied(d)
	before := Fingerprint(f.act)
	f.find(routeros.MenuQueueTree, Marker(QueueAddress("att", "download")))["max-limit"] = "123000000"
	f.find(routeros.MenuQueueTree, Marker(QueueAddress("att", "download")))["bytes"] = "99"
	f.find(routeros.MenuMangle, Marker(SteerRuleAddress("voip")))["disabled"] = "false"
	f.find(routeros.MenuInterface, "ether1")["rx-byte"] = "456"
	f.add(routeros.MenuAddressList, routeros.Object{"list": "scanners", "address": "1.2.3.4", "dynamic": "true"})
	if Fingerprint(f.act) != before {
		t.Error("runtime state changed the fingerprint")
	}
	f.find(routeros.MenuMangle, Marker(MarkRoutingAddress))["disabled"] = "true"
	if Fingerprint(f.act) == before {
		t.Error("a managed field change kept the fingerprint")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://192.168.88.1":            "https://192.168.88.1",
		"https://u:secret@192.168.88.1":   "https://192.168.88.1",
		"https://u:sec ret%zz@10.0.0.1/x": "(url with credentials)@10.0.0.1/x",
	} {
		if got := RedactURL(in); got != want || strings.Contains(got, "secret") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
