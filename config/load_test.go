package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	hcl "github.com/hashicorp/hcl/v2"
)

// minimal is a valid configuration; %s is the router's password expression.
const minimal = `router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = %s
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

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

func parseString(t *testing.T, filename, src string, opts Options) (*Config, *Diagnostics) {
	t.Helper()
	if opts.LookupEnv == nil {
		opts.LookupEnv = lookupTestEnv
	}
	return Parse(filename, []byte(src), opts)
}

// only returns the single error diagnostic, failing otherwise.
func only(t *testing.T, d *Diagnostics) *hcl.Diagnostic {
	t.Helper()
	errs := d.Errors()
	if len(errs) != 1 {
		t.Fatalf("want exactly one error, got %d:\n%s", len(errs), d.Error())
	}
	return errs[0]
}

func TestEnv(t *testing.T) {
	env := map[string]string{"PW": "from-env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	cfg, d := parseString(t, "c.hcl", fmt.Sprintf(minimal, `env("PW")`), Options{LookupEnv: lookup})
	if d.HasErrors() || cfg.Routers[0].Password.Reveal() != "from-env" {
		t.Fatalf("env(PW): %v, %q", d.Error(), cfg.Routers[0].Password.Reveal())
	}
	cfg, d = parseString(t, "c.hcl", fmt.Sprintf(minimal, `"x-${env("PW")}"`), Options{LookupEnv: lookup})
	if d.HasErrors() || cfg.Routers[0].Password.Reveal() != "x-from-env" {
		t.Fatalf("template: %v", d.Error())
	}

	cfg, d = parseString(t, "c.hcl", fmt.Sprintf(minimal, `env("NOPE_UNSET")`), Options{LookupEnv: lookup})
	diag := only(t, d)
	if cfg != nil {
		t.Error("config returned despite errors")
	}
	if diag.Summary != "Environment variable NOPE_UNSET is not set" || !strings.Contains(diag.Detail, "export NOPE_UNSET=") {
		t.Errorf("unset env: %q / %q", diag.Summary, diag.Detail)
	}
	if diag.Subject.Start.Line != 4 || diag.Subject.Start.Column != 18 {
		t.Errorf("unset env points at %s, want line 4 col 18", diag.Subject)
	}

	_, d = parseString(t, "c.hcl", fmt.Sprintf(minimal, `env("A", "B")`), Options{LookupEnv: lookup})
	if diag := only(t, d); diag.Summary != "Too many function arguments" {
		t.Errorf("env with 2 arguments: %q", diag.Summary)
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"pw-lf": "one\n", "pw-crlf": "two\r\n", "pw-none": "three", "pw-inner": "a\nb\n"} {
		if err := os.WriteFile(filepath.Join(dir, "secrets", name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "wanctl.hcl")
	for expr, want := range map[string]string{
		`file("secrets/pw-lf")`:                                      "one",
		`file("secrets/pw-crlf")`:                                    "two",
		`file("secrets/pw-none")`:                                    "three",
		`file("secrets/pw-inner")`:                                   "a\nb",
		fmt.Sprintf("file(%q)", filepath.Join(dir, "secrets/pw-lf")): "one",
	} {
		cfg, d := parseString(t, cfgPath, fmt.Sprintf(minimal, expr), Options{})
		if d.HasErrors() {
			t.Errorf("%s: %s", expr, d.Error())
			continue
		}
		if got := cfg.Routers[0].Password.Reveal(); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}

	_, d := parseString(t, cfgPath, fmt.Sprintf(minimal, `file("secrets/missing")`), Options{})
	diag := only(t, d)
	if diag.Summary != `Cannot read file "secrets/missing"` || !strings.Contains(diag.Detail, filepath.Join(dir, "secrets/missing")) {
		t.Errorf("missing file: %q / %q", diag.Summary, diag.Detail)
	}

	// Endless or huge files are refused, not read into memory, and a FIFO
	// is not opened for a read that would wait for a writer.
	huge := filepath.Join(dir, "secrets", "huge")
	if err := os.WriteFile(huge, make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "secrets", "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/dev/zero": "not a regular file (a device)", huge: "larger than", fifo: "not a regular file (a FIFO)"} {
		_, d = parseString(t, cfgPath, fmt.Sprintf(minimal, fmt.Sprintf("file(%q)", path)), Options{})
		if diag := only(t, d); diag.Summary != fmt.Sprintf("Cannot read file %q", path) || !strings.Contains(diag.Detail, want) {
			t.Errorf("%s: %q / %q", path, diag.Summary, diag.Detail)
		}
	}

	// Options.ReadFile replaces the file system.
	var asked string
	cfg, d := parseString(t, "/etc/wanctl/wanctl.hcl", fmt.Sprintf(minimal, `file("pw")`), Options{ReadFile: func(p string) ([]byte, error) {
		asked = p
		return []byte("virtual\n"), nil
	}})
	if d.HasErrors() || cfg.Routers[0].Password.Reveal() != "virtual" || asked != "/etc/wanctl/pw" {
		t.Errorf("ReadFile option: %v, asked %q", d.Error(), asked)
	}
	_, d = parseString(t, "c.hcl", fmt.Sprintf(minimal, `file("pw")`), Options{ReadFile: func(string) ([]byte, error) {
		return nil, fs.ErrPermission
	}})
	if diag := only(t, d); !strings.Contains(diag.Detail, "permission denied") {
		t.Errorf("unreadable file: %q", diag.Detail)
	}
}

func TestPasswordFileMode(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		mode    os.FileMode
		expr    string
		wantErr bool
	}{
		{0o600, `"literal"`, false},
		{0o400, `"literal"`, false},
		{0o644, `"literal"`, true},
		{0o640, `"literal"`, true},
		{0o604, `"literal"`, true},
		{0o644, `env("WANCTL_ROUTER_PASSWORD")`, false},
		{0o644, `file("/dev/null")`, true}, // an empty password is an error of its own
		{0o644, `"${env("WANCTL_ROUTER_PASSWORD")}"`, false},
	} {
		t.Run(fmt.Sprintf("%04o %s", c.mode, c.expr), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("c-%o.hcl", c.mode))
			if err := os.WriteFile(path, []byte(fmt.Sprintf(minimal, c.expr)), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			t.Setenv("WANCTL_ROUTER_PASSWORD", "from-env")
			cfg, d := Load(path)
			if d.HasErrors() != c.wantErr || (cfg == nil) != c.wantErr {
				t.Errorf("errors %v, want %v: %s", d.HasErrors(), c.wantErr, d.Error())
				return
			}
			if !c.wantErr || c.expr != `"literal"` {
				return
			}
			diag := only(t, d)
			if diag.Summary != "Password in a file readable by other users" ||
				!strings.Contains(diag.Detail, "env(") || !strings.Contains(diag.Detail, "file(") || !strings.Contains(diag.Detail, "chmod 600 "+path) {
				t.Errorf("%q / %q", diag.Summary, diag.Detail)
			}
		})
	}
}

// A password file others can read is a warning (the configuration stays
// valid: the file may be shared on purpose), pointing at the file() call.
func TestPasswordFileReadableByOthers(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "router-password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "w.hcl")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(minimal, `file("router-password")`)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o600, 0o640, 0o644} {
		if err := os.Chmod(pw, mode); err != nil {
			t.Fatal(err)
		}
		cfg, d := Load(path)
		if cfg == nil || d.HasErrors() {
			t.Fatalf("mode %04o: %s", mode, d.Error())
		}
		if mode == 0o600 {
			if len(d.Diags) != 0 {
				t.Errorf("mode 0600: %s", d.Error())
			}
			continue
		}
		if len(d.Diags) != 1 {
			t.Fatalf("mode %04o: want one warning: %s", mode, d.Error())
		}
		diag := d.Diags[0]
		if diag.Severity != hcl.DiagWarning || diag.Summary != "Password file readable by other users" ||
			!strings.Contains(diag.Detail, "chmod 600 "+pw) || diag.Subject == nil || diag.Subject.Start.Line != 4 {
			t.Errorf("mode %04o: %+v", mode, diag)
		}
	}
}

func TestLoadUnreadable(t *testing.T) {
	cfg, d := Load(filepath.Join(t.TempDir(), "nope.hcl"))
	if cfg != nil || !d.HasErrors() {
		t.Fatal("missing file loaded")
	}
	diag := only(t, d)
	if diag.Summary != "Cannot read configuration file" || !strings.Contains(diag.Detail, "-config") {
		t.Errorf("%q / %q", diag.Summary, diag.Detail)
	}
	var buf bytes.Buffer
	if err := d.WriteText(&buf, false); err != nil || !strings.Contains(buf.String(), "Cannot read configuration file") {
		t.Errorf("WriteText: %v %q", err, buf.String())
	}
	if !strings.HasPrefix(d.Error(), "Cannot read configuration file") {
		t.Errorf("Error() = %q", d.Error())
	}
}

func TestDidYouMean(t *testing.T) {
	for _, c := range []struct {
		file, summary, hint string
	}{
		{"unsupported-argument.hcl", "Unsupported argument", `Did you mean "ping_rate"?`},
		{"unsupported-block.hcl", "Unsupported block type", `Did you mean "floor"?`},
		{"attribute-in-wrong-block.hcl", "Unsupported argument", `"reflectors" belongs in a wan.measurement block`},
		{"five-mistakes.hcl", "Unsupported argument", `Did you mean "timeout"?`},
		{"unknown-router.hcl", `Unknown router "egde"`, `Did you mean "edge"?`},
		{"unknown-primary.hcl", `Unknown WAN "cabel"`, `Did you mean "cable"?`},
		{"address-lists.hcl", `Unknown address list "work-laptop"`, `Did you mean "work-laptops"?`},
		{"cake-enum.hcl", "Invalid diffserv", `Did you mean "diffserv`},
		{"cake-overhead-scheme.hcl", "Invalid overhead_scheme", `Did you mean "docsis"?`},
		{"rule-protocol.hcl", "Invalid protocol", `Did you mean "udp"?`},
		{"rule-dscp.hcl", "Invalid DSCP value", `Did you mean "af11"?`},
	} {
		t.Run(c.file, func(t *testing.T) {
			_, d, _ := parseTestdata(t, filepath.Join("testdata/invalid", c.file))
			found := false
			for _, diag := range d.Diags {
				if diag.Summary == c.summary && strings.Contains(diag.Detail, c.hint) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %q diagnostic with %q:\n%s", c.summary, c.hint, d.Error())
			}
		})
	}

	// Without a close spelling, the valid names are listed.
	_, d := parseString(t, "c.hcl", strings.Replace(fmt.Sprintf(minimal, `env("WANCTL_ROUTER_PASSWORD")`),
		`ceiling = "10M"`, "ceiling = \"10M\"\n    xyzzy = 1", 1), Options{})
	if diag := only(t, d); !strings.Contains(diag.Detail, "Valid arguments in a wan.upload block: ceiling, factor_down,") {
		t.Errorf("no list of valid names: %q", diag.Detail)
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	cfg, d, _ := parseTestdata(t, "testdata/invalid/five-mistakes.hcl")
	if cfg != nil || len(d.Errors()) != 5 || len(d.Diags) != 5 {
		t.Fatalf("want 5 diagnostics, got %d:\n%s", len(d.Diags), d.Error())
	}
	// Sorted by position.
	for i := 1; i < len(d.Diags); i++ {
		if d.Diags[i].Subject.Start.Byte < d.Diags[i-1].Subject.Start.Byte {
			t.Errorf("diagnostics not in file order:\n%s", d.Error())
		}
	}
}

