package autorate

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

// link plays a physically consistent measurement: echo requests every
// 50 ms to the reflectors in turn, each answered base + queue(send time)
// later, the controller stepped every 50 ms with the replies received by
// then and the requests still in flight, and told the rate the router has
// (the controller's rate, 30 ms after it changes).
type link struct {
	t     *testing.T
	c     *Controller
	now   time.Time
	base  time.Duration
	queue func(sent time.Time) time.Duration // queueing delay of a request sent then
	// up is the part of queue on the way out; with stamped, replies carry
	// their one-way delays (ICMP timestamps), the way out off by offset.
	up      func(sent time.Time) time.Duration
	stamped bool
	offset  time.Duration
	lost    func(sent time.Time) bool
	sends   []time.Time
	refl    []int
	done    []bool
	next    time.Time
	n       int
	// router: the rate it has and the write in flight
	applied, want [2]int64
	landAt        [2]time.Time
}

func newLink(t *testing.T, w *config.WAN) *link {
	l := &link{t: t, c: NewController(w), now: t0, base: 20 * ms, next: t0,
		queue: func(time.Time) time.Duration { return 0 }, lost: func(time.Time) bool { return false },
		up: func(time.Time) time.Duration { return 0 }}
	l.applied = [2]int64{l.c.Rate(false), l.c.Rate(true)}
	return l
}

// step advances 50 ms and runs one cycle.
func (l *link) step() Decision {
	l.now = l.now.Add(50 * ms)
	for !l.next.After(l.now) {
		l.sends = append(l.sends, l.next)
		l.refl = append(l.refl, l.n%len(l.c.refl))
		l.done = append(l.done, false)
		l.n++
		l.next = l.next.Add(50 * ms)
	}
	l.c.ResetPending()
	for i, s := range l.sends {
		if l.done[i] {
			continue
		}
		rtt := l.base + l.queue(s)
		switch {
		case l.lost(s):
			if l.now.Sub(s) >= time.Second {
				l.done[i] = true // timed out
			} else {
				l.c.Pending(l.refl[i], s)
			}
		case !s.Add(rtt).After(l.now) && l.stamped:
			up := l.base/2 + l.up(s) + l.offset
			l.c.ObserveOneWay(l.refl[i], rtt, up, rtt-up, s.Add(rtt))
			l.done[i] = true
		case !s.Add(rtt).After(l.now):
			l.c.Observe(l.refl[i], rtt, s.Add(rtt))
			l.done[i] = true
		default:
			l.c.Pending(l.refl[i], s)
		}
	}
	for d := range 2 {
		if !l.landAt[d].IsZero() && !l.landAt[d].After(l.now) {
			l.applied[d], l.landAt[d] = l.want[d], time.Time{}
		}
		l.c.SetApplied(d == 1, l.applied[d], l.now)
	}
	dec := l.c.Step(l.now)
	for d := range 2 {
		if r := dec.Dir(d == 1).Rate; r != l.applied[d] && r != l.want[d] {
			l.want[d], l.landAt[d] = r, l.now.Add(30*ms)
		}
	}
	return dec
}

func (l *link) steps(n int) Decision {
	var d Decision
	for range n {
		d = l.step()
	}
	return d
}

