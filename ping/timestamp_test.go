package ping

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// tsReplyPkt crafts a timestamp reply as a reflector sends it (checksum
// included, no IP header).
func tsReplyPkt(id, seq uint16, originate, receive, transmit uint32) []byte {
	b := make([]byte, timestampLen)
	b[0] = icmpv4TimestampReply
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	binary.BigEndian.PutUint32(b[8:12], originate)
	binary.BigEndian.PutUint32(b[12:16], receive)
	binary.BigEndian.PutUint32(b[16:20], transmit)
	binary.BigEndian.PutUint16(b[2:4], checksum(b))
	return b
}

// utc is a time of day on a fixed date.
func utc(h, m, s, ns int) time.Time { return time.Date(2025, 3, 14, h, m, s, ns, time.UTC) }

func TestBuildParseTimestamp(t *testing.T) {
	var buf [64]byte
	const id, seq, orig = 0xbeef, 0x1234, 43_200_123
	b := buildTimestamp(buf[:], id, seq, orig)
	if len(b) != 20 {
		t.Fatalf("request is %d bytes, want 20", len(b))
	}
	if checksum(b) != 0 {
		t.Fatalf("checksum does not verify: %x", b)
	}
	// x/net/icmp computes the checksum independently.
	body := make([]byte, 16)
	binary.BigEndian.PutUint16(body[0:], id)
	binary.BigEndian.PutUint16(body[2:], seq)
	binary.BigEndian.PutUint32(body[4:], orig)
	want, err := (&icmp.Message{Type: ipv4.ICMPTypeTimestamp, Body: &icmp.RawBody{Data: body}}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("request %x, want %x", b, want)
	}
	// Leftovers from a longer packet in the buffer do not leak in.
	buildEcho(buf[:], false, 1, 2, testMagic, 3)
	if b := buildTimestamp(buf[:], id, seq, orig); !bytes.Equal(b, want) {
		t.Fatalf("request over an echo %x, want %x", b, want)
	}

	// The reflector's answer: type 14, its stamps, checksum recomputed.
	r := append([]byte(nil), b...)
	r[0] = icmpv4TimestampReply
	binary.BigEndian.PutUint32(r[12:], 43_200_130)
	binary.BigEndian.PutUint32(r[16:], 43_200_131)
	r[2], r[3] = 0, 0
	binary.BigEndian.PutUint16(r[2:], checksum(r))
	m, ok := parseTimestampReply(r)
	if !ok || m != (tsReply{id: id, seq: seq, originate: orig, receive: 43_200_130, transm: 43_200_131}) {
		t.Fatalf("parsed %+v %v", m, ok)
	}
	// Trailing padding is allowed (covered by the checksum).
	if _, ok := parseTimestampReply(append(tsReplyPkt(1, 2, 3, 4, 5), 0, 0, 0, 0)); !ok {
		t.Fatal("padded reply refused")
	}
	for name, bad := range map[string][]byte{
		"truncated":    r[:19],
		"empty":        nil,
		"request":      b,
		"code 1":       func() []byte { x := append([]byte(nil), r...); x[1] = 1; return x }(),
		"bad checksum": func() []byte { x := append([]byte(nil), r...); x[19] ^= 1; return x }(),
	} {
		if m, ok := parseTimestampReply(bad); ok {
			t.Errorf("%s: parsed %+v", name, m)
		}
	}
}

func TestOriginateStamp(t *testing.T) {
	cases := []struct {
		at   time.Time
		want uint32
	}{
		{utc(0, 0, 0, 0), 0},
		{utc(0, 0, 0, 999_999), 0},
		{utc(10, 0, 0, 1_000_000), 36_000_001},
		{utc(23, 59, 59, 999_999_999), 86_399_999},
		{time.Date(2025, 3, 14, 1, 0, 0, 0, time.FixedZone("CET", 3600)), 0}, // midnight UTC
	}
	for _, c := range cases {
		if got := originateStamp(c.at); got != c.want {
			t.Errorf("originate at %v = %d, want %d", c.at, got, c.want)
		}
	}
}

