//go:build reliability

package reliability

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// Bounds a hostile configuration file must stay within, whether validate
// reads it or the daemon on SIGHUP: a real configuration is read in
// milliseconds and a few MiB; these leave room for a loaded CI machine.
const (
	hostileTimeLimit = 10 * time.Second
	hostileRSSLimit  = 64 << 20
)

// daemonHCL is a one-WAN daemon configuration; %s are the router's URL,
// the state and lock directories, the listen address and the download
// ceiling. Its reflector is the loopback: the daemon pings for real.
const daemonHCL = `
router "edge" {
  url      = "%s"
  username = "wanctl"
  password = "wanctl"
  timeout  = "2s"
}

daemon {
  state_dir = "%s"
  lock_dir  = "%s"
  interval  = "50ms"
  listen    = "%s"
}

wan "spectrum" {
  router    = "edge"
  interface = "ether1"

  measurement {
    reflectors = ["127.0.0.1"]
    ping_rate  = 20
  }

  download {
    queue   = "wanctl-spectrum-down"
    ceiling = "%s"
    floor {
      red = "200M"
    }
  }

  upload {
    queue   = "wanctl-spectrum-up"
    ceiling = "38M"
    floor {
      red = "8M"
    }
  }
}
`

// hostileFile is a configuration file that once crashed, hung or
// exhausted wanctl (issue 16), and the reason its refusal must name.
type hostileFile struct {
	name string
	// make creates it at path (which does not exist yet).
	make func(t *testing.T, path string)
	want string
}

func writeHostile(content func() []byte) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		if err := os.WriteFile(path, content(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// writeBig writes head, n bytes c and tail to path a MiB at a time: the
// test process stays small (its peak is what its children start from).
func writeBig(t *testing.T, path, head string, c byte, n int, tail string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{c}, 1<<20)
	f.WriteString(head)
	for ; n > 0; n -= len(chunk) {
		if _, err := f.Write(chunk[:min(n, len(chunk))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteString(tail); err != nil {
		t.Fatal(err)
	}
}

// validDaemon is daemonHCL with everything but the router pointing
// nowhere, edited by the replacements (old, new pairs).
func validDaemon(edits ...string) []byte {
	src := fmt.Sprintf(daemonHCL, "http://127.0.0.1:1", "/nonexistent/state", "/nonexistent/run", "127.0.0.1:0", "940M")
	for i := 0; i+1 < len(edits); i += 2 {
		src = strings.Replace(src, edits[i], edits[i+1], 1)
	}
	return []byte(src)
}

func hostileFiles(t *testing.T) []hostileFile {
	big := filepath.Join(t.TempDir(), "username.txt")
	writeBig(t, big, "", 'u', 50<<20, "")
	return []hostileFile{
		{"nested-60000", writeHostile(func() []byte {
			return []byte("x = " + strings.Repeat("[", 60000) + strings.Repeat("]", 60000) + "\n")
		}), "Nesting too deep"},
		{"over-1MiB", writeHostile(func() []byte {
			return append(validDaemon(), bytes.Repeat([]byte("# padding\n"), 110000)...)
		}), "larger than 1048576 bytes"},
		{"string-50MB", func(t *testing.T, path string) {
			writeBig(t, path, `x = "`, 'A', 50<<20, "\"\n")
		}, "larger than 1048576 bytes"},
		{"username-100KB", writeHostile(func() []byte {
			return validDaemon(`username = "wanctl"`, `username = "`+strings.Repeat("u", 100000)+`"`)
		}), "Value too long"},
		{"file-50MB", writeHostile(func() []byte {
			return validDaemon(`username = "wanctl"`, `username = file("`+big+`")`)
		}), "larger than 1048576 bytes"},
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file (a FIFO)"},
		{"symlink-dev-zero", func(t *testing.T, path string) {
			if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file (a device)"},
	}
}

// flat is text with its line breaks (escaped ones too, as in a logged
// value) and runs of spaces made single spaces.
func flat(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, `\n`, " ")), " ")
}

// TestHostileConfigValidate runs the built wanctl validate on each hostile
// file, and on /dev/zero itself: exit 1 with the reason, within the time
// and peak RSS bounds.
func TestHostileConfigValidate(t *testing.T) {
	bin := wanctlBinary(t)
	cases := hostileFiles(t)
	cases = append(cases, hostileFile{"dev-zero", nil, "not a regular file (a device)"})
	var mu sync.Mutex
	var slowest time.Duration
	var fattest int64
	t.Run("files", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				path := "/dev/zero"
				if c.make != nil {
					path = filepath.Join(t.TempDir(), "wanctl.hcl")
					c.make(t, path)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 4*hostileTimeLimit)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, "validate", "-no-color", "-config", path)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				start := time.Now()
				rss, err := runSampled(cmd)
				took := time.Since(start)
				if ctx.Err() != nil {
					t.Fatalf("validate still running after %v", took)
				}
				if code := cmd.ProcessState.ExitCode(); code != 1 {
					t.Errorf("exit %d (%v)", code, err)
				}
				if !strings.Contains(flat(out.String()), c.want) {
					t.Errorf("output lacks %q:\n%.2000s", c.want, out.String())
				}
				if took > hostileTimeLimit || rss > hostileRSSLimit {
					t.Errorf("took %v and %d MiB of RSS, bounds %v and %d MiB", took, rss>>20, hostileTimeLimit, hostileRSSLimit>>20)
				}
				t.Logf("%s: %v, peak RSS %.1f MiB, %d bytes of output", c.name, took.Round(time.Millisecond), float64(rss)/(1<<20), out.Len())
				mu.Lock()
				slowest, fattest = max(slowest, took), max(fattest, rss)
				mu.Unlock()
			})
		}
	})
	t.Logf("%d hostile files: slowest %v, peak RSS at most %.1f MiB", len(cases), slowest.Round(time.Millisecond), float64(fattest)/(1<<20))
}