// A reply that comes back high is confirmed by the next request being
// late, without waiting for its reply; one odd reply is not.
func TestPendingConfirmsARisingDelay(t *testing.T) {
	w := instantWAN()
	at := func(ms_ int) time.Time { return t0.Add(time.Duration(ms_) * ms) }
	setup := func() *Controller {
		c := NewController(w)
		for i := range 4 {
			c.Observe(i, 20*ms, at(i*50+20))
		}
		c.Step(at(200))
		return c
	}

	// Request 0 sent at 280 came back 100 ms late at 400; request 1 sent
	// at 330 is still out at 420: at least 70 ms late. The median of the
	// newest: 70 (request 1), 100 (reply 0), 0 (reply 3).
	c := setup()
	c.Observe(0, 120*ms, at(400))
	c.ResetPending()
	c.Pending(1, at(330))
	c.Pending(2, at(405)) // just sent: says nothing
	if d := c.Step(at(420)); d.RawDelta != 70*ms {
		t.Fatalf("late request after a high reply: raw delta %v, want 70ms (the late request's bound)", d.RawDelta)
	}

	// The same reply, but the next request came back on time: one odd
	// reply moves nothing (median).
	c = setup()
	c.Observe(0, 120*ms, at(400))
	c.Observe(1, 21*ms, at(351))
	c.ResetPending()
	if d := c.Step(at(420)); d.RawDelta > ms {
		t.Fatalf("one high reply: raw delta %v", d.RawDelta)
	}

	// No reply shows the delay rising: unanswered requests are as likely
	// lost (an ICMP blackout loses them all) and do not count.
	c = setup()
	c.ResetPending()
	for k := range 6 {
		c.Pending(k%4, at(210+k*50))
	}
	if d := c.Step(at(500)); d.RawDelta != 0 {
		t.Fatalf("requests out while the replies are low: raw delta %v", d.RawDelta)
	}

	// A request older than the newest reply was lost (first in, first
	// out), not slow.
	c = setup()
	c.Observe(0, 120*ms, at(400))
	c.ResetPending()
	c.Pending(3, at(230))
	if d := c.Step(at(420)); d.RawDelta > ms {
		t.Fatalf("a request older than the newest reply counted: raw delta %v", d.RawDelta)
	}
}

// During an ICMP blackout the newest reply is a TCP connect: the ICMP
// requests out are lost, not late.
func TestPendingIgnoredDuringBlackout(t *testing.T) {
	w := instantWAN()
	w.Measurement.TCPFallback = []netip.AddrPort{netip.MustParseAddrPort("1.1.1.1:443")}
	c := NewController(w)
	now := t0
	for i := range 5 {
		c.Observe(i, 20*ms, now)
	}
	c.Step(now)
	c.Observe(4, 60*ms, now.Add(300*ms)) // TCP, 40 ms above its baseline: rising
	c.ResetPending()
	for k := range 5 {
		c.Pending(k%4, now.Add(time.Duration(260+k*50)*ms))
	}
	if d := c.Step(now.Add(600 * ms)); d.RawDelta != 40*ms {
		t.Fatalf("raw delta %v during a blackout, want the TCP reply's 40ms", d.RawDelta)
	}
}

// A queue growing at g ms per ms under the router's rate r means the
// capacity is r/(1+g): the cut goes below that at once, instead of
// factor_down per refractory.
func TestCapacityEstimateCut(t *testing.T) {
	w := testWAN()
	w.Download.Ceiling, w.Download.StepUp = 100e6, 2e6
	w.Download.Floor = config.Floors{Green: 5e6, Yellow: 4e6, SoftRed: 3e6, Red: 2e6}
	w.Upload.Floor = config.Floors{Green: 4e6, Yellow: 3e6, Red: 2e6}
	l := newLink(t, w)
	l.steps(40) // baselines
	// The capacity drops to 40M under 100M: the queue grows 1.5 ms per ms.
	drop := l.now
	l.queue = func(s time.Time) time.Duration {
		if s.Before(drop) {
			return 0
		}
		return time.Duration(1.5 * float64(s.Sub(drop)))
	}
	var d Decision
	for range 20 {
		if d = l.step(); d.Download.Action == Decrease {
			break
		}
	}
	if d.Download.Action != Decrease {
		t.Fatalf("no decrease within 1 s of the drop: %+v", d)
	}
	// r/(1+g) = 40M, minus a drain margin of 5..50 %; factor_down would
	// have given 90M.
	if r := d.Download.Rate; r > 40e6 || r < 20e6 {
		t.Fatalf("cut to %d bits/s, want 20M..40M (the estimated capacity minus a drain margin)", r)
	}
	if dl := l.now.Sub(drop); dl > 400*ms {
		t.Fatalf("decided %v after the drop", dl)
	}
}

