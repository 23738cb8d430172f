package plan

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/routeros"
)

// ManagedMenus are the menus wanctl creates objects in, in apply order
// (creates and updates run in this order, destroys in reverse): a routing
// table must exist before a route, rule or mangle rule names it, a queue
// type before the queue tree using it, an address list before a mangle rule
// matching it.
var ManagedMenus = []string{
	routeros.MenuRoutingTable,
	routeros.MenuRoute,
	routeros.MenuRoutingRule,
	routeros.MenuQueueType,
	routeros.MenuQueueTree,
	routeros.MenuAddressList,
	routeros.MenuMangle,
	routeros.MenuMangle6,
}

// MenuRank is a menu's position in ManagedMenus (-1 for others).
func MenuRank(menu string) int {
	for i, m := range ManagedMenus {
		if m == menu {
			return i
		}
	}
	return -1
}

// mangleFields are the fields wanctl manages on every one of its mangle
// rules: a field a rule does not set is wanted absent, so a matcher someone
// adds to a managed rule (or one removed from the config) shows as drift.
var mangleFields = []string{
	"chain", "action", "connection-state", "connection-mark", "in-interface", "in-interface-list",
	"dst-address-type", "dst-address-list", "src-address-list", "protocol", "src-address",
	"dst-address", "src-port", "dst-port", "dscp", "new-packet-mark", "new-connection-mark",
	"new-routing-mark", "passthrough", "disabled", "comment",
}

// Object is one RouterOS object wanctl wants.
type Object struct {
	Address string
	Menu    string
	// Fields are the managed fields and their wanted values ("" = absent).
	Fields routeros.Object
	// CreateOnly are set when the object is created and never compared
	// (max-limit of an autorate queue, disabled of a steering rule).
	CreateOnly routeros.Object
	// Key identifies a same-named unmarked object (name for named menus,
	// list+address for address lists, table+dst for routes); "" for mangle.
	Key string
	// For queue types: the address of the queue-tree entry that uses it.
	TreeAddress string
}

// Label is how plan output names the object: its name or another short
// identity.
func (o *Object) Label() string { return label(o.Menu, o.Fields) }

func label(menu string, f routeros.Object) string {
	switch menu {
	case routeros.MenuQueueType, routeros.MenuQueueTree, routeros.MenuRoutingTable:
		return f["name"]
	case routeros.MenuAddressList:
		return f["list"] + " " + f["address"]
	case routeros.MenuRoute:
		return f["dst-address"] + " table " + f["routing-table"]
	case routeros.MenuRoutingRule:
		return f["src-address"] + " -> " + f["dst-address"]
	}
	s := f["chain"] + " " + f["action"]
	return strings.TrimSpace(s)
}

// Desired is what one router should hold.
type Desired struct {
	Router *config.Router
	// Objects in apply order (ManagedMenus, then declaration order).
	Objects []*Object
	// Read are the menus to read (once each); Filters narrow some of them
	// to what wanctl can own (ReadActual).
	Read    []string
	Filters map[string]ReadFilter
	// Steering and the alternate's interface, for the NAT check.
	SteerAltInterface string
	// Interfaces and lists the config names on this router, for warnings.
	Interfaces     []nameRef
	InterfaceLists []nameRef
	// FastTrackMatters: a download queue at global or steering: FastTrack
	// would bypass them. FastTrack6Matters: a download queue at global
	// (steering is IPv4 only), which IPv6 FastTrack (7.18+) bypasses.
	FastTrackMatters  bool
	FastTrack6Matters bool
	Diags             Diagnostics
}

type nameRef struct{ Name, Where string }

func keyOf(menu string, f routeros.Object) string {
	switch menu {
	case routeros.MenuQueueType, routeros.MenuQueueTree, routeros.MenuRoutingTable:
		return f["name"]
	case routeros.MenuAddressList:
		return f["list"] + "\x00" + normPrefix(f["address"])
	case routeros.MenuRoute:
		return normValue(menu, "routing-table", f["routing-table"], f["routing-table"] != "") + "\x00" + normPrefix(f["dst-address"])
	case routeros.MenuRoutingRule:
		return normPrefix(f["src-address"]) + "\x00" + normPrefix(f["dst-address"]) + "\x00" + f["table"]
	}
	return ""
}

