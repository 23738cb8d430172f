//go:build reliability

package reliability

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// killAt is where a kill -9 lands in an apply: at its n-th write, before
// the router gets it or after the router applied it and before the reply
// leaves; or, with n 0, after a delay from the process's start (anywhere:
// while it starts, plans, writes or reports).
type killAt struct {
	n       int
	applied bool
	delay   time.Duration
}

func (k killAt) String() string {
	switch {
	case k.n == 0:
		return fmt.Sprintf("after-%v", k.delay.Round(time.Millisecond))
	case k.applied:
		return fmt.Sprintf("write%d-applied", k.n)
	}
	return fmt.Sprintf("write%d-before", k.n)
}

// killPoints draws a scenario's kill points: three writes killed before
// the router sees them, three after it applied them (the last write
// always among them: everything applied, the reply never read), and two
// delays within a clean run's duration.
func killPoints(rng *rand.Rand, writes int, clean time.Duration) []killAt {
	var ks []killAt
	drawn := map[killAt]bool{}
	for _, applied := range []bool{false, true} {
		for i := 0; i < 3 && len(drawn) < 2*writes; {
			k := killAt{n: 1 + rng.IntN(writes), applied: applied}
			if applied && i == 0 {
				k.n = writes
			}
			if !drawn[k] {
				drawn[k] = true
				ks = append(ks, k)
				i++
			}
		}
	}
	for range 2 {
		ks = append(ks, killAt{delay: time.Duration(rng.Int64N(int64(clean)))})
	}
	return ks
}

// wanctlApply runs wanctl apply -auto-approve on src as a process.
func wanctlApply(t *testing.T, bin, src string) *exec.Cmd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wanctl.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "apply", "-auto-approve", "-no-color", "-config", path)
	cmd.Env = append(os.Environ(), "WANCTL_ROUTER_PASSWORD=pw")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd
}

// runOut runs cmd, returning what it printed.
func runOut(cmd *exec.Cmd) (string, error) {
	err := cmd.Run()
	return fmt.Sprint(cmd.Stdout), err
}

// TestKillDuringApply: SIGKILL the built wanctl apply at seeded points of
// its run against the emulator, then apply again (a process too): the
// second apply succeeds, the next plan says "No changes" and the router
// holds exactly what a clean apply leaves, no duplicate, no orphan.
func TestKillDuringApply(t *testing.T) {
	bin := wanctlBinary(t)
	rng := rand.New(rand.NewPCG(16, 9))
	var tried, survived atomic.Int64
	t.Run("points", func(t *testing.T) {
		for _, s := range scenarios {
			ref := referenceRun(t, s)
			writes := 0
			for _, n := range ref.writes {
				writes += n
			}
			// A clean run of the process gives the delays their range.
			r := newRouter(t)
			s.start(r)
			start := time.Now()
			if out, err := runOut(wanctlApply(t, bin, r.configSource(""))); err != nil {
				t.Fatalf("%s: clean wanctl apply: %v\n%s", s.name, err, out)
			}
			clean := time.Since(start)
			t.Logf("%s: %d writes, a clean apply process takes %v", s.name, writes, clean)
			for _, k := range killPoints(rng, writes, clean) {
				t.Run(s.name+"/"+k.String(), func(t *testing.T) {
					t.Parallel()
					tried.Add(1)
					r := newRouter(t)
					s.start(r)
					src := r.configSource("")
					r.emu.ClearRequests()
					cmd := wanctlApply(t, bin, src)
					var seen, landed int
					killed := make(chan struct{})
					kill := func() {
						if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
							t.Errorf("kill: %v", err)
						}
						close(killed)
					}
					// Under the lock the handler takes: it sees the hook,
					// the counters and the started process.
					r.mu.Lock()
					r.intercept = func(w http.ResponseWriter, req *http.Request) bool {
						select {
						case <-killed:
							// Nothing of a killed process's may reach the router.
							http.Error(w, "killed", http.StatusServiceUnavailable)
							return true
						default:
						}
						if k.n == 0 || !isWrite(req.Method, req.URL.Path) {
							return false
						}
						seen++
						if seen != k.n {
							landed++
							return false
						}
						if k.applied {
							r.emu.ServeHTTP(httptest.NewRecorder(), req)
							landed++
						}
						kill()
						return true
					}
					err := cmd.Start()
					r.mu.Unlock()
					if err != nil {
						t.Fatal(err)
					}
					if k.n == 0 {
						timer := time.AfterFunc(k.delay, func() {
							r.mu.Lock()
							defer r.mu.Unlock()
							kill()
						})
						defer timer.Stop()
					}
					err = cmd.Wait()
					r.mu.Lock()
					r.intercept = nil
					nSeen, nLanded := seen, landed
					r.mu.Unlock()
					var ee *exec.ExitError
					if k.n > 0 && !(errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL) {
						t.Fatalf("the apply was not killed at write %d (%d writes seen): %v\n%s", k.n, nSeen, err, cmd.Stdout)
					}
					if k.n > 0 && len(r.writes()) != nLanded {
						t.Fatalf("%d writes reached the router, want %d", len(r.writes()), nLanded)
					}
					if k.n == 0 {
						<-killed // the timer fired, or the run ended first and the kill found no process
					}
					if out, err := runOut(wanctlApply(t, bin, src)); err != nil {
						t.Fatalf("the apply after the kill: %v\n%s", err, out)
					}
					cfg := r.config("")
					if err := r.noChanges(cfg); err != nil {
						t.Fatal(err)
					}
					if d := r.inventory().diff(ref.inv); d != "" {
						t.Fatalf("router after convergence: %s", d)
					}
					survived.Add(1)
				})
			}
		}
	})
	t.Logf("kill -9 points tried %d, survived %d", tried.Load(), survived.Load())
}
