package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	hcl "github.com/hashicorp/hcl/v2"
)

// testEnv is the environment every testdata file sees: the examples'
// password variable, and one variable that is set but empty.
var testEnv = map[string]string{
	"WANCTL_ROUTER_PASSWORD": "test-password",
	"WANCTL_TEST_EMPTY":      "",
}

func lookupTestEnv(k string) (string, bool) {
	v, ok := testEnv[k]
	return v, ok
}

var (
	markerRE = regexp.MustCompile(`# (ERROR|WARNING): `)
	modeRE   = regexp.MustCompile(`MODE: (0[0-7]{3})`)
)

type marker struct {
	kind    string // "ERROR" or "WARNING"
	summary string
}

// markers reads the "# ERROR: <summary>" and "# WARNING: <summary>"
// comments of a testdata file, by line number (1-based). One line may hold
// several.
func markers(src string) map[int][]marker {
	out := map[int][]marker{}
	for i, line := range strings.Split(src, "\n") {
		locs := markerRE.FindAllStringSubmatchIndex(line, -1)
		for j, l := range locs {
			end := len(line)
			if j+1 < len(locs) {
				end = locs[j+1][0]
			}
			out[i+1] = append(out[i+1], marker{kind: line[l[2]:l[3]], summary: strings.TrimSpace(line[l[1]:end])})
		}
	}
	return out
}

// parseTestdata parses a testdata file with the test environment, as a
// 0600 file unless it says "MODE: 0644".
func parseTestdata(t testing.TB, path string) (*Config, *Diagnostics, string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o600)
	if m := modeRE.FindStringSubmatch(string(src)); m != nil {
		v, _ := strconv.ParseUint(m[1], 8, 32)
		mode = os.FileMode(v)
	}
	cfg, diags := Parse(path, src, Options{FileMode: mode, LookupEnv: lookupTestEnv})
	return cfg, diags, string(src)
}

// TestTestdataDiagnostics: every file under testdata/invalid and
// testdata/warnings yields exactly the diagnostics its markers name, on the
// marked lines: every marker is produced and every diagnostic is marked.
func TestTestdataDiagnostics(t *testing.T) {
	var files []string
	for _, dir := range []string{"testdata/invalid", "testdata/warnings"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 30 {
		t.Fatalf("only %d testdata files", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, diags, src := parseTestdata(t, path)
			want := markers(src)
			wantErrors := false
			for _, ms := range want {
				for _, m := range ms {
					wantErrors = wantErrors || m.kind == "ERROR"
				}
			}
			if len(want) == 0 {
				t.Fatal("file has no ERROR or WARNING marker")
			}
			for _, d := range diags.Diags {
				kind := "ERROR"
				if d.Severity == hcl.DiagWarning {
					kind = "WARNING"
				}
				if d.Subject == nil {
					t.Errorf("diagnostic without position: %s: %s", d.Summary, d.Detail)
					continue
				}
				if d.Subject.Filename != path {
					t.Errorf("diagnostic names file %q, want %q", d.Subject.Filename, path)
				}
				line := d.Subject.Start.Line
				found := false
				for i, m := range want[line] {
					if m.kind == kind && m.summary == d.Summary {
						want[line] = append(want[line][:i], want[line][i+1:]...)
						found = true
						break
					}
				}
				if !found {
					t.Errorf("unexpected %s on line %d: %q (%s)", kind, line, d.Summary, d.Detail)
				}
				if d.Detail == "" {
					t.Errorf("line %d: %q has no detail (hint)", line, d.Summary)
				}
			}
			for line, ms := range want {
				for _, m := range ms {
					t.Errorf("line %d: expected %s %q, not reported", line, m.kind, m.summary)
				}
			}
			if wantErrors != (cfg == nil) {
				t.Errorf("config nil = %v, want %v", cfg == nil, wantErrors)
			}
			if wantErrors != diags.HasErrors() {
				t.Errorf("HasErrors = %v, want %v", diags.HasErrors(), wantErrors)
			}
		})
	}
}
