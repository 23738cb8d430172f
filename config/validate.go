package config

import (
	"fmt"
	"net/netip"

	hcl "github.com/hashicorp/hcl/v2"
)

// location renders a range's start as file:line:col.
func location(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// fileStart is where diagnostics about the file as a whole point.
func (d *decoder) fileStart() hcl.Range {
	p := hcl.Pos{Line: 1, Column: 1, Byte: 0}
	return hcl.Range{Filename: d.filename, Start: p, End: p}
}

// validate checks what spans blocks: names, references and resources that
// must be unique across the file.
func (d *decoder) validate(cfg *Config, raw *rawFile) {
	if len(raw.Routers) == 0 {
		d.errorf(d.fileStart(), "No router block",
			"The configuration needs at least one router block, for example:\n\n"+
				"router \"edge\" {\n  url      = \"https://192.168.88.1\"\n  username = \"wanctl\"\n"+
				"  password = env(\"WANCTL_ROUTER_PASSWORD\")\n}")
	}
	if len(raw.WANs) == 0 {
		d.errorf(d.fileStart(), "No wan block",
			"The configuration needs at least one wan block describing the link to shape. See examples/single-wan.hcl.")
	}

	routers := map[string]*Router{}
	var routerNames []string
	for _, r := range cfg.Routers {
		if prev, dup := routers[r.Name]; dup {
			d.errorf(d.routerAux[r].NameRange, "Duplicate router name",
				"A router named %q is already defined at %s. Router names must be unique.", r.Name, location(prev.DeclRange))
			continue
		}
		routers[r.Name] = r
		routerNames = append(routerNames, r.Name)
	}

	wans := map[string]*WAN{}
	var wanNames []string
	for _, w := range cfg.WANs {
		aux := d.wanAux[w]
		if prev, dup := wans[w.Name]; dup {
			d.errorf(aux.raw.NameRange, "Duplicate WAN name",
				"A WAN named %q is already defined at %s. WAN names must be unique.", w.Name, location(prev.DeclRange))
			aux.ok = false
			aux.dup = true
			continue
		}
		wans[w.Name] = w
		wanNames = append(wanNames, w.Name)
	}

	for _, w := range cfg.WANs {
		aux := d.wanAux[w]
		if w.Router == "" {
			continue
		}
		r := routers[w.Router]
		if r == nil {
			d.errorf(aux.routerRange, fmt.Sprintf("Unknown router %q", w.Router),
				"WAN %q refers to router %q, but no router block has that name.%s Declared routers: %s.",
				w.Name, w.Router, didYouMean(w.Router, routerNames), quoteList(routerNames))
			aux.ok = false
			continue
		}
		d.pinRoutes(w, r, aux)
	}

	d.sharedResources(cfg)
	if cfg.Steering != nil {
		d.validateSteering(cfg, wans, wanNames)
	}
}

// pinRoutes: routing rules need the next hop (for the WAN's table) and this
// host's address (their source).
func (d *decoder) pinRoutes(w *WAN, r *Router, aux *wanAux) {
	if !aux.ok || !w.Measurement.PinRoutes {
		return
	}
	m := aux.measurement
	given := m != nil && m.PinRoutes != nil
	if w.Gateway == "" {
		// pin_routes defaults to false without a gateway, so it was given.
		d.errorf(m.PinRoutes.Expr.Range(), "pin_routes needs a gateway",
			"pin_routes = true routes the reflector pings through the WAN's own routing table, which needs the "+
				"WAN's next hop. Set gateway in wan %q (an IP, or the interface for PPPoE/LTE), or set pin_routes = false.", w.Name)
		return
	}
	if !r.HostAddress.IsValid() {
		rng := aux.gatewayRange
		why := fmt.Sprintf("pin_routes defaults to true because wan %q has a gateway", w.Name)
		if given {
			rng = m.PinRoutes.Expr.Range()
			why = "pin_routes = true"
		}
		d.errorf(rng, "pin_routes needs the router's host_address",
			"%s: apply then adds routing rules whose source is this host's address, so that only wanctl's pings "+
				"are pinned to the WAN. Set host_address = \"<this host's IP as router %q sees it>\" in router %q, "+
				"or set pin_routes = false in wan %q's measurement block.", why, r.Name, r.Name, w.Name)
		return
	}
	for _, ip := range w.Measurement.Reflectors {
		if ip.Is4() != r.HostAddress.Is4() {
			d.errorf(aux.reflectorRange[ip], "Reflector address family differs from host_address",
				"With pin_routes, each reflector gets a routing rule from host_address %s to the reflector; "+
					"%s is of the other IP family. Use reflectors of the same family, or set pin_routes = false.", r.HostAddress, ip)
		}
	}
}

type owner struct {
	wan string
	rng hcl.Range
}

// sharedResources: router objects two WANs must not share.
func (d *decoder) sharedResources(cfg *Config) {
	queues := map[string]owner{}
	queueTypes := map[string]owner{}
	reflectors := map[netip.Addr]owner{}
	interfaces := map[[2]string]owner{}
	dlParents := map[[2]string]owner{}

	for _, w := range cfg.WANs {
		aux := d.wanAux[w]
		if !aux.ok {
			continue
		}
		key := [2]string{w.Router, w.Interface}
		if prev, dup := interfaces[key]; dup {
			d.errorf(aux.interfaceRange, "Interface used by two WANs",
				"Interface %q of router %q is already the interface of wan %q (%s). Each WAN needs its own interface.",
				w.Interface, w.Router, prev.wan, location(prev.rng))
		} else {
			interfaces[key] = owner{w.Name, aux.interfaceRange}
		}
		for _, ip := range w.Measurement.Reflectors {
			rng := aux.reflectorRange[ip]
			if prev, dup := reflectors[ip]; dup {
				d.errorf(rng, "Reflector used by two WANs",
					"Reflector %s is already used by wan %q (%s). Each WAN needs its own reflectors: with pinned routes "+
						"a reflector's pings can only cross one WAN.", ip, prev.wan, location(prev.rng))
				continue
			}
			reflectors[ip] = owner{w.Name, rng}
		}
	}

	for _, w := range cfg.WANs {
		aux := d.wanAux[w]
		if aux.dup {
			continue // its queues clash with the first one's; one error is enough
		}
		for _, dir := range w.Directions() {
			da := aux.dir[dir.Name]
			if da == nil || da.raw == nil {
				continue
			}
			qr, qtr := da.raw.DefRange, da.raw.DefRange
			if da.raw.Queue != nil {
				qr = da.raw.Queue.Expr.Range()
			}
			if da.raw.QueueType != nil {
				qtr = da.raw.QueueType.Expr.Range()
			}
			if prev, dup := queues[dir.Queue]; dup {
				d.errorf(qr, "Duplicate queue name",
					"Queue %q is already used by wan %q (%s). Queue names must be unique across the file; set queue to another name.",
					dir.Queue, prev.wan, location(prev.rng))
			} else {
				queues[dir.Queue] = owner{w.Name, qr}
			}
			if prev, dup := queueTypes[dir.QueueType]; dup {
				d.errorf(qtr, "Duplicate queue type name",
					"Queue type %q is already used by wan %q (%s). Queue type names must be unique; set queue_type to another name.",
					dir.QueueType, prev.wan, location(prev.rng))
			} else {
				queueTypes[dir.QueueType] = owner{w.Name, qtr}
			}
		}
		dl := aux.dir[Download]
		if dl == nil || dl.raw == nil || dl.raw.Parent == nil || w.Download.Parent == "global" {
			continue
		}
		pr := dl.raw.Parent.Expr.Range()
		for _, o := range cfg.WANs {
			if o.Router == w.Router && o.Interface == w.Download.Parent && d.wanAux[o].ok {
				d.errorf(pr, "Download queue parented at a WAN interface",
					"parent = %q is the interface of wan %q, where upload traffic leaves: a download queue there would "+
						"shape upload. Use \"global\" (the default) or the LAN-side interface.", w.Download.Parent, o.Name)
			}
		}
		key := [2]string{w.Router, w.Download.Parent}
		if prev, dup := dlParents[key]; dup {
			d.errorf(pr, "Two download queues on one parent",
				"wan %q's download queue is already parented at %q (%s). An interface parent cannot separate two WANs' "+
					"traffic; use parent = \"global\" (the default), where each WAN's download is marked by its in-interface.",
				prev.wan, w.Download.Parent, location(prev.rng))
		} else {
			dlParents[key] = owner{w.Name, pr}
		}
	}
}

func (d *decoder) validateSteering(cfg *Config, wans map[string]*WAN, wanNames []string) {
	s := cfg.Steering
	aux := d.steerAux
	ref := func(name, role string, rng hcl.Range) *WAN {
		if name == "" {
			return nil
		}
		w := wans[name]
		if w == nil {
			d.errorf(rng, fmt.Sprintf("Unknown WAN %q", name),
				"steering %s refers to WAN %q, but no wan block has that name.%s Declared WANs: %s.",
				role, name, didYouMean(name, wanNames), quoteList(wanNames))
		}
		return w
	}
	p := ref(s.Primary, "primary", aux.primaryRange)
	a := ref(s.Alternate, "alternate", aux.alternateRange)
	if p != nil && a != nil {
		switch {
		case p == a:
			d.errorf(aux.alternateRange, "Steering alternate is the primary",
				"primary and alternate are both %q. Steering moves connections from the primary WAN to another one; "+
					"name a second wan as alternate.", s.Primary)
		case p.Router != a.Router && p.Router != "" && a.Router != "":
			d.errorf(aux.alternateRange, "Steering WANs on different routers",
				"primary %q is on router %q and alternate %q on router %q. Steering rules live on one router, "+
					"which must route both WANs.", p.Name, p.Router, a.Name, a.Router)
		}
	}
	if a != nil && a.Gateway == "" && d.wanAux[a].ok {
		d.errorf(aux.alternateRange, "Steering alternate has no gateway",
			"Steered connections use wan %q's routing table (wanctl-%s), whose default route needs the next hop. "+
				"Set gateway in wan %q: an IP address, or the interface name for PPPoE/LTE links.", a.Name, a.Name, a.Name)
	}

	declared := map[string]bool{}
	var listNames []string
	for _, l := range s.AddressLists {
		declared[l.Name] = true
		listNames = append(listNames, l.Name)
	}
	for _, r := range aux.listRefs {
		if declared[r.name] {
			continue
		}
		if c := suggest(r.name, listNames); c != "" {
			d.errorf(r.rng, fmt.Sprintf("Unknown address list %q", r.name),
				"No address_list block is named %q. Did you mean %q?", r.name, c)
			continue
		}
		d.warnf(r.rng, fmt.Sprintf("Address list %q is not declared here", r.name),
			"No address_list block is named %q, so wanctl assumes the list is maintained on the router by something else. "+
				"If wanctl should manage it, add an address_list %q block.", r.name, r.name)
	}
}
