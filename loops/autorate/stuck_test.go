package autorate

import (
	"os"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

// writeSim plays the controller with the write policy in front of the
// router, as the Loop does: a rate is applied only when the policy writes
// it, and never for a direction whose writes fail.
type writeSim struct {
	h       *harness
	pol     [2]*WritePolicy
	applied [2]int64
	fails   [2]bool
	dec     Decision
}

func newWriteSim(t *testing.T, w *config.WAN) *writeSim {
	return &writeSim{
		h:       newHarness(t, w),
		pol:     [2]*WritePolicy{NewWritePolicy(w.RouterWrites, &w.Download), NewWritePolicy(w.RouterWrites, &w.Upload)},
		applied: [2]int64{w.Download.Ceiling, w.Upload.Ceiling},
	}
}

// run plays n cycles of 50 ms with every reflector delta above its base.
func (s *writeSim) run(n int, delta time.Duration) {
	h := s.h
	for range n {
		h.now = h.now.Add(50 * ms)
		h.c.SetApplied(false, s.applied[0], h.now)
		h.c.SetApplied(true, s.applied[1], h.now)
		for i := range h.c.refl {
			if h.c.refl[i].addr.Port() == 0 { // ICMP answers: the TCP fallback stays idle
				h.c.Observe(i, h.base+delta, h.now)
			}
		}
		s.dec = h.c.Step(h.now)
		for i := range 2 {
			r := s.dec.Dir(i == 1).Rate
			if s.pol[i].Offer(h.now, r) == Write && !s.fails[i] {
				s.applied[i] = r
			}
		}
	}
}

// A min_change at or above the smallest increase must not freeze the
// rate after a cut: every offer would be "too small" to write, and the
// router's rate would never move again.
func TestClimbBackWithLargeMinChange(t *testing.T) {
	for _, mc := range []float64{0.02, 0.04, 0.05, 0.1} {
		w := instantWAN()
		w.RouterWrites.MinChange = mc
		s := newWriteSim(t, w)
		s.run(6, 100*ms) // RED: both cut
		if s.applied[0] >= w.Download.Ceiling || s.applied[1] >= w.Upload.Ceiling {
			t.Fatalf("min_change %.2f: no cut (%d / %d)", mc, s.applied[0], s.applied[1])
		}
		s.run(1200, 0) // 60 s calm
		if s.applied[0] != w.Download.Ceiling || s.applied[1] != w.Upload.Ceiling {
			t.Errorf("min_change %.2f: after 60 s calm the router has %d / %d, want the ceilings %d / %d",
				mc, s.applied[0], s.applied[1], w.Download.Ceiling, w.Upload.Ceiling)
		}
	}
}

// The shipped LTE example (min_change = 0.05) climbs back after a
// congestion episode.
func TestLTEExampleClimbsBack(t *testing.T) {
	src, err := os.ReadFile("../../examples/lte.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Parse("lte.hcl", src, config.Options{LookupEnv: func(string) (string, bool) { return "x", true }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	w := cfg.WAN("lte")
	s := newWriteSim(t, w)
	s.run(100, 0)
	s.run(10, 200*ms) // RED
	s.run(6000, 0)    // 5 minutes calm
	if s.applied[0] != w.Download.Ceiling || s.applied[1] != w.Upload.Ceiling {
		t.Errorf("after 5 min calm the router has %d / %d, want the ceilings %d / %d", s.applied[0], s.applied[1], w.Download.Ceiling, w.Upload.Ceiling)
	}
}

// A direction whose writes keep failing (its queue was removed: 404 on
// every retry) has an increase "on its way" forever; the other direction
// must not wait for it for good.
func TestFailingDirectionDoesNotBlockTheOther(t *testing.T) {
	w := instantWAN()
	s := newWriteSim(t, w)
	s.run(6, 100*ms)
	s.fails[1] = true
	s.run(1200, 0)
	if s.applied[0] != w.Download.Ceiling {
		t.Errorf("download stuck at %d (ceiling %d) behind the upload's failing writes", s.applied[0], w.Download.Ceiling)
	}
}

// A probe cut at once because its own queue grew (probeOvershot) must not
// come back above the capacity it overshot, also with a small standing
// queue when it landed (which made the YELLOW look like it might be the
// other direction's): the return after the cut is bounded by the capacity
// the growth gave, not by a jump from the cut rate (later probes may go a
// few percent above it: that is how a higher capacity is found).
func TestProbeCutDoesNotReturnAboveCapacity(t *testing.T) {
	for _, standing := range []time.Duration{0, 9 * ms} {
		t.Run(standing.String(), func(t *testing.T) {
			h := newHarness(t, testWAN())
			h.c.off &^= RuleCapacityCut
			const capacity = 600e6
			h.c.SetApplied(false, capacity, h.now)
			h.c.SetApplied(true, 38e6, h.now)
			h.cycles(40, standing)
			onset := h.now
			const raise = 0.20
			h.c.SetApplied(false, int64(capacity*(1+raise)), onset)
			var first Decision
			for range 30 {
				h.now = h.now.Add(50 * ms)
				// The queue grows at the raise's excess from when it landed.
				x := max(0, float64(h.now.Sub(onset)-h.base)) * raise / (1 + raise)
				for i := range h.c.refl {
					h.c.Observe(i, h.base+standing+time.Duration(x), h.now)
				}
				first = h.c.Step(h.now)
				if first.Download.Action == Decrease {
					break
				}
			}
			if first.Download.Action != Decrease || first.Download.Rate >= capacity {
				t.Fatalf("the overshooting probe was not cut below the capacity: %+v", first.Download)
			}
			cut := first.Download.Rate
			h.c.SetApplied(false, cut, h.now)
			// A second of calm, the router still at the cut rate: what
			// GREEN offers is what the next write takes.
			for i := range 20 {
				dec := h.cycle(0)
				if r := dec.Download.Rate; r > capacity {
					cv := h.c.dirs[0].capacity
					t.Fatalf("%v after the cut to %d (estimate %d, hold level %d): GREEN offers %d, above the capacity %d the probe just overshot",
						time.Duration(i+1)*50*ms, cut, cv.est, cv.hold, r, int64(capacity))
				}
			}
		})
	}
}
