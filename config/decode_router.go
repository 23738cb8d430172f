package config

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// ---- router ----

func (d *decoder) router(r *rawRouter) *Router {
	out := &Router{
		Name:             r.Name,
		Timeout:          DefaultRouterTimeout,
		LANInterfaceList: DefaultLANInterfaceList,
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
		StateDir: DefaultStateDir,
		LockDir:  DefaultLockDir,
		Interval: DefaultInterval,
		Listen:   DefaultListen,
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
