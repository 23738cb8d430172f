package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	hcl "github.com/hashicorp/hcl/v2"
)

// ---- wan ----

func (d *decoder) wan(r *rawWAN, routers []*rawRouter) *WAN {
	out := &WAN{Name: r.Name, DeclRange: r.DefRange}
	aux := &wanAux{raw: r, routerRange: r.DefRange, interfaceRange: r.DefRange, dir: map[string]*dirAux{}, ok: true}
	d.wanAux[out] = aux
	bad := func(ok bool) {
		if !ok {
			aux.ok = false
		}
	}
	if d.checkName(r.Name, "WAN", r.NameRange) {
		// The WAN name is part of derived RouterOS names.
		for _, derived := range []string{out.RoutingTable(), defaultQueueType(r.Name, Download)} {
			if len(derived) > maxNameLen {
				d.errorf(r.NameRange, "WAN name too long",
					"The WAN name %q makes the RouterOS name %q (%d characters; at most %d). Use a WAN name of at most %d characters.",
					r.Name, derived, len(derived), maxNameLen, maxNameLen-len(defaultQueueType("", Download)))
				break
			}
		}
	}

	switch {
	case r.Router != nil:
		aux.routerRange = r.Router.Expr.Range()
		bad(d.str(r.Router, &out.Router))
	case len(routers) == 1:
		out.Router = routers[0].Name
		aux.routerDefault = true
	case len(routers) > 1:
		d.require(r.Router, "router", "wan", r.DefRange, fmt.Sprintf("%q", routers[0].Name))
		aux.ok = false
	default:
		aux.ok = false // "No router block" is reported once for the file
	}

	if d.require(r.Interface, "interface", "wan", r.DefRange, `"ether1"`) {
		aux.interfaceRange = r.Interface.Expr.Range()
		if d.str(r.Interface, &out.Interface) {
			bad(d.checkName(out.Interface, "interface", aux.interfaceRange))
		} else {
			aux.ok = false
		}
	} else {
		aux.ok = false
	}

	if r.Gateway != nil {
		aux.gatewayRange = r.Gateway.Expr.Range()
		if d.str(r.Gateway, &out.Gateway) {
			bad(d.gateway(out.Gateway, r.Gateway))
		} else {
			aux.ok = false
		}
	}

	m := single(d, r.Measurement, func(b *rawMeasurement) hcl.Range { return b.DefRange }, "measurement", "wan", r.DefRange, true)
	aux.measurement = m
	out.Measurement = d.measurement(m, out, aux)

	dl := single(d, r.Download, func(b *rawDirection) hcl.Range { return b.DefRange }, Download, "wan", r.DefRange, true)
	ul := single(d, r.Upload, func(b *rawDirection) hcl.Range { return b.DefRange }, Upload, "wan", r.DefRange, true)
	out.Download = d.direction(dl, Download, out)
	out.Upload = d.direction(ul, Upload, out)
	aux.dir[Download] = &dirAux{raw: dl}
	aux.dir[Upload] = &dirAux{raw: ul}

	out.Thresholds = d.thresholds(single(d, r.Thresholds, func(b *rawThresholds) hcl.Range { return b.DefRange }, "thresholds", "wan", r.DefRange, false))
	out.RouterWrites = d.routerWrites(single(d, r.RouterWrites, func(b *rawRouterWrites) hcl.Range { return b.DefRange }, "router_writes", "wan", r.DefRange, false))
	return out
}

func defaultQueueType(wan, dir string) string { return "wanctl-" + wan + "-" + dir }

func defaultQueue(wan, dir string) string {
	if dir == Download {
		return "wanctl-" + wan + "-down"
	}
	return "wanctl-" + wan + "-up"
}

// gateway is an IP address or an interface name.
func (d *decoder) gateway(s string, a *hcl.Attribute) bool {
	rng := a.Expr.Range()
	if ip, err := netip.ParseAddr(s); err == nil {
		if ip.IsUnspecified() || ip.IsMulticast() || ip.Zone() != "" {
			d.errorf(rng, "Invalid gateway", "gateway = %q must be a unicast next-hop address.", s)
			return false
		}
		return true
	}
	if s != "" && strings.Trim(s, "0123456789.") == "" || strings.Count(s, ":") >= 2 {
		d.errorf(rng, "Invalid gateway",
			"gateway = %q looks like an IP address but is not one. Write the next hop like \"192.168.1.254\", "+
				"or an interface name (\"pppoe-out1\", \"lte1\") for links without a gateway address.", s)
		return false
	}
	return d.checkName(s, "gateway interface", rng)
}