func TestRendering(t *testing.T) {
	const path = "testdata/invalid/five-mistakes.hcl"
	_, d, _ := parseTestdata(t, path)

	var buf bytes.Buffer
	if err := d.WriteText(&buf, false); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{
		"Error: Unsupported argument\n",
		"  on " + path + ":7:3, in router \"edge\":\n",
		"   7:   timout       = \"2s\" # ERROR: Unsupported argument\n        ^^^^^^\n",
		"  on " + path + ":20:15, in wan \"cable\":\n",
		"Did you mean \"timeout\"?",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\x1b[") {
		t.Error("colour codes without colour")
	}
	buf.Reset()
	if err := d.WriteText(&buf, true); err != nil || !strings.Contains(buf.String(), "\x1b[31mError\x1b[0m") {
		t.Errorf("colour output: %v %q", err, buf.String())
	}

	b, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("JSON: %v\n%s", err, b)
	}
	if len(got) != 5 {
		t.Fatalf("JSON has %d entries", len(got))
	}
	first := got[0]
	if first["severity"] != "error" || first["summary"] != "Unsupported argument" || first["filename"] != path ||
		first["line"] != 7.0 || first["column"] != 3.0 || !strings.Contains(first["detail"].(string), "timeout") {
		t.Errorf("JSON entry: %v", first)
	}

	lines := strings.Split(d.Error(), "\n")
	if len(lines) != 5 || lines[0] != path+":7:3: Unsupported argument" || lines[3] != path+":20:15: Invalid rate" {
		t.Errorf("Error():\n%s", d.Error())
	}

	// Clean: an empty array, not null.
	_, clean := parseString(t, "c.hcl", fmt.Sprintf(minimal, `env("WANCTL_ROUTER_PASSWORD")`), Options{})
	if b, err := clean.JSON(); err != nil || string(b) != "[]" {
		t.Errorf("clean JSON = %s, %v", b, err)
	}
	var nilDiags *Diagnostics
	if b, _ := nilDiags.JSON(); string(b) != "[]" || nilDiags.HasErrors() || nilDiags.Error() != "" {
		t.Error("nil Diagnostics misbehave")
	}
}

