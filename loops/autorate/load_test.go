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
