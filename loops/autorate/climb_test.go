package autorate

import (
	"testing"
	"time"
)

// A raise that holds at or above the capacity estimate means the capacity
// has grown since the estimate was made (the congestion is over): the
// estimate and its hold level are dropped, and with them the slower
// probing near it: the direction climbs on at once, up to 25 % above the
// router's rate. A raise below the estimate, or one under which the delay
// rises past half of target_bloat, proves nothing: the estimate stays, and
// so near it the direction raises once per two increase_intervals. A raise
// that held (calm) is the new safe rate either way.
func TestRaiseHeldAtTheEstimateDropsIt(t *testing.T) {
	for _, c := range []struct {
		name    string
		raiseTo int64
		delta   time.Duration // delay after the raise
		dropped bool
		safe    int64
		rate    int64 // offered 600 ms after the raise landed
	}{
		{"raise to the estimate, calm", 530e6, 0, true, 530e6, 662.5e6}, // +25 %
		{"raise below the estimate, calm", 510e6, 0, false, 510e6, 510e6},
		{"raise to the estimate, delay rising past half of target_bloat", 530e6, 9 * ms, false, 0, 530e6},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, instantWAN())
			// The harness's delay jumps at once, which the own-probe cut
			// takes for the raise's queue growing: it would cut and
			// estimate anew (TestProbeOvershootCutAtOnce).
			h.c.off = h.c.off&^RuleCapacityCut | RuleOwnProbeCut
			h.c.SetApplied(false, 500e6, h.now)
			h.c.SetApplied(true, 38e6, h.now)
			h.cycles(40, 0)
			d := &h.c.dirs[0]
			d.capacity.est, d.capacity.hold = 520e6, 468e6
			h.c.SetApplied(false, c.raiseTo, h.now)
			d.rate, d.climb = c.raiseTo, c.raiseTo // the router has what was offered
			dec := h.cycles(12, c.delta)           // 600 ms
			cv := d.capacity
			want := capacityView{est: 520e6, hold: 468e6}
			if c.dropped {
				want = capacityView{}
			}
			if cv.est != want.est || cv.hold != want.hold {
				t.Errorf("estimate %d, hold %d, want %d, %d (dropped: %v)", cv.est, cv.hold, want.est, want.hold, c.dropped)
			}
			if cv.safe != c.safe {
				t.Errorf("safe rate %d, want %d", cv.safe, c.safe)
			}
			if dec.Download.Rate != c.rate {
				t.Errorf("offers %d 600 ms after the raise to %d, want %d", dec.Download.Rate, c.raiseTo, c.rate)
			}
		})
	}
}

// A probe that overshoots the capacity by 20 % grows the queue by 0.2 ms
// per ms: waiting for the loaded delta to stay above target_bloat for
// dwell_cycles would let it grow to ~50 ms. It is cut as soon as the
// growth shows and can be dated to the probe; a small probe, or one that
// landed together with the other direction's, waits for YELLOW.
func TestProbeOvershootCutAtOnce(t *testing.T) {
	for _, c := range []struct {
		name      string
		raise     float64 // of the download, beyond the capacity
		upload    bool    // the upload's probe landed at the same time
		earlyCut  bool
		cutBefore time.Duration
	}{
		{"20 % probe", 0.20, false, true, 300 * ms},
		{"3 % probe", 0.03, false, false, 0},
		{"20 % probe landing with the upload's", 0.20, true, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			const capacity = 600e6
			h, onset := raisedHarness(t, capacity, c.raise)
			if c.upload {
				h.c.SetApplied(true, 33e6, onset)
			}
			var first Decision
			var at time.Duration
			for range 30 {
				h.now = h.now.Add(50 * ms)
				// The delay of a request sent at s is g × (s - onset).
				x := max(0, float64(h.now.Sub(onset)-h.base)) * c.raise / (1 + c.raise)
				for i := range h.c.refl {
					h.c.Observe(i, h.base+time.Duration(x), h.now)
				}
				d := h.c.Step(h.now)
				if d.Download.Action == Decrease {
					first, at = d, h.now.Sub(onset)
					break
				}
			}
			if first.Download.Action != Decrease {
				t.Fatal("no decrease in 1.5 s")
			}
			early := first.Download.Zone == Green
			if early != c.earlyCut {
				t.Errorf("first cut after %v in %s, want an early cut (in GREEN): %v", at, first.Download.Zone, c.earlyCut)
			}
			if c.earlyCut {
				if at > c.cutBefore {
					t.Errorf("cut %v after the probe landed, want within %v", at, c.cutBefore)
				}
				if first.Download.Rate >= capacity {
					t.Errorf("cut to %d, want below the capacity %d", first.Download.Rate, int64(capacity))
				}
			}
		})
	}
}

// While a direction waits for the other's turn, GREEN's steps go on
// counting; reaching the ceiling meanwhile must not lose them (it used to
// restart the climb from the rate the router had).
func TestClimbWaitingItsTurnKeepsItsSteps(t *testing.T) {
	h := newHarness(t, testWAN())
	h.c.SetApplied(false, 900e6, h.now)
	h.c.SetApplied(true, 36e6, h.now)
	d := &h.c.dirs[0]
	d.rate, d.climb = 900e6, 900e6
	h.cycles(10, 0)
	d.rate, d.climb = 900e6, 900e6
	// The upload's increase to its ceiling lands: the download waits half
	// an increase_interval, while its steps (15M a cycle) reach 940M.
	h.c.SetApplied(true, 38e6, h.now)
	landed := h.now
	for range 20 {
		dec := h.cycle(0)
		if dec.Download.Action != Increase {
			continue
		}
		if waited := h.now.Sub(landed); waited < 500*ms {
			t.Fatalf("download raised %v after the upload's raise, want at least half an increase_interval", waited)
		}
		if dec.Download.Rate != 940e6 {
			t.Fatalf("after waiting its turn the download offers %d, want the ceiling its steps reached (940000000)", dec.Download.Rate)
		}
		return
	}
	t.Fatal("the download never raised")
}
