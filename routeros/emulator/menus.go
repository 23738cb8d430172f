package emulator

import (
	"strings"

	"github.com/wanctl/wanctl/routeros"
)

// menu describes one emulated RouterOS menu: which fields may be written and
// how, what the router fills in, and which commands it has.
type menu struct {
	path      string
	named     bool // unique "name"; objects addressable by name
	singleton bool // one object, no ids (system/resource)
	ordered   bool // order matters: place-before on add, move
	cmds      map[string]bool
	fields    map[string]field // writable fields
	readOnly  map[string]bool  // fields the router reports but refuses on writes
	required  []string
	autoName  string // prefix for a generated name when none is given ("queue" -> queue1)
	// defaults returns the values the router fills in for a new object o.
	defaults func(o routeros.Object) routeros.Object
	// check validates a new or changed object (cross-field rules, entries
	// that must be unique); self is its .id ("" when new).
	check func(e *Emulator, o routeros.Object, self string) *apiError
	// protected returns what o is when it may not be changed or removed
	// ("default queue type", "dynamic entry"), "" otherwise.
	protected func(o routeros.Object) string
	// emptyOK, when not nil, lists the only fields that take "" (the
	// schema's "string value" fields); "" for any other field is refused.
	emptyOK  map[string]bool
	counters []string // zeroed by reset-counters
	// render adjusts an object for a reply (computed or state-dependent fields).
	render func(e *Emulator, o routeros.Object) routeros.Object
}

// knownCommands are RouterOS console commands: one a menu lacks is 406 Not
// Acceptable; any other word is 400 "no such command or directory".
var knownCommands = map[string]bool{
	"add": true, "set": true, "remove": true, "print": true, "enable": true, "disable": true,
	"move": true, "reset-counters": true, "reset-counters-all": true, "unset": true, "comment": true,
	"export": true, "find": true, "edit": true, "get": true, "monitor": true, "monitor-traffic": true,
	"reset": true, "blink": true, "make-static": true,
}

