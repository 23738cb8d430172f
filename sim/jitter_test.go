package sim

import (
	"testing"
	"time"
)

// The controller's noise floor is the replies' scatter, so that a small
// standing queue does not blunt it; but on a link whose every reply
// carries random delay (exponential, mean Jitter) it must still not take
// that jitter for a growing queue and give the capacity away.
func TestQualityUnderJitter(t *testing.T) {
	w, interval := defaultWAN(t)
	for _, c := range []struct {
		scenario string
		jitter   time.Duration
		min      float64 // utilisation / the oracle's, each direction
	}{
		{"steady", 10 * time.Millisecond, 0.90},
		{"cable-evening", 5 * time.Millisecond, 0.88},
		// 85 % before the drain margin's 200 ms (BENCHMARKS.md, "Sixth
		// round"): this seed's saturated upload gives 81 %, while the
		// matrix's 10 ms level gained (61 → 65 of 220).
		{"cable-evening", 10 * time.Millisecond, 0.80},
	} {
		t.Run(c.scenario+" "+c.jitter.String(), func(t *testing.T) {
			sc, err := NewScenario(c.scenario, NominalCapacity(w), 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewWanctl(w)
			if err != nil {
				t.Fatal(err)
			}
			opt := v1Options(w, interval)
			opt.Jitter = c.jitter
			res, err := Evaluate(sc, opt, p)
			if err != nil {
				t.Fatal(err)
			}
			for d := range Dir(2) {
				s, o := res.Wanctl.Dirs[d].Scores, res.Oracle.Dirs[d].Scores
				u := s.Utilisation / o.Utilisation
				t.Logf("%s, %v jitter, %s: %.1f %% of the oracle's utilisation, p99 %.1f ms", c.scenario, c.jitter, d, 100*u, s.AddedDelayMS.P99)
				if u < c.min {
					t.Errorf("%s with %v of jitter, %s: utilisation %.1f %% of the oracle's, want at least %.0f %%", c.scenario, c.jitter, d, 100*u, 100*c.min)
				}
			}
		})
	}
}
