package autorate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// gateReadExec is a gateExec that also reads counters, each read gated
// like a write and recorded as "read:<queues>".
type gateReadExec struct {
	*gateExec
	mu    sync.Mutex
	bytes uint64
}

func (g *gateReadExec) ReadCounters(ctx context.Context, queues []string) ([]QueueCounters, error) {
	call := "read:" + strings.Join(queues, ",")
	g.gateExec.mu.Lock()
	g.calls = append(g.calls, call)
	g.gateExec.mu.Unlock()
	g.started <- call
	select {
	case err := <-g.release:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bytes += 1000
	out := make([]QueueCounters, len(queues))
	for i := range out {
		out[i] = QueueCounters{Bytes: g.bytes / uint64(i+1), MaxLimit: 900 / int64(i+1)}
	}
	return out, nil
}

// A read due while a write is in flight waits for it and for every write
// queued meanwhile (the decrease goes first); reads come at the interval.
func TestWriterReadsAfterWrites(t *testing.T) {
	g := &gateReadExec{gateExec: newGateExec()}
	clock := NewManualClock(t0)
	w := NewWriter("edge", g, WriterConfig{Now: clock.Now})
	down := w.Queue("down")
	r := w.Load("down", "up")
	if r == nil {
		t.Fatal("no reader for an executor that reads counters")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)

	down.Set(900)
	if got := recv(t, g.started); got != "down=900" {
		t.Fatalf("first request %s", got)
	}
	r.Poll(t0, false) // a read is due...
	down.Set(800)     // ... and a decrease arrives after it
	g.release <- nil
	if got := recv(t, g.started); got != "down=800" {
		t.Fatalf("after the write: %s, want the decrease before the due read", got)
	}
	g.release <- nil
	if got := recv(t, g.started); got != "read:down,up" {
		t.Fatalf("then %s, want the read", got)
	}
	clock.Advance(20 * ms) // the reply arrives 20 ms later
	g.release <- nil
	waitFor(t, "reading", func() bool { return !r.Status().LastRead.IsZero() })
	st := r.Status()
	if rd := r.Load(); rd[0] != (LoadReading{Bytes: 1000, At: t0.Add(20 * ms)}) || rd[1] != (LoadReading{Bytes: 500, At: t0.Add(20 * ms)}) {
		t.Fatalf("readings %+v", rd)
	}
	if st.Counters[0].MaxLimit != 900 || st.Counters[1].MaxLimit != 450 || st.Failures != 0 {
		t.Fatalf("status %+v", st)
	}
	// Not due again before the interval; due at it.
	for _, at := range []time.Duration{50 * ms, 250 * ms, 499 * ms} {
		r.Poll(t0.Add(at), false)
	}
	r.Poll(t0.Add(LoadReadInterval), false)
	if got := recv(t, g.started); got != "read:down,up" {
		t.Fatalf("at the interval: %s", got)
	}
	g.release <- nil
	g.gateExec.mu.Lock()
	defer g.gateExec.mu.Unlock()
	if want := "down=900 down=800 read:down,up read:down,up"; strings.Join(g.calls, " ") != want {
		t.Fatalf("requests %v, want %s", g.calls, want)
	}
}

// A failed read is made again at the next interval and holds up no write:
// no backoff, and the router's write status is untouched.
func TestWriterReadFailureDoesNotBlockWrites(t *testing.T) {
	g := &gateReadExec{gateExec: newGateExec()}
	w := NewWriter("edge", g, WriterConfig{BackoffMin: time.Hour, BackoffMax: time.Hour})
	down := w.Queue("down")
	r := w.Load("down", "up")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)

	r.Poll(t0, false)
	if got := recv(t, g.started); got != "read:down,up" {
		t.Fatalf("request %s", got)
	}
	g.release <- errors.New("503 Service Unavailable")
	waitFor(t, "failure recorded", func() bool { return r.Status().Failures == 1 })
	down.Set(700) // with a write backoff of an hour, this would wait
	if got := recv(t, g.started); got != "down=700" {
		t.Fatalf("request %s", got)
	}
	g.release <- nil
	waitFor(t, "written", func() bool { return down.Status().Written == 700 })
	if st := w.Status(); !st.Reachable || st.Failures != 0 {
		t.Fatalf("a failed read changed the router's write status: %+v", st)
	}
	if st := r.Status(); !strings.Contains(st.LastError, "503") || !st.LastRead.IsZero() {
		t.Fatalf("reader status %+v", st)
	}
	r.Poll(t0.Add(LoadReadInterval), false)
	if got := recv(t, g.started); got != "read:down,up" {
		t.Fatalf("request %s", got)
	}
	g.release <- nil
	waitFor(t, "read again", func() bool { return r.Status().Failures == 0 })
	if st := r.Status(); st.LastError != "" || st.LastRead.IsZero() {
		t.Fatalf("after a good read %+v", st)
	}
}

