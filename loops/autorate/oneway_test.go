package autorate

import (
	"testing"
	"time"
)

// queueTrace integrates one direction's queue over the link's cycles: it
// grows while the router's rate is above the capacity and drains below it.
type queueTrace struct {
	at []time.Time
	q  []time.Duration
}

func (qt *queueTrace) step(now time.Time, rate, capacity float64, dt time.Duration) {
	q := time.Duration(0)
	if n := len(qt.q); n > 0 {
		q = qt.q[n-1]
	}
	q = max(0, q+time.Duration((rate/capacity-1)*float64(dt)))
	qt.at, qt.q = append(qt.at, now), append(qt.q, q)
}

// delay is the queue a request sent at s met.
func (qt *queueTrace) delay(s time.Time) time.Duration {
	var q time.Duration
	for i, t := range qt.at {
		if t.After(s) {
			break
		}
		q = qt.q[i]
	}
	return q
}

// The upload's capacity halves while both directions are loaded. With one-
// way delays (ICMP timestamps) the queue shows in the upload's leg only: the
// upload is cut, the download is not. On round trips alone the same queue
// is either's, and the download pays for it too. A reflector clock 37 ms
// ahead changes nothing: the baselines take it.
func TestOneWayBlamesTheQueuedDirection(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stamped   bool
		downNoCut bool
	}{
		{"timestamps", true, true},
		{"round trips", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWAN()
			w.Measurement.Timestamps = tc.stamped
			l := newLink(t, w)
			l.stamped, l.offset = tc.stamped, 37*ms
			var up queueTrace
			l.up = up.delay
			l.queue = up.delay
			l.steps(40) // baselines
			upCap := float64(l.applied[1]) / 2
			downStart, upStart := l.applied[0], l.applied[1]
			downMin := downStart
			for range 100 { // 5 s
				up.step(l.now, float64(l.applied[1]), upCap, 50*ms)
				d := l.step()
				downMin = min(downMin, d.Download.Rate)
			}
			if r := l.applied[1]; r > int64(upCap) {
				t.Errorf("upload at %d bits/s after 5 s, want at most its capacity %.0f (from %d)", r, upCap, upStart)
			}
			if got := downMin < downStart; got == tc.downNoCut {
				t.Errorf("download's lowest rate %d from %d: cut %v, want %v", downMin, downStart, got, !tc.downNoCut)
			}
		})
	}
}