func TestOneWay(t *testing.T) {
	const ms = time.Millisecond
	cases := []struct {
		name              string
		sent              time.Time
		receive, transmit uint32
		up, hold          time.Duration
		stamped           bool
	}{
		{"same clock, same millisecond", utc(10, 0, 0, 300_000), 36_000_000, 36_000_000, -300 * time.Microsecond, 0, true},
		{"12 ms out", utc(10, 0, 0, 300_000), 36_000_012, 36_000_012, 11_700 * time.Microsecond, 0, true},
		{"held 5 ms", utc(10, 0, 0, 0), 36_000_002, 36_000_007, 2 * ms, 5 * ms, true},
		{"remote clock 3 s behind", utc(10, 0, 0, 0), 35_997_010, 35_997_010, -2990 * ms, 0, true},
		{"sent before midnight, received after", utc(23, 59, 59, 995_000_000), 3, 3, 8 * ms, 0, true},
		{"sent after midnight, remote clock behind", utc(0, 0, 0, 2_000_000), 86_399_998, 86_399_998, -4 * ms, 0, true},
		{"held across midnight", utc(23, 59, 59, 999_000_000), 86_399_999, 1, 0, 2 * ms, true},
		{"clocks 12 h apart: the lower bound", utc(0, 0, 0, 0), 43_200_000, 43_200_000, -12 * time.Hour, 0, true},
		{"clocks just under 12 h apart", utc(0, 0, 0, 0), 43_199_999, 43_199_999, 12*time.Hour - ms, 0, true},
		{"non-standard receive", utc(10, 0, 0, 0), 1<<31 | 36_000_000, 36_000_000, 0, 0, false},
		{"non-standard transmit", utc(10, 0, 0, 0), 36_000_000, 1<<31 | 36_000_000, 0, 0, false},
		{"receive beyond one day", utc(10, 0, 0, 0), 86_400_000, 86_400_000, 0, 0, false},
		{"transmit before receive", utc(10, 0, 0, 0), 36_000_010, 36_000_009, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up, hold, ok := oneWay(c.sent, c.receive, c.transmit)
			if ok != c.stamped || up != c.up || hold != c.hold {
				t.Errorf("oneWay = up %v hold %v stamped %v, want %v %v %v", up, hold, ok, c.up, c.hold, c.stamped)
			}
		})
	}
}

