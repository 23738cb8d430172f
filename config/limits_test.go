package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadRefusesHostileFiles: a configuration path that names a device
// (directly or through a symbolic link), a FIFO or a file over MaxFileSize
// is refused quickly, without reading it into memory or waiting for a
// writer.
func TestLoadRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "zero.hcl")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.hcl")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("# comment\n"), MaxFileSize/10+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "not a regular file (a device)"},
		{link, "not a regular file (a device)"},
		{fifo, "not a regular file (a FIFO)"},
		{dir, "not a regular file (a directory)"},
		{huge, "larger than 1048576 bytes"},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			cfg, d := Load(tc.path)
			if cfg != nil {
				t.Fatal("loaded")
			}
			diag := only(t, d)
			if diag.Summary != "Cannot read configuration file" || !strings.Contains(diag.Detail, tc.want) {
				t.Errorf("%q / %q, want detail with %q", diag.Summary, diag.Detail, tc.want)
			}
		})
	}
	// A symbolic link to a regular file is fine (/etc/wanctl/wanctl.hcl is
	// often one).
	real := filepath.Join(dir, "real.hcl")
	if err := os.WriteFile(real, []byte(fmt.Sprintf(minimal, `env("WANCTL_ROUTER_PASSWORD")`)), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok.hcl")
	if err := os.Symlink(real, ok); err != nil {
		t.Fatal(err)
	}
	if cfg, d := LoadFile(ok, Options{LookupEnv: lookupTestEnv}); cfg == nil {
		t.Errorf("symlink to a regular file: %s", d.Error())
	}
}

// TestParseSizeLimit: Parse itself refuses source over MaxFileSize (the
// daemon's reload and every caller get the same bound).
func TestParseSizeLimit(t *testing.T) {
	src := append([]byte(fmt.Sprintf(minimal, `env("WANCTL_ROUTER_PASSWORD")`)), bytes.Repeat([]byte("#\n"), MaxFileSize/2)...)
	cfg, d := parseString(t, "big.hcl", string(src), Options{})
	if cfg != nil {
		t.Fatal("accepted")
	}
	diag := only(t, d)
	if diag.Summary != "Configuration file too large" || diag.Subject == nil || diag.Subject.Start.Line != 1 {
		t.Errorf("%q at %v", diag.Summary, diag.Subject)
	}
	if _, d := parseString(t, "ok.hcl", string(src[:MaxFileSize]), Options{}); d.HasErrors() {
		t.Errorf("exactly MaxFileSize bytes: %s", d.Error())
	}
}

// TestNestingLimit: deep nesting is refused with a positioned diagnostic
// before HCL's parser recurses into it (60,000 levels overflowed its stack:
// a fatal error, not a recoverable panic). What only looks nested — inside
// strings, heredocs and comments — is not counted.
func TestNestingLimit(t *testing.T) {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	tooDeep := []struct{ name, value string }{
		{"tuples 60000", deep("[", "]", 60000)},
		{"tuples unclosed", strings.Repeat("[", 60000)},
		{"tuples", deep("[", "]", MaxNesting+1)},
		{"parens", deep("(", ")", MaxNesting+1)},
		{"objects", deep("{a=", "}", MaxNesting+1)},
		{"negation", strings.Repeat("-", 200000) + "1"},
		{"not", strings.Repeat("! ", 100000) + "true"},
		{"conditionals", strings.Repeat("true ? 1 : ", 50000) + "2"},
		{"conditionals in parens", "(" + strings.Repeat("true ? 1 :\n", 50000) + "2)"},
		{"splats", "a" + strings.Repeat("[*]", 100000)},
		{"attribute splats", "a" + strings.Repeat(".*", 100000)},
		{"interpolations", deep(`"${`, `}"`, 40000)},
		{"directives", `"` + strings.Repeat("%{if true}", 50000) + `x"`},
		{"heredoc directives", "<<EOT\n" + strings.Repeat("%{ for x in y }\n", 50000) + "EOT\n"},
	}
	for _, tc := range tooDeep {
		t.Run(tc.name, func(t *testing.T) {
			src := "# A hostile file.\nx = " + tc.value + "\n"
			cfg, d := parseString(t, "deep.hcl", src, Options{})
			if cfg != nil {
				t.Fatal("accepted")
			}
			diag := only(t, d)
			if diag.Summary != "Nesting too deep" || diag.Subject == nil || diag.Subject.Start.Line < 2 {
				t.Fatalf("%q at %v", diag.Summary, diag.Subject)
			}
			s := diag.Subject.Start
			if s.Byte >= len(src) || !strings.ContainsRune("[({$%-!?*\"", rune(src[s.Byte])) {
				t.Fatalf("subject %+v is not at an opening", s)
			}
			if lineStart := strings.LastIndexByte(src[:s.Byte], '\n') + 1; s.Line != 1+strings.Count(src[:s.Byte], "\n") || s.Column != 1+s.Byte-lineStart {
				t.Errorf("subject %+v: line or column wrong", s)
			}
			var buf bytes.Buffer
			if err := d.WriteText(&buf, false); err != nil || !strings.Contains(buf.String(), fmt.Sprintf("deep.hcl:%d:%d", s.Line, s.Column)) || buf.Len() > 2000 {
				t.Errorf("rendering (%d bytes): %v\n%.2000s", buf.Len(), err, buf.String())
			}
		})
	}
	// At the limit, and apparent nesting in text, is left to the parser.
	fine := []struct{ name, value string }{
		{"tuples at the limit", deep("[", "]", MaxNesting-1)},
		{"brackets in a string", `"` + strings.Repeat("[{(", 1000) + `"`},
		{"escaped quote", `"\"` + strings.Repeat("[", 1000) + `"`},
		{"brackets in a comment", "1 # " + strings.Repeat("[", 1000)},
		{"brackets in a block comment", "/* " + strings.Repeat("[\n", 1000) + "*/ 1"},
		{"escaped interpolation", `"` + strings.Repeat("$${", 1000) + `"`},
		{"brackets in a heredoc", "<<EOT\n" + strings.Repeat("[", 1000) + "\nEOT\n"},
		{"sequential directives", `"` + strings.Repeat("%{if true}a%{endif}", 1000) + `"`},
		{"sequential splats", "[" + strings.Repeat("a[*], ", 1000) + "]"},
		{"multiplication", strings.Repeat("2 * ", 1000) + "1"},
		{"many items", "[" + strings.Repeat("[1], ", 10000) + "]"},
		{"sequential conditionals", "[" + strings.Repeat("true ? 1 : 2, ", 1000) + "]"},
	}
	for _, tc := range fine {
		t.Run(tc.name, func(t *testing.T) {
			if d := checkNesting("x.hcl", []byte("x = "+tc.value+"\n")); d != nil {
				t.Errorf("refused: %s", d.Error())
			}
		})
	}
}

