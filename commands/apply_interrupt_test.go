package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros/emulator"
)

// noticeWriter is a stderr that tells when a text has been written.
type noticeWriter struct {
	mu    sync.Mutex
	b     bytes.Buffer
	want  string
	ready chan struct{}
}

func (w *noticeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if w.ready != nil && strings.Contains(w.b.String(), w.want) {
		close(w.ready)
		w.ready = nil
	}
	return n, err
}

func (w *noticeWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// notDone is the addresses of the steps an interrupted apply lists as not
// done.
func notDone(stderr string) []string {
	_, rest, ok := strings.Cut(stderr, "\nNot done (")
	if !ok {
		return nil
	}
	var out []string
	for _, l := range strings.Split(rest, "\n")[1:] {
		if !strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "  Run ") {
			break
		}
		a, _, _ := strings.Cut(strings.TrimSpace(l), ":")
		out = append(out, a)
	}
	return out
}

// The interrupt arrives while the third write is at the router: once, that
// write completes and nothing more is sent; twice, the request is abandoned
// (the router applies it anyway here) and nothing more is sent. Either way
// apply says what was and was not done, exits 1, and a new plan holds
// exactly the steps it listed as not done.
func TestApplyInterrupt(t *testing.T) {
	const nth = 3
	for _, tc := range []struct {
		name     string
		signals  int
		notice   string
		head     string
		complete int // progress lines that say a step completed
		json     bool
	}{
		{"once", 1, "Interrupt received: finishing the request in flight, then stopping", "\nApply interrupted. Done: 3 added, 0 changed, 0 destroyed.\n", nth, false},
		{"twice", 2, "Second interrupt received: stopping at once.", "\nApply stopped at once. Done: 2 added, 0 changed, 0 destroyed.\n", nth - 1, false},
		{"json", 1, "Interrupt received: finishing the request in flight, then stopping", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu := emulator.New(emulator.Config{Username: "wanctl", Password: testPassword})
			sigs := make(chan os.Signal)
			stderr := &noticeWriter{want: tc.notice, ready: make(chan struct{})}
			seen := stderr.ready
			served := make(chan struct{})
			var writes atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				write := r.Method != http.MethodGet && !strings.HasSuffix(r.URL.Path, "/print")
				if !write || writes.Add(1) != nth {
					emu.ServeHTTP(w, r)
					return
				}
				defer close(served)
				for range tc.signals {
					sigs <- os.Interrupt
				}
				// A guard against a hang, not a timing: the notice is
				// written as soon as the interrupt is handled.
				select {
				case <-seen:
				case <-time.After(20 * time.Second):
					t.Error("no notice after the interrupt")
				}
				// The router carries on with a request whose client left.
				emu.ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
			}))
			t.Cleanup(srv.Close)
			e := &routerEnv{t: t, emu: emu, srv: srv, dir: t.TempDir()}
			e.setFastTrack(false)
			cfg := e.config("", dualWAN)
			before := e.planJSON(cfg)

			args := []string{"wanctl", "apply", "-config", cfg, "-auto-approve"}
			if tc.json {
				args = append(args, "-json")
			}
			var out bytes.Buffer
			code := Run(args,
				IO{In: strings.NewReader(""), Out: &out, Err: stderr, Getenv: func(string) string { return "" }, interrupts: sigs})
			<-served
			errs := stderr.String()
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if got := writes.Load(); got != nth {
				t.Errorf("%d writes, want %d: apply went on after the interrupt", got, nth)
			}
			if tc.json {
				var doc struct {
					Result struct{ Added int }
					Error  struct{ Message string }
				}
				if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
					t.Fatalf("apply -json: %v\n%s", err, out.String())
				}
				left := len(before.Changes) - nth
				if want := fmt.Sprintf("apply interrupted; %d steps not attempted", left); doc.Result.Added != nth || doc.Error.Message != want {
					t.Errorf("apply -json: added %d, error %q; want %d, %q", doc.Result.Added, doc.Error.Message, nth, want)
				}
				if n := len(e.planJSON(cfg).Changes); n != left {
					t.Errorf("a new plan has %d changes, want %d", n, left)
				}
				return
			}
			if !strings.Contains(errs, tc.head) || !strings.Contains(errs, "Run 'wanctl plan' to see exactly what is left and 'wanctl apply' to finish.") {
				t.Errorf("stderr:\n%s", errs)
			}
			if got := strings.Count(out.String(), " complete (id "); got != tc.complete {
				t.Errorf("%d steps completed, want %d:\n%s", got, tc.complete, out.String())
			}
			if abandoned := strings.Contains(errs, "In flight, outcome unknown"); abandoned != (tc.signals == 2) {
				t.Errorf("abandoned step reported: %v:\n%s", abandoned, errs)
			}
			left := notDone(errs)
			if len(left) != len(before.Changes)-nth {
				t.Errorf("%d steps listed as not done, want %d:\n%s", len(left), len(before.Changes)-nth, errs)
			}
			var replanned []string
			for _, c := range e.planJSON(cfg).Changes {
				replanned = append(replanned, c.Address)
			}
			slices.Sort(left)
			slices.Sort(replanned)
			if !slices.Equal(left, replanned) {
				t.Errorf("a new plan has\n%v\nthe apply listed as not done\n%v", replanned, left)
			}
			e.mustRun(nil, 0, "apply", "-config", cfg, "-auto-approve")
			e.mustRun(nil, 0, "plan", "-config", cfg, "-detailed-exitcode")
		})
	}
}