// After a cut, the same zone decreases again only on evidence from after
// the router had it: replies to requests sent since, showing the queue not
// draining fast enough — not the replies still arriving from before.
func TestRepeatWaitsForEvidence(t *testing.T) {
	w := instantWAN()
	l := newLink(t, w)
	l.c.off |= RuleCapacityCut // factor_down moves only: the rule under test
	l.steps(40)
	// A standing queue of 300 ms appears (the rate is the capacity).
	jump := l.now
	l.queue = func(s time.Time) time.Duration {
		if s.Before(jump) {
			return 0
		}
		return 300 * ms
	}
	var cutAt time.Time
	var cutZone Zone
	var rates []int64
	for range 60 {
		d := l.step()
		if d.Download.Action == Decrease {
			if !cutAt.IsZero() && d.Download.Zone <= cutZone {
				// Replies to requests sent after the router had the
				// previous cut (30 ms after it) take 320 ms: never
				// sooner than 350 ms after it. (A worse zone acts at
				// once.)
				if gap := l.now.Sub(cutAt); gap < 350*ms {
					t.Fatalf("repeated decrease %v after the previous one (rates %v)", gap, rates)
				}
			}
			cutAt, cutZone = l.now, d.Download.Zone
			rates = append(rates, d.Download.Rate)
		}
	}
	if len(rates) < 3 {
		t.Fatalf("a standing queue must keep decreasing: %v", rates)
	}

	// The queue drains quickly after a cut: no repeat.
	l = newLink(t, w)
	l.c.off |= RuleCapacityCut
	l.steps(40)
	jump = l.now
	var cut time.Time
	l.queue = func(s time.Time) time.Duration {
		switch {
		case s.Before(jump):
			return 0
		case cut.IsZero() || s.Before(cut):
			return 300 * ms
		default:
			// Drains 0.5 ms per ms: still RED (> 80 ms) for 440 ms,
			// longer than the refractory.
			return max(0, 300*ms-s.Sub(cut)/2)
		}
	}
	n := 0
	var last Zone
	for range 40 {
		d := l.step()
		if d.Download.Action != Decrease {
			continue
		}
		if cut.IsZero() {
			cut = l.now.Add(30 * ms)
		} else if d.Download.Zone <= last {
			n++ // (SOFT_RED, then RED at once, is a worse zone)
		}
		last = d.Download.Zone
	}
	if n != 0 {
		t.Fatalf("%d repeated decreases while the queue drained at 0.5 ms/ms after the first", n)
	}
}

