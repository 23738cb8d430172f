package autorate

import (
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/ping"
)

// oneReply is a measurer answering one reflector per Drain, round-robin
// (20 pings/s at a 50 ms cycle), with per-target counters like a Stream.
type oneReply struct {
	refl  []netip.Addr
	i     int
	now   time.Time
	rtt   time.Duration
	stats ping.Stats
}

func (m *oneReply) Drain(dst []ping.Reply) []ping.Reply {
	a := m.refl[m.i%len(m.refl)]
	m.i++
	return append(dst, ping.Reply{Target: a, RTT: m.rtt, At: m.now})
}

func (m *oneReply) StatsInto(dst *ping.Stats) {
	if m.stats.Targets == nil {
		for _, a := range m.refl {
			m.stats.Targets = append(m.stats.Targets, ping.TargetStats{Target: a})
		}
	}
	m.stats.Targets[m.i%len(m.refl)].Sent++
	m.stats.Targets[m.i%len(m.refl)].Replies++
	dst.Targets = append(dst.Targets[:0], m.stats.Targets...)
	dst.Fallback = dst.Fallback[:0]
	dst.Blackout = false
}

type countSink struct {
	n    int
	last int64
}

func (s *countSink) Set(bps int64) { s.n++; s.last = bps }

type persisted struct {
	s         State
	heartbeat bool
}

func TestLoopCycle(t *testing.T) {
	w := testWAN()
	m := &oneReply{refl: w.Measurement.Reflectors, rtt: 20 * ms}
	var down, up countSink
	var got []persisted
	l := NewLoop(LoopConfig{WAN: w, Measurer: m, Download: &down, Upload: &up, Metrics: NewMetrics().WAN(w),
		Persist: func(s State, heartbeat bool) { got = append(got, persisted{s, heartbeat}) }})
	now := t0
	run := func(cycles int) []persisted {
		n := len(got)
		for range cycles {
			now = now.Add(50 * ms)
			m.now = now
			l.Cycle(now)
		}
		return got[n:]
	}
	// at checks what was persisted: the times (ms after t0) of the
	// contents (c) and heartbeats (h).
	at := func(ps []persisted, want string) {
		t.Helper()
		var b strings.Builder
		for _, p := range ps {
			kind := "c"
			if p.heartbeat {
				kind = "h"
			}
			fmt.Fprintf(&b, "%s%d ", kind, p.s.Timestamp.Sub(t0).Milliseconds())
		}
		if strings.TrimSpace(b.String()) != want {
			t.Fatalf("persisted %q, want %q", b.String(), want)
		}
	}
	// 10 s idle: the contents once, then a heartbeat every 2 s.
	at(run(20*10), "c50 h2050 h4050 h6050 h8050")
	if down.n != 1 || down.last != 940e6 || up.n != 1 {
		t.Fatalf("idle writes: %d %d", down.n, up.n)
	}
	// A change is saved at once when the contents were last written more
	// than a second ago (a heartbeat is no write of them), then at most
	// once per second: the heartbeat at 10.05 s is still GREEN, the bloat
	// is seen at 10.1 s, the next decrease saved at 11.1 s.
	m.rtt = 400 * ms
	ps := run(25)
	at(ps, "h10050 c10100 c11100")
	if ps[0].s.Download.Zone != Green || ps[1].s.Download.Zone == Green || ps[2].s.Download.Rate >= ps[1].s.Download.Rate {
		t.Fatalf("saves after a change: %+v", ps)
	}
	st := l.Status()
	if st.Decision.Download.Zone != Red || st.Decision.Fresh != 4 || st.Decision.Download.Rate != down.last {
		t.Fatalf("status %+v sink %d", st, down.last)
	}
	// Idle again: the contents are rewritten every 30 s even when nothing
	// the key covers changes (the baselines drift).
	m.rtt = 20 * ms
	run(20 * 20) // back to GREEN and up to the ceiling
	var contents []time.Duration
	for _, p := range run(20 * 70) {
		if !p.heartbeat {
			contents = append(contents, p.s.Timestamp.Sub(t0))
		}
	}
	if len(contents) < 2 || contents[len(contents)-1]-contents[len(contents)-2] != persistRefresh {
		t.Fatalf("contents written at %v, want the last two %v apart", contents, persistRefresh)
	}

}

func benchLoop(b *testing.B, persist bool) {
	w := testWAN()
	m := &oneReply{refl: w.Measurement.Reflectors, rtt: 20 * ms}
	wr := NewWriter("edge", nil, WriterConfig{}) // not running: Set only stores
	cfg := LoopConfig{WAN: w, Measurer: m, Download: wr.Queue("d"), Upload: wr.Queue("u"), Metrics: NewMetrics().WAN(w)}
	if persist {
		cfg.Persist = func(State, bool) {}
	}
	l := NewLoop(cfg)
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(50 * ms)
		m.now = now
		m.rtt = 20*ms + time.Duration(i%40)*ms // moves through the zones
		l.Cycle(now)
	}
}

// BenchmarkCycle is one whole driver cycle: drain, observe, step, write
// policy, sink, metrics, status; with the state snapshot every 1-2 s of
// virtual time (amortised) or without persistence.
func BenchmarkCycle(b *testing.B) {
	b.Run("persist", func(b *testing.B) { benchLoop(b, true) })
	b.Run("no-persist", func(b *testing.B) { benchLoop(b, false) })
}

// scripted hands the loop the replies and requests in flight it is given.
type scripted struct {
	replies []ping.Reply
	pending []ping.Pending
	calls   int
}

func (m *scripted) Drain(dst []ping.Reply) []ping.Reply {
	dst = append(dst, m.replies...)
	m.replies = m.replies[:0]
	return dst
}

