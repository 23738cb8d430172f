package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/wanctl/wanctl/config"

	"github.com/wanctl/wanctl/routeros"
)

// Check inspects what the router holds for problems that are not changes:
// an enabled FastTrack rule (an error unless allow_fasttrack), a missing
// srcnat rule for the steering alternate, names the configuration uses that
// the router does not have, and CAKE queue types that would shape twice.
func Check(d *Desired, act Actual) Diagnostics {
	var ds Diagnostics
	r := d.Router
	if d.FastTrackMatters {
		ds = append(ds, fastTrackDiags(r, act[routeros.MenuFilter], false)...)
	}
	if d.FastTrack6Matters {
		ds = append(ds, fastTrackDiags(r, act[routeros.MenuFilter6], true)...)
	}
	ds = append(ds, simpleQueueDiags(act[routeros.MenuQueueSimple])...)
	for _, o := range d.Objects {
		if o.Menu != routeros.MenuRoute {
			continue
		}
		for _, a := range act[routeros.MenuRoute] {
			// A route about to change (another gateway) says nothing yet.
			if a["comment"] == o.Fields["comment"] && sameValue(routeros.MenuRoute, "gateway", o.Fields["gateway"], a) {
				if dg, bad := InactiveRoute(o.Address, a); bad {
					ds = append(ds, dg)
				}
			}
		}
	}
	if alt := d.SteerAltInterface; alt != "" && !natCovers(act, alt) {
		ds.warnf("", "no srcnat rule covers the steering alternate's interface %q",
			"Steered connections would leave %q with their LAN source addresses and get no replies. Add a masquerade rule, e.g. /ip firewall nat add chain=srcnat out-interface=%s action=masquerade (or put %s in an interface list that an existing masquerade rule uses as out-interface-list).", alt, alt, alt, alt)
	}
	ifaces := names(act[routeros.MenuInterface], "name")
	trees := names(act[routeros.MenuQueueTree], "name")
	for _, n := range d.Interfaces {
		if n.Name == "" || n.Name == "global" || ifaces[n.Name] || trees[n.Name] {
			continue
		}
		ds.warnf("", "%s %q does not exist on router %q",
			"The router has no interface of that name (read /interface). Check the spelling, or create the interface first: objects naming it would not work.", n.Where, n.Name, r.Name)
	}
	lists := names(act[routeros.MenuInterfaceList], "name")
	for _, n := range d.InterfaceLists {
		if lists[n.Name] || n.Name == "all" {
			continue
		}
		ds.warnf("", "%s %q does not exist on router %q",
			"The router has no interface list of that name (read /interface/list); the steering rules match in-interface-list = %q and would match nothing. Create it (/interface list add name=%s) with the LAN interfaces as members, or name an existing list.", n.Where, n.Name, r.Name, n.Name, n.Name)
	}
	// Double shaping: a CAKE type with its own bandwidth under a queue with
	// a max-limit. wanctl's own types are fixed by the plan itself.
	managedTypes := map[string]bool{}
	for _, o := range d.Objects {
		if o.Menu == routeros.MenuQueueType {
			managedTypes[o.Fields["name"]] = true
		}
	}
	typesByName := map[string]routeros.Object{}
	for _, t := range act[routeros.MenuQueueType] {
		typesByName[t["name"]] = t
	}
	warned := map[string]bool{}
	for _, t := range act[routeros.MenuQueueTree] {
		q := t["queue"]
		qt, ok := typesByName[q]
		if !ok || managedTypes[q] || warned[q] || qt["kind"] != "cake" {
			continue
		}
		if normValue(routeros.MenuQueueTree, "max-limit", t["max-limit"], hasKey(t, "max-limit")) == "0" {
			continue
		}
		if normValue(routeros.MenuQueueType, "cake-bandwidth", qt["cake-bandwidth"], hasKey(qt, "cake-bandwidth")) == "0" {
			continue
		}
		warned[q] = true
		ds.warnf("", "queue type %q shapes on its own under queue %q (double shaping)",
			"The CAKE type has cake-bandwidth=%s and the queue-tree entry a max-limit: two shapers fight and the lower one wins. Set cake-bandwidth=0 on the type (/queue type set [find name=%q] cake-bandwidth=0) and let the queue's max-limit shape.", q, t["name"], qt["cake-bandwidth"], q)
	}
	return ds
}