func TestWarningsKeepConfig(t *testing.T) {
	cfg, d, _ := parseTestdata(t, "testdata/warnings/insecure.hcl")
	if cfg == nil || d.HasErrors() || len(d.Warnings()) != 5 {
		t.Fatalf("config %v, diagnostics:\n%s", cfg != nil, d.Error())
	}
	if !strings.Contains(d.Error(), ": warning: TLS certificate verification is off") {
		t.Errorf("Error() does not mark warnings:\n%s", d.Error())
	}
	if !cfg.Routers[0].TLSSkipVerify {
		t.Error("tls_skip_verify not decoded")
	}
}

func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.hcl")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		// The examples are readable by all: so they must not hold a literal
		// password, and Load must accept them as they are.
		t.Setenv("WANCTL_ROUTER_PASSWORD", "wanctl")
		cfg, d := Load(f)
		if d.HasErrors() || len(d.Diags) != 0 {
			t.Errorf("%s (mode %04o):\n%s", f, st.Mode().Perm(), d.Error())
			continue
		}
		if cfg.Routers[0].Password.Reveal() != "wanctl" {
			t.Errorf("%s: password not from WANCTL_ROUTER_PASSWORD", f)
		}
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	cfg, d := parseString(t, "c.hcl", fmt.Sprintf(minimal, `"hunter2-secret"`), Options{})
	if d.HasErrors() {
		t.Fatal(d.Error())
	}
	b, _ := json.Marshal(cfg)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", cfg.Routers[0], *cfg.Routers[0], *cfg.Routers[0], cfg.Routers[0].Password), string(b)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
	}
	// Nor in diagnostics about it.
	_, d = parseString(t, "c.hcl", fmt.Sprintf(minimal, `"hunter2-secret"`), Options{FileMode: 0o644})
	var buf bytes.Buffer
	_ = d.WriteText(&buf, false)
	if !d.HasErrors() || strings.Contains(d.Error(), "hunter2") || strings.Contains(buf.String(), "hunter2") ||
		!strings.Contains(buf.String(), `password     = "**************"`) {
		t.Errorf("diagnostics:\n%s", buf.String())
	}
	// The masking does not alter the parsed file.
	if !bytes.Contains(d.Files["c.hcl"].Bytes, []byte("hunter2-secret")) {
		t.Error("Files modified")
	}
}

