package autorate

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/ping"
)

// recvTick waits (at most 10 s) for a tick of t.
func recvTick(t *testing.T, tk Ticker, what string) time.Time {
	t.Helper()
	select {
	case now := <-tk.C():
		return now
	case <-time.After(10 * time.Second):
		t.Fatalf("no tick for %s in 10 s", what)
		return time.Time{}
	}
}

// tickerStarters are the timers a group can run on: the system's
// (timerfd on Linux) and the fallback time.Ticker, as taken when the
// kernel refuses a timerfd.
var tickerStarters = map[string]func(time.Duration, func(time.Time)) (func(), error){
	"system": startTimerfd,
	"fallback": func(time.Duration, func(time.Time)) (func(), error) {
		return nil, errors.New("timerfd refused")
	},
}

// Every ticker of a group ticks, at increasing times, the same instants
// for all (one timer).
func TestTickersTick(t *testing.T) {
	for name, start := range tickerStarters {
		ts := newTickersFrom(2*time.Millisecond, 2, start)
		var a, b []time.Time
		for range 5 {
			a = append(a, recvTick(t, ts[0], name+" ticker 0"))
			b = append(b, recvTick(t, ts[1], name+" ticker 1"))
		}
		for i := 1; i < len(a); i++ {
			if !a[i].After(a[i-1]) || !b[i].After(b[i-1]) {
				t.Fatalf("%s: ticks not increasing: %v / %v", name, a, b)
			}
		}
		// b[0] was kept for ticker 1 while ticker 0 took a[0]: the
		// same tick.
		if !b[0].Equal(a[0]) {
			t.Errorf("%s: first ticks differ: %v and %v (not one timer)", name, a[0], b[0])
		}
		for _, tk := range ts {
			tk.Stop()
		}
	}
}

// A ticker whose receiver is busy keeps one tick, the oldest, and misses
// the others, without holding up the other tickers of its group.
func TestTickersDropWhenBusy(t *testing.T) {
	for name, start := range tickerStarters {
		ts := newTickersFrom(time.Millisecond, 2, start)
		first := recvTick(t, ts[0], name)
		for range 10 {
			recvTick(t, ts[0], name)
		}
		if n := len(ts[1].C()); n != 1 {
			t.Fatalf("%s: busy ticker holds %d ticks, want 1", name, n)
		}
		if got := <-ts[1].C(); !got.Equal(first) {
			t.Errorf("%s: busy ticker kept %v, want the oldest tick %v", name, got, first)
		}
		// It ticks again once taken.
		recvTick(t, ts[1], name+" after the busy spell")
		for _, tk := range ts {
			tk.Stop()
		}
	}
}

// A stopped ticker gets no tick after Stop while the rest of its group
// ticks on; stopping the last one stops the timer (the timerfd is
// closed, its goroutine has returned).
func TestTickersStop(t *testing.T) {
	for name, start := range tickerStarters {
		var mu sync.Mutex
		stops := 0
		started := false
		counted := func(d time.Duration, fire func(time.Time)) (func(), error) {
			stop, err := start(d, fire)
			if err != nil {
				return nil, err
			}
			started = true
			return func() {
				stop()
				mu.Lock()
				stops++
				mu.Unlock()
			}, nil
		}
		ts := newTickersFrom(time.Millisecond, 2, counted)
		recvTick(t, ts[0], name)
		ts[0].Stop()
		ts[0].Stop() // idempotent
		select {
		case <-ts[0].C(): // one sent before Stop
		default:
		}
		for range 5 {
			recvTick(t, ts[1], name+" ticker still running")
		}
		if n := len(ts[0].C()); n != 0 {
			t.Fatalf("%s: %d ticks sent to a stopped ticker", name, n)
		}
		mu.Lock()
		n := stops
		mu.Unlock()
		if n != 0 {
			t.Fatalf("%s: timer stopped while a ticker runs", name)
		}
		ts[1].Stop()
		mu.Lock()
		n = stops
		mu.Unlock()
		if started && n != 1 {
			t.Fatalf("%s: timer stopped %d times after the last ticker, want 1", name, n)
		}
	}
}

func TestTickersNone(t *testing.T) {
	if ts := newTickers(time.Millisecond, 0); ts != nil {
		t.Fatalf("newTickers(0) = %v", ts)
	}
}

// pacedMeasurer records the times its loop paced it at (Pacer).
type pacedMeasurer struct {
	mu    sync.Mutex
	ticks []time.Time
	order []string
}

func (m *pacedMeasurer) Tick(now time.Time) {
	m.mu.Lock()
	m.ticks = append(m.ticks, now)
	m.order = append(m.order, "tick")
	m.mu.Unlock()
}

func (m *pacedMeasurer) Drain(dst []ping.Reply) []ping.Reply {
	m.mu.Lock()
	m.order = append(m.order, "drain")
	m.mu.Unlock()
	return dst
}

func (m *pacedMeasurer) snapshot() []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.ticks)
}

// A Cycle paces its measurer with the cycle's time before it drains it:
// the requests due are sent at the tick.
func TestLoopPacesBeforeDrain(t *testing.T) {
	m := &pacedMeasurer{}
	l := NewLoop(LoopConfig{WAN: testWAN(), Measurer: m})
	l.Cycle(t0)
	l.Cycle(t0.Add(50 * ms))
	if want := []string{"tick", "drain", "tick", "drain"}; !slices.Equal(m.order, want) {
		t.Fatalf("calls %v, want %v", m.order, want)
	}
	if want := []time.Time{t0, t0.Add(50 * ms)}; !slices.Equal(m.ticks, want) {
		t.Fatalf("paced at %v, want %v", m.ticks, want)
	}
}

// On the real clock, the WANs' loops tick from one timer: the same
// instants, each loop pacing its measurer at them.
func TestDaemonLoopsShareOneTimer(t *testing.T) {
	cfg := testConfig(t)
	cfg.Daemon.Interval = 5 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	meas := map[string]*pacedMeasurer{}
	d, err := NewDaemon(DaemonConfig{
		Config: cfg, Listener: ln, Logger: slog.New(slog.DiscardHandler),
		NewMeasurer: func(w *config.WAN) (Measurer, error) {
			m := &pacedMeasurer{}
			meas[w.Name] = m
			return m, nil
		},
		NewExecutor: func(r *config.Router) (Executor, error) { return &recExec{}, nil },
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	a, b := meas[cfg.WANs[0].Name], meas[cfg.WANs[1].Name]
	// A loop busy with a cycle may miss a tick the other takes; within
	// a few dozen ticks they share many.
	common := 0
	waitFor(t, "ticks common to both loops", func() bool {
		ta, tb := a.snapshot(), b.snapshot()
		common = 0
		for _, x := range tb {
			if slices.ContainsFunc(ta, x.Equal) {
				common++
			}
		}
		return common >= 5
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
}