func (m *scripted) PendingInto(dst []ping.Pending) []ping.Pending {
	m.calls++
	return append(dst, m.pending...)
}

// A measurer that reports its requests in flight (a ping.Stream) has them
// passed to the controller every cycle, without allocating.
func TestLoopPassesPendingRequests(t *testing.T) {
	w := testWAN()
	w.Thresholds.LoadTimeConstant = time.Nanosecond
	m := &scripted{}
	l := NewLoop(LoopConfig{WAN: w, Measurer: m})
	r := w.Measurement.Reflectors
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for i, a := range r {
		m.replies = append(m.replies, ping.Reply{Target: a, RTT: 20 * ms, At: at(time.Duration(i*50+20) * ms)})
	}
	l.Cycle(at(200 * ms))
	// A reply 100 ms late, and the next request out for 90 ms: at least
	// 70 ms late.
	m.replies = append(m.replies, ping.Reply{Target: r[0], RTT: 120 * ms, At: at(400 * ms)})
	m.pending = []ping.Pending{{Target: r[1], Sent: at(330 * ms)}}
	if d := l.Cycle(at(420 * ms)); d.RawDelta != 70*ms || m.calls != 2 {
		t.Fatalf("raw delta %v after %d PendingInto calls, want 70ms (the late request) and 2", d.RawDelta, m.calls)
	}
	// The request answered: nothing in flight any more.
	m.pending = nil
	m.replies = append(m.replies, ping.Reply{Target: r[1], RTT: 21 * ms, At: at(351 * ms)})
	if d := l.Cycle(at(450 * ms)); d.RawDelta > ms {
		t.Fatalf("raw delta %v once the request came back on time", d.RawDelta)
	}
	m.pending = []ping.Pending{{Target: r[2], Sent: at(430 * ms)}}
	now := at(450 * ms)
	if n := testing.AllocsPerRun(100, func() { now = now.Add(50 * ms); l.Cycle(now) }); n != 0 {
		t.Errorf("a cycle with requests in flight allocates %v times", n)
	}
}

// With timestamps the metrics show, per reflector, the replies that carried
// one-way delays and the reflectors that ignore timestamp requests.
func TestLoopTimestampMetrics(t *testing.T) {
	w := testWAN()
	w.Measurement.Timestamps = true
	m := &oneReply{refl: w.Measurement.Reflectors, rtt: 20 * ms}
	m.stats.Targets = make([]ping.TargetStats, len(m.refl))
	for i, a := range m.refl {
		m.stats.Targets[i] = ping.TargetStats{Target: a, Stamped: 3}
	}
	m.stats.Targets[1].Echo, m.stats.Targets[1].Stamped = true, 0
	met := NewMetrics()
	l := NewLoop(LoopConfig{WAN: w, Measurer: m, Download: &countSink{}, Upload: &countSink{}, Metrics: met.WAN(w)})
	m.now = t0.Add(50 * ms)
	l.Cycle(m.now)
	m.stats.Targets[0].Stamped = 7
	m.now = m.now.Add(50 * ms)
	l.Cycle(m.now)
	r0, r1 := m.refl[0].String(), m.refl[1].String()
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"stamped " + r0, testutil.ToFloat64(met.stamped.WithLabelValues(w.Name, r0)), 7},
		{"stamped " + r1, testutil.ToFloat64(met.stamped.WithLabelValues(w.Name, r1)), 0},
		{"ignored " + r0, testutil.ToFloat64(met.echoFallback.WithLabelValues(w.Name, r0)), 0},
		{"ignored " + r1, testutil.ToFloat64(met.echoFallback.WithLabelValues(w.Name, r1)), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, c := range []prometheus.Collector{met.stamped, met.echoFallback} {
		if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
			t.Errorf("lint: %v %v", problems, err)
		}
	}
}

// stampedReplies answers every reflector each Drain with a timestamp reply
// of the current RTT, way out and hold.
type stampedReplies struct {
	refl          []netip.Addr
	now           time.Time
	rtt, up, hold time.Duration
}

func (m *stampedReplies) Drain(dst []ping.Reply) []ping.Reply {
	for _, a := range m.refl {
		dst = append(dst, ping.Reply{Target: a, RTT: m.rtt, At: m.now, Stamped: true, Up: m.up, Hold: m.hold})
	}
	return dst
}

// The loop hands timestamp replies to the controller leg by leg: a longer
// way out shows in the upload's delta alone, and the time a reflector held
// a request (Hold) in neither.
func TestLoopOneWayReplies(t *testing.T) {
	w := testWAN()
	w.Measurement.Timestamps = true
	m := &stampedReplies{refl: w.Measurement.Reflectors, rtt: 30 * ms, up: 12 * ms}
	l := NewLoop(LoopConfig{WAN: w, Measurer: m, Download: &countSink{}, Upload: &countSink{}})
	cycles := func(n int) Decision {
		var d Decision
		for range n {
			m.now = m.now.Add(50 * ms)
			d = l.Cycle(m.now)
		}
		return d
	}
	m.now = t0
	cycles(20) // baselines
	m.rtt, m.hold = 50*ms, 20*ms
	if d := cycles(10); d.Download.Delta != 0 || d.Upload.Delta != 0 {
		t.Fatalf("a reflector holding requests 20 ms: deltas %v down, %v up, want none", d.Download.Delta, d.Upload.Delta)
	}
	m.rtt, m.up = 70*ms, 32*ms
	d := cycles(40) // the loaded delta's 250 ms rise, many times over
	if d.Download.Delta != 0 || d.Upload.Delta < 19*ms || d.Upload.Delta > 20*ms {
		t.Fatalf("the way out 20 ms longer: deltas %v down, %v up, want 0 and 20ms", d.Download.Delta, d.Upload.Delta)
	}
}