func TestWrapDay(t *testing.T) {
	h := time.Hour
	for _, c := range []struct{ in, want time.Duration }{
		{0, 0}, {11 * h, 11 * h}, {12 * h, -12 * h}, {-12 * h, -12 * h}, {13 * h, -11 * h},
		{-13 * h, 11 * h}, {24*h + time.Second, time.Second}, {-24*h - time.Second, -time.Second},
	} {
		if got := wrapDay(c.in); got != c.want {
			t.Errorf("wrapDay(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// registerTS registers a timestamp request as the socket does.
func registerTS(t testing.TB, d *demux, target netip.Addr, owner sink, tag int) sent {
	t.Helper()
	seq, token, at, err := d.register(target, owner, tag, time.Minute, true)
	if err != nil {
		t.Fatal(err)
	}
	if token != uint64(originateStamp(at)) {
		t.Fatalf("token %d is not the originate stamp %d of %v", token, originateStamp(at), at)
	}
	return sent{seq, token, at}
}

func TestDemuxTimestampReply(t *testing.T) {
	const id = 0xbeef
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	d := newDemux(false, true, id, testMagic)
	rec := &recorder{}
	r := registerTS(t, d, a, rec, 2)
	e := register(t, d, a, rec, 3, time.Minute) // an echo request alongside
	orig := uint32(r.token)
	recv := originateStamp(r.at) + 7
	reply := func(id, seq uint16, orig, recv, xmit uint32) []byte {
		return withIPv4Header(t, a, tsReplyPkt(id, seq, orig, recv, xmit))
	}
	cases := []struct {
		name string
		pkt  []byte
		src  netip.Addr
		want verdict
	}{
		{"other id", reply(id+1, r.seq, orig, recv, recv), a, otherID},
		{"originate mismatch", reply(id, r.seq, orig+1, recv, recv), a, unknownSeq},
		{"unknown seq", reply(id, r.seq+100, orig, recv, recv), a, unknownSeq},
		{"timestamp reply to an echo request", reply(id, e.seq, uint32(e.token), recv, recv), a, unknownSeq},
		{"echo reply to a timestamp request", withIPv4Header(t, a, echoReply(t, false, id, r.seq, testMagic, r.token)), a, unknownSeq},
		{"wrong source", reply(id, r.seq, orig, recv, recv), b, wrongSource},
		{"truncated", reply(id, r.seq, orig, recv, recv)[:20+19], a, malformed},
		{"bad checksum", func() []byte { x := reply(id, r.seq, orig, recv, recv); x[len(x)-1] ^= 0x40; return x }(), a, malformed},
		{"no IP header", tsReplyPkt(id, r.seq, orig, recv, recv), a, malformed},
		{"our own request (loopback)", withIPv4Header(t, a, buildTimestamp(make([]byte, 20), id, r.seq, orig)), a, notEchoReply},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v := d.handle(c.pkt, c.src, r.at); v != c.want {
				t.Errorf("%v, want %v", v, c.want)
			}
		})
	}
	if len(rec.replies) != 0 || d.inFlight() != 2 {
		t.Fatalf("rejected packets delivered %d replies, %d pending (want 0, 2)", len(rec.replies), d.inFlight())
	}

	at := r.at.Add(20 * time.Millisecond)
	if v := d.handle(reply(id, r.seq, orig, recv, recv+2), a, at); v != matched {
		t.Fatalf("the reply: %v", v)
	}
	if v := d.handle(reply(id, r.seq, orig, recv, recv+2), a, at); v != unknownSeq {
		t.Fatalf("duplicate: %v, want unknown seq", v)
	}
	got := rec.replies[0]
	wantUp := 7*time.Millisecond - sinceMidnight(r.at)%time.Millisecond
	if !got.Stamped || got.Up != wantUp || got.Hold != 2*time.Millisecond || got.RTT != 20*time.Millisecond ||
		got.Seq != r.seq || got.Target != a || got.TCP || rec.tags[0] != 2 {
		t.Fatalf("reply %+v tag %d, want stamped, up %v, hold 2ms, RTT 20ms, seq %d, tag 2", got, rec.tags[0], wantUp, r.seq)
	}

	// Non-standard stamps: an RTT sample, no one-way delay.
	r2 := registerTS(t, d, a, rec, 2)
	if v := d.handle(reply(id, r2.seq, uint32(r2.token), 1<<31|5, 1<<31|5), a, r2.at.Add(time.Millisecond)); v != matched {
		t.Fatalf("non-standard reply: %v", v)
	}
	if got := rec.replies[1]; got.Stamped || got.Up != 0 || got.Hold != 0 || got.RTT != time.Millisecond {
		t.Fatalf("non-standard reply %+v, want RTT 1ms, not stamped", got)
	}
	// The echo request is still answered by its echo reply.
	if v := d.handle(withIPv4Header(t, a, echoReply(t, false, id, e.seq, testMagic, e.token)), a, e.at); v != matched || rec.replies[2].Stamped {
		t.Fatalf("echo reply: %v %+v", v, rec.replies[2])
	}
}

// A timestamp reply matches only on raw IPv4 sockets (the only ones that
// send the requests): elsewhere it is just another ICMP type.
func TestDemuxTimestampReplyElsewhere(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	for _, c := range []struct{ v6, raw bool }{{false, false}, {true, false}, {true, true}} {
		d := newDemux(c.v6, c.raw, 7, testMagic)
		rec := &recorder{}
		r := registerTS(t, d, a, rec, 0)
		if v := d.handle(tsReplyPkt(7, r.seq, uint32(r.token), 0, 0), a, r.at); v != notEchoReply {
			t.Errorf("v6 %v raw %v: %v, want not a reply", c.v6, c.raw, v)
		}
	}
}

// logCounter counts the Warn records whose message contains sub.
type logCounter struct {
	sub   string
	mu    sync.Mutex
	attrs []string // per record, its attributes
}

func newCountLogger(sub string) (*slog.Logger, *logCounter) {
	c := &logCounter{sub: sub}
	return slog.New(c), c
}

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCounter) WithGroup(string) slog.Handler            { return c }

func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || !strings.Contains(r.Message, c.sub) {
		return nil
	}
	var sb strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		sb.WriteString(a.String() + " ")
		return true
	})
	c.mu.Lock()
	c.attrs = append(c.attrs, sb.String())
	c.mu.Unlock()
	return nil
}

func (c *logCounter) count() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.attrs), append([]string(nil), c.attrs...)
}

// tsDriver plays a stream's sender and socket for one target with virtual
// time: it asks the target's timestamp state what to send, registers the
// request in the stream and settles it as the test says.
type tsDriver struct {
	s   *Stream
	seq uint16
	now time.Time
}

