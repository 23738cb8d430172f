package autorate

import (
	"testing"
	"time"
)

func TestLoadState(t *testing.T) {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name     string
		readings []LoadReading
		want     float64 // bits/s; <0: not valid
	}{
		{"one reading tells nothing", []LoadReading{{1000, at(0)}}, -1},
		{"two readings", []LoadReading{{1000, at(0)}, {126000, at(500)}}, 2e6},
		{"a repeated reading is ignored", []LoadReading{{1000, at(0)}, {126000, at(500)}, {126000, at(500)}}, 2e6},
		{"an older reading is ignored", []LoadReading{{1000, at(0)}, {126000, at(500)}, {5000, at(400)}}, 2e6},
		{"a counter reset restarts", []LoadReading{{1000, at(0)}, {126000, at(500)}, {10, at(1000)}}, -1},
		{"and measures again after it", []LoadReading{{1000, at(0)}, {126000, at(500)}, {10, at(1000)}, {62510, at(1500)}}, 1e6},
		{"no time: ignored", []LoadReading{{1000, at(0)}, {99999, time.Time{}}, {126000, at(500)}}, 2e6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewController(testWAN())
			for _, r := range tc.readings {
				c.ObserveLoad(true, r)
			}
			got, _, ok := c.Achieved(true)
			if tc.want < 0 {
				if ok {
					t.Fatalf("achieved %v, want none", got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Fatalf("achieved %v (ok %v), want %v", got, ok, tc.want)
			}
			if _, _, dok := c.Achieved(false); dok {
				t.Error("download measured from upload's readings")
			}
		})
	}
}

// A throughput reading estimates the capacity when its window is short
// (it cannot average much from before the queue) or began after the queue
// rose above target_bloat (all of it was measured under the queue): with
// slow router writes the reads wait behind the cuts and their windows
// grow long, and a drop's load estimate must not be lost with them.
func TestLoadEstimateWindow(t *testing.T) {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name     string
		from, to int // the reading's window, ms
		onset    int // ms; <0: no queue above target_bloat
		ok       bool
	}{
		{"short window", 1000, 1250, 1100, true},
		{"long window from before the queue", 400, 1400, 1000, false},
		{"long window within the queue", 1100, 1700, 1000, true},
		{"long window, no queue", 1100, 1700, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &direction{}
			d.router.hist[0] = ratePoint{at: t0, rate: 100e6}
			d.router.head = 1
			// 60 Mbit/s delivered of the router's 100.
			d.load.observe(LoadReading{Bytes: 0, At: at(tc.from)})
			d.load.observe(LoadReading{Bytes: uint64(60e6 / 8 * float64(tc.to-tc.from) / 1000), At: at(tc.to)})
			var onset time.Time
			if tc.onset >= 0 {
				onset = at(tc.onset)
			}
			a, ok := d.achievedUnderQueue(at(tc.to), onset)
			if ok != tc.ok {
				t.Fatalf("estimate from the reading: %v (%.0f), want %v", ok, a, tc.ok)
			}
			if ok && (a < 59.9e6 || a > 60.1e6) {
				t.Errorf("estimate %.0f, want 60M", a)
			}
		})
	}
}
