package config

import (
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decoder turns the raw schema into a Config, applying defaults and
// checking every attribute on its own; validate.go checks what spans
// blocks. Every problem is recorded and decoding goes on, so that one run
// reports all mistakes.
type decoder struct {
	filename  string
	dir       string
	mode      fs.FileMode
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	realFS    bool // readFile is the real file system (file modes mean something)
	ctx       *hcl.EvalContext
	diags     hcl.Diagnostics

	// Ranges of what validate.go points at, kept beside the Config so that
	// the public types stay free of syntax details.
	wanAux    map[*WAN]*wanAux
	routerAux map[*Router]*rawRouter
	steerAux  *steerAux
	secrets   []hcl.Range // literal passwords, masked in snippets
}

type wanAux struct {
	raw            *rawWAN
	routerRange    hcl.Range // the router attribute's value, or the block
	routerDefault  bool      // router was taken from the only router block
	interfaceRange hcl.Range
	gatewayRange   hcl.Range
	measurement    *rawMeasurement
	reflectorRange map[netip.Addr]hcl.Range
	dir            map[string]*dirAux
	ok             bool // decoded without errors in the attributes validate.go uses
	dup            bool // a second WAN of the same name
}

type dirAux struct {
	raw *rawDirection
}

type steerAux struct {
	raw            *rawSteering
	primaryRange   hcl.Range
	alternateRange hcl.Range
	listRefs       []listRef
}

type listRef struct {
	name string
	rng  hcl.Range
}

func newDecoder(filename string, opts Options) *decoder {
	d := &decoder{
		filename:  filename,
		dir:       filepath.Dir(filename),
		mode:      opts.FileMode,
		lookupEnv: opts.LookupEnv,
		readFile:  opts.ReadFile,
		realFS:    opts.ReadFile == nil,
		wanAux:    map[*WAN]*wanAux{},
		routerAux: map[*Router]*rawRouter{},
	}
	if d.lookupEnv == nil {
		d.lookupEnv = os.LookupEnv
	}
	if d.readFile == nil {
		d.readFile = readFileLimited
	}
	d.ctx = d.evalContext()
	return d
}

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

func (d *decoder) warnf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

// require reports a missing required attribute at the block's header.
func (d *decoder) require(a *hcl.Attribute, name, block string, blockRange hcl.Range, example string) bool {
	if a != nil {
		return true
	}
	d.errorf(blockRange, "Missing required argument",
		"The argument %q is required in a %s block, for example: %s = %s.", name, block, name, example)
	return false
}

// single returns the only block of a kind, reporting a repeated one.
// required blocks also report their absence at the parent's header.
func single[T any](d *decoder, blocks []*T, defRange func(*T) hcl.Range, kind, parent string, parentRange hcl.Range, required bool) *T {
	if len(blocks) == 0 {
		if required {
			d.errorf(parentRange, fmt.Sprintf("Missing %s block", kind),
				"A %s block needs %s %s block inside it. See docs/config.md and the examples/ directory.", parent, article(kind), kind)
		}
		return nil
	}
	for _, b := range blocks[1:] {
		first := defRange(blocks[0])
		d.errorf(defRange(b), fmt.Sprintf("Duplicate %s block", kind),
			"Only one %s block is allowed here; another was defined at %s. Merge them.", kind, pos(first))
	}
	return blocks[0]
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func (d *decoder) decodeFile(raw *rawFile) *Config {
	cfg := &Config{Filename: d.filename}
	for _, rr := range raw.Routers {
		cfg.Routers = append(cfg.Routers, d.router(rr))
	}
	cfg.Daemon = d.daemon(single(d, raw.Daemon, func(b *rawDaemon) hcl.Range { return b.DefRange }, "daemon", "configuration", hcl.Range{}, false))
	for _, rw := range raw.WANs {
		cfg.WANs = append(cfg.WANs, d.wan(rw, raw.Routers))
	}
	if s := single(d, raw.Steering, func(b *rawSteering) hcl.Range { return b.DefRange }, "steering", "configuration", hcl.Range{}, false); s != nil {
		cfg.Steering = d.steering(s)
	}
	return cfg
}

// ---- router ----

func (d *decoder) router(r *rawRouter) *Router {
	out := &Router{
		Name:             r.Name,
		Timeout:          2 * time.Second,
		LANInterfaceList: "LAN",
		DeclRange:        r.DefRange,
	}
	d.routerAux[out] = r
	d.checkName(r.Name, "router", r.NameRange)

	var scheme string
	if d.require(r.URL, "url", "router", r.DefRange, `"https://192.168.88.1"`) {
		var s string
		if d.str(r.URL, &s) {
			out.URL, scheme = d.routerURL(s, r.URL)
		}
	}
	if d.require(r.Username, "username", "router", r.DefRange, `"wanctl"`) {
		if d.str(r.Username, &out.Username) && out.Username == "" {
			d.errorf(r.Username.Expr.Range(), "Empty username", "The router user name must not be empty.")
		}
	}
	if d.require(r.Password, "password", "router", r.DefRange, `env("WANCTL_ROUTER_PASSWORD")`) {
		d.password(r.Password, out)
	}
	if r.CAFile != nil {
		var p string
		if d.str(r.CAFile, &p) {
			out.CAFile = d.caFile(p, r.CAFile)
		}
	}
	if d.boolean(r.TLSSkipVerify, &out.TLSSkipVerify) && out.TLSSkipVerify {
		if r.CAFile != nil {
			d.errorf(r.TLSSkipVerify.Range, "Conflicting TLS settings",
				"tls_skip_verify = true turns certificate checks off, so ca_file would be ignored. "+
					"Keep ca_file (recommended) and remove tls_skip_verify.")
		} else if scheme == "https" {
			d.warnf(r.TLSSkipVerify.Range, "TLS certificate verification is off",
				"tls_skip_verify = true: anyone on the path to router %q can impersonate it and read its password. "+
					"Export the router's certificate (or the CA that signed it) and set ca_file instead.", r.Name)
		}
	}
	if scheme == "http" && (r.CAFile != nil || out.TLSSkipVerify) {
		rng := r.URL.Expr.Range()
		d.warnf(rng, "TLS settings have no effect over http://",
			"Router %q is reached over plain http://, so ca_file and tls_skip_verify are not used. Use an https:// URL.", r.Name)
	}
	if d.duration(r.Timeout, &out.Timeout) && out.Timeout <= 0 {
		d.errorf(r.Timeout.Expr.Range(), "Timeout must be positive", "timeout must be more than 0, for example \"2s\".")
	}
	d.boolean(r.AdoptExisting, &out.AdoptExisting)
	d.ipAddr(r.HostAddress, &out.HostAddress)
	if d.str(r.LANInterfaceList, &out.LANInterfaceList) && r.LANInterfaceList != nil {
		d.checkName(out.LANInterfaceList, "interface list", r.LANInterfaceList.Expr.Range())
	}
	d.boolean(r.AllowFastTrack, &out.AllowFastTrack)
	return out
}

// routerURL checks the REST base URL and returns it without a trailing
// slash, with its scheme.
func (d *decoder) routerURL(s string, a *hcl.Attribute) (string, string) {
	rng := a.Expr.Range()
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		d.errorf(rng, "Invalid router URL",
			"url = %q must be an http:// or https:// URL with a host, such as \"https://192.168.88.1\" or \"https://router.lan:8443\".", s)
		return "", ""
	}
	if u.User != nil {
		d.errorf(rng, "Credentials in the router URL",
			"Do not put a user name or password into url; use the username and password arguments "+
				"(password = env(\"WANCTL_ROUTER_PASSWORD\")).")
		return "", ""
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		hint := ""
		if strings.HasPrefix(strings.TrimSuffix(u.Path, "/"), "/rest") {
			hint = " wanctl appends \"/rest\" itself."
		}
		d.errorf(rng, "Router URL has a path",
			"url = %q: give only scheme, host and optional port, such as \"%s://%s\".%s", s, u.Scheme, u.Host, hint)
		return "", ""
	}
	if p := u.Port(); p != "" {
		if n, err := parsePort(p); err != nil || n == 0 {
			d.errorf(rng, "Invalid router URL", "url = %q has an invalid port %q.", s, p)
			return "", ""
		}
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		d.warnf(rng, "Router password sent in clear text",
			"url = %q uses plain http:// to a host that is not this machine: the password and every change "+
				"cross the network unencrypted. Enable the router's www-ssl service and use https://.", s)
	}
	return u.Scheme + "://" + u.Host, u.Scheme
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

func (d *decoder) password(a *hcl.Attribute, out *Router) {
	var pw string
	if d.str(a, &pw) {
		if pw == "" {
			d.errorf(a.Expr.Range(), "Empty password",
				"The router password is empty. Give the wanctl user on the router a password and pass it with "+
					"env(\"WANCTL_ROUTER_PASSWORD\") or file(\"/etc/wanctl/router-password\").")
		}
		out.Password = Secret(pw)
	}
	if isLiteral(a.Expr) {
		d.secrets = append(d.secrets, a.Expr.Range())
	}
	d.passwordFilePerms(a)
	if d.mode&0o044 != 0 && isLiteral(a.Expr) {
		d.errorf(a.Expr.Range(), "Password in a file readable by other users",
			"%s has mode %04o, so other users on this machine can read the router password written in it. "+
				"Use password = env(\"WANCTL_ROUTER_PASSWORD\") or password = file(\"/etc/wanctl/router-password\"), "+
				"or restrict the file with: chmod 600 %s", d.filename, d.mode.Perm(), d.filename)
	}
}

// passwordFilePerms warns when the password comes from file(PATH) and
// that file is readable by group or others: as exposed as a literal in a
// readable configuration (which is an error), but the file may be shared
// on purpose, so a warning. Only with the real file system.
func (d *decoder) passwordFilePerms(a *hcl.Attribute) {
	se, ok := a.Expr.(hclsyntax.Expression)
	if !ok || !d.realFS {
		return
	}
	_ = hclsyntax.VisitAll(se, func(n hclsyntax.Node) hcl.Diagnostics {
		call, ok := n.(*hclsyntax.FunctionCallExpr)
		if !ok || call.Name != "file" || len(call.Args) != 1 {
			return nil
		}
		v, diags := call.Args[0].Value(d.ctx)
		if diags.HasErrors() || !v.IsKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
			return nil
		}
		full := d.resolvePath(v.AsString())
		if st, err := os.Stat(full); err == nil && st.Mode().Perm()&0o044 != 0 {
			d.warnf(call.Range(), "Password file readable by other users",
				"%s has mode %04o, so other users on this machine can read the router password in it. "+
					"Restrict it with: chmod 600 %s (and chown it to the user wanctl runs as)", full, st.Mode().Perm(), full)
		}
		return nil
	})
}

// isLiteral reports whether an expression is written out in the file
// rather than read with env() or file().
func isLiteral(e hcl.Expression) bool {
	se, ok := e.(hclsyntax.Expression)
	if !ok {
		return true
	}
	calls := false
	_ = hclsyntax.VisitAll(se, func(n hclsyntax.Node) hcl.Diagnostics {
		if _, ok := n.(*hclsyntax.FunctionCallExpr); ok {
			calls = true
		}
		return nil
	})
	return !calls
}

func (d *decoder) caFile(p string, a *hcl.Attribute) string {
	if p == "" {
		return ""
	}
	full := d.resolvePath(p)
	b, err := d.readFile(full)
	if err != nil {
		d.errorf(a.Expr.Range(), fmt.Sprintf("Cannot read CA file %q", p),
			"ca_file %s: %v. Relative paths are relative to the configuration file's directory.", full, err)
		return full
	}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			d.errorf(a.Expr.Range(), "CA file has no certificate",
				"ca_file %s holds no PEM \"CERTIFICATE\" block. Export the router's certificate (or its CA) in PEM format.", full)
			return full
		}
		if blk.Type == "CERTIFICATE" {
			return full
		}
	}
}

