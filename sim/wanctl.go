package sim

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/ping"
)

// CeilingShare is the ceiling as a share of the line's real capacity: the
// configuration docs advise a ceiling of about 90 % of a speed test.
const CeilingShare = 0.9

// NominalCapacity is the capacity a WAN's line is assumed to have when
// nothing is wrong: each direction's ceiling / CeilingShare. The built-in
// scenarios vary the capacity around it.
func NominalCapacity(w *config.WAN) [2]int64 {
	return [2]int64{
		int64(float64(w.Download.Ceiling) / CeilingShare),
		int64(float64(w.Upload.Ceiling) / CeilingShare),
	}
}

// Wanctl is the production autorate code as a Policy: an autorate.Loop
// (Controller.Observe/Step, then each direction's WritePolicy deciding
// what to write, exactly as the daemon's cycle) fed with the simulator's
// ping replies, its rates written through the simulated router with the
// semantics of the daemon's writer goroutine (autorate.Writer): the newest
// desired rate per queue wins, at most one request is in flight per router,
// a decrease (or a first write) goes before an increase, otherwise the
// queues take turns. The loop never waits for the router.
//
// The loop's load signal is the daemon's counter reads
// (autorate.LoadReader) as the simulator plays them: see counters.
//
// The replies' reflector indexes map to the WAN's measurement.reflectors
// (tcp_fallback for TCP replies) in order, so the Options must have as many
// of each (OptionsFromWAN).
type Wanctl struct {
	loop      *autorate.Loop
	targets   []netip.Addr
	fallbacks []netip.Addr
	meas      measurer
	load      counters
	w         Writer
	onCycle   func(time.Time, autorate.Decision)

	slots    [2]writeSlot
	inflight bool
	cur      Dir
	curBps   int64
	next     int
	done     func(error) // bound once: no allocation per write
}

type writeSlot struct {
	want, written int64
	pending       bool
}

// measurer hands the tick's replies and the echoes in flight to the loop
// (autorate.Measurer, autorate.PendingSource).
type measurer struct {
	buf  []ping.Reply
	pend []ping.Pending
}

func (m *measurer) PendingInto(dst []ping.Pending) []ping.Pending { return append(dst, m.pend...) }

func (m *measurer) Drain(dst []ping.Reply) []ping.Reply {
	dst = append(dst, m.buf...)
	m.buf = m.buf[:0]
	return dst
}

// counters are the daemon's reads of the WAN's queue byte counters
// (autorate.LoadReader), for the loop (autorate.LoadSource): a read is due
// at the first tick, then autorate.LoadReadInterval after the last one
// fell due (autorate.LoadReadIntervalBusy while the loop's LoadBusy); it starts at the
// first tick from then with no write in flight or pending (writes first,
// as the daemon's writer), carries the bytes the shaper has passed at that
// tick (Input.ShapedBits / 8), and answers Options.WriteLatency later, the
// GET's duration: its reading is stamped with that arrival and reaches the
// loop at the first tick from then. A read due while one is waiting or in
// flight is the same read. Not modelled: the router is busy during a read,
// so a write submitted meanwhile would wait for it (at most one
// WriteLatency, at most 4 reads per second); the simulated router queues
// writes only.
type counters struct {
	latency  time.Duration
	last0    time.Time // when the last read fell due (zero: none yet)
	due      bool      // due and not started: a write is in flight or pending
	inflight bool
	arrive   time.Time // when the read in flight answers
	sample   [2]uint64 // the bytes it carries
	last     [2]autorate.LoadReading
}

// Load implements autorate.LoadSource.
func (c *counters) Load() [2]autorate.LoadReading { return c.last }

// deliver hands over the reading of a read answered by now.
func (c *counters) deliver(now time.Time) {
	if c.inflight && !now.Before(c.arrive) {
		c.inflight = false
		for d := range c.last {
			c.last[d] = autorate.LoadReading{Bytes: c.sample[d], At: c.arrive}
		}
	}
}

// poll makes a read due at the calm or busy interval after the last (as
// autorate.LoadReader.Poll after each cycle) and starts one that is due
// unless writes are busy.
func (c *counters) poll(now time.Time, bits [2]float64, writesBusy, busy bool) {
	iv := autorate.LoadReadInterval
	if busy {
		iv = autorate.LoadReadIntervalBusy
	}
	if c.last0.IsZero() || !now.Before(c.last0.Add(iv)) {
		c.last0 = now
		c.due = c.due || !c.inflight
	}
	if c.due && !c.inflight && !writesBusy {
		c.due, c.inflight = false, true
		c.arrive = now.Add(c.latency)
		for d := range c.sample {
			c.sample[d] = uint64(bits[d] / 8)
		}
	}
}

