package config

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	hcl "github.com/hashicorp/hcl/v2"
)

// renderAll is everything a command prints from diagnostics.
func renderAll(t *testing.T, d *Diagnostics) string {
	t.Helper()
	var b bytes.Buffer
	for _, color := range []bool{false, true} {
		if err := d.WriteText(&b, color); err != nil {
			t.Fatal(err)
		}
	}
	j, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	b.Write(j)
	b.WriteString(d.Error())
	return b.String()
}

// TestTestdataSecretsMasked: "hunter2", the password of the testdata files,
// is never printed by any rendering of any testdata file's diagnostics,
// whether the file parses or not.
func TestTestdataSecretsMasked(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.hcl")
	n := 0
	for _, path := range files {
		_, d, src := parseTestdata(t, path)
		if !strings.Contains(src, "hunter2") {
			continue
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			if out := renderAll(t, d); strings.Contains(out, "hunter2") {
				t.Errorf("password printed:\n%s", out)
			}
		})
	}
	if n < 4 {
		t.Fatalf("only %d testdata files hold the test password", n)
	}
}

// TestSecretsMaskedWhateverTheParseState: the cases of issue 16, and
// variants, with the secret on a line that has an error of its own.
func TestSecretsMaskedWhateverTheParseState(t *testing.T) {
	const pw = "Sup3r-Secret"
	for _, tc := range []struct{ name, line, shown string }{
		{"url credentials", `url = "http://u:` + pw + `@192.168.88.1"`, `"http://**************@192.168.88.1"`},
		{"url credentials, bad scheme", `url = "ftp://u:` + pw + `@192.168.88.1"`, `"ftp://************`},
		{"unterminated", `password = "` + pw, `password = "************`},
		{"misspelt", `pasword = "` + pw + `"`, `pasword = "************"`},
		{"capitalised", `Password = "` + pw + `"`, `Password = "************"`},
		{"other name", `api_token = "` + pw + `"`, `api_token = "************"`},
		{"unquoted", `password = ` + pw, `password = ************`},
		{"with interpolation", `password = "${"` + pw + `"}"`, `password = "*****************"`},
		{"heredoc", "password = <<EOT\n" + pw + "\nEOT", "   3: ************\n"},
		{"object", `password = { x = "` + pw + `" }`, `password = * * * "************" *`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "router \"edge\" {\n  " + tc.line + "\n}\n"
			_, d := parseString(t, "s.hcl", src, Options{FileMode: 0o644})
			if !d.HasErrors() {
				t.Fatal("no error")
			}
			out := renderAll(t, d)
			if strings.Contains(out, pw) || strings.Contains(out, "Secret") {
				t.Errorf("password printed:\n%s", out)
			}
			if !strings.Contains(out, tc.shown) {
				t.Errorf("snippet does not show %q:\n%s", tc.shown, out)
			}
		})
	}
	// Where the secret comes from is not secret, and stays readable.
	_, d := parseString(t, "s.hcl", fmt.Sprintf(minimal, `env("UNSET_VARIABLE") # where`), Options{})
	if out := renderAll(t, d); !strings.Contains(out, `password     = env("UNSET_VARIABLE") # where`) {
		t.Errorf("env() masked:\n%s", out)
	}
}

func TestSecretNames(t *testing.T) {
	for _, n := range []string{"password", "pasword", "Password", "passwd", "passwort", "router_password", "secret", "secrt", "token", "api_token", "tokn"} {
		if !isSecretName(n) {
			t.Errorf("%q not secret-like", n)
		}
	}
	// No attribute of the schema but password.
	for _, n := range strings.Fields(schemaNames) {
		if isSecretName(n) != (n == "password") {
			t.Errorf("%q: secret-like %v", n, isSecretName(n))
		}
	}
}

// schemaNames are the attribute and block names of the configuration.
const schemaNames = `ack_filter address_list addresses adopt_existing allow_fasttrack alternate atm
baseline_rise_time_constant baseline_time_constant baseline_update_threshold burst ca_file cake ceiling
daemon deadband diffserv download dscp dst_address dst_address_list dst_ports dwell_cycles factor_down
factor_down_yellow floor flowmode gateway green green_required green_samples hard_red_bloat host_address
increase_interval interface interval lan_interface_list listen load_time_constant lock_dir max_per_minute
measurement min_change min_drops_red mpu name nat overhead overhead_scheme parent password pin_routes
ping_rate primary protocol queue queue_red queue_type queue_yellow red red_samples reflectors refractory
router router_writes rtt rtt_ewma_alpha rtt_red rtt_yellow rule soft_red source src_address
src_address_list src_ports state_dir state_max_age steering step_up target_bloat tcp_fallback thresholds
timeout tls_skip_verify upload url username wan warn_bloat wash writes_per_minute yellow`

// TestWindowedRendering: rendering a diagnostic from the lines around it
// gives exactly HCL's rendering from the whole file, for every diagnostic
// of every testdata file, with and without colour.
func TestWindowedRendering(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.hcl")
	n := 0
	for _, path := range files {
		_, d, _ := parseTestdata(t, path)
		files := d.redactedFiles()
		for _, diag := range d.Diags {
			if diag.Subject == nil {
				continue
			}
			for _, color := range []bool{false, true} {
				var want, got bytes.Buffer
				if err := hcl.NewDiagnosticTextWriter(&want, files, textWidth, color).WriteDiagnostic(diag); err != nil {
					t.Fatal(err)
				}
				if err := writeDiagnostic(&got, files, map[string][]int{}, diag, color); err != nil {
					t.Fatal(err)
				}
				if got.String() != want.String() {
					t.Errorf("%s: %s:\n got %q\nwant %q", path, diag.Summary, got.String(), want.String())
				}
				n++
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d renderings compared", n)
	}
}

// TestRenderingManyDiagnosticsIsLinear: a large file with a diagnostic on
// every line renders in time proportional to its size (HCL's writer alone
// rescans the whole file for each: 150,000 diagnostics in a megabyte did
// not finish in ten minutes).
func TestRenderingManyDiagnosticsIsLinear(t *testing.T) {
	src := "x = 1\n" + strings.Repeat("x = 1\n", 30000)
	_, d := parseString(t, "many.hcl", src, Options{})
	if len(d.Diags) < 30000 {
		t.Fatalf("%d diagnostics", len(d.Diags))
	}
	var b countingWriter
	if err := d.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.last, "many.hcl:30001:1") {
		t.Errorf("last diagnostic %q", b.last)
	}
}

type countingWriter struct{ last string }

func (c *countingWriter) Write(p []byte) (int, error) { c.last = string(p); return len(p), nil }