func newTSDriver(t *testing.T, log *slog.Logger) *tsDriver {
	tg := mustAddrs("192.0.2.1")
	s := &Stream{
		p:        &Pinger{log: log},
		cfg:      StreamConfig{Targets: tg, Timestamps: true},
		stats:    []TargetStats{{Target: tg[0]}},
		ts:       []tsTarget{{on: true}},
		ring:     make([]Reply, 8),
		inflight: make([]pendingEcho, 64),
	}
	return &tsDriver{s: s, now: utc(12, 0, 0, 0)}
}

// send sends the next request 100 ms after the previous one and reports
// whether it is a timestamp request.
func (d *tsDriver) send() (seq uint16, ts bool, at time.Time) {
	d.now = d.now.Add(100 * time.Millisecond)
	d.s.mu.Lock()
	d.s.stats[0].Sent++
	ts = d.s.ts[0].nextIsTimestamp()
	d.s.mu.Unlock()
	d.seq++
	d.s.registered(d.seq, d.now, 0, ts)
	return d.seq, ts, d.now
}

func (d *tsDriver) answer(seq uint16, ts bool, sent time.Time) {
	r := Reply{Target: d.s.cfg.Targets[0], Seq: seq, RTT: 20 * time.Millisecond, At: sent.Add(20 * time.Millisecond)}
	if ts {
		r.Stamped, r.Up = true, 10*time.Millisecond
	}
	d.s.deliver(r, 0)
}

func (d *tsDriver) timeout(seq uint16) { d.s.expired(d.s.cfg.Targets[0], seq, 0) }

func (d *tsDriver) stats() TargetStats { return d.s.Stats().Targets[0] }

func TestTimestampFallback(t *testing.T) {
	type outcome int
	const (
		lost outcome = iota
		answered
	)
	// pair sends one timestamp and one echo request (probation alternates)
	// and settles them: the timestamp request's timeout either before
	// (tsFirst) or after the echo reply, as the network orders them.
	pair := func(t *testing.T, d *tsDriver, tsOut, echoOut outcome, tsFirst bool) {
		t.Helper()
		s1, ts1, t1 := d.send()
		s2, ts2, t2 := d.send()
		if !ts1 || ts2 {
			t.Fatalf("probation sent ts=%v then ts=%v, want a timestamp then an echo request", ts1, ts2)
		}
		settleTS := func() {
			if tsOut == answered {
				d.answer(s1, true, t1)
			} else {
				d.timeout(s1)
			}
		}
		if tsFirst {
			settleTS()
		}
		if echoOut == answered {
			d.answer(s2, false, t2)
		} else {
			d.timeout(s2)
		}
		if !tsFirst {
			settleTS()
		}
	}

	t.Run("ignores timestamps, answers echo", func(t *testing.T) {
		for _, tsFirst := range []bool{false, true} {
			log, warns := newCountLogger("ignores ICMP timestamp requests")
			d := newTSDriver(t, log)
			for i := range tsIgnoredLimit {
				if st := d.stats(); st.Echo {
					t.Fatalf("tsFirst %v: fell back after %d ignored requests, want %d", tsFirst, i, tsIgnoredLimit)
				}
				pair(t, d, lost, answered, tsFirst)
			}
			st := d.stats()
			if !st.Echo || st.Stamped != 0 || st.Replies != tsIgnoredLimit || st.Timeouts != tsIgnoredLimit {
				t.Fatalf("tsFirst %v: after %d ignored: %+v, want Echo", tsFirst, tsIgnoredLimit, st)
			}
			for range 10 {
				seq, ts, at := d.send()
				if ts {
					t.Fatal("a timestamp request after the fallback")
				}
				d.answer(seq, false, at)
			}
			if n, attrs := warns.count(); n != 1 || !strings.Contains(attrs[0], "target=192.0.2.1") {
				t.Fatalf("tsFirst %v: %d fallback warnings %v, want 1 naming the target", tsFirst, n, attrs)
			}
		}
	})

	t.Run("unreachable at start, then answers", func(t *testing.T) {
		log, warns := newCountLogger("ignores ICMP timestamp requests")
		d := newTSDriver(t, log)
		for range 5 * tsIgnoredLimit {
			pair(t, d, lost, lost, false)
		}
		if st := d.stats(); st.Echo {
			t.Fatalf("fell back while nothing answered: %+v", st)
		}
		// The link comes up: the first echo reply confirms at most one
		// timestamp request (the one sent before it) as ignored, then
		// the next timestamp request is answered.
		pair(t, d, lost, answered, false)
		pair(t, d, answered, answered, true)
		for range 3 * tsIgnoredLimit {
			seq, ts, _ := d.send()
			if !ts {
				t.Fatal("an echo request to a target that answered a timestamp request")
			}
			d.timeout(seq) // a blackout is no reason to fall back
		}
		if st := d.stats(); st.Echo || st.Stamped != 1 {
			t.Fatalf("%+v: want no fallback, 1 stamped reply", st)
		}
		if n, _ := warns.count(); n != 0 {
			t.Fatalf("%d fallback warnings", n)
		}
	})

	t.Run("answers at once", func(t *testing.T) {
		d := newTSDriver(t, slog.New(slog.DiscardHandler))
		for range 5 {
			seq, ts, at := d.send()
			if !ts {
				t.Fatal("an echo request to a target answering timestamps")
			}
			d.answer(seq, true, at)
		}
		if st := d.stats(); st.Echo || st.Stamped != 5 || st.Replies != 5 {
			t.Fatalf("%+v", st)
		}
	})

	t.Run("ignores timestamps after an outage", func(t *testing.T) {
		log, _ := newCountLogger("ignores")
		d := newTSDriver(t, log)
		for range 3 * tsIgnoredLimit {
			pair(t, d, lost, lost, true)
		}
		// Only requests settled while echo works count: the one
		// timed-out timestamp request before the first echo reply, then
		// one per pair.
		for i := range tsIgnoredLimit - 1 {
			if d.stats().Echo {
				t.Fatalf("fell back after %d pairs since the outage", i)
			}
			pair(t, d, lost, answered, false)
		}
		if !d.stats().Echo {
			t.Fatalf("no fallback after %d pairs since the outage: %+v", tsIgnoredLimit-1, d.s.ts[0])
		}
	})

}

