package emulator

import (
	"strconv"

	"github.com/wanctl/wanctl/routeros"
)

type obj = routeros.Object

// seed loads a RouterOS v7 default configuration (defconf) on an RB5009-like
// router with a PPPoE client on ether1 and an LTE modem.
func (e *Emulator) seed() {
	must := func(menu string, o obj) {
		if _, err := e.insert(e.tables[menu], o); err != nil {
			panic(err) // the seed is fixed: a failure is a bug here
		}
	}

	for _, q := range []obj{
		{"name": "default", "kind": "pfifo"},
		{"name": "ethernet-default", "kind": "pfifo"},
		{"name": "wireless-default", "kind": "sfq"},
		{"name": "synchronous-default", "kind": "red"},
		{"name": "hotspot-default", "kind": "sfq"},
		{"name": "pcq-upload-default", "kind": "pcq", "pcq-classifier": "src-address"},
		{"name": "pcq-download-default", "kind": "pcq", "pcq-classifier": "dst-address"},
		{"name": "only-hardware-queue", "kind": "none"},
		{"name": "multi-queue-ethernet-default", "kind": "mq-pfifo"},
		{"name": "default-small", "kind": "pfifo", "pfifo-limit": "10"},
		{"name": "fq-codel-default", "kind": "fq-codel"},
		{"name": "cake-default", "kind": "cake"},
	} {
		q["default"] = "true"
		must(routeros.MenuQueueType, q)
	}

	type iface struct {
		name, typ string
		running   bool
		mtu       string
	}
	for i, f := range []iface{
		{"ether1", "ether", true, "1500"}, {"ether2", "ether", true, "1500"}, {"ether3", "ether", true, "1500"},
		{"ether4", "ether", false, "1500"}, {"ether5", "ether", false, "1500"}, {"ether6", "ether", false, "1500"},
		{"ether7", "ether", false, "1500"}, {"ether8", "ether", false, "1500"}, {"sfp-sfpplus1", "ether", false, "1500"},
		{"bridge", "bridge", true, "auto"}, {"pppoe-out1", "pppoe-out", true, "1480"}, {"lte1", "lte", false, "1500"},
	} {
		o := obj{"name": f.name, "type": f.typ, "running": strconv.FormatBool(f.running), "disabled": "false",
			"mtu": f.mtu, "actual-mtu": f.mtu, "dynamic": "false", "link-downs": "0"}
		if f.mtu == "auto" {
			o["actual-mtu"] = "1500"
		}
		if f.typ == "ether" || f.typ == "bridge" {
			o["mac-address"] = "48:A9:8A:00:00:" + strconv.FormatInt(int64(0x10+i), 16)
			o["l2mtu"] = "1514"
		}
		if f.typ == "ether" {
			o["default-name"] = f.name
		}
		if f.name == "ether3" || f.name == "ether4" || f.name == "ether5" || f.name == "ether6" ||
			f.name == "ether7" || f.name == "ether8" || f.name == "sfp-sfpplus1" {
			o["slave"] = "true"
		}
		var rx, tx int64
		if f.running {
			rx, tx = int64(9_876_543_210+i*1_000_003), int64(1_234_567_890+i*999_983)
		}
		o["rx-byte"], o["tx-byte"] = strconv.FormatInt(rx, 10), strconv.FormatInt(tx, 10)
		o["rx-packet"], o["tx-packet"] = strconv.FormatInt(rx/1200, 10), strconv.FormatInt(tx/800, 10)
		for _, c := range []string{"rx-drop", "tx-drop", "tx-queue-drop", "rx-error", "tx-error"} {
			o[c] = "0"
		}
		o["fp-rx-byte"], o["fp-tx-byte"], o["fp-rx-packet"], o["fp-tx-packet"] = "0", "0", "0", "0"
		must(routeros.MenuInterface, o)
	}

	for _, l := range []obj{
		{"name": "all", "builtin": "true", "dynamic": "true"},
		{"name": "none", "builtin": "true", "dynamic": "true"},
		{"name": "dynamic", "builtin": "true", "dynamic": "true"},
		{"name": "static", "builtin": "true", "dynamic": "true"},
		{"name": "WAN", "comment": "defconf"},
		{"name": "LAN", "comment": "defconf"},
	} {
		must(routeros.MenuInterfaceList, l)
	}
	must(routeros.MenuInterfaceMember, obj{"list": "LAN", "interface": "bridge", "comment": "defconf"})
	// defconf puts only ether1 in WAN: a second WAN is not masqueraded
	// until the user adds it.
	must(routeros.MenuInterfaceMember, obj{"list": "WAN", "interface": "ether1", "comment": "defconf"})

	must(routeros.MenuRoutingTable, obj{"name": "main", "fib": "", "dynamic": "true"})

	for _, r := range []obj{
		{"dst-address": "0.0.0.0/0", "gateway": "100.64.0.1", "immediate-gw": "100.64.0.1%ether1", "distance": "1", "dhcp": "true"},
		{"dst-address": "100.64.0.0/24", "gateway": "ether1", "immediate-gw": "ether1", "distance": "0", "connect": "true", "pref-src": "100.64.0.2"},
		{"dst-address": "192.168.1.0/24", "gateway": "ether2", "immediate-gw": "ether2", "distance": "0", "connect": "true", "pref-src": "192.168.1.2"},
		{"dst-address": "192.168.88.0/24", "gateway": "bridge", "immediate-gw": "bridge", "distance": "0", "connect": "true", "pref-src": "192.168.88.1"},
	} {
		r["dynamic"], r["static"], r["active"] = "true", "false", "true"
		must(routeros.MenuRoute, r)
	}

	// PPPoE with change-tcp-mss adds a dynamic mangle rule at the top.
	must(routeros.MenuMangle, obj{"chain": "forward", "action": "change-mss", "new-mss": "clamp-to-pmtu",
		"passthrough": "true", "protocol": "tcp", "tcp-flags": "syn", "tcp-mss": "1441-65535",
		"out-interface": "pppoe-out1", "dynamic": "true", "bytes": "1284", "packets": "21"})

	must(routeros.MenuFilter, obj{"chain": "forward", "action": "passthrough",
		"comment": "special dummy rule to show fasttrack counters", "dynamic": "true",
		"bytes": "73822341", "packets": "61205"})
	for _, r := range []obj{
		{"chain": "input", "action": "accept", "connection-state": "established,related,untracked", "comment": "defconf: accept established,related,untracked"},
		{"chain": "input", "action": "drop", "connection-state": "invalid", "comment": "defconf: drop invalid"},
		{"chain": "input", "action": "accept", "protocol": "icmp", "comment": "defconf: accept ICMP"},
		{"chain": "input", "action": "accept", "dst-address": "127.0.0.1", "comment": "defconf: accept to local loopback (for CAPsMAN)"},
		{"chain": "input", "action": "drop", "in-interface-list": "!LAN", "comment": "defconf: drop all not coming from LAN"},
		{"chain": "forward", "action": "accept", "ipsec-policy": "in,ipsec", "comment": "defconf: accept in ipsec policy"},
		{"chain": "forward", "action": "accept", "ipsec-policy": "out,ipsec", "comment": "defconf: accept out ipsec policy"},
		{"chain": "forward", "action": "fasttrack-connection", "connection-state": "established,related", "hw-offload": "true", "comment": "defconf: fasttrack"},
		{"chain": "forward", "action": "accept", "connection-state": "established,related,untracked", "comment": "defconf: accept established,related, untracked"},
		{"chain": "forward", "action": "drop", "connection-state": "invalid", "comment": "defconf: drop invalid"},
		{"chain": "forward", "action": "drop", "connection-state": "new", "connection-nat-state": "!dstnat", "in-interface-list": "WAN", "comment": "defconf: drop all from WAN not DSTNATed"},
	} {
		must(routeros.MenuFilter, r)
	}
	// The IPv6 defconf of 7.16 (the version this router reports): no
	// FastTrack rule, which IPv6 only has from 7.18 (tests add one).
	for _, r := range []obj{
		{"chain": "input", "action": "accept", "connection-state": "established,related,untracked", "comment": "defconf: accept established,related,untracked"},
		{"chain": "input", "action": "drop", "connection-state": "invalid", "comment": "defconf: drop invalid"},
		{"chain": "input", "action": "accept", "protocol": "icmpv6", "comment": "defconf: accept ICMPv6"},
		{"chain": "input", "action": "accept", "protocol": "udp", "dst-port": "33434-33534", "comment": "defconf: accept UDP traceroute"},
		{"chain": "input", "action": "accept", "protocol": "udp", "dst-port": "546", "src-address": "fe80::/10", "comment": "defconf: accept DHCPv6-Client prefix delegation."},
		{"chain": "input", "action": "accept", "protocol": "udp", "dst-port": "500,4500", "comment": "defconf: accept IKE"},
		{"chain": "input", "action": "accept", "protocol": "ipsec-ah", "comment": "defconf: accept ipsec AH"},
		{"chain": "input", "action": "accept", "protocol": "ipsec-esp", "comment": "defconf: accept ipsec ESP"},
		{"chain": "input", "action": "accept", "ipsec-policy": "in,ipsec", "comment": "defconf: accept all that matches ipsec policy"},
		{"chain": "input", "action": "drop", "in-interface-list": "!LAN", "comment": "defconf: drop everything else not coming from LAN"},
		{"chain": "forward", "action": "accept", "connection-state": "established,related,untracked", "comment": "defconf: accept established,related,untracked"},
		{"chain": "forward", "action": "drop", "connection-state": "invalid", "comment": "defconf: drop invalid"},
		{"chain": "forward", "action": "drop", "protocol": "icmpv6", "hop-limit": "equal:1", "comment": "defconf: rfc4890 drop hop-limit=1"},
		{"chain": "forward", "action": "accept", "protocol": "icmpv6", "comment": "defconf: accept ICMPv6"},
		{"chain": "forward", "action": "accept", "protocol": "139", "comment": "defconf: accept HIP"},
		{"chain": "forward", "action": "accept", "protocol": "udp", "dst-port": "500,4500", "comment": "defconf: accept IKE"},
		{"chain": "forward", "action": "accept", "protocol": "ipsec-ah", "comment": "defconf: accept ipsec AH"},
		{"chain": "forward", "action": "accept", "protocol": "ipsec-esp", "comment": "defconf: accept ipsec ESP"},
		{"chain": "forward", "action": "accept", "ipsec-policy": "in,ipsec", "comment": "defconf: accept all that matches ipsec policy"},
		{"chain": "forward", "action": "drop", "in-interface-list": "!LAN", "comment": "defconf: drop everything else not coming from LAN"},
	} {
		must(routeros.MenuFilter6, r)
	}
	must(routeros.MenuNAT, obj{"chain": "srcnat", "action": "masquerade", "out-interface-list": "WAN",
		"ipsec-policy": "out,none", "comment": "defconf: masquerade"})

	must(routeros.MenuResource, obj{
		"uptime": "0s", "version": "7.16.2 (stable)", "build-time": "2024-11-26 12:44:00",
		"factory-software": "7.1", "free-memory": "853049344", "total-memory": "1073741824",
		"cpu": "ARM64", "cpu-count": "4", "cpu-frequency": "1400", "cpu-load": "2",
		"free-hdd-space": "958300160", "total-hdd-space": "1073741824",
		"write-sect-since-reboot": "1843", "write-sect-total": "201544", "bad-blocks": "0",
		"architecture-name": "arm64", "board-name": "RB5009UG+S+", "platform": "MikroTik",
	})
}