// DesiredState computes, for every router of the configuration, the exact
// objects wanctl owns there. Problems the configuration alone reveals are
// returned as diagnostics (errors stop the plan).
func DesiredState(cfg *config.Config) []*Desired {
	byRouter := map[string]*Desired{}
	var out []*Desired
	for _, r := range cfg.Routers {
		d := &Desired{Router: r}
		byRouter[r.Name] = d
		out = append(out, d)
	}
	for _, w := range cfg.WANs {
		d := byRouter[w.Router]
		if d == nil {
			continue // validation rejects unknown routers
		}
		d.addWAN(w)
	}
	if s := cfg.Steering; s != nil {
		prim, alt := cfg.WAN(s.Primary), cfg.WAN(s.Alternate)
		if prim != nil && alt != nil {
			d := byRouter[prim.Router]
			switch {
			case d == nil:
			case alt.Router != prim.Router:
				d.Diags.errorf("steering", "steering.alternate %q is on router %q but steering.primary %q is on router %q",
					"Steering marks connections on one router: put both WANs on the same router block.", alt.Name, alt.Router, prim.Name, prim.Router)
			case alt.Gateway == "":
				d.Diags.errorf("steering", "steering.alternate %q has no gateway",
					"Steered connections use the routing table wanctl-%s, which needs the WAN's gateway: set gateway in wan %q.", alt.Name, alt.Name, alt.Name)
			default:
				d.addSteering(s, alt)
			}
		}
	}
	for _, d := range out {
		d.sortObjects()
		d.Read = d.menusToRead()
		d.Filters = d.readFilters()
	}
	return out
}

func (d *Desired) add(o *Object) {
	if o.Key == "" {
		o.Key = keyOf(o.Menu, o.Fields)
	}
	d.Objects = append(d.Objects, o)
}

func (d *Desired) sortObjects() {
	// Stable: declaration order within a menu.
	objs := make([]*Object, 0, len(d.Objects))
	for _, m := range ManagedMenus {
		for _, o := range d.Objects {
			if o.Menu == m {
				objs = append(objs, o)
			}
		}
	}
	d.Objects = objs
}

func (d *Desired) menusToRead() []string {
	read := append([]string(nil), ManagedMenus...)
	read = append(read, routeros.MenuInterface, routeros.MenuInterfaceList, routeros.MenuQueueSimple)
	if d.FastTrackMatters {
		read = append(read, routeros.MenuFilter)
	}
	if d.FastTrack6Matters {
		read = append(read, routeros.MenuFilter6)
	}
	if d.SteerAltInterface != "" {
		read = append(read, routeros.MenuNAT, routeros.MenuInterfaceMember)
	}
	return read
}

// readFilters narrows the menus a big router fills (full BGP tables, 10^5
// address-list entries from blocklists) to the routing tables and lists
// wanctl's objects live in. wanctl-not-steered is always read, so that
// removing the steering block still deletes its entries.
func (d *Desired) readFilters() map[string]ReadFilter {
	tables, lists := []string{}, []string{NotSteeredList}
	for _, o := range d.Objects {
		switch o.Menu {
		case routeros.MenuRoute:
			tables = append(tables, o.Fields["routing-table"])
		case routeros.MenuAddressList:
			lists = append(lists, o.Fields["list"])
		}
	}
	return map[string]ReadFilter{
		routeros.MenuRoute:       {Field: "routing-table", Values: sortedSet(tables)},
		routeros.MenuAddressList: {Field: "list", Values: sortedSet(lists)},
	}
}

// extendFilters adds what the router shows wanctl once owned: the routing
// tables it marked (a removed WAN's route lives in one) and the lists its
// marked mangle rules match (a removed steering rule's list). Entries of a
// list no marked rule names any more are not read: see docs/plan-apply.md.
func extendFilters(filters map[string]ReadFilter, act Actual) map[string]ReadFilter {
	out := make(map[string]ReadFilter, len(filters))
	for m, f := range filters {
		vals := append([]string(nil), f.Values...)
		switch {
		case m == routeros.MenuRoute && f.Field == "routing-table":
			for _, o := range act[routeros.MenuRoutingTable] {
				if IsMarked(o) && o["name"] != "" {
					vals = append(vals, o["name"])
				}
			}
		case m == routeros.MenuAddressList && f.Field == "list":
			for _, o := range act[routeros.MenuMangle] {
				if !IsMarked(o) {
					continue
				}
				for _, k := range []string{"src-address-list", "dst-address-list"} {
					if l := strings.TrimPrefix(o[k], "!"); l != "" {
						vals = append(vals, l)
					}
				}
			}
		}
		out[m] = ReadFilter{Field: f.Field, Values: sortedSet(vals)}
	}
	return out
}