// ---- daemon ----

func (d *decoder) daemon(r *rawDaemon) Daemon {
	out := Daemon{
		StateDir: "/var/lib/wanctl",
		LockDir:  "/run/wanctl",
		Interval: 50 * time.Millisecond,
		Listen:   "127.0.0.1:9101",
	}
	if r == nil {
		return out
	}
	for _, x := range []struct {
		a   *hcl.Attribute
		out *string
	}{{r.StateDir, &out.StateDir}, {r.LockDir, &out.LockDir}} {
		if x.a != nil && d.str(x.a, x.out) {
			if *x.out == "" {
				d.errorf(x.a.Expr.Range(), "Empty directory", "%s must name a directory; remove the line to use the default.", x.a.Name)
			}
			*x.out = d.resolvePath(*x.out)
		}
	}
	if d.duration(r.Interval, &out.Interval) && out.Interval < 10*time.Millisecond {
		d.errorf(r.Interval.Expr.Range(), "Interval too short",
			"interval = %s: the control loop cannot run faster than every 10ms. The default is \"50ms\".", out.Interval)
	}
	if r.Listen != nil && d.str(r.Listen, &out.Listen) {
		d.listen(out.Listen, r.Listen)
	}
	return out
}

func (d *decoder) listen(s string, a *hcl.Attribute) {
	rng := a.Expr.Range()
	host, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = parsePort(port)
	}
	if err != nil {
		d.errorf(rng, "Invalid listen address",
			"listen = %q must be host:port, such as \"127.0.0.1:9101\" or \"[::1]:9101\".", s)
		return
	}
	if host != "" && !strings.EqualFold(host, "localhost") {
		if _, err := netip.ParseAddr(host); err != nil {
			d.errorf(rng, "Invalid listen address",
				"listen = %q: the host must be an IP address (or localhost), such as \"127.0.0.1:9101\".", s)
			return
		}
	}
	if !isLoopbackHost(host) {
		d.warnf(rng, "Metrics endpoint reachable from the network",
			"listen = %q: /metrics and /health will be reachable from other machines. "+
				"Use \"127.0.0.1:9101\" unless a remote Prometheus scrapes it (and firewall the port).", s)
	}
}

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

