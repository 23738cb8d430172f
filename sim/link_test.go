package sim

import (
	"reflect"
	"testing"
	"time"
)

func TestLinkMatchesEvaluate(t *testing.T) {
	sc, _ := NewScenario("step-drop", ceil100x20, 20*time.Second, 3)
	opt := Options{Load: LoadSaturating, Ceiling: ceil100x20}
	res, err := Evaluate(sc, opt, noop())
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLink(sc, opt)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for !l.Done() {
		r, _ := l.Advance(70 * time.Millisecond) // any step size
		n += len(r)
	}
	run := l.Finish()
	if !reflect.DeepEqual(run.Dirs, res.Wanctl.Dirs) || run.Pings != res.Wanctl.Pings || n != res.Wanctl.Pings.Replies {
		t.Errorf("link run differs from Evaluate's:\n%+v\n%+v", run.Pings, res.Wanctl.Pings)
	}
}

func TestLinkDriver(t *testing.T) {
	sc, _ := NewScenario("step-drop", ceil100x20, 20*time.Second, 3)
	l, err := NewLink(sc, Options{Load: LoadSaturating, Ceiling: ceil100x20, Jitter: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	// Run into the drop (6 s) with the shaper at the ceiling: it bloats.
	l.Advance(6500 * time.Millisecond)
	st := l.Status(Download)
	if !st.Loaded || st.Capacity != 40e6 || st.Rate != 100e6 {
		t.Fatalf("status %+v", st)
	}
	// 500 ms at 60 Mbit/s excess into a 40 Mbit/s link: 750 ms of queue.
	near(t, "queue delay (ms)", float64(st.QueueDelay)/1e6, 750, 1)
	near(t, "added delay (ms)", float64(st.AddedDelay)/1e6, 750+1+12000/100e6*1e3, 1)
	// The driver shapes below capacity: the queue drains at 10 Mbit/s.
	if err := l.SetRate(Download, 30e6); err != nil {
		t.Fatal(err)
	}
	if err := l.SetRate(Upload, 0); err == nil {
		t.Error("rate 0 accepted")
	}
	l.Advance(time.Second)
	near(t, "draining queue delay (ms)", float64(l.Status(Download).QueueDelay)/1e6, 750-250, 1)
	if got := l.Now().Sub(Epoch); got != 7500*time.Millisecond {
		t.Errorf("Now = %v", got)
	}
	// Both directions together are bloated past the 1 s ping timeout:
	// the echoes sent from 6.5 s on are given up a second later.
	replies, timedOut := l.Advance(time.Second)
	if len(replies) != 0 || len(timedOut) != 20 {
		t.Errorf("bloated: %d replies, %d timed out; want 0 and 20", len(replies), len(timedOut))
	}
	// Upload drains too (its full 10 Mbit buffer at 4 Mbit/s spare: 2.5 s).
	if err := l.SetRate(Upload, 4e6); err != nil {
		t.Fatal(err)
	}
	l.Advance(3 * time.Second)
	if replies, _ = l.Advance(time.Second); len(replies) != 20 {
		t.Errorf("%d replies in 1 s at 20/s once drained", len(replies))
	}
	if run := l.Finish(); run.Dirs[Download].Writes != 1 || run.Dirs[Upload].Writes != 1 {
		t.Errorf("writes %d/%d", run.Dirs[Download].Writes, run.Dirs[Upload].Writes)
	}
}
