package autorate

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

// gateExec records calls and blocks each one until released.
type gateExec struct {
	mu       sync.Mutex
	calls    []string
	inflight atomic.Int32
	maxIn    atomic.Int32
	started  chan string
	release  chan error
}

func newGateExec() *gateExec {
	return &gateExec{started: make(chan string, 100), release: make(chan error)}
}

func (g *gateExec) SetMaxLimit(ctx context.Context, queue string, bps int64) error {
	n := g.inflight.Add(1)
	defer g.inflight.Add(-1)
	for {
		m := g.maxIn.Load()
		if n <= m || g.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	call := queue + "=" + strconv.FormatInt(bps, 10)
	g.mu.Lock()
	g.calls = append(g.calls, call)
	g.mu.Unlock()
	g.started <- call
	select {
	case err := <-g.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func recv(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no write started within 5 s")
		return ""
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWriterLatestWinsOneInFlight(t *testing.T) {
	g := newGateExec()
	w := NewWriter("edge", g, WriterConfig{})
	down, up := w.Queue("down"), w.Queue("up")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()

	down.Set(900)
	if got := recv(t, g.started); got != "down=900" {
		t.Fatalf("first write %s", got)
	}
	// While it is in flight: newer values replace older ones.
	down.Set(800)
	down.Set(700)
	up.Set(50)
	up.Set(40)
	g.release <- nil
	// up has never been written: first writes go first. Then down=700.
	got := []string{recv(t, g.started)}
	g.release <- nil
	got = append(got, recv(t, g.started))
	g.release <- nil
	if got[0] != "up=40" || got[1] != "down=700" {
		t.Fatalf("writes %v, want [up=40 down=700]", got)
	}
	waitFor(t, "both written", func() bool { return down.Status().Written == 700 && up.Status().Written == 40 })
	if g.maxIn.Load() != 1 {
		t.Fatalf("%d requests in flight at once", g.maxIn.Load())
	}
	if s := down.Status(); s.Pending || s.WrittenAt.IsZero() {
		t.Fatalf("down status %+v", s)
	}
	// Setting the rate the router has is not a write.
	down.Set(700)
	up.Set(45)
	if got := recv(t, g.started); got != "up=45" {
		t.Fatalf("write %s, want up=45", got)
	}
	g.release <- nil
	cancel()
	<-done
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.calls) != 4 {
		t.Fatalf("calls %v", g.calls)
	}
}

// A write in flight is pending even when the controller went back to the
// rate the router had: the router is about to change, and the writer puts
// the wanted rate back once it has.
func TestWriterInFlightIsPending(t *testing.T) {
	g := newGateExec()
	w := NewWriter("edge", g, WriterConfig{})
	down := w.Queue("down")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)

	down.Set(900)
	recv(t, g.started)
	g.release <- nil
	waitFor(t, "900 written", func() bool { return down.Status().Written == 900 })
	down.Set(950)
	recv(t, g.started)
	down.Set(900) // the increase is dropped while it is on its way
	if s := down.Status(); !s.Pending || s.Want != 900 || s.Written != 900 {
		t.Fatalf("while 950 is in flight: %+v", s)
	}
	g.release <- nil
	if got := recv(t, g.started); got != "down=900" {
		t.Fatalf("write %s, want down=900 (back to the wanted rate)", got)
	}
	if s := down.Status(); !s.Pending || s.Written != 950 {
		t.Fatalf("while 900 is in flight: %+v", s)
	}
	g.release <- nil
	waitFor(t, "settled", func() bool { s := down.Status(); return !s.Pending && s.Written == 900 })
}

func TestWriterDecreaseFirst(t *testing.T) {
	g := newGateExec()
	w := NewWriter("edge", g, WriterConfig{})
	a, b := w.Queue("a"), w.Queue("b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	a.Set(100)
	recv(t, g.started)
	g.release <- nil
	b.Set(100)
	recv(t, g.started)
	g.release <- nil
	waitFor(t, "initial writes", func() bool { return b.Status().Written == 100 })
	a.Set(120) // increase queued first...
	recv(t, g.started)
	a.Set(130)
	b.Set(50) // ... a decrease queued later goes first
	g.release <- nil
	if got := recv(t, g.started); got != "b=50" {
		t.Fatalf("next write %s, want the decrease b=50", got)
	}
	g.release <- nil
	if got := recv(t, g.started); got != "a=130" {
		t.Fatalf("next write %s, want a=130", got)
	}
	g.release <- nil
}

func TestWriterBackoffAndRecovery(t *testing.T) {
	g := newGateExec()
	var mu sync.Mutex
	results := map[string]int{}
	w := NewWriter("edge", g, WriterConfig{
		BackoffMin: time.Millisecond, BackoffMax: 4 * time.Millisecond,
		Observe: func(q string, err error, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				results["error"]++
			} else {
				results["ok"]++
			}
		},
	})
	q := w.Queue("down")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	q.Set(900)
	for i := range 5 {
		recv(t, g.started)
		g.release <- errors.New("503 Service Unavailable")
		if i == 2 {
			q.Set(800) // the retry sends the newest value
		}
	}
	waitFor(t, "degraded status", func() bool { return w.Status().Failures == 5 })
	st := w.Status()
	if st.Reachable || !strings.Contains(st.LastError, "503") || !st.LastSuccess.IsZero() {
		t.Fatalf("status while failing %+v", st)
	}
	if got := recv(t, g.started); got != "down=800" {
		t.Fatalf("retry wrote %s, want the newest value", got)
	}
	g.release <- nil
	waitFor(t, "recovery", func() bool { return w.Status().Reachable })
	if s := q.Status(); s.Written != 800 || s.LastError != "" || s.Pending {
		t.Fatalf("slot after recovery %+v", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if results["error"] != 5 || results["ok"] != 1 {
		t.Fatalf("observed %v", results)
	}
}

// fakeQueueAPI is a queue-tree menu with ids that can change.
type fakeQueueAPI struct {
	mu     sync.Mutex
	ids    map[string]string // name -> id
	limits map[string]string // id -> max-limit
	// comments by name; anonymous: PATCH replies carry only the .id.
	comments  map[string]string
	anonymous bool
	renamed   map[string]string // id -> the name PATCH replies give (changed after the look-up)
	queries   int
	sets      int
	fail      error
}

var errNotFound = errors.New("404 not found")

func (f *fakeQueueAPI) Query(ctx context.Context, menu string, q routeros.Query) ([]routeros.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	if menu != routeros.MenuQueueTree {
		return nil, errors.New("wrong menu " + menu)
	}
	name := q.Filter["name"]
	if id, ok := f.ids[name]; ok {
		return []routeros.Object{{".id": id, "name": name}}, nil
	}
	return []routeros.Object{}, nil
}

func (f *fakeQueueAPI) Set(ctx context.Context, menu, id string, fields routeros.Object) (routeros.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets++
	if f.fail != nil {
		return nil, f.fail
	}
	for name, v := range f.ids {
		if v == id {
			f.limits[id] = fields["max-limit"]
			if f.anonymous {
				return routeros.Object{".id": id}, nil
			}
			if n, ok := f.renamed[id]; ok {
				name = n
			}
			return routeros.Object{".id": id, "name": name, "max-limit": fields["max-limit"], "comment": f.comments[name]}, nil
		}
	}
	return nil, errNotFound
}

func TestRouterExecutor(t *testing.T) {
	api := &fakeQueueAPI{ids: map[string]string{"q": "*1"}, limits: map[string]string{}}
	e := NewRouterExecutor(api, func(err error) bool { return errors.Is(err, errNotFound) })
	ctx := context.Background()
	for _, r := range []int64{900000000, 800000000} {
		if err := e.SetMaxLimit(ctx, "q", r); err != nil {
			t.Fatal(err)
		}
	}
	if api.queries != 1 || api.sets != 2 || api.limits["*1"] != "800000000" {
		t.Fatalf("queries %d sets %d limits %v: want one lookup, two PATCHes", api.queries, api.sets, api.limits)
	}
	// The queue is recreated with a new id: 404, one new lookup, retried.
	api.ids["q"] = "*2"
	if err := e.SetMaxLimit(ctx, "q", 700000000); err != nil {
		t.Fatal(err)
	}
	if api.queries != 2 || api.limits["*2"] != "700000000" {
		t.Fatalf("after recreate: queries %d limits %v", api.queries, api.limits)
	}
	err := e.SetMaxLimit(ctx, "nope", 1)
	if !errors.Is(err, ErrQueueMissing) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("missing queue: %v", err)
	}
	api.fail = errors.New("boom")
	if err := e.SetMaxLimit(ctx, "q", 5); err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), `queue "q"`) {
		t.Fatalf("error %v", err)
	}
}

// When the router gives the cached .id to another entry (a reset and
// re-apply, another tool deleting and adding queues), the PATCH reply names
// that entry: the write is reported, the id looked up again by name and
// the rate written to the configured queue; the other entry is never
// written again.
func TestRouterExecutorReusedID(t *testing.T) {
	api := &fakeQueueAPI{ids: map[string]string{"q": "*1", "q-up": "*2"}, limits: map[string]string{}}
	e := NewRouterExecutor(api, func(err error) bool { return errors.Is(err, errNotFound) })
	var got []MisdirectedWrite
	e.OnMisdirected(func(m MisdirectedWrite) { got = append(got, m) })
	ctx := context.Background()
	if err := e.SetMaxLimit(ctx, "q", 900000000); err != nil {
		t.Fatal(err)
	}
	// Reset and re-apply: a user's queue took *1, ours came back as *3.
	api.ids = map[string]string{"user-q1": "*1", "q-up": "*2", "q": "*3"}
	api.comments = map[string]string{"user-q1": "guests"}
	for _, r := range []int64{800000000, 700000000} {
		if err := e.SetMaxLimit(ctx, "q", r); err != nil {
			t.Fatal(err)
		}
	}
	want := []MisdirectedWrite{{Queue: "q", ID: "*1", Name: "user-q1", Comment: "guests", MaxLimit: 800000000}}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("misdirected writes %+v, want %+v", got, want)
	}
	if api.limits["*3"] != "700000000" || api.limits["*1"] != "800000000" || api.sets != 4 || api.queries != 2 {
		t.Fatalf("limits %v after %d PATCHes and %d look-ups: want user-q1 written once, q at 700M, one new look-up", api.limits, api.sets, api.queries)
	}

	t.Run("the looked-up id is taken again", func(t *testing.T) {
		// The router changes between the look-up and the PATCH: an
		// error, and the next write looks the id up again.
		api.ids = map[string]string{"q": "*4", "q-up": "*3"}
		api.renamed = map[string]string{"*4": "q-up"}
		got = nil
		before := api.queries
		err := e.SetMaxLimit(ctx, "q", 5000)
		if !errors.Is(err, ErrMisdirected) || len(got) != 2 || got[1].ID != "*4" {
			t.Fatalf("error %v, misdirected %+v: want ErrMisdirected after two", err, got)
		}
		api.renamed = nil
		if err := e.SetMaxLimit(ctx, "q", 6000); err != nil || api.limits["*4"] != "6000" || api.queries != before+2 {
			t.Fatalf("error %v, limits %v, %d look-ups: want the id looked up again", err, api.limits, api.queries-before)
		}
	})
	t.Run("a reply without a name is taken as ours", func(t *testing.T) {
		api.anonymous = true
		got = nil
		if err := e.SetMaxLimit(ctx, "q", 7000); err != nil || len(got) != 0 || api.limits["*4"] != "7000" {
			t.Fatalf("error %v, misdirected %+v, limits %v", err, got, api.limits)
		}
	})
}
