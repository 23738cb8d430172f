package autorate

import (
	"net/netip"
	"testing"
	"time"
)

// After a raise of its own overshot, a direction knows the capacity lies
// between the cut and that raise: its next raises beyond the hold level
// are 5 %, growing ×1.5 with each that holds, back to 25 %. With a jitter
// floor of 40 % of target_bloat or more the overshoot test is not trusted
// and the limit stays 25 %.
func TestProbeJumpAfterOwnOvershoot(t *testing.T) {
	for _, c := range []struct {
		name   string
		jitter time.Duration // the jitter floor when the probe is cut
		jump   float64       // the probe jump after the cut (0: none)
	}{
		{"quiet link", 0, probeJump},
		{"5 ms of jitter", 6 * ms, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			const capacity = 600e6
			h, onset := raisedHarness(t, capacity, 0.2)
			d := &h.c.dirs[0]
			cut := false
			for range 30 {
				h.now = h.now.Add(50 * ms)
				x := max(0, float64(h.now.Sub(onset)-h.base)) * 0.2 / 1.2
				for i := range h.c.refl {
					h.c.Observe(i, h.base+time.Duration(x), h.now)
				}
				h.c.legs[0].jitter.floor = float64(c.jitter) // what the replies' jitter would have made it
				if dec := h.c.Step(h.now); dec.Download.Action == Decrease {
					if dec.Download.Zone != Green {
						t.Fatalf("the first cut was in %s, want the own-probe cut (GREEN)", dec.Download.Zone)
					}
					cut = true
					break
				}
			}
			if !cut {
				t.Fatal("no cut in 1.5 s")
			}
			if d.capacity.jump != c.jump {
				t.Fatalf("probe jump %g after the cut, want %g", d.capacity.jump, c.jump)
			}
			// The router has the hold level: the next raise is the jump.
			hold := d.capacity.hold
			h.c.SetApplied(false, hold, h.now)
			want := int64(float64(hold) * (1 + maxJump))
			if c.jump > 0 {
				want = int64(float64(hold) * (1 + probeJump))
			}
			if got := h.c.climbLimit(d); got != want {
				t.Errorf("climb limit %d at the hold level %d, want %d", got, hold, want)
			}
			if c.jump == 0 {
				return
			}
			// Each raise that holds makes the next one 1.5 times larger,
			// until it is back to maxJump (5, 7.5, 11.25, 16.9 %, then 25).
			for k, next := range []float64{0.075, 0.1125, 0.16875, 0} {
				d.raise = raiseState{at: h.now, by: 0.05, calm: true}
				h.now = h.now.Add(time.Second)
				for i := range h.c.refl {
					h.c.Observe(i, h.base, h.now)
				}
				h.c.checkHeld(d)
				if !d.raise.held {
					t.Fatal("a calm raise did not hold")
				}
				if got := d.capacity.jump; got < next-1e-9 || got > next+1e-9 {
					t.Fatalf("probe jump %g after %d raises held, want %g", got, k+1, next)
				}
			}
		})
	}
}

// While only the TCP fallback measures, GREEN does not probe, but a
// direction below 90 % of the last rate at which a raise of its held
// returns there in one move: a blackout that began with cuts (lost
// requests read as late ones) must not hold it at its floor.
func TestFallbackReturnsToTheLastRateThatHeld(t *testing.T) {
	w := instantWAN()
	w.Measurement.TCPFallback = []netip.AddrPort{netip.MustParseAddrPort("1.1.1.1:443"), netip.MustParseAddrPort("8.8.8.8:443")}
	for _, c := range []struct {
		name string
		good int64 // the last rate a raise held at
		want int64 // the download's rate after the blackout's GREEN cycles
	}{
		{"cut below the last good rate", 400e6, 360e6},
		{"already above 90 % of it", 200e6, 300e6},
		{"no raise held", 0, 300e6},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctl := NewController(w)
			ctl.Restore(Snapshot{Download: DirSnapshot{Rate: 300e6}, Upload: DirSnapshot{Rate: 20e6}})
			now := t0
			ctl.SetApplied(false, 300e6, now)
			ctl.SetApplied(true, 20e6, now)
			ctl.dirs[0].good = c.good
			for i := range 4 {
				ctl.Observe(i, 20*ms, now)
			}
			ctl.Step(now)
			var d Decision
			for k := range 40 { // 2 s of blackout, GREEN on the TCP targets
				now = now.Add(50 * ms)
				ctl.Observe(4+k%2, 45*ms, now)
				d = ctl.Step(now)
				if d.Download.Rate > c.want || d.Download.Rate < 300e6 {
					t.Fatalf("cycle %d of the blackout: download %d, want between 300M and %d", k, d.Download.Rate, c.want)
				}
			}
			if d.Download.Rate != c.want || d.Upload.Rate != 20e6 {
				t.Errorf("after 2 s on the fallback: download %d, upload %d; want %d, 20M", d.Download.Rate, d.Upload.Rate, c.want)
			}
		})
	}
}

