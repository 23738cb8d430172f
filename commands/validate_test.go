package commands

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the CLI with buffers; env backs Getenv (nil map = empty env).
func run(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(append([]string{"wanctl"}, args...), IO{
		In:     strings.NewReader(stdin),
		Out:    &out,
		Err:    &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

var pwEnv = map[string]string{"WANCTL_ROUTER_PASSWORD": "wanctl"}

func TestValidateExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.hcl")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		code, out, errOut := run(t, pwEnv, "", "validate", "-config", f)
		if code != 0 || out != "The configuration is valid.\n" || errOut != "" {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", f, code, out, errOut)
		}
	}
}

func TestValidateInvalid(t *testing.T) {
	const f = "../config/testdata/invalid/five-mistakes.hcl"
	code, out, errOut := run(t, pwEnv, "", "validate", "-config", f)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{
		"Error: Unsupported argument",
		"on " + f + ":7:3, in router \"edge\":",
		`   7:   timout       = "2s"`,
		"        ^^^^^^\n",
		`Did you mean "timeout"?`,
		"on " + f + ":20:15",
		"Error: " + f + " is invalid: 5 errors\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "\x1b[") {
		t.Error("colour on a buffer")
	}
}

// validateOut is validate -json's document; unknown fields are an error so
// that a renamed or added key shows up here.
type validateOut struct {
	FormatVersion *int             `json:"format_version"`
	Valid         *bool            `json:"valid"`
	Diagnostics   []map[string]any `json:"diagnostics"`
}

func decodeValidate(t *testing.T, out string) validateOut {
	t.Helper()
	var doc validateOut
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("validate -json: %v\n%s", err, out)
	}
	if doc.FormatVersion == nil || *doc.FormatVersion != 1 || doc.Valid == nil || doc.Diagnostics == nil {
		t.Fatalf("validate -json lacks format_version 1, valid or diagnostics:\n%s", out)
	}
	return doc
}

func TestValidateJSON(t *testing.T) {
	code, out, _ := run(t, pwEnv, "", "validate", "-json", "-config", "../examples/single-wan.hcl")
	doc := decodeValidate(t, out)
	if code != 0 || !*doc.Valid || len(doc.Diagnostics) != 0 {
		t.Errorf("valid: exit %d, stdout %q", code, out)
	}

	code, out, errOut := run(t, pwEnv, "", "validate", "-config", "../config/testdata/invalid/five-mistakes.hcl", "-json")
	if code != 1 {
		t.Errorf("invalid: exit %d", code)
	}
	doc = decodeValidate(t, out)
	diags := doc.Diagnostics
	if *doc.Valid || len(diags) != 5 {
		t.Fatalf("invalid: valid %v, %d diagnostics\n%s", *doc.Valid, len(diags), out)
	}
	d := diags[0]
	if d["severity"] != "error" || d["line"] != 7.0 || d["column"] != 3.0 || d["summary"] != "Unsupported argument" ||
		d["filename"] != "../config/testdata/invalid/five-mistakes.hcl" {
		t.Errorf("first diagnostic %v", d)
	}
	if errOut != "" {
		t.Errorf("-json wrote to stderr: %q", errOut)
	}

	// Without the password variable: the error names it, in JSON too.
	code, out, _ = run(t, nil, "", "validate", "-json", "-config", "../examples/single-wan.hcl")
	if doc := decodeValidate(t, out); code != 1 || *doc.Valid || !strings.Contains(out, "Environment variable WANCTL_ROUTER_PASSWORD is not set") {
		t.Errorf("unset env: exit %d\n%s", code, out)
	}
}

func TestValidateWarnings(t *testing.T) {
	code, out, errOut := run(t, pwEnv, "", "validate", "-config", "../config/testdata/warnings/insecure.hcl")
	if code != 0 || out != "The configuration is valid, with 5 warnings.\n" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, "Warning: TLS certificate verification is off") {
		t.Errorf("stderr lacks the warning:\n%s", errOut)
	}
}

func TestValidateConfigPath(t *testing.T) {
	// $WANCTL_CONFIG when -config is absent; -config before the command works too.
	env := map[string]string{"WANCTL_ROUTER_PASSWORD": "x", "WANCTL_CONFIG": "../examples/lte.hcl"}
	if code, out, errOut := run(t, env, "", "validate"); code != 0 {
		t.Errorf("WANCTL_CONFIG: exit %d %s %s", code, out, errOut)
	}
	if code, _, errOut := run(t, pwEnv, "", "-config", "../examples/lte.hcl", "validate"); code != 0 {
		t.Errorf("global -config: exit %d %s", code, errOut)
	}
	missing := filepath.Join(t.TempDir(), "nope.hcl")
	code, _, errOut := run(t, pwEnv, "", "validate", "-config", missing)
	if code != 1 || !strings.Contains(errOut, "Cannot read configuration file") || !strings.Contains(errOut, missing) {
		t.Errorf("missing file: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := run(t, pwEnv, "", "validate", "extra-arg"); code != 1 || !strings.Contains(errOut, "-config extra-arg") {
		t.Errorf("positional argument: exit %d %s", code, errOut)
	}
}

func TestValidatePasswordMode(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../examples/single-wan.hcl")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.hcl")
	literal := strings.Replace(string(src), `env("WANCTL_ROUTER_PASSWORD")`, `"hunter2"`, 1)
	if err := os.WriteFile(path, []byte(literal), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, nil, "", "validate", "-config", path)
	if code != 1 || !strings.Contains(strings.Join(strings.Fields(errOut), " "), "chmod 600 "+path) || strings.Contains(errOut, "hunter2") {
		t.Errorf("0644: exit %d\n%s", code, errOut)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, nil, "", "validate", "-config", path); code != 0 {
		t.Errorf("0600: exit %d\n%s", code, errOut)
	}
}

func TestValidateDebugLog(t *testing.T) {
	code, _, errOut := run(t, pwEnv, "", "validate", "-log-level", "debug", "-config", "../examples/dual-wan-steering.hcl")
	if code != 0 || !strings.Contains(errOut, "configuration loaded") || !strings.Contains(errOut, "wans=2") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	if code, _, errOut := run(t, pwEnv, "", "validate", "-log-level", "loud", "-config", "../examples/lte.hcl"); code != 1 || !strings.Contains(errOut, "-log-level") {
		t.Errorf("bad -log-level: exit %d %s", code, errOut)
	}
}

// An unknown command is a usage error (exit 1), not fmt -check's 3.
func TestUnknownCommand(t *testing.T) {
	code, _, stderr := run(t, nil, "", "nosuch")
	if code != 1 || !strings.Contains(stderr, `unknown command "nosuch"`) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, stdout, _ := run(t, nil, ""); code != 0 || !strings.Contains(stdout, "COMMANDS:") {
		t.Fatalf("no command: exit %d\n%s", code, stdout)
	}
}
