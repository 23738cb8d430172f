package commands

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/systemd"
)

const testConfig = `router "edge" {
  url      = "https://192.168.88.1"
  username = "wanctl"
  password = env("WANCTL_TEST_PASSWORD")
}

daemon {
  state_dir = "/srv/wanctl state"
  lock_dir  = "/run/wanctl/locks"
}

wan "cable" {
  interface = "ether1"

  measurement {
    reflectors = ["1.1.1.1"]
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
`

func runEnv(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(append([]string{"wanctl"}, args...), IO{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return result{code, out.String(), errb.String()}
}

func writePath(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSystemdRender(t *testing.T) {
	tmp := t.TempDir()
	cfg := writePath(t, filepath.Join(tmp, "etc", "wanctl.hcl"), testConfig, 0o644)
	dir := filepath.Join(tmp, "out")
	r := runEnv(t, nil, "systemd", "render", "-dir", dir, "-bin", "/usr/local/bin/wanctl", "-config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
	for _, name := range append(systemd.Units(), systemd.SysusersConf) {
		if !strings.Contains(r.out, "Wrote "+filepath.Join(dir, name)+"\n") {
			t.Errorf("stdout does not list %s:\n%s", name, r.out)
		}
	}
	auto := readFile(t, filepath.Join(dir, systemd.AutorateService))
	steer := readFile(t, filepath.Join(dir, systemd.SteerService))
	for _, want := range []string{
		"ExecStart=/usr/local/bin/wanctl autorate -config " + cfg + "\n",
		// The configured directories, from the config's daemon block.
		"RuntimeDirectory=wanctl/locks\n",
		`ReadWritePaths="/srv/wanctl state"` + "\n",
	} {
		if !strings.Contains(auto, want) {
			t.Errorf("autorate unit lacks %q:\n%s", want, auto)
		}
	}
	if strings.Contains(auto, "StateDirectory=") {
		t.Error("StateDirectory= rendered although state_dir is outside /var/lib")
	}
	if !strings.Contains(steer, "ExecStart=/usr/local/bin/wanctl steer -config "+cfg+"\n") {
		t.Errorf("steer unit:\n%s", steer)
	}
	// The password comes from /etc/wanctl/env at run time: not needed here.
	if !strings.Contains(r.err, "WANCTL_TEST_PASSWORD is not set here") {
		t.Errorf("stderr does not note the unset variable:\n%s", r.err)
	}
	// -bin need not exist (packaging), but it is worth a warning.
	if !strings.Contains(r.err, "Warning: /usr/local/bin/wanctl is not an executable file here") {
		t.Errorf("no warning about the missing binary:\n%s", r.err)
	}
}

func TestSystemdRenderRelativePaths(t *testing.T) {
	t.Setenv("TMPDIR", "/tmp") // the PrivateTmp warning below is for /tmp
	tmp := t.TempDir()
	writePath(t, filepath.Join(tmp, "wanctl.hcl"), testConfig, 0o644)
	writePath(t, filepath.Join(tmp, "bin", "wanctl"), "#!/bin/sh\n", 0o755)
	t.Chdir(tmp)
	r := runEnv(t, map[string]string{"WANCTL_CONFIG": "wanctl.hcl", "WANCTL_TEST_PASSWORD": "pw"}, "systemd", "render", "-dir", "out", "-bin", "bin/wanctl")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	auto := readFile(t, filepath.Join(tmp, "out", systemd.AutorateService))
	want := "ExecStart=" + filepath.Join(tmp, "bin", "wanctl") + " autorate -config " + filepath.Join(tmp, "wanctl.hcl") + "\n"
	if !strings.Contains(auto, want) {
		t.Errorf("relative -bin and $WANCTL_CONFIG not made absolute; want %q in:\n%s", want, auto)
	}
	// With the variable set and a real binary there is nothing to note;
	// only the sandbox warnings remain, since t.TempDir() is under /tmp,
	// which PrivateTmp=yes hides from the services.
	for _, line := range strings.Split(strings.TrimSpace(r.err), "\n") {
		if !strings.HasPrefix(line, "Warning: ") || !strings.Contains(line, "(PrivateTmp=yes)") {
			t.Errorf("stderr line %q; want only the PrivateTmp warnings:\n%s", line, r.err)
		}
	}
	if !strings.Contains(r.err, "Warning: the wanctl binary "+filepath.Join(tmp, "bin", "wanctl")+" is under a temporary directory") {
		t.Errorf("no warning for a binary the service cannot see:\n%s", r.err)
	}
}

func TestSystemdRenderDefaultBinary(t *testing.T) {
	tmp := t.TempDir()
	cfg := writePath(t, filepath.Join(tmp, "wanctl.hcl"), testConfig, 0o644)
	r := runEnv(t, nil, "systemd", "render", "-dir", tmp, "-config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if auto := readFile(t, filepath.Join(tmp, systemd.AutorateService)); !strings.Contains(auto, "ExecStart="+exe+" autorate") {
		t.Errorf("default -bin is not this executable (%s):\n%s", exe, auto)
	}
}

func TestSystemdRenderMissingDefaultConfig(t *testing.T) {
	if _, err := os.Stat(DefaultConfigPath); err == nil {
		t.Fatalf("this test needs %s to be absent (it checks rendering before the config exists)", DefaultConfigPath)
	}
	dir := t.TempDir()
	r := runEnv(t, nil, "systemd", "render", "-dir", dir, "-bin", "/usr/bin/wanctl")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	if !strings.Contains(r.err, DefaultConfigPath+" does not exist yet") {
		t.Errorf("stderr:\n%s", r.err)
	}
	auto := readFile(t, filepath.Join(dir, systemd.AutorateService))
	for _, want := range []string{"-config " + DefaultConfigPath + "\n", "StateDirectory=wanctl\n", "RuntimeDirectory=wanctl\n"} {
		if !strings.Contains(auto, want) {
			t.Errorf("unit lacks %q:\n%s", want, auto)
		}
	}
}

func TestSystemdRenderErrors(t *testing.T) {
	tmp := t.TempDir()
	bad := writePath(t, filepath.Join(tmp, "bad.hcl"), strings.Replace(testConfig, `lock_dir  = "/run/wanctl/locks"`, `lock_dir  = "/run/wanctl/locks"
  bogus     = 1`, 1), 0o644)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"no dir", nil, []string{"systemd", "render", "-bin", "/usr/bin/wanctl"}, []string{"render needs -dir DIR"}},
		{"invalid explicit config", nil, []string{"systemd", "render", "-dir", filepath.Join(tmp, "o1"), "-config", bad},
			[]string{bad + ":10:3", `"bogus"`, bad + " is invalid: 1 error"}},
		{"missing explicit config", nil, []string{"systemd", "render", "-dir", filepath.Join(tmp, "o2"), "-config", filepath.Join(tmp, "nope.hcl")},
			[]string{"Cannot read configuration file", "nope.hcl is invalid"}},
		{"missing config from the environment", map[string]string{"WANCTL_CONFIG": filepath.Join(tmp, "nope.hcl")}, []string{"systemd", "render", "-dir", filepath.Join(tmp, "o3")},
			[]string{"Cannot read configuration file"}},
		{"arguments", nil, []string{"systemd", "render", "-dir", tmp, "extra"}, []string{`render takes no arguments (got "extra")`}},
		{"no subcommand", nil, []string{"systemd"}, []string{"systemd needs a subcommand"}},
		{"unknown subcommand", nil, []string{"systemd", "deploy"}, []string{`unknown systemd subcommand "deploy"`}},
		{"unknown flag", nil, []string{"systemd", "render", "-frobnicate"}, []string{"frobnicate", "wanctl systemd render -h"}},
		{"relative root", nil, []string{"systemd", "install", "-root", "rel"}, []string{`-root "rel"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runEnv(t, tc.env, tc.args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.err)
				}
			}
		})
	}
	for _, o := range []string{"o1", "o2", "o3"} {
		if _, err := os.Stat(filepath.Join(tmp, o)); err == nil {
			t.Errorf("%s was written despite the error", o)
		}
	}
}

func TestSystemdInstall(t *testing.T) {
	tmp := t.TempDir()
	cfg := writePath(t, filepath.Join(tmp, "wanctl.hcl"), testConfig, 0o600)
	root := filepath.Join(tmp, "root")
	r := runEnv(t, nil, "systemd", "install", "-root", root, "-bin", "/usr/bin/wanctl", "-config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	for _, u := range systemd.Units() {
		p := filepath.Join(root, "etc/systemd/system", u)
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v", p, err)
		}
	}
	sysusers := filepath.Join(root, "etc/sysusers.d", systemd.SysusersConf)
	if got := readFile(t, sysusers); !strings.Contains(got, `u wanctl - "wanctl daemon" /var/lib/wanctl`) {
		t.Errorf("%s:\n%s", sysusers, got)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system", systemd.SysusersConf)); err == nil {
		t.Error("sysusers entry also written among the units")
	}
	for _, want := range []string{
		"Next, as root:\n",
		"  systemd-sysusers --root=" + root + "\n",
		"  systemctl --root=" + root + " enable wanctl-autorate.service wanctl-steer.timer\n",
		"Note: create /srv/wanctl state inside " + root,
		"let it read " + cfg,
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.out)
		}
	}
	// Without -now nothing ran.
	if _, err := os.Stat(filepath.Join(root, "etc", "passwd")); err == nil {
		t.Error("install without -now created users")
	}
}

func TestSystemdInstallNow(t *testing.T) {
	tmp := t.TempDir()
	cfg := writePath(t, filepath.Join(tmp, "wanctl.hcl"), testConfig, 0o644)
	root := filepath.Join(tmp, "root")
	r := runEnv(t, nil, "systemd", "install", "-now", "-root", root, "-bin", "/usr/bin/wanctl", "-config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
	for _, want := range []string{"+ systemd-sysusers --root=" + root + "\n", "+ systemctl --root=" + root + " enable wanctl-autorate.service wanctl-steer.timer\n"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.out)
		}
	}
	if passwd := readFile(t, filepath.Join(root, "etc", "passwd")); !strings.Contains(passwd, "wanctl:x:") {
		t.Errorf("no wanctl user created in %s/etc/passwd:\n%s", root, passwd)
	}
	for _, link := range []string{"multi-user.target.wants/" + systemd.AutorateService, "timers.target.wants/" + systemd.SteerTimer} {
		p := filepath.Join(root, "etc/systemd/system", link)
		if dest, err := os.Readlink(p); err != nil || dest != filepath.Join("/etc/systemd/system", filepath.Base(link)) {
			t.Errorf("%s -> %q, %v", p, dest, err)
		}
	}
	if strings.Contains(r.out, "let it read") {
		t.Error("readability note for an other-readable config")
	}
}

func TestInstallStepsOnThisSystem(t *testing.T) {
	cases := []struct {
		name  string
		opts  systemd.RenderOptions
		steps []string
	}{
		{"defaults", systemd.RenderOptions{ConfigPath: "/nonexistent/wanctl.hcl"}, []string{
			"systemd-sysusers /etc/sysusers.d/wanctl.conf",
			"systemctl daemon-reload && systemctl enable --now wanctl-autorate.service wanctl-steer.timer",
		}},
		{"unmanaged state dir", systemd.RenderOptions{ConfigPath: "/nonexistent/wanctl.hcl", StateDir: "/srv/wan ctl", LockDir: "/run/wanctl"}, []string{
			"systemd-sysusers /etc/sysusers.d/wanctl.conf",
			"install -d -o wanctl -g wanctl -m 0755 '/srv/wan ctl'",
			"systemctl daemon-reload && systemctl enable --now wanctl-autorate.service wanctl-steer.timer",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			steps, notes := installSteps("/", tc.opts)
			var got []string
			for _, s := range steps {
				got = append(got, s.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.steps, "\n") {
				t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.steps, "\n"))
			}
			if len(notes) != 0 {
				t.Errorf("notes %q", notes)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/wanctl/wanctl.hcl": "/etc/wanctl/wanctl.hcl",
		"--root=/tmp/x":          "--root=/tmp/x",
		"wanctl:wanctl":          "wanctl:wanctl",
		"/a b":                   "'/a b'",
		"it's":                   `'it'\''s'`,
		"$HOME":                  "'$HOME'",
		"":                       "''",
		"a\nb":                   "'a\nb'",
	} {
		t.Run(in, func(t *testing.T) {
			if got := shellQuote(in); got != want {
				t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
			}
		})
	}
}
