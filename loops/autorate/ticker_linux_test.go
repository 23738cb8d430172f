package autorate

import (
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// timerfds counts this process's open timerfds.
func timerfds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.Contains(l, "timerfd") {
			n++
		}
	}
	return n
}

// On Linux the tickers run on one timerfd, closed with the last ticker;
// its goroutine has returned when Stop does (no tick after it).
func TestTimerfdTickers(t *testing.T) {
	before := timerfds(t)
	ts := newTickers(time.Millisecond, 3)
	if n := timerfds(t) - before; n != 1 {
		t.Fatalf("%d timerfds for a group of 3 tickers, want 1", n)
	}
	for _, tk := range ts {
		recvTick(t, tk, "timerfd ticker")
	}
	for _, tk := range ts {
		tk.Stop()
	}
	if n := timerfds(t) - before; n != 0 {
		t.Fatalf("%d timerfds left open after Stop", n)
	}
	for i, tk := range ts {
		select {
		case <-tk.C():
		default:
		}
		if len(tk.C()) != 0 {
			t.Fatalf("ticker %d: tick after Stop", i)
		}
	}
	tk := RealClock{}.NewTicker(time.Millisecond)
	if n := timerfds(t) - before; n != 1 {
		t.Fatalf("RealClock.NewTicker: %d timerfds, want 1", n)
	}
	recvTick(t, tk, "RealClock ticker")
	tk.Stop()
}

// stop returns after the reader's last fire (the race detector checks
// the unsynchronised counter).
func TestStartTimerfdStop(t *testing.T) {
	n := 0
	fired := make(chan struct{}, 1000)
	stop, err := startTimerfd(time.Millisecond, func(time.Time) {
		n++
		fired <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case <-fired:
		case <-time.After(10 * time.Second):
			t.Fatal("timerfd did not fire")
		}
	}
	stop()
	stop() // idempotent
	if n < 3 {
		t.Fatalf("fired %d times, want at least 3", n)
	}
}

func TestTimerfdReadClassification(t *testing.T) {
	for _, tc := range []struct {
		errno     unix.Errno
		ready, ok bool
	}{
		{0, true, true},            // a tick
		{unix.EAGAIN, false, true}, // nothing yet: wait for the poller
		{unix.EINTR, false, true},  // interrupted: wait again
		{unix.EBADF, true, false},  // the timerfd is gone
		{unix.EINVAL, true, false}, // not a timerfd
	} {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			ready, err := timerfdRead(tc.errno)
			if ready != tc.ready || (err == nil) != tc.ok {
				t.Errorf("ready %v err %v, want ready %v ok %v", ready, err, tc.ready, tc.ok)
			}
		})
	}
}