// ---- measurement ----

func (d *decoder) measurement(r *rawMeasurement, w *WAN, aux *wanAux) Measurement {
	out := Measurement{PingRate: DefaultPingRate, PinRoutes: w.Gateway != ""}
	aux.reflectorRange = map[netip.Addr]hcl.Range{}
	if r == nil {
		aux.ok = false
		return out
	}
	if d.require(r.Reflectors, "reflectors", "measurement", r.DefRange, `["1.1.1.1", "8.8.8.8", "9.9.9.9"]`) {
		var refl []string
		var rngs []hcl.Range
		if d.strList(r.Reflectors, &refl, &rngs) {
			if len(refl) == 0 {
				d.errorf(r.Reflectors.Expr.Range(), "No reflectors",
					"At least one reflector is needed (several are better: the median of their delays is robust), "+
						"for example reflectors = [\"1.1.1.1\", \"8.8.8.8\", \"9.9.9.9\"].")
			}
			for i, s := range refl {
				ip, err := netip.ParseAddr(strings.TrimSpace(s))
				if err != nil || ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() {
					d.errorf(rngs[i], "Invalid reflector",
						"Reflector %q is not a unicast IP address. Reflectors are pinged by address; use e.g. \"1.1.1.1\" or \"2606:4700:4700::1111\".", s)
					aux.ok = false
					continue
				}
				ip = ip.Unmap()
				if prev, dup := aux.reflectorRange[ip]; dup {
					d.errorf(rngs[i], "Duplicate reflector", "Reflector %s is listed twice (first at %s).", ip, location(prev))
					continue
				}
				aux.reflectorRange[ip] = rngs[i]
				out.Reflectors = append(out.Reflectors, ip)
			}
		} else {
			aux.ok = false
		}
	} else {
		aux.ok = false
	}
	var rate int64 = DefaultPingRate
	if d.integer(r.PingRate, &rate, 1, 100, "ping_rate (echo requests per second, all reflectors together)") {
		out.PingRate = int(rate)
	}
	var fb []string
	var rngs []hcl.Range
	if d.strList(r.TCPFallback, &fb, &rngs) {
		seen := map[netip.AddrPort]bool{}
		for i, s := range fb {
			ap, err := netip.ParseAddrPort(strings.TrimSpace(s))
			if err != nil || ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().Zone() != "" {
				d.errorf(rngs[i], "Invalid TCP fallback target",
					"%q must be ip:port with an IP literal and a port, such as \"1.1.1.1:443\" or \"[2606:4700:4700::1111]:443\".", s)
				continue
			}
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			if seen[ap] {
				d.errorf(rngs[i], "Duplicate TCP fallback target", "%s is listed twice.", ap)
				continue
			}
			seen[ap] = true
			out.TCPFallback = append(out.TCPFallback, ap)
		}
	}
	d.ipAddr(r.Source, &out.Source)
	if !d.boolean(r.PinRoutes, &out.PinRoutes) {
		aux.ok = false
	}
	if d.boolean(r.Timestamps, &out.Timestamps) && out.Timestamps && len(out.Reflectors) > 0 &&
		!slices.ContainsFunc(out.Reflectors, netip.Addr.Is4) {
		d.errorf(r.Timestamps.Expr.Range(), "timestamps need an IPv4 reflector",
			"ICMP timestamp requests exist in IPv4 only (ICMPv6 has none), and every reflector here is IPv6. "+
				"Add IPv4 reflectors that answer them, or set timestamps = false.")
	}
	return out
}

// ---- download / upload ----