// maxReadFile bounds file() and ca_file: they hold secrets and
// certificates, and file("/dev/zero") must not eat the memory.
const maxReadFile = 1 << 20

func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReadFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxReadFile {
		return nil, fmt.Errorf("larger than %d bytes", maxReadFile)
	}
	return b, nil
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
	out := Measurement{PingRate: 20, PinRoutes: w.Gateway != ""}
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
					d.errorf(rngs[i], "Duplicate reflector", "Reflector %s is listed twice (first at %s).", ip, pos(prev))
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
	var rate int64 = 20
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
	return out
}

// ---- download / upload ----

func (d *decoder) direction(r *rawDirection, name string, w *WAN) Direction {
	out := Direction{
		Name:             name,
		Queue:            defaultQueue(w.Name, name),
		QueueType:        defaultQueueType(w.Name, name),
		Parent:           "global",
		FactorDown:       0.90,
		FactorDownYellow: 0.96,
		Cake:             defaultCake(name),
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
		out.StepUp = max(1000, out.Ceiling/50/1000*1000)
	}
	if d.rate(r.StepUp, &out.StepUp) && r.StepUp != nil && ceilingOK && out.StepUp > out.Ceiling {
		d.errorf(r.StepUp.Expr.Range(), "step_up above ceiling",
			"step_up = %s is more than the ceiling (%s): one step would jump past it. The default is 2%% of the ceiling (%s).",
			FormatRate(out.StepUp), FormatRate(out.Ceiling), FormatRate(max(1000, out.Ceiling/50/1000*1000)))
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
	specs := []*floorSpec{{name: "red", frac: 20}, {name: "soft_red", frac: 30}, {name: "yellow", frac: 35}, {name: "green", frac: 75}}
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

func defaultCake(dir string) Cake {
	c := Cake{
		Diffserv:       "diffserv4",
		Flowmode:       "triple-isolate",
		NAT:            true,
		Wash:           false,
		AckFilter:      "none",
		RTT:            100 * time.Millisecond,
		OverheadScheme: []string{},
	}
	if dir == Upload {
		c.AckFilter = "filter"
	}
	return c
}

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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ---- thresholds ----

func (d *decoder) thresholds(r *rawThresholds) Thresholds {
	out := Thresholds{
		TargetBloat:              15 * time.Millisecond,
		Refractory:               300 * time.Millisecond,
		WarnBloat:                45 * time.Millisecond,
		HardRedBloat:             80 * time.Millisecond,
		BaselineTimeConstant:     60 * time.Second,
		LoadTimeConstant:         50 * time.Millisecond,
		BaselineUpdateThreshold:  3 * time.Millisecond,
		BaselineRiseTimeConstant: 300 * time.Second,
		GreenRequired:            5,
		DwellCycles:              3,
		Deadband:                 3 * time.Millisecond,
	}
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

// pick returns the first attribute that is set: the one to blame in an
// ordering error (the other side is a default).
func pick(as ...*hcl.Attribute) *hcl.Attribute {
	for _, a := range as {
		if a != nil {
			return a
		}
	}
	return nil
}

func (d *decoder) positiveDuration(a *hcl.Attribute, out *time.Duration) bool {
	if !d.duration(a, out) {
		return false
	}
	if a != nil && *out <= 0 {
		d.errorf(a.Expr.Range(), a.Name+" must be positive", "%s = %s must be more than 0.", a.Name, *out)
		return false
	}
	return true
}

func (d *decoder) routerWrites(r *rawRouterWrites) RouterWrites {
	out := RouterWrites{MinChange: 0.02, IncreaseInterval: time.Second, MaxPerMinute: 120}
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
	d.intField(r.MaxPerMinute, &out.MaxPerMinute, 1, 60_000, "max_per_minute (router writes per minute)")
	return out
}

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
	if len(r.Rules) == 0 {
		d.errorf(r.DefRange, "Steering without rules",
			"A steering block needs at least one rule block saying which new connections move to the alternate WAN, "+
				"for example a rule \"voip\" block with protocol = \"udp\" and dst_ports = \"3478-3481,5060\".")
	}
	seen := map[string]hcl.Range{}
	for _, rr := range r.Rules {
		if prev, dup := seen[rr.Name]; dup {
			d.errorf(rr.NameRange, "Duplicate rule name", "Rule %q is already defined at %s. Rename one of them.", rr.Name, pos(prev))
		}
		seen[rr.Name] = rr.DefRange
		out.Rules = append(out.Rules, d.rule(rr, aux))
	}
	seenL := map[string]hcl.Range{}
	for _, rl := range r.AddressLists {
		if prev, dup := seenL[rl.Name]; dup {
			d.errorf(rl.NameRange, "Duplicate address_list name", "address_list %q is already defined at %s. Merge them.", rl.Name, pos(prev))
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
			d.errorf(a.Expr.Range(), "Invalid port list", "%s: %s is not a port number.", a.Name, fmtNum(f))
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
			text = fmtNum(f)
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
	out := SteerThresholds{
		RTTYellow:    15 * time.Millisecond,
		RTTRed:       15 * time.Millisecond,
		RTTEWMAAlpha: 0.3,
		MinDropsRed:  1,
		QueueYellow:  10,
		QueueRed:     50,
		RedSamples:   2,
		GreenSamples: 15,
		StateMaxAge:  5 * time.Second,
	}
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
