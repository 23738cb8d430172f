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
	lost  func(sent time.Time) bool
	sends []time.Time
	refl  []int
	done  []bool
	next  time.Time
	n     int
	// router: the rate it has and the write in flight
	applied, want [2]int64
	landAt        [2]time.Time
}

func newLink(t *testing.T, w *config.WAN) *link {
	l := &link{t: t, c: NewController(w), now: t0, base: 20 * ms, next: t0,
		queue: func(time.Time) time.Duration { return 0 }, lost: func(time.Time) bool { return false }}
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
	l.c.est.noCapacity = true // factor_down moves only: the rule under test
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
	l.c.est.noCapacity = true
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
// cannot land as one large jump. After a decrease the increases start at
// firstJump (4 %) and grow by jumpGrowth (x1.3) with each one that lands,
// and (no capacity estimate here) by rampGrowth (x1.5) more with each one
// that holds calmly for half an increase_interval.
func TestClimbBoundedByTheRouter(t *testing.T) {
	w := instantWAN()
	w.Measurement.Reflectors = w.Measurement.Reflectors[:1]
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
	var d Decision
	for range 20 {
		d = step()
	}
	// No decrease yet: the first increase may reach 25 % above the
	// router's rate, and stays there until the router has it.
	if d.Download.Rate != 625e6 {
		t.Fatalf("rate %d with the router at 500M, want 625M (+25 %%)", d.Download.Rate)
	}
	c.SetApplied(false, 625e6, now)
	if d = step(); d.Download.Rate != 640e6 {
		t.Fatalf("after the router took 625M: %d, want one step_up more", d.Download.Rate)
	}

	// A decrease: the next increases are +4 %, then +7.8 % (it held).
	now = now.Add(50 * ms)
	c.Observe(0, 120*ms, now) // the delta jumps to 100 ms
	c.Observe(0, 120*ms, now)
	c.Observe(0, 120*ms, now)
	d = c.Step(now)
	if d.Download.Action != Decrease {
		t.Fatalf("no decrease: %+v", d.Download)
	}
	r := d.Download.Rate
	c.SetApplied(false, r, now)
	for range 20 {
		d = step()
		c.SetApplied(false, r, now)
	}
	if want := int64(float64(r) * (1 + firstJump)); d.Download.Rate != want {
		t.Fatalf("first increase after a decrease: %d, want %d (+%.0f %%)", d.Download.Rate, want, 100*firstJump)
	}
	r = d.Download.Rate
	c.SetApplied(false, r, now)
	for range 20 {
		d = step()
	}
	if want := int64(float64(r) * (1 + firstJump*jumpGrowth*rampGrowth)); d.Download.Rate != want {
		t.Fatalf("second increase: %d, want %d (+%.1f %%)", d.Download.Rate, want, 100*firstJump*jumpGrowth*rampGrowth)
	}
}

// A mild bloat right after only the other direction raised its rate is
// that direction's probe: this one holds.
func TestYellowBlamesTheOtherDirectionsProbe(t *testing.T) {
	h := newHarness(t, instantWAN())
	h.c.SetApplied(false, 940e6, h.now)
	h.c.SetApplied(true, 30e6, h.now)
	h.cycles(2, 0)
	h.c.SetApplied(true, 31e6, h.now) // the upload's probe lands
	d := h.cycles(4, 20*ms)           // YELLOW after the dwell
	if d.Download.Zone != Yellow || d.Upload.Zone != Yellow {
		t.Fatalf("setup %+v", d)
	}
	if d.Download.Rate != 940e6 {
		t.Fatalf("download cut for the upload's probe: %+v", d.Download)
	}
	if d.Upload.Rate >= 38e6 {
		t.Fatalf("upload not cut: %+v", d.Upload)
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
	if g, _, ok := l.c.est.capacityGrowth(l.now); ok && g > minGrowth {
		t.Errorf("growth %v from jitter", g)
	}
	if lowest < 800e6 {
		t.Errorf("jitter alone cut the rate to %d", lowest)
	}
}

// Silence never raises: an increase not written yet is dropped, and one
// that landed without a reply showing the link carries it is undone (it
// could be a probe's overshoot, held for as long as the silence lasts), and
// so is one that replies confirmed while the delay grew under it (a small
// overshoot: the queue grows for a while before it passes target_bloat;
// icmp-blackout, seed 13). One that replies confirmed with a flat delay is
// held.
func TestSilenceUndoesUnconfirmedIncreases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after []time.Duration // replies' deltas after the increase landed
		want  int64
	}{
		{"unconfirmed", nil, 500e6},
		{"confirmed", []time.Duration{0, 0}, 515e6},
		{"confirmed while the delay grew", []time.Duration{2 * ms, 4 * ms, 6 * ms}, 500e6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, instantWAN())
			h.c.SetApplied(false, 500e6, h.now)
			h.c.Restore(Snapshot{Download: DirSnapshot{Rate: 500e6}, Upload: DirSnapshot{Rate: 38e6}})
			h.cycles(5, 0) // GREEN: the rate climbs ahead of the router
			if h.c.Rate(false) <= 500e6 {
				t.Fatalf("setup: no climb (%d)", h.c.Rate(false))
			}
			h.c.SetApplied(false, 515e6, h.now) // the increase lands
			for _, delta := range tc.after {
				if d := h.cycle(delta); d.Download.Zone != Green {
					t.Fatalf("setup left GREEN: %+v", d.Download)
				}
			}
			d := h.silence(11) // the replies go stale: no signal
			if d.Download.Rate != tc.want {
				t.Errorf("%d in silence, want %d", d.Download.Rate, tc.want)
			}
			held := d.Download.Rate
			if d = h.silence(100); d.Download.Rate != held {
				t.Errorf("silence moved the rate on: %d -> %d", held, d.Download.Rate)
			}
		})
	}
}