func (d *decoder) direction(r *rawDirection, name string, w *WAN) Direction {
	out := Direction{
		Name:             name,
		Queue:            defaultQueue(w.Name, name),
		QueueType:        defaultQueueType(w.Name, name),
		Parent:           DefaultDownloadParent,
		FactorDown:       DefaultFactorDown,
		FactorDownYellow: DefaultFactorDownYellow,
		Cake:             DefaultCake(name),
	}
	if name == Upload {
		out.Parent = w.Interface
	}
	if r == nil {
		return out
	}
	if r.Queue != nil && d.str(r.Queue, &out.Queue) {
		d.checkName(out.Queue, "queue", r.Queue.Expr.Range())
	}
	if r.QueueType != nil && d.str(r.QueueType, &out.QueueType) {
		d.checkName(out.QueueType, "queue type", r.QueueType.Expr.Range())
	}
	if r.Parent != nil {
		if name == Upload {
			d.errorf(r.Parent.NameRange, "Upload queue has no parent setting",
				"The upload queue is always parented at the WAN's interface (%q), where upload traffic leaves. "+
					"Remove parent from the upload block; to shape on another interface, change the WAN's interface.", w.Interface)
		} else if d.str(r.Parent, &out.Parent) {
			d.checkName(out.Parent, "queue parent", r.Parent.Expr.Range())
		}
	}

	ceilingOK := false
	if d.require(r.Ceiling, "ceiling", name, r.DefRange, `"940M"`) {
		ceilingOK = d.rate(r.Ceiling, &out.Ceiling)
	}
	if ceilingOK {
		out.StepUp = DefaultStepUp(out.Ceiling)
	}
	if d.rate(r.StepUp, &out.StepUp) && r.StepUp != nil && ceilingOK && out.StepUp > out.Ceiling {
		d.errorf(r.StepUp.Expr.Range(), "step_up above ceiling",
			"step_up = %s is more than the ceiling (%s): one step would jump past it. The default is 2%% of the ceiling (%s).",
			FormatRate(out.StepUp), FormatRate(out.Ceiling), FormatRate(DefaultStepUp(out.Ceiling)))
	}
	d.factor(r.FactorDown, &out.FactorDown)
	d.factor(r.FactorDownYellow, &out.FactorDownYellow)

	fl := single(d, r.Floor, func(b *rawFloor) hcl.Range { return b.DefRange }, "floor", name, r.DefRange, false)
	out.Floor = d.floors(fl, name, out.Ceiling, ceilingOK, r.Ceiling)
	ck := single(d, r.Cake, func(b *rawCake) hcl.Range { return b.DefRange }, "cake", name, r.DefRange, false)
	d.cake(ck, &out.Cake)
	return out
}

func (d *decoder) factor(a *hcl.Attribute, out *float64) {
	if d.float(a, out) && a != nil && (*out <= 0 || *out > 1) {
		d.errorf(a.Expr.Range(), a.Name+" out of range",
			"%s = %g must be more than 0 and at most 1: the rate is multiplied by it on each decrease (0.9 = -10%%).", a.Name, *out)
	}
}

type floorSpec struct {
	name string
	frac int64 // percent of the ceiling
	attr *hcl.Attribute
	val  int64
	ok   bool // given and valid
}

// floors applies the defaults (fractions of the ceiling, clamped between
// the given floors so the order holds) and checks the order.
func (d *decoder) floors(r *rawFloor, dir string, ceiling int64, ceilingOK bool, ceilingAttr *hcl.Attribute) Floors {
	specs := []*floorSpec{
		{name: "red", frac: DefaultRedFloorPercent},
		{name: "soft_red", frac: DefaultSoftRedFloorPercent},
		{name: "yellow", frac: DefaultYellowFloorPercent},
		{name: "green", frac: DefaultGreenFloorPercent},
	}
	if r != nil {
		specs[0].attr, specs[1].attr, specs[2].attr, specs[3].attr = r.Red, r.SoftRed, r.Yellow, r.Green
	}
	if dir == Upload {
		if specs[1].attr != nil {
			d.errorf(specs[1].attr.NameRange, "Upload has no soft_red floor",
				"Upload has three states (GREEN, YELLOW, RED); SOFT_RED exists only for download. Remove soft_red from the upload floor block.")
		}
		specs = append(specs[:1], specs[2:]...)
	}
	valid := true
	for _, s := range specs {
		if s.attr != nil {
			s.ok = d.rate(s.attr, &s.val)
			valid = valid && s.ok
		}
	}
	if !ceilingOK {
		return Floors{}
	}
	// Order among the given floors (and the ceiling above all).
	for i, s := range specs {
		if !s.ok {
			continue
		}
		above, aboveVal := "the ceiling", ceiling
		for _, h := range specs[i+1:] {
			if h.ok {
				above, aboveVal = fmt.Sprintf("floor %q", h.name), h.val
				break
			}
		}
		if s.val > aboveVal {
			summary := fmt.Sprintf("Floor %q is above %s", s.name, above)
			d.errorf(s.attr.Expr.Range(), summary,
				"%s = %s is above %s (%s). Floors must be ordered red <= soft_red <= yellow <= green <= ceiling (download) "+
					"or red <= yellow <= green <= ceiling (upload).", s.name, FormatRate(s.val), above, FormatRate(aboveVal))
			valid = false
		}
	}
	// Defaults, clamped between the nearest given floors.
	for i, s := range specs {
		if s.attr != nil {
			continue
		}
		v := max(1, ceiling/100*s.frac+ceiling%100*s.frac/100)
		for _, h := range specs[i+1:] {
			if h.ok {
				v = min(v, h.val)
				break
			}
		}
		for j := i - 1; j >= 0; j-- {
			if specs[j].ok {
				v = max(v, specs[j].val)
				break
			}
		}
		s.val = v
	}
	if !valid {
		return Floors{}
	}
	out := Floors{}
	for _, s := range specs {
		switch s.name {
		case "red":
			out.Red = s.val
		case "soft_red":
			out.SoftRed = s.val
		case "yellow":
			out.Yellow = s.val
		case "green":
			out.Green = s.val
		}
	}
	return out
}