// daemonProc is the built wanctl autorate running against an emulator.
type daemonProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	cfg    string
	router string // the emulator's URL
	listen string
	stderr *lockedBuffer
	exited chan struct{}
}

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

func startDaemon(t *testing.T, bin string) *daemonProc {
	t.Helper()
	emu := emulator.New(emulator.Config{Username: "wanctl", Password: "wanctl"})
	srv := &http.Server{Handler: emu}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	for _, q := range []routeros.Object{
		{"name": "wanctl-spectrum-down", "parent": "global", "max-limit": "940000000"},
		{"name": "wanctl-spectrum-up", "parent": "ether1", "max-limit": "38000000"},
	} {
		if _, err := emu.AddObject(routeros.MenuQueueTree, q); err != nil {
			t.Fatal(err)
		}
	}
	// A port for the daemon's HTTP server: taken and released, as
	// daemon.listen needs a fixed one.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()

	dir := t.TempDir()
	p := &daemonProc{t: t, cfg: filepath.Join(dir, "wanctl.hcl"), router: "http://" + ln.Addr().String(), listen: listen,
		stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.writeConfig("940M")
	p.cmd = exec.Command(bin, "autorate", "-config", p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	p.waitFor("/health 200", 30*time.Second, func() bool { return p.health() == http.StatusOK })
	return p
}

func (p *daemonProc) writeConfig(ceiling string) {
	p.t.Helper()
	dir := filepath.Dir(p.cfg)
	src := fmt.Sprintf(daemonHCL, p.router, filepath.Join(dir, "state"), filepath.Join(dir, "run"), p.listen, ceiling)
	if err := os.WriteFile(p.cfg, []byte(src), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// health is /health's status, 0 when it does not answer within a second.
func (p *daemonProc) health() int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + p.listen + "/health")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond until it holds, failing after limit or if the
// daemon exits.
func (p *daemonProc) waitFor(what string, limit time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		select {
		case <-p.exited:
			p.t.Fatalf("waiting for %s: the daemon exited (%v):\n%s", what, p.cmd.ProcessState, tail(p.stderr.String()))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %s within %v:\n%s", what, limit, tail(p.stderr.String()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// peakRSS is the process's high-water resident set, from /proc.
func (p *daemonProc) peakRSS() int64 {
	p.t.Helper()
	rss, ok := vmHWM(p.cmd.Process.Pid)
	if !ok {
		p.t.Fatal("no VmHWM in /proc status")
	}
	return rss
}

// vmHWM is a running process's peak resident set (VmHWM), in bytes; not
// ok once it has exited. The wait4 rusage cannot tell it: a child's
// ru_maxrss starts from its parent's (the test process's) at the exec.
func vmHWM(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// runSampled runs cmd, sampling its peak resident set every millisecond
// until it exits; the last millisecond of its life escapes the sampling.
func runSampled(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var peak int64
	for {
		if v, ok := vmHWM(cmd.Process.Pid); ok {
			peak = max(peak, v)
		}
		select {
		case err := <-done:
			return peak, err
		case <-tick.C:
		}
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// TestHostileConfigReload replaces the running daemon's configuration
// file with each hostile file and sends SIGHUP (the built wanctl autorate,
// real signals, real pings to the loopback): each reload fails with the
// reason logged, /health keeps answering 200 on the previous
// configuration, the peak RSS stays bounded; then a valid file reloads on
// the next SIGHUP and SIGTERM stops the daemon with exit 0.
func TestHostileConfigReload(t *testing.T) {
	bin := wanctlBinary(t)
	p := startDaemon(t, bin)
	const failed = "reload failed; still running on the previous configuration"
	var slowest time.Duration
	files := hostileFiles(t)
	for i, h := range files {
		if err := os.Remove(p.cfg); err != nil {
			t.Fatal(err)
		}
		h.make(t, p.cfg)
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		p.waitFor(h.name+" refused", hostileTimeLimit, func() bool {
			log := flat(p.stderr.String())
			return strings.Count(log, failed) == i+1 && strings.Count(log, h.want) > 0
		})
		slowest = max(slowest, time.Since(start))
		if code := p.health(); code != http.StatusOK {
			t.Fatalf("after the %s reload: /health %d", h.name, code)
		}
	}
	rss := p.peakRSS()
	if rss > hostileRSSLimit {
		t.Errorf("peak RSS %d MiB after the hostile reloads, bound %d MiB", rss>>20, hostileRSSLimit>>20)
	}
	if strings.Contains(p.stderr.String(), "configuration reloaded") {
		t.Fatalf("a hostile file was loaded:\n%s", tail(p.stderr.String()))
	}

	if err := os.Remove(p.cfg); err != nil {
		t.Fatal(err)
	}
	p.writeConfig("900M")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitFor("a valid reload", hostileTimeLimit, func() bool { return strings.Contains(p.stderr.String(), "configuration reloaded") })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(hostileTimeLimit):
		t.Fatalf("SIGTERM: the daemon did not exit:\n%s", tail(p.stderr.String()))
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, tail(p.stderr.String()))
	}
	t.Logf("%d hostile reloads refused, slowest %v; peak RSS %.1f MiB", len(files), slowest.Round(time.Millisecond), float64(rss)/(1<<20))
}