// The other direction's probe is told from a queue of this direction's own
// by when the growth started: only a queue that starts growing as that
// probe lands is the probe's; one that starts most of a second later is
// not, though the probe is recent.
func TestYellowDatesTheOtherDirectionsProbe(t *testing.T) {
	const g = 0.05 // ms of delay per ms: an overshoot by 5 %
	for _, c := range []struct {
		name       string
		probeLands time.Duration // before the queue starts to grow
		blamed     bool
	}{
		{"the queue starts as the upload's probe lands", 0, true},
		{"the queue starts 900 ms after the upload's probe", 900 * ms, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, instantWAN())
			h.c.est.noCapacity = false
			h.c.SetApplied(false, 940e6, h.now)
			h.c.SetApplied(true, 30e6, h.now)
			h.cycles(40, 0) // 2 s calm
			onset := h.now.Add(time.Second)
			probe := onset.Add(-c.probeLands)
			var d Decision
			for range 40 {
				h.now = h.now.Add(50 * ms)
				if !h.now.Before(probe) && h.c.dirs[1].applied == 30e6 {
					h.c.SetApplied(true, 31e6, h.now) // +3.3 %
				}
				// The delay of a request sent at s is g × (s - onset): solved
				// for the reply arriving now.
				x := max(0, float64(h.now.Sub(onset)-h.base)) * g / (1 + g)
				for i := range h.c.refl {
					h.c.Observe(i, h.base+time.Duration(x), h.now)
				}
				d = h.c.Step(h.now)
				if d.Download.Zone == Yellow {
					break
				}
			}
			if d.Download.Zone != Yellow {
				t.Fatalf("setup: no YELLOW %+v", d)
			}
			if held := d.Download.Rate == 940e6; held != c.blamed {
				t.Errorf("download %d (held: %v), want held %v", d.Download.Rate, held, c.blamed)
			}
		})
	}
}

// A small standing queue has a level but no scatter: it does not raise the
// jitter that growth and late requests must clear. Random delay on every
// reply does.
func TestStandingQueueIsNotJitter(t *testing.T) {
	for _, c := range []struct {
		name     string
		queue    func(sent time.Time) time.Duration
		min, max time.Duration
	}{
		{"standing 10 ms", func(time.Time) time.Duration { return 10 * ms }, 0, ms},
		{"alternating 0 and 8 ms", func(s time.Time) time.Duration {
			return time.Duration(int(s.Sub(t0)/(50*ms))%2) * 8 * ms
		}, 3 * ms, 5 * ms},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLink(t, testWAN())
			l.steps(20) // baselines
			l.queue = c.queue
			l.steps(1200) // 60 s: the 10 s means settle
			if n := time.Duration(l.c.est.noise); n < c.min || n > c.max {
				t.Errorf("jitter %v, want %v..%v", n, c.min, c.max)
			}
		})
	}
}