// ---- cake ----

func (d *decoder) cake(r *rawCake, out *Cake) {
	if r == nil {
		return
	}
	for _, e := range []struct {
		a       *hcl.Attribute
		out     *string
		allowed []string
	}{
		{r.Diffserv, &out.Diffserv, cakeDiffserv},
		{r.Flowmode, &out.Flowmode, cakeFlowmodes},
		{r.AckFilter, &out.AckFilter, cakeAckFilter},
		{r.ATM, &out.ATM, cakeATM},
	} {
		if e.a != nil && d.str(e.a, e.out) {
			d.enum(e.a, *e.out, e.allowed)
		}
	}
	d.boolean(r.NAT, &out.NAT)
	d.boolean(r.Wash, &out.Wash)
	d.intField(r.Overhead, &out.Overhead, -64, 256, "overhead (bytes added to each packet)")
	d.intField(r.MPU, &out.MPU, 0, 256, "mpu (minimum packet size in bytes)")
	if d.duration(r.RTT, &out.RTT) && r.RTT != nil && out.RTT <= 0 {
		d.errorf(r.RTT.Expr.Range(), "rtt must be positive", "rtt is CAKE's round-trip time estimate, such as \"100ms\".")
	}
	var schemes []string
	var rngs []hcl.Range
	if r.OverheadScheme != nil && d.strList(r.OverheadScheme, &schemes, &rngs) {
		seen := map[string]bool{}
		out.OverheadScheme = []string{}
		for i, s := range schemes {
			if s == "conservative" {
				s = "convervative" // RouterOS's spelling
			}
			if !contains(cakeOverheadSchemes, s) {
				d.errorf(rngs[i], "Invalid overhead_scheme",
					"%q is not a RouterOS CAKE overhead scheme.%s Valid values: %s.", s, didYouMean(s, cakeOverheadSchemes), quoteList(cakeOverheadSchemes))
				continue
			}
			if seen[s] {
				d.errorf(rngs[i], "Duplicate overhead_scheme", "%q is listed twice.", schemes[i])
				continue
			}
			seen[s] = true
			out.OverheadScheme = append(out.OverheadScheme, s)
		}
	}
}

// ---- thresholds ----

