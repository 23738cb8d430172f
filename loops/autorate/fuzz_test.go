package autorate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzState feeds arbitrary bytes through everything that reads a state
// file: ReadState, LoadState (moving it aside) and Restore. Nothing may
// panic, and a restored controller's rates stay within [red floor, ceiling].
func FuzzState(f *testing.F) {
	good, _ := json.Marshal(State{Version: 1, WAN: "spectrum", Download: DirectionState{Zone: Red, Rate: 5},
		Reflectors: []ReflectorState{{Address: "1.1.1.1", BaselineRTTMs: 12}, {Address: "[::1]:443", BaselineRTTMs: 1e300}}})
	f.Add(good)
	f.Add([]byte(`{"version":1,"wan":"x","download":{"zone":"SOFT_RED","rate":-1},"upload":{"zone":"SOFT_RED","rate":9e18}}`))
	f.Add([]byte(`{"version":1,"wan":"x","reflectors":[{"address":"nope","baseline_rtt_ms":"NaN"}],"baseline_rtt_ms":-5}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`null`))
	w := testWAN()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "s.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := ReadState(p)
		if err != nil {
			return
		}
		c := NewController(w)
		c.Restore(st.Snapshot())
		s := c.Snapshot()
		for i, d := range []DirSnapshot{s.Download, s.Upload} {
			dir := w.Directions()[i]
			if d.Rate < dir.Floor.Red || d.Rate > dir.Ceiling || d.Zone > Red || (i == 1 && d.Zone == SoftRed) {
				t.Fatalf("restored %+v from %q", d, b)
			}
		}
		for _, r := range s.Reflectors {
			if r.Baseline < 0 {
				t.Fatalf("negative baseline from %q", b)
			}
		}
		c.Observe(0, 20*ms, t0)
		c.Step(t0)
		if _, _, err := LoadState(p); err != nil {
			t.Fatalf("ReadState accepted what LoadState refuses: %v", err)
		}
	})
}