func sortedSet(vs []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, v := range vs {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func (d *Desired) addWAN(w *config.WAN) {
	d.Interfaces = append(d.Interfaces, nameRef{w.Interface, fmt.Sprintf("wan %q interface", w.Name)})
	for _, dir := range w.Directions() {
		d.addDirection(w, dir)
	}
	if w.Gateway == "" {
		return
	}
	table := w.RoutingTable()
	d.add(&Object{
		Address: RoutingTableAddress(w.Name), Menu: routeros.MenuRoutingTable,
		Fields: routeros.Object{"name": table, "fib": "true", "comment": Marker(RoutingTableAddress(w.Name))},
	})
	gw := w.Gateway
	if ip, ok := w.GatewayIP(); ok {
		if !ip.Is4() {
			d.Diags.errorf(RouteAddress(w.Name), "wan %q: gateway %s is IPv6", "This version routes IPv4 only: set an IPv4 gateway or an interface name.", w.Name, ip)
			return
		}
		// Resolved through the connected route in main; a bare IP would
		// leave the route in the new table inactive.
		gw = ip.String() + "@main"
	} else {
		d.Interfaces = append(d.Interfaces, nameRef{w.Gateway, fmt.Sprintf("wan %q gateway", w.Name)})
	}
	d.add(&Object{
		Address: RouteAddress(w.Name), Menu: routeros.MenuRoute,
		Fields: routeros.Object{
			"dst-address": "0.0.0.0/0", "gateway": gw, "routing-table": table,
			"check-gateway": "ping", "disabled": "false", "comment": Marker(RouteAddress(w.Name)),
		},
	})
	if !w.Measurement.PinRoutes || !d.Router.HostAddress.IsValid() {
		return
	}
	host := d.Router.HostAddress
	for _, r := range w.Measurement.Reflectors {
		if r.Is4() != host.Is4() {
			d.Diags.warnf(PinRuleAddress(w.Name, r.String()), "reflector %s of wan %q is not pinned",
				"host_address %s and the reflector are of different address families, so no routing rule can pin it; its pings follow the router's normal routing.", r, w.Name, host)
			continue
		}
		addr := PinRuleAddress(w.Name, r.String())
		d.add(&Object{
			Address: addr, Menu: routeros.MenuRoutingRule,
			Fields: routeros.Object{
				"src-address": netip.PrefixFrom(host, host.BitLen()).String(),
				"dst-address": netip.PrefixFrom(r, r.BitLen()).String(),
				"action":      "lookup-only-in-table", "table": table,
				"disabled": "false", "comment": Marker(addr),
			},
		})
	}
}

func (d *Desired) addDirection(w *config.WAN, dir *config.Direction) {
	c := dir.Cake
	qt := routeros.Object{
		"name": dir.QueueType, "kind": "cake",
		// The tree's max-limit shapes; a CAKE bandwidth would be a second shaper.
		"cake-bandwidth":  "0",
		"cake-diffserv":   orDefault(c.Diffserv, "diffserv3"),
		"cake-flowmode":   orDefault(c.Flowmode, "triple-isolate"),
		"cake-nat":        strconv.FormatBool(c.NAT),
		"cake-wash":       strconv.FormatBool(c.Wash),
		"cake-ack-filter": orDefault(c.AckFilter, "none"),
		"cake-overhead":   strconv.Itoa(c.Overhead),
		"cake-mpu":        strconv.Itoa(c.MPU),
		"cake-rtt":        "100ms",
		"cake-atm":        orDefault(c.ATM, "none"),
		// Empty = absent: RouterOS's default (no scheme).
		"cake-overhead-scheme": strings.Join(c.OverheadScheme, ","),
	}
	if c.RTT > 0 {
		qt["cake-rtt"] = c.RTT.String()
	}
	treeAddr := QueueAddress(w.Name, dir.Name)
	d.add(&Object{Address: QueueTypeAddress(w.Name, dir.Name), Menu: routeros.MenuQueueType, Fields: qt, TreeAddress: treeAddr})

	parent := dir.Parent
	if dir.Name == config.Upload || parent == "" {
		if dir.Name == config.Upload {
			parent = w.Interface
		} else {
			parent = "global"
		}
	}
	tree := routeros.Object{
		"name": dir.Queue, "parent": parent, "queue": dir.QueueType,
		"packet-mark": "", "disabled": "false", "comment": Marker(treeAddr),
	}
	if dir.Name == config.Download && parent != w.Interface {
		d.Interfaces = append(d.Interfaces, nameRef{parent, fmt.Sprintf("wan %q download parent", w.Name)})
	}
	global := dir.Name == config.Download && parent == "global"
	if global {
		// At global a queue sees every WAN's traffic: the packet mark
		// separates this WAN's downloads.
		tree["packet-mark"] = dir.Queue
		d.FastTrackMatters = true
		d.FastTrack6Matters = true
	}
	d.add(&Object{
		Address: treeAddr, Menu: routeros.MenuQueueTree, Fields: tree,
		CreateOnly: routeros.Object{"max-limit": strconv.FormatInt(dir.Ceiling, 10)},
	})
	if !global {
		// A download queue on a LAN interface (single WAN) sees exactly the
		// traffic leaving towards the LAN: no mark needed.
		return
	}
	for _, m := range []struct{ menu, addr string }{
		{routeros.MenuMangle, PacketMarkAddress(w.Name)},
		{routeros.MenuMangle6, PacketMark6Address(w.Name)},
	} {
		f := mangleRule(routeros.Object{
			"chain": "prerouting", "in-interface": w.Interface, "action": "mark-packet",
			"new-packet-mark": dir.Queue, "passthrough": "true", "disabled": "false",
			"comment": Marker(m.addr),
		})
		d.add(&Object{Address: m.addr, Menu: m.menu, Fields: f})
	}
}

func (d *Desired) addSteering(s *config.Steering, alt *config.WAN) {
	lan := d.Router.LANInterfaceList
	if lan == "" {
		lan = "LAN"
	}
	d.InterfaceLists = append(d.InterfaceLists, nameRef{lan, fmt.Sprintf("router %q lan_interface_list", d.Router.Name)})
	d.SteerAltInterface = alt.Interface
	d.FastTrackMatters = true

	// Never-steered destinations: the built-in ranges plus the addresses of
	// an address_list block named like the list itself.
	seen := map[string]bool{}
	addEntry := func(list, addr, address string) {
		k := list + "\x00" + normPrefix(addr)
		if seen[k] {
			return
		}
		seen[k] = true
		d.add(&Object{
			Address: address, Menu: routeros.MenuAddressList,
			Fields: routeros.Object{"list": list, "address": addr, "disabled": "false", "comment": Marker(address)},
		})
	}
	for _, a := range NotSteeredBuiltin {
		addEntry(NotSteeredList, a, NotSteeredAddress(a))
	}
	for _, l := range s.AddressLists {
		for _, a := range l.Addresses {
			if l.Name == NotSteeredList {
				addEntry(NotSteeredList, a, NotSteeredAddress(a))
			} else {
				addEntry(l.Name, a, AddressListAddress(l.Name, a))
			}
		}
	}

	base := routeros.Object{
		"chain": "prerouting", "connection-state": "new", "connection-mark": "no-mark",
		"in-interface-list": lan, "dst-address-type": "!local",
		"dst-address-list": "!" + NotSteeredList,
		"action":           "mark-connection", "new-connection-mark": SteerConnectionMark,
		"passthrough": "true",
	}
	for _, r := range s.Rules {
		f := mangleRule(clone(base))
		f["protocol"] = r.Protocol
		f["dst-port"] = r.DstPorts
		f["src-port"] = r.SrcPorts
		f["dst-address"] = r.DstAddress
		f["src-address"] = r.SrcAddress
		f["src-address-list"] = r.SrcAddressList
		if r.DstAddressList != "" {
			// RouterOS has one dst-address-list matcher per rule: the
			// user's list replaces the never-steered exclusion.
			f["dst-address-list"] = r.DstAddressList
		}
		// disabled is runtime-owned (wanctl steer toggles it): created
		// disabled, never compared.
		delete(f, "disabled")
		createOnly := routeros.Object{"disabled": "true"}
		if len(r.DSCP) == 0 {
			addr := SteerRuleAddress(r.Name)
			f["comment"] = Marker(addr)
			d.add(&Object{Address: addr, Menu: routeros.MenuMangle, Fields: f, CreateOnly: createOnly})
			continue
		}
		for _, v := range r.DSCP {
			g := clone(f)
			addr := SteerRuleDSCPAddress(r.Name, v)
			g["dscp"] = strconv.Itoa(v)
			g["comment"] = Marker(addr)
			d.add(&Object{Address: addr, Menu: routeros.MenuMangle, Fields: g, CreateOnly: clone(createOnly)})
		}
	}
	d.add(&Object{
		Address: MarkRoutingAddress, Menu: routeros.MenuMangle,
		Fields: mangleRule(routeros.Object{
			"chain": "prerouting", "connection-mark": SteerConnectionMark, "in-interface-list": lan,
			"dst-address-type": "!local", "action": "mark-routing", "new-routing-mark": alt.RoutingTable(),
			"passthrough": "false", "disabled": "false", "comment": Marker(MarkRoutingAddress),
		}),
	})
}

// mangleRule fills every managed mangle field not given with "" (absent).
func mangleRule(f routeros.Object) routeros.Object {
	for _, k := range mangleFields {
		if _, ok := f[k]; !ok {
			f[k] = ""
		}
	}
	return f
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func clone(o routeros.Object) routeros.Object {
	if o == nil {
		return nil
	}
	c := make(routeros.Object, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}