// A YELLOW cut less than two slots after a raise of the direction's own
// that has not held and is newer than the other's is that raise's
// overshoot too (elastic flows fill a raise slowly, past the own-probe
// test): the probe jump follows. When the other direction raised since,
// the queue may be its: no probe jump.
func TestYellowCutAfterOwnRaiseIsItsOvershoot(t *testing.T) {
	for _, c := range []struct {
		name       string
		otherLater bool
		jump       float64
	}{
		{"own raise the newer", false, probeJump},
		{"the other raised since", true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, instantWAN())
			h.c.off |= RuleOwnProbeCut // the zone's cut, not the own-probe test's
			h.c.SetApplied(false, 500e6, h.now)
			h.c.SetApplied(true, 30e6, h.now)
			h.cycles(40, 0)
			h.c.SetApplied(false, 600e6, h.now) // the download's raise lands
			if c.otherLater {
				h.cycles(2, 0)
				h.c.SetApplied(true, 33e6, h.now)
			}
			d := &h.c.dirs[0]
			var dec Decision
			for range 20 { // 1 s above target_bloat: YELLOW after the dwell
				if dec = h.cycle(20 * ms); dec.Download.Action == Decrease {
					break
				}
			}
			if dec.Download.Action != Decrease || dec.Download.Zone != Yellow {
				t.Fatalf("download %s %s, want a YELLOW cut", dec.Download.Zone, dec.Download.Action)
			}
			if d.capacity.jump != c.jump {
				t.Errorf("probe jump %g after the YELLOW cut, want %g", d.capacity.jump, c.jump)
			}
		})
	}
}

// A raise's overshoot lasts until the cut reaches the router: when cuts
// take longer than 100 ms to land, the climb per write shrinks in
// proportion (at 300 ms: a third of 25 %), never below 5 %.
func TestClimbShrinksWithSlowCuts(t *testing.T) {
	for _, c := range []struct {
		name string
		lag  time.Duration // from the cut's decision to the router having it
		want float64       // the climb limit above the router's rate
	}{
		{"cuts land within 100 ms", 50 * ms, maxJump},
		{"cuts land after 300 ms", 300 * ms, maxJump / 3},
		{"cuts land after 2 s", 2 * time.Second, minRaise},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, instantWAN())
			h.c.SetApplied(false, 500e6, h.now)
			h.c.SetApplied(true, 30e6, h.now)
			h.cycles(10, 0)
			d := &h.c.dirs[0]
			if !h.c.cut(d, Red, h.now, false) {
				t.Fatal("no cut")
			}
			h.c.SetApplied(false, d.rate, h.now.Add(c.lag))
			a := float64(d.router.applied)
			d.capacity = capacityView{} // no hold level to return to
			got := float64(h.c.climbLimit(d))/a - 1
			if got < c.want-1e-6 || got > c.want+1e-6 {
				t.Errorf("climb limit %.4f above the router's rate, want %.4f", got, c.want)
			}
		})
	}
}

// In YELLOW while the other direction's newer, unheld raise is the
// suspect, a direction's counter shortfall is taken for that raise's queue
// slowing its flows, not for its capacity: its cut does not go to its
// measured throughput. Without the other's raise it does.
func TestYellowCutWhileTheOtherProbesIgnoresTheShortfall(t *testing.T) {
	cutTo := func(t *testing.T, otherRaised bool) int64 {
		h := newHarness(t, instantWAN())
		h.c.off |= RuleOwnProbeCut
		h.c.SetApplied(false, 800e6, h.now)
		h.c.SetApplied(true, 30e6, h.now)
		h.cycles(40, 0)
		if otherRaised {
			h.c.SetApplied(true, 36e6, h.now)
		}
		var bytes uint64
		for range 20 {
			// 500 Mbit/s delivered of the router's 800: the shortfall.
			bytes += 500e6 / 8 / 20
			h.c.ObserveLoad(false, LoadReading{Bytes: bytes, At: h.now})
			if dec := h.cycle(20 * ms); dec.Download.Action == Decrease {
				if dec.Download.Zone != Yellow {
					t.Fatalf("download cut in %s, want YELLOW", dec.Download.Zone)
				}
				return dec.Download.Rate
			}
		}
		t.Fatal("no download cut")
		return 0
	}
	alone, suspect := cutTo(t, false), cutTo(t, true)
	if alone > 500e6 {
		t.Errorf("cut to %d with nobody else probing, want at most the 500M delivered", alone)
	}
	if suspect <= 500e6 {
		t.Errorf("cut to %d while the upload's raise is the suspect, want above the 500M delivered", suspect)
	}
}