func (d *decoder) thresholds(r *rawThresholds) Thresholds {
	out := DefaultThresholds()
	if r == nil {
		return out
	}
	ok := true
	for _, e := range []struct {
		a   *hcl.Attribute
		out *time.Duration
	}{
		{r.TargetBloat, &out.TargetBloat},
		{r.Refractory, &out.Refractory},
		{r.WarnBloat, &out.WarnBloat},
		{r.HardRedBloat, &out.HardRedBloat},
		{r.BaselineTimeConstant, &out.BaselineTimeConstant},
		{r.LoadTimeConstant, &out.LoadTimeConstant},
		{r.BaselineUpdateThreshold, &out.BaselineUpdateThreshold},
		{r.BaselineRiseTimeConstant, &out.BaselineRiseTimeConstant},
	} {
		if !d.positiveDuration(e.a, e.out) {
			ok = false
		}
	}
	deadbandOK := d.duration(r.Deadband, &out.Deadband)
	if deadbandOK && r.Deadband != nil && out.Deadband < 0 {
		d.errorf(r.Deadband.Expr.Range(), "deadband must not be negative", "deadband = %s; use \"0s\" for none.", out.Deadband)
		deadbandOK = false
	}
	d.intField(r.GreenRequired, &out.GreenRequired, 1, 1_000_000, "green_required (GREEN cycles before a step up)")
	d.intField(r.DwellCycles, &out.DwellCycles, 1, 1_000_000, "dwell_cycles (raw YELLOW cycles before GREEN -> YELLOW)")
	if !ok {
		return out
	}
	order := "Thresholds must be ordered target_bloat < warn_bloat <= hard_red_bloat."
	if out.TargetBloat >= out.WarnBloat {
		a := pick(r.TargetBloat, r.WarnBloat)
		d.errorf(a.Expr.Range(), "target_bloat must be below warn_bloat",
			"target_bloat = %s, warn_bloat = %s. %s", out.TargetBloat, out.WarnBloat, order)
	}
	if out.WarnBloat > out.HardRedBloat {
		a := pick(r.WarnBloat, r.HardRedBloat)
		d.errorf(a.Expr.Range(), "warn_bloat must not exceed hard_red_bloat",
			"warn_bloat = %s, hard_red_bloat = %s. %s", out.WarnBloat, out.HardRedBloat, order)
	}
	if deadbandOK && out.Deadband >= out.TargetBloat {
		a := pick(r.Deadband, r.TargetBloat)
		d.errorf(a.Expr.Range(), "deadband must be below target_bloat",
			"deadband = %s, target_bloat = %s: YELLOW is left when the delay falls below target_bloat - deadband, "+
				"which must stay positive.", out.Deadband, out.TargetBloat)
	}
	return out
}

func (d *decoder) routerWrites(r *rawRouterWrites) RouterWrites {
	out := DefaultRouterWrites()
	if r == nil {
		return out
	}
	if d.float(r.MinChange, &out.MinChange) && r.MinChange != nil && (out.MinChange < 0 || out.MinChange >= 1) {
		d.errorf(r.MinChange.Expr.Range(), "min_change out of range",
			"min_change = %g is a fraction of the rate: at least 0 and below 1 (0.02 = skip changes under 2 %%).", out.MinChange)
	}
	if d.duration(r.IncreaseInterval, &out.IncreaseInterval) && r.IncreaseInterval != nil && out.IncreaseInterval < 0 {
		d.errorf(r.IncreaseInterval.Expr.Range(), "increase_interval must not be negative",
			"increase_interval = %s; use \"0s\" to write every increase.", out.IncreaseInterval)
	}
	d.intField(r.WritesPerMinute, &out.WritesPerMinute, 1, maxWritesPerMinute, "writes_per_minute (the write budget's sustained writes per minute)")
	d.intField(r.Burst, &out.Burst, 1, maxWritesPerMinute, "burst (writes the budget allows at once)")
	if a := r.MaxPerMinute; a != nil {
		if r.WritesPerMinute != nil {
			d.errorf(a.Range, "max_per_minute and writes_per_minute both set",
				"max_per_minute is the old name of writes_per_minute; remove it.")
		} else if d.intField(a, &out.WritesPerMinute, 1, maxWritesPerMinute, "max_per_minute (router writes per minute)") {
			// The old limit allowed max_per_minute writes in any 60 s:
			// a bucket as deep as it is the closest reading.
			burst := "burst"
			if r.Burst == nil {
				out.Burst = out.WritesPerMinute
				burst = "and burst"
			}
			d.warnf(a.Range, "max_per_minute is now writes_per_minute",
				"max_per_minute = %d is read as writes_per_minute = %d %s = %d: a budget refilled at that rate "+
					"that increases wait for, no longer a cap on every write (decreases are always written). "+
					"Rename it to writes_per_minute, and consider the defaults (%d a minute, burst %d).",
				out.WritesPerMinute, out.WritesPerMinute, burst, out.Burst,
				DefaultRouterWrites().WritesPerMinute, DefaultRouterWrites().Burst)
		}
	}
	return out
}

// maxWritesPerMinute bounds writes_per_minute and burst: 1000 writes a
// second is already no budget at all.
const maxWritesPerMinute = 60_000