// The WANs of a router share one GET; a queue missing on the router fails
// its WAN's reading only.
func TestWriterOneReadForAllWANs(t *testing.T) {
	e := emulator.New(emulator.Config{})
	srv := httptest.NewServer(e)
	defer srv.Close()
	for _, q := range []string{"a-down", "a-up", "b-down"} {
		if _, err := e.AddObject(routeros.MenuQueueTree, routeros.Object{"name": q, "parent": "global", "bytes": strconv.Itoa(len(q))}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := routeros.New(routeros.Config{Name: "edge", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	clock := NewManualClock(t0)
	reads := map[bool]int{}
	var mu sync.Mutex
	w := NewWriter("edge", NewRouterExecutor(c, routeros.IsNotFound), WriterConfig{Now: clock.Now,
		ObserveRead: func(err error, _ time.Duration) { mu.Lock(); reads[err == nil]++; mu.Unlock() }})
	a, b := w.Load("a-down", "a-up"), w.Load("b-down", "b-up")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	a.Poll(t0, false)
	b.Poll(t0, false) // the same read
	waitFor(t, "read", func() bool { return !a.Status().LastRead.IsZero() && b.Status().Failures == 1 })
	if got := a.Load(); got[0] != (LoadReading{Bytes: 6, At: t0}) || got[1] != (LoadReading{Bytes: 4, At: t0}) {
		t.Fatalf("a's readings %+v", got)
	}
	if st := b.Status(); !strings.Contains(st.LastError, `queue "b-up"`) || !strings.Contains(st.LastError, "wanctl apply") || !st.Readings[0].At.IsZero() {
		t.Fatalf("b's status %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(e.Requests()); n != 1 || reads[true] != 1 {
		t.Fatalf("%d requests, reads observed %v: want one GET for both WANs", n, reads)
	}
}

func TestWriterWithoutCounterReader(t *testing.T) {
	if r := NewWriter("edge", &recExec{}, WriterConfig{}).Load("a", "b"); r != nil {
		t.Fatal("a reader for an executor that cannot read counters")
	}
}

func TestRouterExecutorReadCounters(t *testing.T) {
	e := emulator.New(emulator.Config{})
	srv := httptest.NewServer(e)
	defer srv.Close()
	for _, q := range []routeros.Object{
		{"name": "other", "parent": "global", "bytes": "7"},
		{"name": "down", "parent": "global", "max-limit": "940000000", "bytes": "123456789012"},
		{"name": "up", "parent": "ether1", "max-limit": "0", "bytes": "0"},
	} {
		if _, err := e.AddObject(routeros.MenuQueueTree, q); err != nil {
			t.Fatal(err)
		}
	}
	c, err := routeros.New(routeros.Config{Name: "edge", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	x := NewRouterExecutor(c, routeros.IsNotFound)
	got, err := x.ReadCounters(context.Background(), []string{"up", "down"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (QueueCounters{Bytes: 0, MaxLimit: 0}) || got[1] != (QueueCounters{Bytes: 123456789012, MaxLimit: 940e6}) {
		t.Fatalf("counters %+v", got)
	}
	reqs := e.Requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodGet || reqs[0].Path != "/rest/queue/tree" || reqs[0].Query != ".proplist=name%2Cbytes%2Cmax-limit" {
		t.Fatalf("requests %+v, want one GET narrowed to name, bytes, max-limit", reqs)
	}
	for _, tc := range []struct {
		name, bytes, want string
	}{
		{"missing", "", "not found on the router"},
		{"down", "x", `queue "down": bytes "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bytes != "" {
				if err := e.SetObject(routeros.MenuQueueTree, "down", routeros.Object{"bytes": tc.bytes}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := x.ReadCounters(context.Background(), []string{tc.name, "up"})
			if err != nil || len(got) != 2 || got[0].Err == nil || !strings.Contains(got[0].Err.Error(), tc.want) || got[1].Err != nil {
				t.Fatalf("counters %+v, error %v: want the first queue's error %q, the second read", got, err, tc.want)
			}
		})
	}
}

// loadFixture is a daemon over the emulator (REST over HTTP, the real
// client and executor) whose counters move with the daemon's virtual
// clock.
type loadFixture struct {
	*daemonFixture
	emu    *emulator.Emulator
	client *routeros.Client
}

func newLoadFixture(t *testing.T) *loadFixture {
	t.Helper()
	cfg := testConfig(t)
	var clock *ManualClock // set below, before any request
	emu := emulator.New(emulator.Config{Now: func() time.Time {
		if clock == nil {
			return t0
		}
		return clock.Now()
	}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	for _, w := range cfg.WANs {
		for _, d := range w.Directions() {
			q := routeros.Object{"name": d.Queue, "parent": d.Parent, "max-limit": strconv.FormatInt(d.Ceiling, 10)}
			if _, err := emu.AddObject(routeros.MenuQueueTree, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	client, err := routeros.New(routeros.Config{Name: "edge", URL: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f, err := newDaemonFixtureExec(t, cfg, func(*config.Router) (Executor, error) {
		return NewRouterExecutor(client, routeros.IsNotFound), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clock = f.clock
	return &loadFixture{daemonFixture: f, emu: emu, client: client}
}

// step advances the clock by one interval and waits until every loop has
// run that cycle and the writer has sent what it asked for: writes and
// reads happen at the virtual instant of the cycle.
func (f *loadFixture) step() {
	f.clock.Advance(f.d.interval)
	now := f.clock.Now()
	waitFor(f.t, "cycle and router requests", func() bool {
		for _, r := range f.d.wans {
			if r.loop.Status().LastCycle.Before(now) {
				return false
			}
		}
		for _, w := range f.d.writers {
			if !writerIdle(w) {
				return false
			}
		}
		return true
	})
}

func (f *loadFixture) run(d time.Duration) {
	for range int(d / f.d.interval) {
		f.step()
	}
}

func writerIdle(w *Writer) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.slots {
		if s.pending || s.sending {
			return false
		}
	}
	return !w.readDue && !w.reading
}

// isRead tells a counter read among the emulator's requests.
func isRead(rq emulator.Request) bool {
	return rq.Method == http.MethodGet && rq.Path == "/rest/queue/tree" && strings.HasPrefix(rq.Query, ".proplist=")
}

func (f *loadFixture) metric(t *testing.T, want string) {
	t.Helper()
	resp, err := http.Get("http://" + f.d.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(b.String(), want+"\n") {
		t.Errorf("metrics lack %q", want)
	}
}

// A simulated minute of steady state on two WANs of one router: their
// counters are read every 500 ms from the first cycle, one GET for both,
// the achieved throughput is what the emulator's queues pass, and the
// requests stay within 3 per second per WAN.
func TestDaemonReadsLoad(t *testing.T) {
	f := newLoadFixture(t)
	f.emu.SetQueueLoad("wanctl-spectrum-down", 300e6) // below the 940M max-limit
	f.emu.SetQueueLoad("wanctl-spectrum-up", 100e6)   // above the 38M max-limit: 38M pass
	f.start()
	defer f.stop()
	f.run(time.Minute)

	reads, patches := 0, 0
	for _, rq := range f.emu.Requests() {
		switch {
		case isRead(rq):
			reads++
		case rq.Method == http.MethodPatch:
			patches++
		}
	}
	// Reads at 50 ms, 50 ms + LoadReadInterval, ..., one GET for both WANs.
	want := int(time.Minute / LoadReadInterval)
	last := t0.Add(50*ms + time.Duration(want-1)*LoadReadInterval)
	if reads != want {
		t.Errorf("%d reads in a minute for a router, want %d (one per %v)", reads, want, LoadReadInterval)
	}
	total := len(f.emu.Requests())
	if perWAN := float64(total) / 2 / 60; perWAN > 3 {
		t.Errorf("%.2f requests per second per WAN, budget 3 (%d reads, %d writes, %d in all)", perWAN, reads, patches, total)
	}
	t.Logf("a minute of steady state, 2 WANs: %d requests (%d reads, %d writes, %d id look-ups)", total, reads, patches, total-reads-patches)

	st := f.d.Loops()[0].Status()
	if a := st.Achieved; a[0].Bps != 300e6 || a[1].Bps != 38e6 || !a[0].At.Equal(last) {
		t.Fatalf("spectrum achieved %+v, want 300M and 38M measured at the last read", a)
	}
	if a := f.d.Loops()[1].Status().Achieved; a[0].Bps != 0 || !a[0].At.Equal(last) {
		t.Fatalf("att (idle) achieved %+v, want 0 measured by the same read", a)
	}
	code, h := f.health()
	if code != 200 || h.WANs[0].Download.AchievedBps == nil || *h.WANs[0].Download.AchievedBps != 300e6 ||
		*h.WANs[0].Upload.AchievedBps != 38e6 || *h.WANs[0].Download.AchievedAgeS != (t0.Add(time.Minute).Sub(last)).Seconds() ||
		h.WANs[0].LoadReads == nil || h.WANs[0].LoadReads.Failures != 0 || h.WANs[0].LoadReads.LastSuccess == nil {
		t.Fatalf("health %d %+v %+v", code, h.WANs[0], h.WANs[0].LoadReads)
	}
	lintMetrics(t, f.d.metrics)
	f.metric(t, fmt.Sprintf(`wanctl_router_reads_total{result="ok",router="edge"} %d`, want))
	f.metric(t, `wanctl_router_reads_total{result="error",router="edge"} 0`)
	f.metric(t, `wanctl_achieved_bits_per_second{direction="download",wan="spectrum"} 3e+08`)
	f.metric(t, `wanctl_achieved_bits_per_second{direction="upload",wan="spectrum"} 3.8e+07`)
}

// In cycles where a decrease and a read are both due, the decrease is
// sent first; reads that fail (the router answers 503) stop no write, are
// counted, show in /health without degrading the WAN, and resume.
func TestDaemonReadsYieldToWrites(t *testing.T) {
	f := newLoadFixture(t)
	f.emu.SetQueueLoad("wanctl-spectrum-down", 500e6)
	f.start()
	defer f.stop()
	f.run(time.Second)

	f.emu.ClearRequests()
	f.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Count: 3, Status: 503, Method: http.MethodGet, Path: "/queue/tree"})
	f.meas["spectrum"].set(320*ms, false) // heavy bloat: a decrease every cycle down to the floor
	both, failedWithWrite := 0, 0
	// Long enough for the three failing reads, and for the bloat to take
	// the rate to its floor.
	for range int(3*LoadReadInterval/(50*ms)) + 20 {
		n := len(f.emu.Requests())
		f.step()
		cycle := f.emu.Requests()[n:]
		firstRead, lastPatch := -1, -1
		for i, rq := range cycle {
			if isRead(rq) && firstRead < 0 {
				firstRead = i
			}
			if rq.Method == http.MethodPatch {
				lastPatch = i
			}
		}
		if firstRead >= 0 && lastPatch >= 0 {
			both++
			if lastPatch > firstRead {
				t.Fatalf("a read went before a write of its cycle: %+v", cycle)
			}
			if cycle[firstRead].Status == 503 && cycle[lastPatch].Status == 200 {
				failedWithWrite++
			}
		}
	}
	if both == 0 || failedWithWrite == 0 {
		t.Fatalf("%d cycles had a write and a read, %d a failed read and a write: the test saw nothing", both, failedWithWrite)
	}
	if r := f.d.Loops()[0].Controller().Rate(false); r != 200e6 {
		t.Fatalf("download at %d after 2 s of heavy bloat, want the red floor", r)
	}
	if failed := testutil.ToFloat64(f.d.metrics.reads.WithLabelValues("edge", "error")); failed != 3 {
		t.Fatalf("%v failed reads counted, want the 3 the router failed", failed)
	}

	// The last failed read shows, the WAN still controls (a read is not a
	// write); the next reads succeed.
	f.meas["spectrum"].set(20*ms, false)
	f.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Count: 1, Status: 503, Method: http.MethodGet, Path: "/queue/tree"})
	f.run(LoadReadInterval)
	code, h := f.health()
	if h.WANs[0].LoadReads.Failures != 1 || !strings.Contains(h.WANs[0].LoadReads.LastError, "503") || !h.WANs[0].Router.Reachable {
		t.Fatalf("health %d %+v %+v", code, h.WANs[0].LoadReads, h.WANs[0].Router)
	}
	f.run(LoadReadInterval)
	if _, h := f.health(); h.WANs[0].LoadReads.Failures != 0 || h.WANs[0].LoadReads.LastError != "" {
		t.Fatalf("after the faults %+v", h.WANs[0].LoadReads)
	}
	// The achieved rate follows the shaper (500M offered): from the red
	// floor it climbs back.
	if a, ml := f.d.Loops()[0].Status().Achieved[0], f.d.wans[0].slots[0].Status().Written; a.Bps < 200e6 || a.Bps > float64(ml) {
		t.Fatalf("achieved %+v with the shaper between 200M and %d", a, ml)
	}
}

// A counter reset (reset-counters, a reboot) makes the next reading
// smaller than the last: no measurement across it, the one after is right
// again.
func TestDaemonCounterReset(t *testing.T) {
	f := newLoadFixture(t)
	f.emu.SetQueueLoad("wanctl-spectrum-down", 100e6)
	f.emu.SetQueueLoad("wanctl-spectrum-up", 10e6)
	f.start()
	defer f.stop()
	f.run(2 * time.Second)
	if a := f.d.Loops()[0].Status().Achieved; a[0].Bps != 100e6 || a[1].Bps != 10e6 {
		t.Fatalf("achieved %+v", a)
	}
	if err := f.client.ResetCounters(context.Background(), routeros.MenuQueueTree, "wanctl-spectrum-down"); err != nil {
		t.Fatal(err)
	}
	f.run(LoadReadInterval) // one read: below the previous one
	a := f.d.Loops()[0].Status().Achieved
	if !a[0].At.IsZero() || a[1].Bps != 10e6 {
		t.Fatalf("achieved across a reset %+v, want none for download, upload unaffected", a)
	}
	if _, h := f.health(); h.WANs[0].Download.AchievedBps != nil || h.WANs[0].Upload.AchievedBps == nil {
		t.Fatalf("health across a reset %+v %+v", h.WANs[0].Download, h.WANs[0].Upload)
	}
	f.run(LoadReadInterval)
	if a := f.d.Loops()[0].Status().Achieved; a[0].Bps != 100e6 {
		t.Fatalf("achieved after a reset %+v", a)
	}
}

// BenchmarkReadCounters is one counter read of a router with 2 WANs (4
// queues), over loopback HTTP to the emulator.
func BenchmarkReadCounters(b *testing.B) {
	e := emulator.New(emulator.Config{})
	srv := httptest.NewServer(e)
	defer srv.Close()
	var queues []string
	for _, w := range []string{"a", "b"} {
		for _, d := range []string{"down", "up"} {
			q := "wanctl-" + w + "-" + d
			queues = append(queues, q)
			if _, err := e.AddObject(routeros.MenuQueueTree, routeros.Object{"name": q, "parent": "global", "max-limit": "900000000"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	c, err := routeros.New(routeros.Config{Name: "edge", URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	x := NewRouterExecutor(c, routeros.IsNotFound)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.ReadCounters(ctx, queues); err != nil {
			b.Fatal(err)
		}
	}
}

// The WANs of a router share a read, asked for once all their cycles at
// the due time are done (so behind every write they decided), or at the
// next cycle when one of them is stuck.
func TestWriterReadWaitsForEveryWANsCycle(t *testing.T) {
	g := &gateReadExec{gateExec: newGateExec()}
	w := NewWriter("edge", g, WriterConfig{})
	aDown := w.Queue("a-down")
	a, b := w.Load("a-down", "a-up"), w.Load("b-down", "b-up")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)

	aDown.Set(900)
	if got := recv(t, g.started); got != "a-down=900" {
		t.Fatalf("request %s", got)
	}
	g.release <- nil
	waitFor(t, "written", func() bool { return aDown.Status().Written == 900 })
	b.Poll(t0, false) // b's cycle is done first; a's is still deciding
	if !writerIdle(w) {
		t.Fatal("a read asked for before a's cycle was done")
	}
	aDown.Set(800)    // a's cycle decides a decrease...
	a.Poll(t0, false) // ... and is done
	if got := recv(t, g.started); got != "a-down=800" {
		t.Fatalf("request %s, want the decrease before the read", got)
	}
	g.release <- nil
	if got := recv(t, g.started); got != "read:a-down,a-up,b-down,b-up" {
		t.Fatalf("request %s, want one read for both WANs", got)
	}
	g.release <- nil
	waitFor(t, "read", func() bool { return writerIdle(w) })

	// a's loop is stuck: b reads at its next cycle after the due time.
	b.Poll(t0.Add(LoadReadInterval), false)
	if !writerIdle(w) {
		t.Fatal("a read asked for while a's cycle at the due time may still come")
	}
	b.Poll(t0.Add(LoadReadInterval+50*ms), false)
	if got := recv(t, g.started); got != "read:a-down,a-up,b-down,b-up" {
		t.Fatalf("request %s", got)
	}
	g.release <- nil
}
