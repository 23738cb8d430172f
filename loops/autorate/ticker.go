package autorate

import (
	"sync"
	"time"
)

// newTickers returns n tickers of period d driven by one timer: a timerfd
// on Linux (see startTimerfd), else — or when the kernel refuses one — a
// time.Ticker. Every tick goes to all n at once, so n control loops cost
// the process one wake-up per tick instead of n. Each ticker behaves as a
// time.Ticker towards its receiver: it keeps one tick, and a receiver
// still busy with an earlier tick misses the new one; a slow or stuck
// receiver delays no other.
func newTickers(d time.Duration, n int) []Ticker {
	return newTickersFrom(d, n, startTimerfd)
}

// newTickersFrom is newTickers with the timer to try first.
func newTickersFrom(d time.Duration, n int, start func(time.Duration, func(time.Time)) (func(), error)) []Ticker {
	if n <= 0 {
		return nil
	}
	g := &tickGroup{chans: make([]chan time.Time, n), stopped: make([]bool, n), live: n}
	for i := range g.chans {
		g.chans[i] = make(chan time.Time, 1)
	}
	stop, err := start(d, g.fire)
	if err != nil {
		stop = goTimer(d, g.fire)
	}
	g.stop = stop
	ts := make([]Ticker, n)
	for i, c := range g.chans {
		ts[i] = &groupTicker{g: g, i: i, c: c}
	}
	return ts
}

// goTimer calls fire every d from a time.Ticker until the returned stop
// (which waits for the last fire to return).
func goTimer(d time.Duration, fire func(time.Time)) func() {
	t := time.NewTicker(d)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				fire(now)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.Stop()
			close(quit)
			<-done
		})
	}
}

// tickGroup hands each tick of one timer to several tickers; the timer
// stops with the last of them.
type tickGroup struct {
	chans []chan time.Time
	stop  func()

	mu      sync.Mutex
	stopped []bool // by ticker
	live    int    // tickers not stopped
}

func (g *tickGroup) fire(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, c := range g.chans {
		if g.stopped[i] {
			continue
		}
		select {
		case c <- now:
		default: // its receiver has not taken the previous tick
		}
	}
}

type groupTicker struct {
	g    *tickGroup
	i    int
	c    chan time.Time
	once sync.Once
}

func (t *groupTicker) C() <-chan time.Time { return t.c }

// Stop stops the ticks: none is sent after it returns (one sent before
// may still be in C, which is not closed). The timer stops with the
// group's last ticker.
func (t *groupTicker) Stop() {
	t.once.Do(func() {
		t.g.mu.Lock()
		t.g.stopped[t.i] = true
		t.g.live--
		last := t.g.live == 0
		t.g.mu.Unlock()
		if last {
			t.g.stop()
		}
	})
}