// GREEN stays within one increase of the router's rate: coalesced writes
// cannot land as one large jump. An increase is at most 25 % above the
// router's rate, or router_writes.min_change + 0.5 % when that is larger
// (a smaller one would never be written), and the same right after a
// decrease: there is no smaller first increase.
func TestClimbBoundedByTheRouter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		minChange float64
		jump      float64
	}{
		{"min_change 2 %", 0.02, 0.25},
		{"min_change 30 %", 0.30, 0.305},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := instantWAN()
			w.Measurement.Reflectors = w.Measurement.Reflectors[:1]
			w.RouterWrites.MinChange = tc.minChange
			c := NewController(w)
			now := t0
			c.Observe(0, 20*ms, now)
			c.SetApplied(false, 500e6, now)
			c.Restore(Snapshot{Download: DirSnapshot{Rate: 500e6}, Upload: DirSnapshot{Rate: 38e6}})
			step := func() Decision {
				now = now.Add(50 * ms)
				c.Observe(0, 20*ms, now)
				return c.Step(now)
			}
			limit := func(r int64) int64 { return min(w.Download.Ceiling, int64(float64(r)*(1+tc.jump))) }
			var d Decision
			for range 20 {
				d = step()
			}
			// The steps reach the limit and stay there until the router
			// has it.
			if want := limit(500e6); d.Download.Rate != want {
				t.Fatalf("rate %d with the router at 500M, want %d (+%.1f %%)", d.Download.Rate, want, 100*tc.jump)
			}
			r := d.Download.Rate
			c.SetApplied(false, r, now)
			if d = step(); d.Download.Rate != r+w.Download.StepUp {
				t.Fatalf("after the router took %d: %d, want one step_up more", r, d.Download.Rate)
			}

			// A decrease that leaves no estimate to return to (the delay
			// jumps and stands): the next increase may again reach the
			// limit above the router's rate, and so may the one after it.
			now = now.Add(50 * ms)
			c.Observe(0, 120*ms, now) // the delta jumps to 100 ms
			c.Observe(0, 120*ms, now)
			c.Observe(0, 120*ms, now)
			d = c.Step(now)
			if d.Download.Action != Decrease || c.dirs[0].capacity.est != 0 {
				t.Fatalf("no decrease without an estimate: %+v, estimate %d", d.Download, c.dirs[0].capacity.est)
			}
			for i := range 2 {
				r := d.Download.Rate
				c.SetApplied(false, r, now)
				for range 20 {
					d = step()
				}
				if want := limit(r); d.Download.Rate != want {
					t.Fatalf("increase %d after the decrease, from %d: %d, want %d (+%.1f %%)", i+1, r, d.Download.Rate, want, 100*tc.jump)
				}
			}
		})
	}
}

// After a cut that estimated the capacity, a rate below the estimate's
// hold level (90 % of it) returns to that level in one increase, however
// far above the router's rate (here +50 %), and no further.
func TestClimbReturnsToTheHoldLevel(t *testing.T) {
	h := newHarness(t, instantWAN())
	h.c.SetApplied(false, 300e6, h.now)
	h.c.SetApplied(true, 38e6, h.now)
	d := &h.c.dirs[0]
	d.rate, d.climb = 300e6, 300e6
	d.cut = cutState{done: true, at: h.now, landed: h.now, zone: Yellow, greenSince: true}
	d.capacity = capacityView{est: 500e6, hold: 450e6}
	for i := range 40 { // 2 s: the steps (15M a cycle) would reach 885M
		dec := h.cycle(0)
		if dec.Download.Rate > 450e6 {
			t.Fatalf("cycle %d: offers %d with the router at 300M, above the hold level 450M", i, dec.Download.Rate)
		}
	}
	if r := h.c.Rate(false); r != 450e6 {
		t.Fatalf("offers %d with the router at 300M, want the hold level 450M at once", r)
	}
}

// Jitter is not growth: with replies scattering by tens of milliseconds
// the growth estimate stays off, so a YELLOW moves by factor_down_yellow,
// not to an "estimated capacity".
func TestJitterIsNotGrowth(t *testing.T) {
	w := testWAN()
	l := newLink(t, w)
	// Exponential-looking jitter, deterministic: up to 40 ms, one value
	// per request (by its send time), as a real packet has one RTT.
	jit := []time.Duration{1, 30, 2, 12, 40, 3, 0, 22, 7, 15, 2, 35, 5, 9, 1, 25}
	l.queue = func(s time.Time) time.Duration { return jit[int(s.Sub(t0)/(50*ms))%len(jit)] * ms }
	lowest := int64(940e6)
	for range 600 {
		d := l.step()
		lowest = min(lowest, d.Download.Rate)
	}
	if g, _, ok := l.c.legs[0].est.capacityGrowth(l.now); ok && g > minGrowth {
		t.Errorf("growth %v from jitter", g)
	}
	if lowest < 800e6 {
		t.Errorf("jitter alone cut the rate to %d", lowest)
	}
}