// FuzzTimestampReply feeds arbitrary packets (replies are untrusted input)
// to the parser and the matcher of a raw IPv4 socket with one timestamp
// request pending. With fix set, the harness writes the pending request's
// seq, originate and the socket's id into the packet (after the IP header
// its IHL says) and recomputes the checksum, so that the fuzzer reaches the
// stamps' arithmetic. A match must be the reply, and its one-way delays
// must follow from its stamps.
func FuzzTimestampReply(f *testing.F) {
	const id = 0xbeef
	src := netip.MustParseAddr("192.0.2.1")
	hdr := func(b []byte) []byte { return withIPv4Header(f, src, b) }
	f.Add(hdr(tsReplyPkt(id, 1, 0, 36_000_000, 36_000_001)), true)
	f.Add(hdr(tsReplyPkt(id, 1, 0, 1<<31|5, 5)), true)
	f.Add(hdr(tsReplyPkt(id, 1, 0, 86_399_999, 0)), true)
	f.Add(hdr(tsReplyPkt(id, 1, 0, 5, 4)), true)
	f.Add(hdr(tsReplyPkt(id, 1, 0, 0, 0))[:39], true)
	f.Add(hdr(tsReplyPkt(id+1, 1, 0, 0, 0)), false)
	f.Add(tsReplyPkt(id, 1, 0, 0, 0), false)
	f.Add([]byte{0x46, 0, 0, 0}, true)
	f.Fuzz(func(t *testing.T, pkt []byte, fix bool) {
		d := newDemux(false, true, id, testMagic)
		rec := &recorder{}
		r := registerTS(t, d, src, rec, 0)
		icmpAt := -1
		if len(pkt) >= 20 && pkt[0]>>4 == 4 {
			icmpAt = int(pkt[0]&0x0f) * 4
		}
		if fix && icmpAt >= 20 && len(pkt) >= icmpAt+timestampLen {
			m := pkt[icmpAt:]
			binary.BigEndian.PutUint16(m[4:6], id)
			binary.BigEndian.PutUint16(m[6:8], r.seq)
			binary.BigEndian.PutUint32(m[8:12], uint32(r.token))
			m[2], m[3] = 0, 0
			binary.BigEndian.PutUint16(m[2:4], checksum(m))
		}
		if m, ok := parseTimestampReply(pkt); ok {
			if len(pkt) < timestampLen || pkt[0] != icmpv4TimestampReply || checksum(pkt) != 0 ||
				m.receive != binary.BigEndian.Uint32(pkt[12:16]) {
				t.Fatalf("parsed a packet that is not a timestamp reply: %x", pkt)
			}
		}
		v := d.handle(pkt, src, r.at.Add(time.Millisecond))
		if v != matched {
			if len(rec.replies) != 0 || d.inFlight() != 1 {
				t.Fatalf("verdict %v but delivered %d, pending %d", v, len(rec.replies), d.inFlight())
			}
			return
		}
		if icmpAt < 20 || len(rec.replies) != 1 || d.inFlight() != 0 {
			t.Fatalf("matched %x: %d replies, %d pending", pkt, len(rec.replies), d.inFlight())
		}
		m, ok := parseTimestampReply(pkt[icmpAt:])
		if !ok || m.id != id || m.seq != r.seq || m.originate != uint32(r.token) {
			t.Fatalf("matched a packet that is not the reply: %x", pkt)
		}
		got := rec.replies[0]
		if got.RTT != time.Millisecond || got.Seq != r.seq || got.Target != src {
			t.Fatalf("reply %+v", got)
		}
		if !got.Stamped {
			if got.Up != 0 || got.Hold != 0 {
				t.Fatalf("unstamped reply with one-way delays: %+v", got)
			}
			if standard(m.receive) && standard(m.transm) && wrapDay(time.Duration(int64(m.transm)-int64(m.receive))*time.Millisecond) >= 0 {
				t.Fatalf("standard stamps %d, %d not used: %+v", m.receive, m.transm, got)
			}
			return
		}
		wantUp := wrapDay(time.Duration(m.receive)*time.Millisecond - sinceMidnight(r.at))
		if !standard(m.receive) || !standard(m.transm) || got.Hold < 0 || got.Hold >= day/2 ||
			got.Up != wantUp || got.Up < -day/2 || got.Up >= day/2 {
			t.Fatalf("stamps receive %d transmit %d gave %+v (want up %v)", m.receive, m.transm, got, wantUp)
		}
	})
}