func TestStepUpDefault(t *testing.T) {
	for ceiling, want := range map[string]int64{
		"1000": 1000, "49999": 1000, "100000": 2000, "1.2345M": 24000, "940M": 18_800_000, "10G": 200_000_000,
	} {
		src := strings.Replace(fmt.Sprintf(minimal, `"pw"`), `ceiling = "100M"`, fmt.Sprintf("ceiling = %q", ceiling), 1)
		cfg, d := parseString(t, "c.hcl", src, Options{})
		if d.HasErrors() {
			t.Errorf("%s: %s", ceiling, d.Error())
			continue
		}
		if got := cfg.WANs[0].Download.StepUp; got != want {
			t.Errorf("ceiling %s: step_up %d, want %d", ceiling, got, want)
		}
		f := cfg.WANs[0].Download.Floor
		if !(f.Red > 0 && f.Red <= f.SoftRed && f.SoftRed <= f.Yellow && f.Yellow <= f.Green && f.Green <= cfg.WANs[0].Download.Ceiling) {
			t.Errorf("ceiling %s: floors out of order: %+v", ceiling, f)
		}
	}
}

// TestDiagnosticsHaveSubjects: every problem in a file points into it.
func TestDiagnosticsHaveSubjects(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.hcl")
	for _, f := range files {
		_, d, _ := parseTestdata(t, f)
		for _, diag := range d.Diags {
			if diag.Subject == nil || diag.Subject.Filename == "" {
				t.Errorf("%s: %q has no position", f, diag.Summary)
			}
		}
	}
}

