package steer

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoadState feeds arbitrary steering.json contents through LoadState
// and a Step: no panic, and whatever loads yields a valid next state.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"version":1,"state":"SPECTRUM_DEGRADED","red_streak":0,"green_streak":4,"rtt_delta_ewma_ms":6.25,"rtt_ewma_valid":true,"dropped":{"wanctl-spectrum-down":18342},"last_run":"2025-06-01T12:00:02.25Z","last_assessment":"GREEN","transitions_total":3,"history":[{"time":"2025-06-01T11:58:10Z","from":"SPECTRUM_GOOD","to":"SPECTRUM_DEGRADED","reason":"x"}]}`))
	f.Add([]byte(`{"version":1,"state":"ATT_GOOD","red_streak":-5,"green_streak":99999999999,"dropped":null,"history":null}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"last_run":"9999-12-31T23:59:59Z","dropped":{"wanctl-spectrum-down":-1}}`))
	f.Add([]byte("\x00garbage"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, StateFileName)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := LoadState(path)
		if err != nil {
			if _, serr := os.Stat(path + ".corrupt"); serr != nil {
				t.Fatalf("unusable state not moved aside: %v / %v", err, serr)
			}
			return
		}
		th := defaults()
		next, d := Step(st, red(t0, 1000), th, "spectrum", "att")
		if next.State != "SPECTRUM_GOOD" && next.State != "SPECTRUM_DEGRADED" {
			t.Fatalf("state %q", next.State)
		}
		if d.Disabled != !next.Degraded() {
			t.Fatalf("%+v", d)
		}
		if next.LastRun != t0 || next.Dropped["wanctl-spectrum-down"] != 1010 {
			t.Fatalf("%+v", next)
		}
		if b, err := Textfile(next, "spectrum", time.Millisecond, false); err != nil || len(b) == 0 {
			t.Fatalf("textfile: %v", err)
		}
	})
}