// tsBenchSetup builds a raw IPv4 demux feeding a timestamp stream's buffer.
func tsBenchSetup(t testing.TB) (*demux, *Stream, []byte, netip.Addr) {
	src := netip.MustParseAddr("192.0.2.1")
	d := newDemux(false, true, 0xbeef, testMagic)
	s := &Stream{ring: make([]Reply, 256), stats: make([]TargetStats, 1), ts: []tsTarget{{on: true}},
		inflight: make([]pendingEcho, 28), cfg: StreamConfig{Targets: []netip.Addr{src}, Timestamps: true}}
	return d, s, withIPv4Header(t, src, tsReplyPkt(0xbeef, 0, 0, 0, 0)), src
}

// handleOneTS registers a timestamp request, answers it as the reflector
// would (the stamps one millisecond after the originate; the checksum
// recomputed) and checks that it matched with one-way delays.
func handleOneTS(t testing.TB, d *demux, s *Stream, pkt []byte, src netip.Addr) {
	seq, token, sent, err := d.register(src, s, 0, time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	m := pkt[20:]
	binary.BigEndian.PutUint16(m[6:], seq)
	binary.BigEndian.PutUint32(m[8:], uint32(token))
	binary.BigEndian.PutUint32(m[12:], uint32(token+1)%msPerDay)
	binary.BigEndian.PutUint32(m[16:], uint32(token+1)%msPerDay)
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:], checksum(m))
	if v := d.handle(pkt, src, sent.Add(time.Millisecond)); v != matched {
		t.Fatalf("verdict %v", v)
	}
	if s.n == len(s.ring) {
		drainBuf = s.Drain(drainBuf[:0])
	}
}

// The timestamp reply path allocates nothing either.
func TestHandleTimestampReplyNoAlloc(t *testing.T) {
	d, s, pkt, src := tsBenchSetup(t)
	allocs := testing.AllocsPerRun(1000, func() { handleOneTS(t, d, s, pkt, src) })
	if allocs != 0 {
		t.Fatalf("timestamp reply handling allocates %v times per reply", allocs)
	}
	if st := s.Stats().Targets[0]; st.Stamped != st.Replies || st.Replies < 1000 {
		t.Fatalf("stats %+v: want every reply stamped", st)
	}
}

// BenchmarkHandleTimestampReply is BenchmarkHandleReply for a timestamp
// reply (plus crafting it: writing seq and stamps, one checksum).
func BenchmarkHandleTimestampReply(b *testing.B) {
	d, s, pkt, src := tsBenchSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		handleOneTS(b, d, s, pkt, src)
	}
}