// InactiveRoute reports a WAN's default route (address wan.NAME.route) that
// the router holds enabled but not active: only the router knows whether
// its gateway resolves and answers. Connections steered to the WAN, and the
// pinned reflector pings (lookup-only-in-table), then have no route.
func InactiveRoute(address string, a routeros.Object) (Diagnostic, bool) {
	// A route without either flag tells nothing: say nothing.
	_, hasActive := a["active"]
	if isTrue(a, "disabled") || !isTrue(a, "inactive") && (!hasActive || isTrue(a, "active")) {
		return Diagnostic{}, false
	}
	wan := strings.TrimSuffix(strings.TrimPrefix(address, "wan."), ".route")
	gw := a["gateway"]
	host, _, _ := strings.Cut(gw, "@")
	var ds Diagnostics
	ds.warnf(address, "wan %q: its default route (table %s, gateway %s) is not active",
		"The router holds /ip/route %s enabled but not active, so what wanctl sends through table %s (steered connections, pinned reflector pings) has no route. Check on the router: /ip route print detail where comment=%q. Causes and fixes: the gateway does not answer (check-gateway=ping marks it unreachable: /ping %s); an IP gateway must resolve through a connected route in main (gateway=%s@main: the WAN's address must be up on its interface); for a DHCP or PPPoE WAN the gateway may have changed (compare /ip dhcp-client print with gateway in wan %q, fix the configuration, then plan and apply).",
		wan, a["routing-table"], gw, a.ID(), a["routing-table"], a["comment"], host, host, wan)
	return ds[0], true
}

// fastTrackDiags: an enabled FastTrack rule is an error unless
// allow_fasttrack. IPv6 FastTrack (RouterOS 7.18+) bypasses the IPv6 mangle
// marks and the queues at "global" just as IPv4's does.
func fastTrackDiags(r *config.Router, rules []routeros.Object, v6 bool) Diagnostics {
	var ds Diagnostics
	menu, ip, what := routeros.MenuFilter, "ip", "the mangle rules"
	if v6 {
		menu, ip, what = routeros.MenuFilter6, "ipv6", "the IPv6 mangle rules (wanctl's IPv6 download marks)"
	}
	for _, f := range rules {
		if f["action"] != "fasttrack-connection" || isTrue(f, "disabled") || isTrue(f, "dynamic") {
			continue
		}
		where := "/" + menu + " rule " + f.ID() + " (chain " + f["chain"] + commentNote(f) + ")"
		switch {
		case r.AllowFastTrack && v6:
			ds.warnf("", "IPv6 FastTrack is enabled: FastTracked IPv6 traffic is not shaped",
				"%s FastTracks IPv6 connections, and allow_fasttrack = true in router %q accepts that: FastTracked packets skip %s and the queues at \"global\".", where, r.Name, what)
		case r.AllowFastTrack:
			ds.warnf("", "FastTrack is enabled: FastTracked traffic is not shaped or steered",
				"%s FastTracks connections, and allow_fasttrack = true in router %q accepts that: FastTracked packets skip the mangle rules and the queues at \"global\". Make sure the rule has connection-mark=no-mark so that steered connections are not FastTracked.", where, r.Name)
		case v6:
			ds.errorf("", "IPv6 FastTrack is enabled on router %q: IPv6 downloads would not be shaped",
				"%s FastTracks IPv6 connections (RouterOS 7.18 and later). FastTracked packets skip %s and the queues parented at \"global\", so wanctl's download queues would not see IPv6 downloads. Fix it on the router: disable the rule (/%s firewall filter disable [find action=fasttrack-connection]); or set allow_fasttrack = true in router %q to accept that FastTracked traffic stays unshaped (this error then becomes a warning).", r.Name, where, what, ip, r.Name)
		default:
			ds.errorf("", "FastTrack is enabled on router %q: nothing would be shaped or steered",
				"%s FastTracks connections. FastTracked packets skip the mangle rules and the queues parented at \"global\", so wanctl's download queues, packet marks and steering rules would not see them. Fix it on the router: disable the rule (/%s firewall filter disable [find action=fasttrack-connection]); or add connection-mark=no-mark to it AND set allow_fasttrack = true in router %q to accept that FastTracked traffic stays unshaped (this error then becomes a warning).", r.Name, where, ip, r.Name)
		}
	}
	return ds
}

// simpleQueueDiags warns about enabled simple queues that could catch WAN
// traffic: RouterOS runs them before the queue trees of the same HTB, so
// they shape (and limit) that traffic before wanctl's queues see it.
func simpleQueueDiags(queues []routeros.Object) Diagnostics {
	var caught []string
	for _, q := range queues {
		if isTrue(q, "disabled") || !mayCatchWAN(q["dst"]) {
			continue
		}
		n := fmt.Sprintf("%q", q["name"])
		if t := q["target"]; t != "" {
			n += " (target " + t + ")"
		}
		if isTrue(q, "dynamic") {
			n += " (dynamic)"
		}
		caught = append(caught, n)
	}
	if len(caught) == 0 {
		return nil
	}
	const shown = 10
	list := strings.Join(caught[:min(len(caught), shown)], ", ")
	if len(caught) > shown {
		list += fmt.Sprintf(" and %d more", len(caught)-shown)
	}
	var ds Diagnostics
	ds.warnf("", "%d simple queue(s) can take WAN traffic before wanctl's queue trees",
		"/queue/simple: %s. RouterOS runs simple queues before the queue trees of the same HTB, so traffic a simple queue catches is shaped by it first and wanctl's CAKE queues only see what it lets through (their max-limit is no longer the bottleneck and latency control is lost). Remove or disable them (/queue simple disable [find name=NAME]), or limit each to LAN destinations with dst= (a private prefix).", len(caught), list)
	return ds
}

