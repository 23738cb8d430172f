package autorate

import (
	"sort"
	"sync"
	"time"
)

// Clock gives the daemon its time and tickers; tests use a ManualClock.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks on C until Stop.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// RealClock is the system clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// NewTicker implements Clock. On Linux the ticker is a timerfd (see
// startTimerfd): one OS wake-up per tick instead of three.
func (RealClock) NewTicker(d time.Duration) Ticker { return newTickers(d, 1)[0] }

// NewTickers implements TickerGroup: one timer for all n.
func (RealClock) NewTickers(d time.Duration, n int) []Ticker { return newTickers(d, n) }

// TickerGroup is implemented by clocks that drive several tickers of one
// period from a single timer, each ticking at the same instants: the
// daemon's control loops then wake the process once per interval, not once
// per WAN. Clocks without it (ManualClock) give each loop its own ticker.
type TickerGroup interface {
	NewTickers(d time.Duration, n int) []Ticker
}

// ManualClock is a virtual clock: time moves only with Advance, which
// delivers every tick that falls due, in time order, each one handed over
// to its receiver before the next (so the cycle started by one tick has
// finished before the next tick of the same ticker is taken).
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*manualTicker
}

// NewManualClock starts a virtual clock at start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now implements Clock.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

type manualTicker struct {
	c       *ManualClock
	period  time.Duration
	next    time.Time
	ch      chan time.Time
	stopped chan struct{}
	once    sync.Once
}

// NewTicker implements Clock.
func (c *ManualClock) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("autorate: non-positive ticker period")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTicker{c: c, period: d, next: c.now.Add(d), ch: make(chan time.Time), stopped: make(chan struct{})}
	c.tickers = append(c.tickers, t)
	return t
}

func (t *manualTicker) C() <-chan time.Time { return t.ch }

func (t *manualTicker) Stop() {
	t.once.Do(func() {
		close(t.stopped)
		t.c.mu.Lock()
		defer t.c.mu.Unlock()
		for i, x := range t.c.tickers {
			if x == t {
				t.c.tickers = append(t.c.tickers[:i], t.c.tickers[i+1:]...)
				break
			}
		}
	})
}

// Tickers returns the number of live tickers (tests wait for loops to
// start).
func (c *ManualClock) Tickers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tickers)
}

// Advance moves the clock forward by d, delivering due ticks.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		due := make([]*manualTicker, 0, len(c.tickers))
		for _, t := range c.tickers {
			if !t.next.After(target) {
				due = append(due, t)
			}
		}
		if len(due) == 0 {
			c.now = target
			c.mu.Unlock()
			return
		}
		sort.SliceStable(due, func(i, j int) bool { return due[i].next.Before(due[j].next) })
		t := due[0]
		at := t.next
		t.next = t.next.Add(t.period)
		if at.After(c.now) {
			c.now = at
		}
		c.mu.Unlock()
		select {
		case t.ch <- at:
		case <-t.stopped:
		}
	}
}
