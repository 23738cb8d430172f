// Package systemd renders and installs wanctl's systemd units and speaks the
// sd_notify protocol for the autorate daemon.
package systemd

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/statefile"
)

// File names Render produces.
const (
	AutorateService = "wanctl-autorate.service"
	SteerService    = "wanctl-steer.service"
	SteerTimer      = "wanctl-steer.timer"
	// SysusersConf is the sysusers.d entry creating the wanctl system user.
	SysusersConf = "wanctl.conf"
)

// Default directories: the daemon block's (StateDirectory= and
// RuntimeDirectory= in the units name them).
const (
	DefaultStateDir = config.DefaultStateDir
	DefaultLockDir  = config.DefaultLockDir
)

// Units lists the unit files (not the sysusers entry) in a stable order.
func Units() []string { return []string{AutorateService, SteerService, SteerTimer} }

//go:embed templates/*.tmpl
var templateFS embed.FS

// RenderOptions say where the binary, the config and the daemon's
// directories are.
type RenderOptions struct {
	Binary     string // absolute path of the wanctl executable
	ConfigPath string // absolute path of the configuration file
	StateDir   string // daemon.state_dir; "" = DefaultStateDir
	LockDir    string // daemon.lock_dir; "" = DefaultLockDir
}

// templateData holds values already escaped for unit files.
type templateData struct {
	Exec, Config       string
	StateDirectories   string
	RuntimeDirectories string
	ReadWritePaths     string
}

// Render returns the unit files and the sysusers.d entry, keyed by file name.
//
// A state or lock directory under /var/lib (/run) becomes a
// StateDirectory= (RuntimeDirectory=) entry, which systemd creates, hands to
// the wanctl user and makes writable despite ProtectSystem=strict. Any other
// directory cannot be managed that way: it is listed in ReadWritePaths= and
// must already exist, owned by wanctl.
func Render(opts RenderOptions) (map[string][]byte, error) {
	bin, err := absPath("binary", opts.Binary)
	if err != nil {
		return nil, err
	}
	cfg, err := absPath("config", opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	state, lock := opts.StateDir, opts.LockDir
	if state == "" {
		state = DefaultStateDir
	}
	if lock == "" {
		lock = DefaultLockDir
	}
	if state, err = absPath("state_dir", state); err != nil {
		return nil, err
	}
	if lock, err = absPath("lock_dir", lock); err != nil {
		return nil, err
	}

	d := templateData{Exec: quote(bin), Config: argQuote(cfg)}
	var stateDirs, runtimeDirs, rwPaths []string
	for _, dir := range []string{state, lock} {
		switch {
		case under(dir, "/var/lib"):
			stateDirs = appendUnique(stateDirs, strings.TrimPrefix(dir, "/var/lib/"))
		case under(dir, "/run"):
			runtimeDirs = appendUnique(runtimeDirs, strings.TrimPrefix(dir, "/run/"))
		default:
			rwPaths = appendUnique(rwPaths, dir)
		}
	}
	d.StateDirectories = joinQuoted(stateDirs)
	d.RuntimeDirectories = joinQuoted(runtimeDirs)
	d.ReadWritePaths = joinQuoted(rwPaths)

	tmpl, err := template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("systemd templates: %w", err)
	}
	out := make(map[string][]byte, 4)
	for _, name := range append(Units(), SysusersConf) {
		var b bytes.Buffer
		if err := tmpl.ExecuteTemplate(&b, name+".tmpl", d); err != nil {
			return nil, fmt.Errorf("render %s: %w", name, err)
		}
		out[name] = b.Bytes()
	}
	return out, nil
}

// UnmanagedDirs returns the configured directories systemd does not create
// (those outside /var/lib and /run): they must be created by hand, owned by
// the wanctl user, before the services start.
func UnmanagedDirs(opts RenderOptions) (unmanaged []string) {
	for _, dir := range []string{opts.StateDir, opts.LockDir} {
		if dir == "" {
			continue
		}
		dir = filepath.Clean(dir)
		if !under(dir, "/var/lib") && !under(dir, "/run") {
			unmanaged = appendUnique(unmanaged, dir)
		}
	}
	return unmanaged
}

// Write writes each file into dir (created if missing) atomically with mode
// 0644, in name order, stopping at the first failure.
func Write(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
			return fmt.Errorf("file name %q: must be a plain file name without a directory", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := statefile.WriteAtomic(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// under reports whether dir is strictly inside root.
func under(dir, root string) bool {
	return strings.HasPrefix(dir, root+"/") && len(dir) > len(root)+1
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func joinQuoted(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = quote(v)
	}
	return strings.Join(q, " ")
}

// absPath checks that p is an absolute path a unit file can express and
// returns it cleaned.
func absPath(what, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%s path is empty: give an absolute path", what)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s path %q is relative: systemd needs an absolute path", what, p)
	}
	if !utf8.ValidString(p) {
		return "", fmt.Errorf("%s path %q is not valid UTF-8: unit files are UTF-8", what, p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%s path %q contains a control character: rename it", what, p)
		}
	}
	// systemd refuses them in an executable's name and parses them
	// differently from setting to setting elsewhere.
	if strings.ContainsAny(p, `"'\`) {
		return "", fmt.Errorf("%s path %q contains a quote or backslash, which unit files cannot carry reliably: rename it", what, p)
	}
	return filepath.Clean(p), nil
}

// quote escapes a word for a unit setting that splits on whitespace,
// unquotes and expands % specifiers (ExecStart=, ReadWritePaths=,
// StateDirectory=): "%" doubles and a word with whitespace is
// double-quoted. absPath has rejected quotes and backslashes.
func quote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if !strings.ContainsAny(s, " \t") {
		return s
	}
	return `"` + s + `"`
}

// argQuote is quote for an ExecStart= argument, where $VAR also expands.
// (The executable itself is never expanded: it takes quote.)
func argQuote(s string) string {
	return quote(strings.ReplaceAll(s, "$", "$$"))
}

// SandboxProblems lists the paths of o that the units' sandbox hides from
// the services, each as one sentence saying what to do: ProtectHome=yes
// makes /home, /root and /run/user invisible (a binary from `go install`
// lives in ~/go/bin), PrivateTmp=yes gives each service its own /tmp and
// /var/tmp (steer would never see autorate's state files there).
func SandboxProblems(o RenderOptions) []string {
	var out []string
	for _, p := range []struct{ what, path, instead string }{
		{"the wanctl binary", o.Binary, "/usr/local/bin/wanctl (-bin)"},
		{"the configuration", o.ConfigPath, "/etc/wanctl/wanctl.hcl (-config)"},
		{"daemon.state_dir", o.StateDir, DefaultStateDir},
		{"daemon.lock_dir", o.LockDir, DefaultLockDir},
	} {
		if p.path == "" {
			continue
		}
		switch {
		case underAny(p.path, "/home", "/root", "/run/user"):
			out = append(out, fmt.Sprintf("%s %s is hidden from the services (ProtectHome=yes): put it in %s instead", p.what, p.path, p.instead))
		case underAny(p.path, "/tmp", "/var/tmp"):
			out = append(out, fmt.Sprintf("%s %s is under a temporary directory each service sees privately (PrivateTmp=yes): put it in %s instead", p.what, p.path, p.instead))
		}
	}
	return out
}

func underAny(path string, dirs ...string) bool {
	clean := filepath.Clean(path)
	for _, d := range dirs {
		if clean == d || under(clean, d) {
			return true
		}
	}
	return false
}
