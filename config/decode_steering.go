package config

import (
	"fmt"
	"strings"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// ---- steering ----

func (d *decoder) steering(r *rawSteering) *Steering {
	out := &Steering{DeclRange: r.DefRange}
	aux := &steerAux{raw: r, primaryRange: r.DefRange, alternateRange: r.DefRange}
	d.steerAux = aux
	if d.require(r.Primary, "primary", "steering", r.DefRange, `"spectrum"`) {
		aux.primaryRange = r.Primary.Expr.Range()
		d.str(r.Primary, &out.Primary)
	}
	if d.require(r.Alternate, "alternate", "steering", r.DefRange, `"att"`) {
		aux.alternateRange = r.Alternate.Expr.Range()
		d.str(r.Alternate, &out.Alternate)
	}
	d.boolean(r.DryRun, &out.DryRun)
	if len(r.Rules) == 0 {
		d.errorf(r.DefRange, "Steering without rules",
			"A steering block needs at least one rule block saying which new connections move to the alternate WAN, "+
				"for example a rule \"voip\" block with protocol = \"udp\" and dst_ports = \"3478-3481,5060\".")
	}
	seen := map[string]hcl.Range{}
	for _, rr := range r.Rules {
		if prev, dup := seen[rr.Name]; dup {
			d.errorf(rr.NameRange, "Duplicate rule name", "Rule %q is already defined at %s. Rename one of them.", rr.Name, location(prev))
		}
		seen[rr.Name] = rr.DefRange
		out.Rules = append(out.Rules, d.rule(rr, aux))
	}
	seenL := map[string]hcl.Range{}
	for _, rl := range r.AddressLists {
		if prev, dup := seenL[rl.Name]; dup {
			d.errorf(rl.NameRange, "Duplicate address_list name", "address_list %q is already defined at %s. Merge them.", rl.Name, location(prev))
		}
		seenL[rl.Name] = rl.DefRange
		out.AddressLists = append(out.AddressLists, d.addressList(rl))
	}
	out.Thresholds = d.steerThresholds(single(d, r.Thresholds, func(b *rawSteerThresholds) hcl.Range { return b.DefRange }, "thresholds", "steering", r.DefRange, false))
	return out
}

func (d *decoder) rule(r *rawRule, aux *steerAux) *SteerRule {
	out := &SteerRule{Name: r.Name, DeclRange: r.DefRange}
	d.checkName(r.Name, "rule", r.NameRange)
	if r.Protocol == nil && r.DstPorts == nil && r.SrcPorts == nil && r.DstAddress == nil && r.SrcAddress == nil &&
		r.SrcAddressList == nil && r.DstAddressList == nil && r.DSCP == nil {
		d.errorf(r.DefRange, "Rule without matchers",
			"Rule %q matches nothing. Give it at least one of protocol, dst_ports, src_ports, dst_address, src_address, "+
				"src_address_list, dst_address_list or dscp. To steer every new connection, write dst_address = \"0.0.0.0/0\".", r.Name)
	}
	protoOK := true
	if r.Protocol != nil {
		protoOK = d.protocol(r.Protocol, &out.Protocol)
	}
	for _, p := range []struct {
		a   *hcl.Attribute
		out *string
	}{{r.DstPorts, &out.DstPorts}, {r.SrcPorts, &out.SrcPorts}} {
		if p.a == nil {
			continue
		}
		var s string
		if !d.portString(p.a, &s) {
			continue
		}
		pl, err := parsePortList(s)
		if err != nil {
			d.errorf(p.a.Expr.Range(), "Invalid port list",
				"%s = %q: %v. Write ports and ranges separated by commas, such as \"3478-3481,5060\".", p.a.Name, s, err)
			continue
		}
		*p.out = pl
		switch {
		case r.Protocol == nil:
			d.errorf(p.a.Expr.Range(), "Ports need a protocol",
				"RouterOS matches %s only together with a protocol that has ports. Add protocol = \"tcp\" or \"udp\" "+
					"(or sctp, udp-lite, dccp); for both TCP and UDP write two rules.", strings.ReplaceAll(p.a.Name, "_", "-"))
		case protoOK && !portProtocols[out.Protocol]:
			d.errorf(p.a.Expr.Range(), fmt.Sprintf("Protocol %q has no ports", out.Protocol),
				"%s needs protocol tcp, udp, sctp, udp-lite or dccp; RouterOS rejects ports with protocol %q.", p.a.Name, out.Protocol)
		}
	}
	for _, p := range []struct {
		a   *hcl.Attribute
		out *string
	}{{r.DstAddress, &out.DstAddress}, {r.SrcAddress, &out.SrcAddress}} {
		var s string
		if p.a == nil || !d.str(p.a, &s) {
			continue
		}
		v, err := parseIPv4Target(s)
		if err != nil {
			d.errorf(p.a.Expr.Range(), "Invalid address", "%s: %v.", p.a.Name, err)
			continue
		}
		*p.out = v
	}
	for _, p := range []struct {
		a   *hcl.Attribute
		out *string
	}{{r.SrcAddressList, &out.SrcAddressList}, {r.DstAddressList, &out.DstAddressList}} {
		if p.a == nil || !d.str(p.a, p.out) {
			continue
		}
		if d.checkName(*p.out, "address list", p.a.Expr.Range()) {
			aux.listRefs = append(aux.listRefs, listRef{name: *p.out, rng: p.a.Expr.Range()})
		}
	}
	if r.DSCP != nil {
		out.DSCP = d.dscp(r.DSCP)
	}
	return out
}

// portString accepts a port list string or a single port number.
func (d *decoder) portString(a *hcl.Attribute, out *string) bool {
	v, ok := d.eval(a)
	if !ok {
		return false
	}
	if v.Type().Equals(cty.Number) {
		f := v.AsBigFloat()
		if !f.IsInt() {
			d.errorf(a.Expr.Range(), "Invalid port list", "%s: %s is not a port number.", a.Name, formatNumber(f))
			return false
		}
		*out = f.Text('f', 0)
		return true
	}
	if !v.Type().Equals(cty.String) {
		d.typeError(a, "a string", `"443" or "3478-3481,5060"`)
		return false
	}
	*out = v.AsString()
	return true
}

func (d *decoder) protocol(a *hcl.Attribute, out *string) bool {
	var s string
	if !d.str(a, &s) {
		return false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "udplite" {
		s = "udp-lite" // RouterOS's name
	}
	if s != "" && strings.Trim(s, "0123456789") == "" {
		if n, err := parsePort(s); err != nil || n > 255 {
			d.errorf(a.Expr.Range(), "Invalid protocol", "protocol = %q: a protocol number is 0 to 255.", s)
			return false
		}
		*out = s
		return true
	}
	if !contains(ipProtocols, s) {
		d.errorf(a.Expr.Range(), "Invalid protocol",
			"protocol = %q is not a protocol RouterOS knows.%s Use a name such as \"tcp\", \"udp\", \"icmp\" or a number 0-255.",
			s, didYouMean(s, ipProtocols))
		return false
	}
	*out = s
	return true
}

// dscp accepts a list of names and numbers, or a single one.
func (d *decoder) dscp(a *hcl.Attribute) []int {
	v, ok := d.eval(a)
	if !ok {
		return nil
	}
	var elems []cty.Value
	if v.Type().IsTupleType() || v.Type().IsListType() || v.Type().IsSetType() {
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			elems = append(elems, ev)
		}
		if len(elems) == 0 {
			d.errorf(a.Expr.Range(), "Invalid DSCP value", "dscp is an empty list; remove it or give values such as [\"ef\", \"af41\"].")
			return nil
		}
	} else {
		elems = []cty.Value{v}
	}
	var out []int
	seen := map[int]bool{}
	for i, ev := range elems {
		rng := elemRange(a.Expr, i)
		n := -1
		var text string
		switch {
		case ev.IsNull():
			text = "null"
		case ev.Type().Equals(cty.Number):
			f := ev.AsBigFloat()
			text = formatNumber(f)
			if i, acc := f.Int64(); f.IsInt() && acc == 0 && i >= 0 && i <= 63 {
				n = int(i)
			}
		case ev.Type().Equals(cty.String):
			text = ev.AsString()
			name := strings.ToLower(strings.TrimSpace(text))
			if v, ok := dscpNames[name]; ok {
				n = v
			} else if name != "" && strings.Trim(name, "0123456789") == "" && len(name) <= 2 {
				if x, err := parsePort(name); err == nil && x <= 63 {
					n = x
				}
			}
		default:
			text = ev.Type().FriendlyName()
		}
		if n < 0 {
			hint := ""
			if ev.Type() == cty.String {
				hint = didYouMean(strings.ToLower(text), dscpNameList())
			}
			d.errorf(rng, "Invalid DSCP value",
				"%q is not a DSCP value: use a number 0-63 or a name (%s).%s",
				text, strings.Join(dscpNameList(), ", "), hint)
			continue
		}
		if seen[n] {
			d.errorf(rng, "Duplicate DSCP value", "DSCP %d is listed twice (here as %q).", n, text)
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

func (d *decoder) addressList(r *rawAddressList) *AddressList {
	out := &AddressList{Name: r.Name, DeclRange: r.DefRange}
	if d.checkName(r.Name, "address list", r.NameRange) && strings.HasPrefix(r.Name, "wanctl-") && r.Name != notSteeredList {
		d.errorf(r.NameRange, "Reserved address list name",
			"Names starting with \"wanctl-\" are reserved for lists wanctl manages itself (except %q, whose addresses "+
				"are added to the never-steered destinations). Rename the list.", notSteeredList)
	}
	if !d.require(r.Addresses, "addresses", "address_list", r.DefRange, `["192.168.88.50", "192.168.88.51"]`) {
		return out
	}
	var addrs []string
	var rngs []hcl.Range
	if !d.strList(r.Addresses, &addrs, &rngs) {
		return out
	}
	if len(addrs) == 0 {
		d.errorf(r.Addresses.Expr.Range(), "Empty address list", "address_list %q has no addresses.", r.Name)
	}
	seen := map[string]bool{}
	out.Addresses = []string{}
	for i, s := range addrs {
		v, err := parseIPv4Target(s)
		if err != nil {
			d.errorf(rngs[i], "Invalid address", "%v.", err)
			continue
		}
		if seen[v] {
			d.errorf(rngs[i], "Duplicate address", "%s is listed twice in address_list %q.", v, r.Name)
			continue
		}
		seen[v] = true
		out.Addresses = append(out.Addresses, v)
	}
	return out
}

// notSteeredList is the address list of destinations never steered; a
// user address_list of this name adds to it.
const notSteeredList = "wanctl-not-steered"

func (d *decoder) steerThresholds(r *rawSteerThresholds) SteerThresholds {
	out := DefaultSteerThresholds()
	if r == nil {
		return out
	}
	yOK := d.positiveDuration(r.RTTYellow, &out.RTTYellow)
	rOK := d.positiveDuration(r.RTTRed, &out.RTTRed)
	if yOK && rOK && out.RTTYellow > out.RTTRed {
		a := pick(r.RTTYellow, r.RTTRed)
		d.errorf(a.Expr.Range(), "rtt_yellow must not exceed rtt_red",
			"rtt_yellow = %s, rtt_red = %s: YELLOW is the milder state, so its threshold cannot be higher.", out.RTTYellow, out.RTTRed)
	}
	if d.float(r.RTTEWMAAlpha, &out.RTTEWMAAlpha) && r.RTTEWMAAlpha != nil && (out.RTTEWMAAlpha <= 0 || out.RTTEWMAAlpha > 1) {
		d.errorf(r.RTTEWMAAlpha.Expr.Range(), "rtt_ewma_alpha out of range",
			"rtt_ewma_alpha = %g must be more than 0 and at most 1 (1 = no smoothing).", out.RTTEWMAAlpha)
	}
	d.integer(r.MinDropsRed, &out.MinDropsRed, 0, 1<<40, "min_drops_red (dropped packets per run)")
	qy := d.integer(r.QueueYellow, &out.QueueYellow, 0, 1<<40, "queue_yellow (queued packets)")
	qr := d.integer(r.QueueRed, &out.QueueRed, 0, 1<<40, "queue_red (queued packets)")
	if qy && qr && out.QueueYellow > out.QueueRed {
		a := pick(r.QueueYellow, r.QueueRed)
		d.errorf(a.Expr.Range(), "queue_yellow must not exceed queue_red",
			"queue_yellow = %d, queue_red = %d: YELLOW is the milder state, so its threshold cannot be higher.", out.QueueYellow, out.QueueRed)
	}
	d.intField(r.RedSamples, &out.RedSamples, 1, 1_000_000, "red_samples (consecutive RED runs before steering)")
	d.intField(r.GreenSamples, &out.GreenSamples, 1, 1_000_000, "green_samples (consecutive GREEN runs before steering back)")
	d.positiveDuration(r.StateMaxAge, &out.StateMaxAge)
	return out
}