// mayCatchWAN: a simple queue catches traffic between its target and dst
// (anything without a dst). Only a dst made of private, link-local or
// loopback prefixes keeps Internet traffic out of it.
func mayCatchWAN(dst string) bool {
	items := splitList(dst)
	if len(items) == 0 {
		return true
	}
	for _, it := range items {
		p, err := netip.ParsePrefix(it)
		if err != nil {
			a, aerr := netip.ParseAddr(it)
			if aerr != nil {
				return true // an interface: could be a WAN
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		a := p.Masked().Addr()
		if !(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()) || p.Bits() < privateBits(a) {
			return true
		}
	}
	return false
}

// privateBits is the prefix length of the private or local range holding a
// (a wider dst prefix reaches beyond it).
func privateBits(a netip.Addr) int {
	for _, r := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128"} {
		if p := netip.MustParsePrefix(r); p.Contains(a) {
			return p.Bits()
		}
	}
	return a.BitLen()
}

// natCovers: an enabled srcnat masquerade/src-nat rule whose out-interface
// or out-interface-list includes iface (a rule with neither covers all).
func natCovers(act Actual, iface string) bool {
	members := map[string]map[string]bool{}
	for _, m := range act[routeros.MenuInterfaceMember] {
		if isTrue(m, "disabled") {
			continue
		}
		if members[m["list"]] == nil {
			members[m["list"]] = map[string]bool{}
		}
		members[m["list"]][m["interface"]] = true
	}
	// A list also holds the members of the lists it includes, less those
	// of the lists it excludes (/interface/list include=, exclude=).
	incl, excl := map[string][]string{}, map[string][]string{}
	for _, l := range act[routeros.MenuInterfaceList] {
		incl[l["name"]] = splitList(l["include"])
		excl[l["name"]] = splitList(l["exclude"])
	}
	var inList func(l string, seen map[string]bool) bool
	inList = func(l string, seen map[string]bool) bool {
		if l == "all" {
			return true
		}
		if seen[l] {
			return false // a cycle of includes adds nothing
		}
		seen[l] = true
		in := members[l][iface]
		for _, x := range incl[l] {
			in = in || inList(x, seen)
		}
		for _, x := range excl[l] {
			in = in && !inList(x, seen)
		}
		delete(seen, l)
		return in
	}
	for _, n := range act[routeros.MenuNAT] {
		if n["chain"] != "srcnat" || isTrue(n, "disabled") {
			continue
		}
		if a := n["action"]; a != "masquerade" && a != "src-nat" {
			continue
		}
		oi, ol := n["out-interface"], n["out-interface-list"]
		ok := true
		if oi != "" {
			if strings.HasPrefix(oi, "!") {
				ok = oi[1:] != iface
			} else {
				ok = oi == iface
			}
		}
		if ok && ol != "" {
			if strings.HasPrefix(ol, "!") {
				ok = !inList(ol[1:], map[string]bool{})
			} else {
				ok = inList(ol, map[string]bool{})
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// splitList splits a RouterOS list value ("a,b") into its items.
func splitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func names(objs []routeros.Object, field string) map[string]bool {
	out := map[string]bool{}
	for _, o := range objs {
		out[o[field]] = true
	}
	return out
}

// Fingerprint hashes what a plan depends on: every non-dynamic object of
// every menu read, in the router's order, without counters, state and the
// runtime-owned fields (max-limit of wanctl queues, disabled of the steering
// rules), so that autorate and steer running in between do not make a saved
// plan stale. Values are normalised like the diff compares them.
func Fingerprint(act Actual) string {
	menus := make([]string, 0, len(act))
	for m := range act {
		menus = append(menus, m)
	}
	sort.Strings(menus)
	h := sha256.New()
	for _, m := range menus {
		h.Write([]byte("menu\x00" + m + "\x00"))
		for _, o := range act[m] {
			if isTrue(o, "dynamic") {
				continue
			}
			keys := make([]string, 0, len(o))
			for k := range o {
				if isCounter(k) {
					continue
				}
				if k == "max-limit" && m == routeros.MenuQueueTree && IsMarked(o) {
					continue
				}
				if k == "disabled" && m == routeros.MenuMangle && IsSteeringRule(o) {
					continue
				}
				keys = append(keys, k)
			}
			sort.Strings(keys)
			h.Write([]byte("obj\x00"))
			for _, k := range keys {
				h.Write([]byte(k + "=" + normValue(m, k, o[k], true) + "\x00"))
			}
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