// TestStringLengthLimit: a string value longer than MaxStringLength is an
// error with a hint, wherever it comes from (here env(): a 50 MB user name
// was accepted and sent to the router).
func TestStringLengthLimit(t *testing.T) {
	long := strings.Repeat("u", 50<<20)
	env := func(k string) (string, bool) {
		if k == "LONG" {
			return long, true
		}
		return lookupTestEnv(k)
	}
	src := strings.Replace(fmt.Sprintf(minimal, `env("WANCTL_ROUTER_PASSWORD")`), `"wanctl"`, `env("LONG")`, 1)
	cfg, d := parseString(t, "long.hcl", src, Options{LookupEnv: env})
	if cfg != nil {
		t.Fatal("accepted a 50 MB user name")
	}
	diag := only(t, d)
	if diag.Summary != "Value too long" || !strings.Contains(diag.Detail, "username") || diag.Subject == nil || diag.Subject.Start.Line != 3 {
		t.Errorf("%q / %q at %v", diag.Summary, diag.Detail, diag.Subject)
	}
	if len(diag.Detail) > 500 || len(d.Error()) > 500 {
		t.Errorf("the value is echoed: %d bytes", len(diag.Detail))
	}
	// In a list too, and at the limit it is fine.
	src = fmt.Sprintf(minimal, `env("WANCTL_ROUTER_PASSWORD")`)
	src = strings.Replace(src, `["1.1.1.1"]`, fmt.Sprintf(`["1.1.1.1", "%s"]`, strings.Repeat("1", MaxStringLength+1)), 1)
	if _, d := parseString(t, "list.hcl", src, Options{}); only(t, d).Summary != "Value too long" {
		t.Errorf("list element: %s", d.Error())
	}
	src = strings.Replace(fmt.Sprintf(minimal, `env("WANCTL_ROUTER_PASSWORD")`), `"wanctl"`, `"`+strings.Repeat("u", MaxStringLength)+`"`, 1)
	if _, d := parseString(t, "max.hcl", src, Options{}); d.HasErrors() {
		t.Errorf("%d bytes refused: %s", MaxStringLength, d.Error())
	}
}

// TestUnsupportedExpressionsReportedOnce: an unsupported expression is
// reported once, not again for the ones inside it, and many of them are
// checked in linear time (the check compared each with every earlier
// report).
func TestUnsupportedExpressionsReportedOnce(t *testing.T) {
	_, d := parseString(t, "e.hcl", "x = [1+1, (true ? 1+2 : [3*4]), -(-1), \"${1+1}\"]\n", Options{})
	if n := len(d.Errors()); n != 4 {
		t.Errorf("%d errors, want 4:\n%s", n, d.Error())
	}
	_, d = parseString(t, "e.hcl", "x = ["+strings.Repeat("1+1, ", 100000)+"]\n", Options{})
	if n := len(d.Errors()); n != 100000 {
		t.Errorf("%d errors, want 100000", n)
	}
}