// The own-probe test needs a queue above the jitter every reply carries:
// with a jitter floor above the delay a raise's "growth" is the jitter's
// (at 10 ms of jitter nearly every own-probe cut was at a rate below the
// capacity). The same growing delay with no jitter floor is cut at once.
func TestOwnProbeNeedsAQueueAboveTheJitter(t *testing.T) {
	for _, c := range []struct {
		name   string
		jitter time.Duration
		cut    bool // an own-probe cut (in GREEN) within 300 ms
	}{
		{"no jitter", 0, true},
		{"jitter floor above the delay", 60 * ms, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			const capacity = 600e6
			h, onset := raisedHarness(t, capacity, 0.2)
			cut := false
			for range 6 { // the delay reaches 50 ms, under the 60 ms floor
				h.now = h.now.Add(50 * ms)
				x := max(0, float64(h.now.Sub(onset)-h.base)) * 0.2 / 1.2
				for i := range h.c.refl {
					h.c.Observe(i, h.base+time.Duration(x), h.now)
				}
				h.c.legs[0].jitter.floor = float64(c.jitter)
				if dec := h.c.Step(h.now); dec.Download.Action == Decrease && dec.Download.Zone == Green {
					cut = true
					break
				}
			}
			if cut != c.cut {
				t.Errorf("own-probe cut within 300 ms: %v, want %v", cut, c.cut)
			}
		})
	}
}

// An own-probe cut blames the raise: it goes no lower than the rate the
// raise started from while the jitter floor makes the fitted growth
// untrustworthy (at 10 ms of jitter a growth fitted to a few replies
// blamed far more than the raise: the upload gave a third of its capacity
// away). On a quiet link it follows the estimate, below the start.
func TestOwnProbeCutGoesNoLowerThanTheRaiseStart(t *testing.T) {
	for _, c := range []struct {
		name   string
		jitter time.Duration
		floor  bool // the cut stops at the raise's start
	}{
		{"quiet link", 0, false},
		{"10 ms of jitter", 6 * ms, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			const start = 600e6
			h, onset := raisedHarness(t, start, 0.2)
			d := &h.c.dirs[0]
			var dec Decision
			for range 10 {
				h.now = h.now.Add(50 * ms)
				// A growth of 0.5 ms per ms: as if the capacity were 480M,
				// 20 % below the raise's start.
				x := max(0, float64(h.now.Sub(onset)-h.base)) * 0.5
				for i := range h.c.refl {
					h.c.Observe(i, h.base+time.Duration(x), h.now)
				}
				h.c.legs[0].jitter.floor = float64(c.jitter)
				if dec = h.c.Step(h.now); dec.Download.Action == Decrease {
					break
				}
			}
			if dec.Download.Action != Decrease || dec.Download.Zone != Green {
				t.Fatalf("no own-probe cut: %+v", dec.Download)
			}
			switch {
			case c.floor && d.rate != start:
				t.Errorf("cut to %d, want the raise's start %d", d.rate, int64(start))
			case c.floor && d.capacity.est < start:
				t.Errorf("estimate %d below the raise's start %d", d.capacity.est, int64(start))
			case !c.floor && d.rate >= start:
				t.Errorf("cut to %d, want below the raise's start %d (the estimate's)", d.rate, int64(start))
			}
		})
	}
}

// raisedHarness is a harness with the capacity cut on whose download has
// been calm at start (upload 30M) for 2 s, then raised by the share raise
// at onset.
func raisedHarness(t *testing.T, start, raise float64) (*harness, time.Time) {
	t.Helper()
	h := newHarness(t, testWAN())
	h.c.off &^= RuleCapacityCut
	h.c.SetApplied(false, int64(start), h.now)
	h.c.SetApplied(true, 30e6, h.now)
	h.cycles(40, 0)
	h.c.SetApplied(false, int64(start*(1+raise)), h.now)
	return h, h.now
}