func cmds(names ...string) map[string]bool {
	m := map[string]bool{"print": true}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// reference is a field naming an object of another menu: removing a
// referenced object is refused and renaming it follows through.
type reference struct {
	menu, field, target string
	atSuffix            bool // the name is after "@" (route gateway "10.0.0.1@main")
}

var references = []reference{
	{routeros.MenuQueueTree, "queue", routeros.MenuQueueType, false},
	{routeros.MenuQueueTree, "parent", routeros.MenuQueueTree, false},
	{routeros.MenuRoute, "routing-table", routeros.MenuRoutingTable, false},
	{routeros.MenuRoute, "gateway", routeros.MenuRoutingTable, true},
	{routeros.MenuRoutingRule, "table", routeros.MenuRoutingTable, false},
	{routeros.MenuRoutingRule, "routing-mark", routeros.MenuRoutingTable, false},
	{routeros.MenuMangle, "new-routing-mark", routeros.MenuRoutingTable, false},
	{routeros.MenuMangle6, "new-routing-mark", routeros.MenuRoutingTable, false},
	{routeros.MenuInterfaceMember, "list", routeros.MenuInterfaceList, false},
	{routeros.MenuMangle, "in-interface-list", routeros.MenuInterfaceList, false},
	{routeros.MenuMangle, "out-interface-list", routeros.MenuInterfaceList, false},
	{routeros.MenuMangle6, "in-interface-list", routeros.MenuInterfaceList, false},
	{routeros.MenuMangle6, "out-interface-list", routeros.MenuInterfaceList, false},
	{routeros.MenuFilter, "in-interface-list", routeros.MenuInterfaceList, false},
	{routeros.MenuFilter, "out-interface-list", routeros.MenuInterfaceList, false},
	{routeros.MenuFilter6, "in-interface-list", routeros.MenuInterfaceList, false},
	{routeros.MenuFilter6, "out-interface-list", routeros.MenuInterfaceList, false},
	{routeros.MenuNAT, "in-interface-list", routeros.MenuInterfaceList, false},
	{routeros.MenuNAT, "out-interface-list", routeros.MenuInterfaceList, false},
}

// refName returns the object name a reference field value names.
func (r reference) refName(v string) string {
	if r.atSuffix {
		if _, t, ok := strings.Cut(v, "@"); ok {
			return t
		}
		return ""
	}
	return strings.TrimPrefix(v, "!")
}

func (r reference) rename(v, newName string) string {
	if r.atSuffix {
		h, _, _ := strings.Cut(v, "@")
		return h + "@" + newName
	}
	if strings.HasPrefix(v, "!") {
		return "!" + newName
	}
	return newName
}

func dynamicEntry(o routeros.Object) string {
	if o["dynamic"] == "true" {
		return "dynamic entry"
	}
	return ""
}

var cakeDiffserv = []string{"diffserv3", "diffserv4", "diffserv8", "besteffort", "precedence"}
var cakeFlowmode = []string{"flowblind", "srchost", "dsthost", "hosts", "flows", "dual-srchost", "dual-dsthost", "triple-isolate"}
var cakeOverheadScheme = []string{
	"raw", "convervative", "ipoa-vcmux", "ipoa-llcsnap", "bridged-vcmux", "bridged-llcsnap",
	"pppoa-vcmux", "pppoa-llc", "pppoe-vcmux", "pppoe-llcsnap", "pppoe-ptm", "bridged-ptm",
	"via-ethernet", "ethernet", "ether-vlan", "docsis",
}
var cakeRTTScheme = []string{"none", "datacentre", "lan", "metro", "regional", "internet", "oceanic", "satellite", "interplanetary"}

// kindDefaults are the parameters a queue type of each kind shows.
var kindDefaults = map[string]routeros.Object{
	"pfifo":    {"pfifo-limit": "50"},
	"bfifo":    {"bfifo-limit": "15000"},
	"mq-pfifo": {"mq-pfifo-limit": "50"},
	"sfq":      {"sfq-perturb": "5", "sfq-allot": "1514"},
	"red":      {"red-limit": "60", "red-min-threshold": "10", "red-max-threshold": "50", "red-burst": "20", "red-avg-packet": "1000"},
	"pcq": {"pcq-rate": "0", "pcq-limit": "50", "pcq-classifier": "", "pcq-total-limit": "2000",
		"pcq-burst-rate": "0", "pcq-burst-threshold": "0", "pcq-burst-time": "10s",
		"pcq-src-address-mask": "32", "pcq-dst-address-mask": "32", "pcq-src-address6-mask": "128", "pcq-dst-address6-mask": "128"},
	"none": {},
	"fq-codel": {"fq-codel-target": "5ms", "fq-codel-interval": "100ms", "fq-codel-limit": "10240",
		"fq-codel-quantum": "1514", "fq-codel-flows": "1024", "fq-codel-ecn": "true", "fq-codel-memlimit": "33554432"},
	"cake": {"cake-bandwidth": "0", "cake-diffserv": "diffserv3", "cake-flowmode": "triple-isolate",
		"cake-nat": "false", "cake-wash": "false", "cake-ack-filter": "none", "cake-overhead": "0",
		"cake-mpu": "0", "cake-atm": "none", "cake-overhead-scheme": "", "cake-rtt": "100ms",
		"cake-rtt-scheme": "none", "cake-memlimit": "0", "cake-autorate-ingress": "false"},
}

func queueTypeMenu() *menu {
	kinds := make([]string, 0, len(kindDefaults))
	for k := range kindDefaults {
		kinds = append(kinds, k)
	}
	return &menu{
		path:  routeros.MenuQueueType,
		named: true,
		cmds:  cmds("add", "set", "remove", "unset"),
		fields: map[string]field{
			"name": str(), "kind": enum(kinds...),
			"cake-bandwidth": rate(), "cake-diffserv": enum(cakeDiffserv...), "cake-flowmode": enum(cakeFlowmode...),
			"cake-nat": boolean(), "cake-wash": boolean(), "cake-ack-filter": enum("none", "filter", "aggressive"),
			"cake-overhead": integer(-64, 256), "cake-mpu": integer(-64, 256), "cake-atm": enum("none", "atm", "ptm"),
			"cake-overhead-scheme": {kind: kEnumList, enum: cakeOverheadScheme}, "cake-rtt": duration(),
			"cake-rtt-scheme": enum(cakeRTTScheme...), "cake-memlimit": integer(0, 1<<40), "cake-autorate-ingress": boolean(),
			"fq-codel-target": duration(), "fq-codel-interval": duration(), "fq-codel-limit": integer(1, 1<<31),
			"fq-codel-quantum": integer(1, 1<<31), "fq-codel-flows": integer(1, 65536), "fq-codel-ecn": boolean(),
			"fq-codel-memlimit": integer(0, 1<<40),
			"pfifo-limit":       integer(1, 4294967295), "bfifo-limit": integer(1, 4294967295), "mq-pfifo-limit": integer(1, 4294967295),
			"sfq-perturb": integer(0, 4294967295), "sfq-allot": integer(0, 4294967295),
			"red-limit": integer(0, 4294967295), "red-min-threshold": integer(0, 4294967295), "red-max-threshold": integer(0, 4294967295),
			"red-burst": integer(0, 4294967295), "red-avg-packet": integer(0, 4294967295),
			"pcq-rate": rate(), "pcq-limit": integer(1, 4294967295), "pcq-classifier": {kind: kEnumList, enum: []string{"src-address", "dst-address", "src-port", "dst-port"}},
			"pcq-total-limit": integer(1, 4294967295), "pcq-burst-rate": rate(), "pcq-burst-threshold": rate(), "pcq-burst-time": duration(),
			"pcq-src-address-mask": integer(0, 32), "pcq-dst-address-mask": integer(0, 32),
			"pcq-src-address6-mask": integer(0, 128), "pcq-dst-address6-mask": integer(0, 128),
		},
		readOnly: set("default"),
		required: []string{"name", "kind"},
		defaults: func(o routeros.Object) routeros.Object {
			d := routeros.Object{"default": "false"}
			for k, v := range kindDefaults[o["kind"]] {
				d[k] = v
			}
			return d
		},
		protected: func(o routeros.Object) string {
			if o["default"] == "true" {
				return "default queue type"
			}
			return ""
		},
	}
}

var queueStats = []string{"bytes", "packets", "dropped", "rate", "packet-rate", "queued-packets", "queued-bytes"}

func queueTreeMenu() *menu {
	return &menu{
		path:     routeros.MenuQueueTree,
		named:    true,
		autoName: "queue",
		cmds:     cmds("add", "set", "remove", "unset", "enable", "disable", "reset-counters", "reset-counters-all"),
		fields: map[string]field{
			"name": str(), "parent": str(), "packet-mark": str(), "limit-at": rate(),
			"queue": ref(routeros.MenuQueueType), "priority": integer(1, 8), "max-limit": rate(),
			"burst-limit": rate(), "burst-threshold": rate(), "burst-time": duration(),
			"bucket-size": {kind: kFloat, fmin: 0.1, fmax: 10}, "comment": str(), "disabled": boolean(),
		},
		readOnly: set(append([]string{"invalid"}, queueStats...)...),
		required: []string{"parent"},
		defaults: func(routeros.Object) routeros.Object {
			d := routeros.Object{"packet-mark": "", "limit-at": "0", "queue": "default-small", "priority": "8",
				"max-limit": "0", "burst-limit": "0", "burst-threshold": "0", "burst-time": "0s",
				"bucket-size": "0.1", "disabled": "false", "invalid": "false"}
			for _, s := range queueStats {
				d[s] = "0"
			}
			return d
		},
		check: func(e *Emulator, o routeros.Object, _ string) *apiError {
			p := o["parent"]
			if p == "global" || e.findByName(routeros.MenuInterface, p) != nil {
				return nil
			}
			if p != o["name"] && e.findByName(routeros.MenuQueueTree, p) != nil {
				return nil
			}
			return noMatch("parent")
		},
		counters: []string{"bytes", "packets", "dropped"},
	}
}

// simpleQueueMenu is /queue/simple: its entries take traffic before the
// queue trees of the same HTB (global, or an interface).
func simpleQueueMenu() *menu {
	return &menu{
		path:     routeros.MenuQueueSimple,
		named:    true,
		ordered:  true,
		autoName: "queue",
		cmds:     cmds("add", "set", "remove", "unset", "enable", "disable", "move", "reset-counters", "reset-counters-all"),
		fields: map[string]field{
			"name": str(), "target": str(), "dst": str(), "parent": str(), "packet-marks": str(),
			"queue": str(), "max-limit": str(), "limit-at": str(), "priority": str(),
			"burst-limit": str(), "burst-threshold": str(), "burst-time": str(), "bucket-size": str(),
			"time": str(), "comment": str(), "disabled": boolean(),
		},
		readOnly: set("dynamic", "invalid", "bytes", "packets", "dropped", "rate", "packet-rate",
			"queued-packets", "queued-bytes", "total-bytes", "total-packets", "total-dropped"),
		required: []string{"target"},
		defaults: func(routeros.Object) routeros.Object {
			return routeros.Object{"dst": "", "parent": "none", "packet-marks": "", "queue": "default-small/default-small",
				"max-limit": "0/0", "limit-at": "0/0", "priority": "8/8", "burst-limit": "0/0", "burst-threshold": "0/0",
				"burst-time": "0s/0s", "bucket-size": "0.1/0.1", "disabled": "false", "dynamic": "false", "invalid": "false",
				"bytes": "0/0", "packets": "0/0", "dropped": "0/0", "rate": "0/0", "packet-rate": "0/0",
				"queued-packets": "0/0", "queued-bytes": "0/0"}
		},
		protected: dynamicEntry,
		counters:  []string{"bytes", "packets", "dropped"},
	}
}

var addrTypes = []string{"unicast", "local", "broadcast", "multicast", "blackhole", "prohibit", "unreachable", "anycast"}

var mangleActions = []string{"accept", "add-dst-to-address-list", "add-src-to-address-list", "change-dscp",
	"change-mss", "change-ttl", "clear-df", "fasttrack-connection", "jump", "log", "mark-connection",
	"mark-packet", "mark-routing", "passthrough", "return", "route", "set-priority", "sniff-pc",
	"sniff-tzsp", "strip-ipv4-options"}
var mangle6Actions = []string{"accept", "add-dst-to-address-list", "add-src-to-address-list", "change-dscp",
	"change-hop-limit", "change-mss", "fasttrack-connection", "jump", "log", "mark-connection",
	"mark-packet", "mark-routing", "passthrough", "return", "set-priority", "sniff-pc", "sniff-tzsp"}
var filterActions = []string{"accept", "add-dst-to-address-list", "add-src-to-address-list", "drop",
	"fasttrack-connection", "jump", "log", "passthrough", "reject", "return", "tarpit"}
var filter6Actions = []string{"accept", "add-dst-to-address-list", "add-src-to-address-list", "drop",
	"fasttrack-connection", "jump", "log", "passthrough", "reject", "return"}
var natActions = []string{"accept", "add-dst-to-address-list", "add-src-to-address-list", "dst-nat",
	"endpoint-independent-nat", "jump", "log", "masquerade", "netmap", "passthrough", "redirect",
	"return", "same", "src-nat"}

// passthroughActions are the mangle actions that show and obey passthrough.
var passthroughActions = map[string]bool{"mark-connection": true, "mark-packet": true, "mark-routing": true,
	"change-dscp": true, "change-mss": true, "change-ttl": true, "change-hop-limit": true, "set-priority": true,
	"clear-df": true, "strip-ipv4-options": true, "sniff-pc": true, "sniff-tzsp": true}

// requiredFor lists the argument an action cannot do without.
var requiredFor = map[string]string{"mark-connection": "new-connection-mark", "mark-packet": "new-packet-mark",
	"mark-routing": "new-routing-mark", "change-dscp": "new-dscp", "jump": "jump-target"}

func firewallMenu(path string, actions []string, v6 bool) *menu {
	addr := field{kind: kAddr, neg: true, v6: v6}
	f := map[string]field{
		"chain": str(), "action": enum(actions...), "comment": str(), "disabled": boolean(),
		"log": boolean(), "log-prefix": str(),
		"src-address": addr, "dst-address": addr,
		"src-address-list": {kind: kString, neg: true}, "dst-address-list": {kind: kString, neg: true},
		"src-address-type": negEnumList(addrTypes...), "dst-address-type": negEnumList(addrTypes...),
		"protocol": {kind: kProtocol, neg: true}, "src-port": {kind: kPorts, neg: true},
		"dst-port": {kind: kPorts, neg: true}, "port": {kind: kPorts, neg: true},
		"dscp": integer(0, 63), "connection-state": negEnumList("established", "related", "new", "invalid", "untracked"),
		"connection-nat-state": negEnumList("srcnat", "dstnat"),
		"connection-mark":      {kind: kString, neg: true}, "packet-mark": {kind: kString, neg: true},
		"routing-mark": {kind: kString, neg: true},
		"in-interface": ref(routeros.MenuInterface, "all"), "out-interface": ref(routeros.MenuInterface, "all"),
		"in-interface-list": ref(routeros.MenuInterfaceList), "out-interface-list": ref(routeros.MenuInterfaceList),
		"jump-target": str(), "address-list": str(), "address-list-timeout": str(),
		"tcp-flags": str(), "tcp-mss": str(), "content": str(), "packet-size": str(), "limit": str(),
		"ipsec-policy": str(), "connection-type": str(), "priority": str(), "ttl": str(), "hotspot": str(),
		"layer7-protocol": str(), "connection-bytes": str(), "connection-rate": str(), "connection-limit": str(),
		"per-connection-classifier": str(), "src-mac-address": str(), "fragment": boolean(), "icmp-options": str(),
	}
	switch path {
	case routeros.MenuMangle, routeros.MenuMangle6:
		f["new-connection-mark"] = str()
		f["new-packet-mark"] = str()
		f["new-routing-mark"] = ref(routeros.MenuRoutingTable)
		f["new-dscp"] = integer(0, 63)
		f["new-mss"] = str()
		f["new-ttl"] = str()
		f["new-hop-limit"] = str()
		f["new-priority"] = str()
		f["passthrough"] = boolean()
		f["sniff-target"] = str()
		f["route-dst"] = str()
	case routeros.MenuFilter:
		f["hw-offload"] = boolean()
		f["reject-with"] = str()
	case routeros.MenuFilter6:
		f["reject-with"] = str()
		f["hop-limit"] = str()
	case routeros.MenuNAT:
		f["to-addresses"] = str()
		f["to-ports"] = str()
		f["randomise-ports"] = boolean()
	}
	// Matchers on these keys only make sense with a port protocol.
	portKeys := []string{"src-port", "dst-port", "port"}
	return &menu{
		path:     path,
		ordered:  true,
		cmds:     cmds("add", "set", "remove", "unset", "enable", "disable", "move", "reset-counters", "reset-counters-all"),
		fields:   f,
		readOnly: set("bytes", "packets", "dynamic", "invalid"),
		required: []string{"chain"},
		// A matcher has no empty value (an address list, a mark, a port):
		// RouterOS refuses "" or keeps the old value; unset removes it.
		emptyOK: set("comment", "log-prefix"),
		defaults: func(o routeros.Object) routeros.Object {
			d := routeros.Object{"action": "accept", "log": "false", "log-prefix": "", "disabled": "false",
				"dynamic": "false", "invalid": "false", "bytes": "0", "packets": "0"}
			a := o["action"]
			if a == "" {
				a = "accept"
			}
			if passthroughActions[a] && (path == routeros.MenuMangle || path == routeros.MenuMangle6) {
				d["passthrough"] = "true"
			}
			return d
		},
		check: func(_ *Emulator, o routeros.Object, _ string) *apiError {
			if arg, ok := requiredFor[o["action"]]; ok && o[arg] == "" {
				if _, writable := f[arg]; writable {
					return badRequest("missing value(s) of argument(s) %s", arg)
				}
			}
			for _, k := range portKeys {
				if _, ok := o[k]; ok && !portProtocols[strings.TrimPrefix(o["protocol"], "!")] {
					return badRequest("failure: %s can be set only with protocol tcp, udp, udp-lite, dccp or sctp", k)
				}
			}
			return nil
		},
		protected: dynamicEntry,
		counters:  []string{"bytes", "packets"},
	}
}

func addressListMenu() *menu {
	return &menu{
		path:     routeros.MenuAddressList,
		cmds:     cmds("add", "set", "remove", "unset", "enable", "disable"),
		fields:   map[string]field{"list": str(), "address": {kind: kListAddr}, "timeout": duration(), "comment": str(), "disabled": boolean()},
		readOnly: set("dynamic", "creation-time"),
		required: []string{"list", "address"},
		defaults: func(routeros.Object) routeros.Object {
			return routeros.Object{"disabled": "false", "dynamic": "false"}
		},
		check: func(e *Emulator, o routeros.Object, self string) *apiError {
			for _, x := range e.tables[routeros.MenuAddressList].rows {
				if x[".id"] != self && x["list"] == o["list"] && x["address"] == o["address"] {
					return badRequest("failure: already have such entry")
				}
			}
			return nil
		},
	}
}

func routingTableMenu() *menu {
	return &menu{
		path:     routeros.MenuRoutingTable,
		named:    true,
		cmds:     cmds("add", "set", "remove", "unset", "enable", "disable"),
		fields:   map[string]field{"name": str(), "fib": {kind: kFlag}, "comment": str(), "disabled": boolean()},
		readOnly: set("dynamic", "invalid"),
		required: []string{"name"},
		defaults: func(routeros.Object) routeros.Object {
			return routeros.Object{"disabled": "false", "dynamic": "false", "invalid": "false"}
		},
		protected: func(o routeros.Object) string {
			if o["dynamic"] == "true" {
				return "built-in routing table " + o["name"]
			}
			return ""
		},
	}
}

func routingRuleMenu() *menu {
	addr := field{kind: kAddr, anyFamily: true}
	return &menu{
		path:    routeros.MenuRoutingRule,
		ordered: true,
		cmds:    cmds("add", "set", "remove", "unset", "enable", "disable", "move"),
		fields: map[string]field{
			"src-address": addr, "dst-address": addr, "routing-mark": ref(routeros.MenuRoutingTable),
			"interface": ref(routeros.MenuInterface), "action": enum("lookup", "lookup-only-in-table", "unreachable", "drop"),
			"table": ref(routeros.MenuRoutingTable), "min-prefix": integer(0, 128), "comment": str(), "disabled": boolean(),
		},
		readOnly: set("inactive", "invalid", "dynamic"),
		defaults: func(routeros.Object) routeros.Object {
			return routeros.Object{"action": "lookup", "disabled": "false", "inactive": "false"}
		},
		protected: dynamicEntry,
	}
}

func routeMenu() *menu {
	return &menu{
		path: routeros.MenuRoute,
		cmds: cmds("add", "set", "remove", "unset", "enable", "disable"),
		fields: map[string]field{
			"dst-address": {kind: kAddr}, "gateway": str(), "routing-table": ref(routeros.MenuRoutingTable),
			"distance": integer(1, 255), "check-gateway": enum("none", "arp", "ping", "bfd", "bfd-multihop"),
			"scope": integer(0, 255), "target-scope": integer(0, 255), "comment": str(), "disabled": boolean(),
			"blackhole": {kind: kFlag}, "suppress-hw-offload": boolean(), "vrf-interface": str(), "pref-src": str(),
		},
		readOnly: set("active", "dynamic", "static", "inactive", "immediate-gw", "connect", "dhcp", "hw-offloaded", "ecmp", "ospf", "bgp"),
		defaults: func(o routeros.Object) routeros.Object {
			d := routeros.Object{"dst-address": "0.0.0.0/0", "routing-table": "main", "distance": "1", "scope": "30",
				"target-scope": "10", "disabled": "false", "dynamic": "false", "static": "true", "inactive": "false",
				"active": "true", "suppress-hw-offload": "false", "hw-offloaded": "false"}
			if g := o["gateway"]; g != "" {
				h, _, _ := strings.Cut(g, "@")
				d["immediate-gw"] = h
			}
			return d
		},
		check: func(e *Emulator, o routeros.Object, _ string) *apiError {
			if _, t, ok := strings.Cut(o["gateway"], "@"); ok && e.findByName(routeros.MenuRoutingTable, t) == nil {
				return noMatch("gateway")
			}
			return nil
		},
		protected: dynamicEntry,
		render: func(e *Emulator, o routeros.Object) routeros.Object {
			if h, _, _ := strings.Cut(o["gateway"], "@"); e.deadGW[h] {
				o["active"], o["inactive"] = "false", "true"
				delete(o, "immediate-gw")
			}
			// A disabled static route is a much smaller object.
			if o["disabled"] == "true" {
				for _, k := range []string{"active", "inactive", "immediate-gw", "hw-offloaded"} {
					delete(o, k)
				}
			}
			return o
		},
	}
}

func interfaceMenu() *menu {
	return &menu{
		path:   routeros.MenuInterface,
		named:  true,
		cmds:   cmds("set", "enable", "disable", "reset-counters", "unset", "comment"),
		fields: map[string]field{"comment": str(), "disabled": boolean(), "mtu": integer(0, 65535), "l2mtu": integer(0, 65535)},
		readOnly: set("name", "default-name", "type", "running", "slave", "actual-mtu", "mac-address", "last-link-up-time",
			"link-downs", "rx-byte", "tx-byte", "rx-packet", "tx-packet", "rx-drop", "tx-drop", "tx-queue-drop",
			"rx-error", "tx-error", "fp-rx-byte", "fp-tx-byte", "fp-rx-packet", "fp-tx-packet", "dynamic"),
		counters: []string{"rx-byte", "tx-byte", "rx-packet", "tx-packet", "rx-drop", "tx-drop", "tx-queue-drop",
			"rx-error", "tx-error", "fp-rx-byte", "fp-tx-byte", "fp-rx-packet", "fp-tx-packet", "link-downs"},
		render: func(_ *Emulator, o routeros.Object) routeros.Object {
			if o["disabled"] == "true" {
				o["running"] = "false"
			}
			return o
		},
	}
}

func interfaceListMenu() *menu {
	return &menu{
		path:     routeros.MenuInterfaceList,
		named:    true,
		cmds:     cmds("add", "set", "remove", "unset"),
		fields:   map[string]field{"name": str(), "include": str(), "exclude": str(), "comment": str()},
		readOnly: set("builtin", "dynamic"),
		required: []string{"name"},
		defaults: func(routeros.Object) routeros.Object {
			return routeros.Object{"builtin": "false", "dynamic": "false", "include": "", "exclude": ""}
		},
		protected: func(o routeros.Object) string {
			if o["builtin"] == "true" {
				return "built-in interface list"
			}
			return ""
		},
	}
}

func interfaceMemberMenu() *menu {
	return &menu{
		path:     routeros.MenuInterfaceMember,
		cmds:     cmds("add", "set", "remove", "unset", "enable", "disable"),
		fields:   map[string]field{"list": {kind: kRef, ref: routeros.MenuInterfaceList}, "interface": {kind: kRef, ref: routeros.MenuInterface}, "comment": str(), "disabled": boolean()},
		readOnly: set("dynamic", "inactive"),
		required: []string{"list", "interface"},
		defaults: func(routeros.Object) routeros.Object {
			return routeros.Object{"disabled": "false", "dynamic": "false", "inactive": "false"}
		},
		check: func(e *Emulator, o routeros.Object, self string) *apiError {
			for _, x := range e.tables[routeros.MenuInterfaceMember].rows {
				if x[".id"] != self && x["list"] == o["list"] && x["interface"] == o["interface"] {
					return badRequest("failure: already have such entry")
				}
			}
			return nil
		},
		protected: dynamicEntry,
	}
}

func resourceMenu() *menu {
	return &menu{
		path:      routeros.MenuResource,
		singleton: true,
		cmds:      cmds(),
		fields:    map[string]field{},
		render: func(e *Emulator, o routeros.Object) routeros.Object {
			o["uptime"] = formatDuration(e.now().Sub(e.started).Truncate(1e9))
			return o
		},
	}
}

func allMenus() []*menu {
	return []*menu{
		queueTypeMenu(), queueTreeMenu(),
		firewallMenu(routeros.MenuMangle, mangleActions, false),
		firewallMenu(routeros.MenuMangle6, mangle6Actions, true),
		firewallMenu(routeros.MenuFilter, filterActions, false),
		firewallMenu(routeros.MenuFilter6, filter6Actions, true),
		simpleQueueMenu(),
		firewallMenu(routeros.MenuNAT, natActions, false),
		addressListMenu(), routingTableMenu(), routingRuleMenu(), routeMenu(),
		interfaceMenu(), interfaceListMenu(), interfaceMemberMenu(), resourceMenu(),
	}
}