func BenchmarkParseGolden(b *testing.B) {
	src, err := os.ReadFile("testdata/golden.hcl")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, d := Parse("testdata/golden.hcl", src, Options{FileMode: 0o600, LookupEnv: lookupTestEnv}); d.HasErrors() {
			b.Fatal(d.Error())
		}
	}
}

func BenchmarkParseInvalid(b *testing.B) {
	src, err := os.ReadFile("testdata/invalid/five-mistakes.hcl")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, d := Parse("five-mistakes.hcl", src, Options{FileMode: 0o600, LookupEnv: lookupTestEnv}); !d.HasErrors() {
			b.Fatal("no errors")
		}
	}
}

// TestRouterWritesBudget: the write budget's defaults, its settings, and
// max_per_minute (its name before it was a token bucket) still read, with
// the bucket as deep as the old limit unless burst is given.
func TestRouterWritesBudget(t *testing.T) {
	def := DefaultRouterWrites()
	tests := []struct {
		name        string
		block       string
		want        RouterWrites
		wantWarning bool
	}{
		{"left out", "", def, false},
		{"new names", "writes_per_minute = 30\n    burst = 4", RouterWrites{def.MinChange, def.IncreaseInterval, 30, 4}, false},
		{"burst alone", "burst = 4", RouterWrites{def.MinChange, def.IncreaseInterval, def.WritesPerMinute, 4}, false},
		{"old name", "max_per_minute = 60", RouterWrites{def.MinChange, def.IncreaseInterval, 60, 60}, true},
		{"old name and burst", "max_per_minute = 60\n    burst = 3", RouterWrites{def.MinChange, def.IncreaseInterval, 60, 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf(minimal, `"pw"`)
			if tt.block != "" {
				src = strings.Replace(src, "  measurement {", "  router_writes {\n    "+tt.block+"\n  }\n\n  measurement {", 1)
			}
			cfg, d := parseString(t, "c.hcl", src, Options{})
			if cfg == nil {
				t.Fatal(d.Error())
			}
			if got := cfg.WANs[0].RouterWrites; got != tt.want {
				t.Errorf("router_writes %+v, want %+v", got, tt.want)
			}
			if got := len(d.Warnings()) == 1 && strings.Contains(d.Error(), "max_per_minute is now writes_per_minute"); got != tt.wantWarning || len(d.Warnings()) > 1 {
				t.Errorf("warnings:\n%s", d.Error())
			}
		})
	}
}

func TestSteeringDryRun(t *testing.T) {
	src, err := os.ReadFile("testdata/golden.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, attr string
		want       bool
		err        string
	}{
		{"absent", "", false, ""},
		{"true", "dry_run = true", true, ""},
		{"false", "dry_run = false", false, ""},
		{"not a bool", `dry_run = "maybe"`, false, "a bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := strings.Replace(string(src), "steering {\n", "steering {\n  "+tc.attr+"\n", 1)
			cfg, d := parseString(t, "testdata/golden.hcl", s, Options{})
			if tc.err != "" {
				if e := only(t, d); !strings.Contains(e.Detail, tc.err) {
					t.Fatalf("error %q, want it to say %q", e.Detail, tc.err)
				}
				return
			}
			if d.HasErrors() {
				t.Fatal(d.Error())
			}
			if cfg.Steering.DryRun != tc.want {
				t.Fatalf("DryRun %v, want %v", cfg.Steering.DryRun, tc.want)
			}
		})
	}
}