// routerModel is implemented by policies that model the router's request
// time (newEngine tells them Options.WriteLatency).
type routerModel interface {
	setRequestLatency(d time.Duration)
}

func (a *Wanctl) setRequestLatency(d time.Duration) { a.load.latency = d }

// sink receives the rates the write policy lets through (autorate.RateSink).
type sink struct {
	a *Wanctl
	d Dir
}

func (s sink) Set(bps int64) { s.a.set(s.d, bps) }

// Status reports the rate the simulated router last accepted, as the
// daemon's writer slot does: the loop tells the controller what the
// router has.
func (s sink) Status() autorate.SlotStatus {
	return autorate.SlotStatus{Written: s.a.slots[s.d].written}
}

// NewWanctl builds the production loop for w, starting from the
// controller's initial state (both directions at their ceilings, as apply
// creates the queues).
func NewWanctl(w *config.WAN) (*Wanctl, error) {
	if w == nil || len(w.Measurement.Reflectors) == 0 {
		return nil, fmt.Errorf("simulator: the WAN needs at least one reflector")
	}
	a := &Wanctl{targets: w.Measurement.Reflectors}
	a.load.latency = Options{}.WithDefaults().WriteLatency // until newEngine says
	for _, f := range w.Measurement.TCPFallback {
		a.fallbacks = append(a.fallbacks, f.Addr())
	}
	a.meas.buf = make([]ping.Reply, 0, 256)
	a.meas.pend = make([]ping.Pending, 0, 256)
	a.done = a.completed
	a.loop = autorate.NewLoop(autorate.LoopConfig{
		WAN:      w,
		Measurer: &a.meas,
		Download: sink{a, Download},
		Upload:   sink{a, Upload},
		Load:     &a.load,
	})
	return a, nil
}

// OnCycle registers f to see every cycle's decision (timelines, plots).
func (a *Wanctl) OnCycle(f func(now time.Time, d autorate.Decision)) { a.onCycle = f }

// Loop returns the production loop (its controller, write policies and
// status).
func (a *Wanctl) Loop() *autorate.Loop { return a.loop }

// Tick implements Policy: one control cycle of the daemon.
func (a *Wanctl) Tick(in Input, w Writer) {
	a.w = w
	for _, r := range in.Replies {
		list := a.targets
		if r.TCP {
			list = a.fallbacks
		}
		if r.Reflector < 0 || r.Reflector >= len(list) {
			continue
		}
		a.meas.buf = append(a.meas.buf, ping.Reply{Target: list[r.Reflector], RTT: r.RTT, At: r.At, TCP: r.TCP, Stamped: r.Stamped, Up: r.Up})
	}
	a.meas.pend = a.meas.pend[:0]
	for _, o := range in.Outstanding {
		if o.Reflector >= 0 && o.Reflector < len(a.targets) {
			a.meas.pend = append(a.meas.pend, ping.Pending{Target: a.targets[o.Reflector], Sent: o.Sent})
		}
	}
	a.load.deliver(in.Now)
	d := a.loop.Cycle(in.Now)
	a.dispatch() // a failed write is retried at the next cycle
	a.load.poll(in.Now, in.ShapedBits, a.inflight || a.slots[Download].pending || a.slots[Upload].pending, a.loop.LoadBusy(in.Now))
	if a.onCycle != nil {
		a.onCycle(in.Now, d)
	}
}

func (a *Wanctl) set(d Dir, bps int64) {
	s := &a.slots[d]
	s.want = bps
	s.pending = bps != s.written
	a.dispatch()
}

// dispatch sends the next pending rate unless a request is in flight.
func (a *Wanctl) dispatch() {
	if a.inflight || a.w == nil {
		return
	}
	pick := -1
	for i := range 2 {
		d := (a.next + i) % 2
		s := &a.slots[d]
		if !s.pending {
			continue
		}
		if s.written == 0 || s.want < s.written {
			pick = d
			break
		}
		if pick < 0 {
			pick = d
		}
	}
	if pick < 0 {
		return
	}
	a.next = (pick + 1) % 2
	a.inflight, a.cur, a.curBps = true, Dir(pick), a.slots[pick].want
	a.w.Submit(a.cur, a.curBps, a.done)
}

func (a *Wanctl) completed(err error) {
	a.inflight = false
	if err == nil {
		s := &a.slots[a.cur]
		s.written = a.curBps
		s.pending = s.want != a.curBps
		a.dispatch()
	}
}
