package commands

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/wanctl/wanctl/routeros"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a poller.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls until out matches re, and returns the first submatch.
func waitFor(t *testing.T, out *lockedBuffer, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in output:\n%s", re, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var baseRE = regexp.MustCompile(`RouterOS REST emulator at (\S+)/rest`)

// curl -u wanctl:wanctl <base>/rest/queue/tree
func curl(t *testing.T, client *http.Client, base, user, password string) (int, string) {
	t.Helper()
	r, _ := http.NewRequest("GET", base+"/rest/queue/tree", nil)
	r.SetBasicAuth(user, password)
	resp, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeEmulator(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lockedBuffer
	var logs lockedBuffer
	done := make(chan error, 1)
	cfg := emulatorConfig{user: "wanctl", password: "it's-secret", latency: time.Millisecond}
	go func() { done <- serveEmulator(ctx, ln, cfg, &out, slog.New(slog.NewTextHandler(&logs, nil))) }()
	base := waitFor(t, &out, baseRE)
	if base != "http://"+ln.Addr().String() {
		t.Fatalf("base %q, listener %s", base, ln.Addr())
	}
	if st, body := curl(t, http.DefaultClient, base, "wanctl", "it's-secret"); st != 200 || body != "[]" {
		t.Fatalf("GET /rest/queue/tree: %d %s", st, body)
	}
	if st, _ := curl(t, http.DefaultClient, base, "wanctl", "nope"); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
	text := out.String()
	for _, want := range []string{
		`curl -u 'wanctl:it'\''s-secret' ` + base + `/rest/queue/tree`,
		`url          = "` + base + `"`,
		`username     = "wanctl"`,
		`password     = env("WANCTL_ROUTER_PASSWORD")`,
		`export WANCTL_ROUTER_PASSWORD='it'\''s-secret'`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	checkRouterBlock(t, text)
	if !strings.Contains(logs.String(), "path=/rest/queue/tree") || !strings.Contains(logs.String(), "status=401") {
		t.Errorf("requests not logged:\n%s", logs.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("emulator did not stop on context cancel")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("still listening after stop")
	}
}

// checkRouterBlock parses the printed router block as HCL.
func checkRouterBlock(t *testing.T, text string) {
	t.Helper()
	i := strings.Index(text, `router "emulator" {`)
	j := strings.Index(text[i:], "\n}\n")
	if i < 0 || j < 0 {
		t.Fatalf("no router block in:\n%s", text)
	}
	block := text[i : i+j+3]
	f, diags := hclsyntax.ParseConfig([]byte(block), "snippet.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("router block is not valid HCL: %s\n%s", diags, block)
	}
	body := f.Body.(*hclsyntax.Body)
	if len(body.Blocks) != 1 || body.Blocks[0].Type != "router" || body.Blocks[0].Labels[0] != "emulator" {
		t.Fatalf("router block: %s", block)
	}
}

func TestServeEmulatorTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- serveEmulator(ctx, ln, emulatorConfig{user: "wanctl", password: "wanctl", tls: true}, &out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	base := waitFor(t, &out, baseRE)
	caFile := waitFor(t, &out, regexp.MustCompile(`ca_file      = "([^"]+)"`))
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base %s", base)
	}
	if !strings.Contains(out.String(), "--cacert "+shellQuote(caFile)+" -u wanctl:wanctl ") {
		t.Errorf("curl line without --cacert:\n%s", out.String())
	}
	checkRouterBlock(t, out.String())
	// The routeros client verifies the emulator with the printed ca_file.
	c, err := routeros.New(routeros.Config{Name: "emulator", URL: base, Username: "wanctl", Password: "wanctl", CAFile: caFile, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(context.Background(), routeros.MenuQueueTree); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(caFile)); !os.IsNotExist(err) {
		t.Errorf("temporary CA directory left behind: %v", err)
	}

	// -ca-out keeps the file where asked.
	ln, _ = net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel = context.WithCancel(context.Background())
	var out2 lockedBuffer
	want := filepath.Join(t.TempDir(), "emu-ca.pem")
	go func() {
		done <- serveEmulator(ctx, ln, emulatorConfig{user: "u", password: "p", tls: true, caOut: want}, &out2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	if got := waitFor(t, &out2, regexp.MustCompile(`ca_file      = "([^"]+)"`)); got != want {
		t.Fatalf("ca_file %q, want %q", got, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(want); err != nil || !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("-ca-out file: %v", err)
	}
}

// The whole command: flags, serving, and a clean exit 0 on SIGTERM.
func TestEmulatorCommandStopsOnSignal(t *testing.T) {
	var out, errOut lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- Run([]string{"wanctl", "emulator", "-listen", "127.0.0.1:0", "-latency", "0s", "-faults", "5xx:1@PATCH"},
			IO{In: strings.NewReader(""), Out: &out, Err: &errOut, Getenv: func(k string) string {
				if k == "WANCTL_EMULATOR_PASSWORD" {
					return "from-env"
				}
				return ""
			}})
	}()
	base := waitFor(t, &out, baseRE)
	if st, body := curl(t, http.DefaultClient, base, "wanctl", "from-env"); st != 200 || body != "[]" {
		t.Fatalf("GET: %d %s", st, body)
	}
	if !strings.Contains(out.String(), "Injected faults (for the first matching requests): 5xx@PATCH") {
		t.Errorf("faults not shown:\n%s", out.String())
	}
	// A password from the environment is referred to, never printed.
	if strings.Contains(out.String(), "from-env") || !strings.Contains(out.String(), `export WANCTL_ROUTER_PASSWORD="$WANCTL_EMULATOR_PASSWORD"`) ||
		!strings.Contains(out.String(), `-u wanctl:"$WANCTL_EMULATOR_PASSWORD"`) {
		t.Errorf("usage with the password from the environment:\n%s", out.String())
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d; stderr:\n%s", c, errOut.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

func TestEmulatorCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-listen", "0.0.0.0:0"}, "not a loopback address"},
		{[]string{"-listen", "192.0.2.1:8080"}, "-allow-remote"},
		{[]string{"-faults", "explode:3"}, "KIND[:ARG]"},
		{[]string{"-latency", "-1s"}, "must not be negative"},
		{[]string{"-user", ""}, "-user is empty"},
		{[]string{"-listen", "127.0.0.1:99999"}, "-listen"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(append([]string{"wanctl", "emulator"}, c.args...), IO{In: strings.NewReader(""), Out: &out, Err: &errOut, Getenv: func(string) string { return "" }})
			if code != 1 || !strings.Contains(errOut.String(), c.want) {
				t.Errorf("%v: exit %d, stderr %q; want 1 and %q", c.args, code, errOut.String(), c.want)
			}
		})
	}
}

func TestEmuLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "127.1.2.3:5": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:1": false, "192.168.88.2:80": false, "router.lan:80": false, "nonsense": false} {
		if got := emuLoopbackOnly(addr); got != want {
			t.Errorf("emuLoopbackOnly(%q) = %v", addr, got)
		}
	}
}

// The printed curl and export lines are shell: run them through sh and
// check that they give back the credentials, whatever their characters.
func TestEmulatorUsageShellLines(t *testing.T) {
	const base = "http://127.0.0.1:8080"
	for _, c := range []struct {
		name            string
		cfg             emulatorConfig
		env             string // $WANCTL_EMULATOR_PASSWORD
		wantU, wantPass string
	}{
		{"plain", emulatorConfig{user: "wanctl", password: "wanctl"}, "", "wanctl:wanctl", "wanctl"},
		{"odd characters", emulatorConfig{user: `o'd $x "y"`, password: `p's $HOME \ `}, "", `o'd $x "y":p's $HOME \ `, `p's $HOME \ `},
		{"from the environment", emulatorConfig{user: `o'd $x "y"`, password: "from-env", passwordFromEnv: true}, "from-env",
			`o'd $x "y":from-env`, "from-env"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			emuPrintUsage(&out, base, "", c.cfg, nil)
			text := out.String()
			curl := regexp.MustCompile(`(?m)^  curl -u (.*) ` + regexp.QuoteMeta(base) + `/rest/queue/tree$`).FindStringSubmatch(text)
			export := regexp.MustCompile(`(?m)^  (export WANCTL_ROUTER_PASSWORD=.*)$`).FindStringSubmatch(text)
			if curl == nil || export == nil {
				t.Fatalf("no curl or export line:\n%s", text)
			}
			script := `printf '%s\n' ` + curl[1] + "\n" + export[1] + "\n" + `printf '%s' "$WANCTL_ROUTER_PASSWORD"`
			cmd := exec.Command("/bin/sh", "-c", script)
			cmd.Env = []string{"WANCTL_EMULATOR_PASSWORD=" + c.env, "HOME=/nonexistent", "x=X"}
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("sh: %v\n%s", err, script)
			}
			if want := c.wantU + "\n" + c.wantPass; string(got) != want {
				t.Errorf("the shell reads\n%q\nwant\n%q\nfrom:\n%s", got, want, script)
			}
		})
	}
}

// startEmulator serves cfg on a loopback port until the test ends and
// returns its output once the usage is printed.
func startEmulator(t *testing.T, cfg emulatorConfig) *lockedBuffer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- serveEmulator(ctx, ln, cfg, &out, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	waitFor(t, &out, regexp.MustCompile(`(Stop with Ctrl-C)`))
	return &out
}

// The printed configuration is formatted, plans once the FastTrack rule is
// off, and the printed REST call turns it off.
func TestEmulatorPrintedConfigAndFastTrackFix(t *testing.T) {
	password := `it's $secret`
	text := startEmulator(t, emulatorConfig{user: "wanctl", password: password}).String()
	const intro = "(save it as emulator.hcl, or start the emulator with -write-config FILE):\n\n"
	i, j := strings.Index(text, intro), strings.Index(text, "\nIn the shell that runs wanctl:")
	if i < 0 || j < i {
		t.Fatalf("no configuration in:\n%s", text)
	}
	path := writePath(t, filepath.Join(t.TempDir(), "emulator.hcl"), text[i+len(intro):j], 0o644)
	env := map[string]string{"WANCTL_ROUTER_PASSWORD": password}
	if r := runEnv(t, env, "fmt", "-check", path); r.code != 0 {
		t.Fatalf("fmt -check: %d\n%s%s", r.code, r.out, r.err)
	}
	if r := runEnv(t, env, "plan", "-config", path); r.code != 1 || !strings.Contains(r.err, "FastTrack is enabled") {
		t.Fatalf("plan with FastTrack on: exit %d\n%s%s", r.code, r.out, r.err)
	}

	// The printed curl line, split by the shell, carried out here.
	m := regexp.MustCompile(`(?m)^  curl (.* -X PATCH .*)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no FastTrack fix in:\n%s", text)
	}
	words, err := exec.Command("/bin/sh", "-c", `printf '%s\n' `+m[1]).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	args := strings.Split(strings.TrimSuffix(string(words), "\n"), "\n")
	opts := map[string]string{}
	for k := 0; k < len(args)-1; k += 2 {
		opts[args[k]] = args[k+1]
	}
	user, pass, _ := strings.Cut(opts["-u"], ":")
	req, _ := http.NewRequest(opts["-X"], args[len(args)-1], strings.NewReader(opts["-d"]))
	hk, hv, _ := strings.Cut(opts["-H"], ": ")
	req.Header.Set(hk, hv)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d", req.Method, req.URL, resp.StatusCode)
	}
	if r := runEnv(t, env, "plan", "-config", path); r.code != 0 || !strings.Contains(r.out, "Plan: ") {
		t.Fatalf("plan after the fix: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// -no-fasttrack: no fix to print, and plan passes at once.
func TestEmulatorNoFastTrack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emu.hcl")
	text := startEmulator(t, emulatorConfig{user: "wanctl", password: "wanctl", noFastTrack: true, configOut: path}).String()
	if strings.Contains(text, "FastTrack is enabled") || !strings.Contains(text, "Wrote a configuration for it to "+path) {
		t.Errorf("output:\n%s", text)
	}
	if r := runEnv(t, map[string]string{"WANCTL_ROUTER_PASSWORD": "wanctl"}, "plan", "-config", path); r.code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// -write-config replaces a configuration it wrote, never another file.
func TestEmulatorWriteConfigOverwrite(t *testing.T) {
	dir := t.TempDir()
	mine := writePath(t, filepath.Join(dir, "old.hcl"), emuConfigHeader+" for the emulator at http://127.0.0.1:1.\n", 0o644)
	startEmulator(t, emulatorConfig{user: "wanctl", password: "wanctl", configOut: mine})
	if b, _ := os.ReadFile(mine); !strings.Contains(string(b), `router "emulator"`) {
		t.Errorf("its own file not replaced:\n%s", b)
	}

	theirs := writePath(t, filepath.Join(dir, "wanctl.hcl"), "# my router\n", 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = serveEmulator(context.Background(), ln, emulatorConfig{user: "wanctl", configOut: theirs}, &out, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "not written by wanctl emulator") {
		t.Fatalf("err %v", err)
	}
	if b, _ := os.ReadFile(theirs); string(b) != "# my router\n" {
		t.Errorf("someone else's file changed: %q", b)
	}
}
