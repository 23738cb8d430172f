package ping

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const testMagic = 0x1122334455667788

// recorder is a sink that remembers what it got.
type recorder struct {
	mu       sync.Mutex
	replies  []Reply
	tags     []int
	timeouts []uint16
}

func (r *recorder) deliver(rep Reply, tag int) {
	r.mu.Lock()
	r.replies = append(r.replies, rep)
	r.tags = append(r.tags, tag)
	r.mu.Unlock()
}

func (r *recorder) expired(_ netip.Addr, seq uint16, _ int) {
	r.mu.Lock()
	r.timeouts = append(r.timeouts, seq)
	r.mu.Unlock()
}

func payload(magic, token uint64) []byte {
	b := make([]byte, payloadLen)
	binary.BigEndian.PutUint64(b[0:8], magic)
	binary.BigEndian.PutUint64(b[8:16], token)
	return b
}

// echoReply crafts an echo reply as the kernel would hand it to us.
func echoReply(t testing.TB, v6 bool, id, seq uint16, magic, token uint64) []byte {
	t.Helper()
	var typ icmp.Type = ipv4.ICMPTypeEchoReply
	if v6 {
		typ = ipv6.ICMPTypeEchoReply
	}
	m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(id), Seq: int(seq), Data: payload(magic, token)}}
	b, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withIPv4Header prepends an IPv4 header, as a raw IPv4 socket delivers.
func withIPv4Header(t testing.TB, src netip.Addr, b []byte) []byte {
	t.Helper()
	h := ipv4.Header{Version: 4, Len: 20, TotalLen: 20 + len(b), TTL: 64, Protocol: 1,
		Src: src.AsSlice(), Dst: []byte{192, 0, 2, 100}}
	hb, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append(hb, b...)
}

type sent struct {
	seq   uint16
	token uint64
	at    time.Time
}

func register(t testing.TB, d *demux, target netip.Addr, owner sink, tag int, timeout time.Duration) sent {
	t.Helper()
	seq, token, at, err := d.register(target, owner, tag, timeout, false)
	if err != nil {
		t.Fatal(err)
	}
	return sent{seq, token, at}
}

func TestDemuxOutOfOrderDuplicateUnknownLate(t *testing.T) {
	d := newDemux(false, false, 0, testMagic)
	rec := &recorder{}
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	r1 := register(t, d, a, rec, 0, time.Minute)
	r2 := register(t, d, b, rec, 1, time.Minute)
	r3 := register(t, d, a, rec, 0, time.Minute)
	if r1.seq == r2.seq || r2.seq == r3.seq || r1.seq == r3.seq {
		t.Fatalf("seqs not distinct: %d %d %d", r1.seq, r2.seq, r3.seq)
	}

	at := r1.at.Add(5 * time.Millisecond)
	// The kernel rewrote the echo id (unprivileged socket): any id matches.
	if v := d.handle(echoReply(t, false, 4242, r3.seq, testMagic, r3.token), a, at); v != matched {
		t.Fatalf("reply 3: %v", v)
	}
	if v := d.handle(echoReply(t, false, 4242, r2.seq, testMagic, r2.token), b, at.Add(time.Millisecond)); v != matched {
		t.Fatalf("reply 2: %v", v)
	}
	if v := d.handle(echoReply(t, false, 4242, r2.seq, testMagic, r2.token), b, at.Add(2*time.Millisecond)); v != unknownSeq {
		t.Fatalf("duplicate reply 2: %v, want unknown seq", v)
	}
	if v := d.handle(echoReply(t, false, 4242, r1.seq+100, testMagic, 77), a, at); v != unknownSeq {
		t.Fatalf("unknown seq: %v", v)
	}
	if v := d.handle(echoReply(t, false, 4242, r1.seq, testMagic, r1.token), b, at); v != wrongSource {
		t.Fatalf("reply 1 from the wrong address: %v", v)
	}
	if v := d.handle(echoReply(t, false, 4242, r1.seq, testMagic, r1.token), a, at.Add(3*time.Millisecond)); v != matched {
		t.Fatalf("reply 1 after a wrong-source copy: %v", v)
	}

	if len(rec.replies) != 3 {
		t.Fatalf("delivered %d replies, want 3: %+v", len(rec.replies), rec.replies)
	}
	want := []struct {
		seq    uint16
		target netip.Addr
		tag    int
		rtt    time.Duration
	}{{r3.seq, a, 0, at.Sub(r3.at)}, {r2.seq, b, 1, at.Add(time.Millisecond).Sub(r2.at)}, {r1.seq, a, 0, 8 * time.Millisecond}}
	for i, w := range want {
		got := rec.replies[i]
		if got.Seq != w.seq || got.Target != w.target || rec.tags[i] != w.tag || got.TCP {
			t.Errorf("reply %d = %+v tag %d, want seq %d target %s tag %d", i, got, rec.tags[i], w.seq, w.target, w.tag)
		}
		if got.RTT != w.rtt {
			t.Errorf("reply %d RTT = %v, want %v", i, got.RTT, w.rtt)
		}
	}
	if n := d.inFlight(); n != 0 {
		t.Errorf("%d requests still pending", n)
	}

	// Late: a request times out, then its reply arrives.
	r4 := register(t, d, a, rec, 0, 10*time.Millisecond)
	exp := d.expire(r4.at.Add(5*time.Millisecond), nil)
	if len(exp) != 0 {
		t.Fatalf("expired before the deadline: %+v", exp)
	}
	exp = d.expire(r4.at.Add(10*time.Millisecond), nil)
	if len(exp) != 1 || exp[0].seq != r4.seq || exp[0].owner != sink(rec) || exp[0].target != a {
		t.Fatalf("expire = %+v, want seq %d", exp, r4.seq)
	}
	if v := d.handle(echoReply(t, false, 1, r4.seq, testMagic, r4.token), a, r4.at.Add(time.Second)); v != unknownSeq {
		t.Fatalf("late reply: %v, want unknown seq", v)
	}
	if len(rec.replies) != 3 || d.inFlight() != 0 {
		t.Fatalf("late reply delivered or left pending: %d replies, %d pending", len(rec.replies), d.inFlight())
	}
}

func TestDemuxRejectsForeignPackets(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	d := newDemux(false, false, 0, testMagic)
	rec := &recorder{}
	r := register(t, d, a, rec, 0, time.Minute)
	now := r.at

	cases := []struct {
		name string
		pkt  []byte
		want verdict
	}{
		{"other program's payload", echoReply(t, false, 1, r.seq, 0xdead, r.token), foreign},
		{"stale token (seq reused)", echoReply(t, false, 1, r.seq, testMagic, r.token+1), unknownSeq},
		{"ICMPv6 type on IPv4", echoReply(t, true, 1, r.seq, testMagic, r.token), notEchoReply},
		{"short", echoReply(t, false, 1, r.seq, testMagic, r.token)[:12], malformed},
		{"empty", nil, malformed},
	}
	req, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 1, Seq: int(r.seq), Data: payload(testMagic, r.token)}}).Marshal(nil)
	cases = append(cases, struct {
		name string
		pkt  []byte
		want verdict
	}{"our own echo request (loopback)", req, notEchoReply})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v := d.handle(c.pkt, a, now); v != c.want {
				t.Errorf("%v, want %v", v, c.want)
			}
		})
	}
	if len(rec.replies) != 0 || d.inFlight() != 1 {
		t.Fatalf("foreign packets delivered %d replies, %d pending (want 0, 1)", len(rec.replies), d.inFlight())
	}
}

func TestDemuxRawIPv4(t *testing.T) {
	const id = 0xbeef
	a := netip.MustParseAddr("192.0.2.1")
	d := newDemux(false, true, id, testMagic)
	rec := &recorder{}
	r := register(t, d, a, rec, 3, time.Minute)
	if v := d.handle(withIPv4Header(t, a, echoReply(t, false, id+1, r.seq, testMagic, r.token)), a, r.at); v != otherID {
		t.Fatalf("other id: %v", v)
	}
	if v := d.handle(echoReply(t, false, id, r.seq, testMagic, r.token), a, r.at); v != malformed {
		t.Fatalf("raw IPv4 packet without IP header: %v, want malformed", v)
	}
	// An IP header with options (IHL 6) is skipped as a whole.
	pkt := withIPv4Header(t, a, echoReply(t, false, id, r.seq, testMagic, r.token))
	withOpts := append(append([]byte{}, pkt[:20]...), 1, 1, 1, 0)
	withOpts[0] = 0x46
	withOpts = append(withOpts, pkt[20:]...)
	if v := d.handle(withOpts, a, r.at.Add(time.Millisecond)); v != matched {
		t.Fatalf("own reply: %v", v)
	}
	if len(rec.replies) != 1 || rec.tags[0] != 3 || rec.replies[0].RTT != time.Millisecond {
		t.Fatalf("got %+v tags %v", rec.replies, rec.tags)
	}
}

func TestDemuxIPv6(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1")
	for _, raw := range []bool{false, true} {
		d := newDemux(true, raw, 7, testMagic)
		rec := &recorder{}
		r := register(t, d, a, rec, 0, time.Minute)
		if v := d.handle(echoReply(t, false, 7, r.seq, testMagic, r.token), a, r.at); v != notEchoReply {
			t.Fatalf("raw=%v: ICMPv4 reply type on IPv6: %v", raw, v)
		}
		// recvfrom yields no zone; a zoned target still matches.
		if v := d.handle(echoReply(t, true, 7, r.seq, testMagic, r.token), a, r.at); v != matched {
			t.Fatalf("raw=%v: %v", raw, v)
		}
		ll := netip.MustParseAddr("fe80::1%eth0")
		r = register(t, d, ll, rec, 0, time.Minute)
		if v := d.handle(echoReply(t, true, 7, r.seq, testMagic, r.token), ll.WithZone(""), r.at); v != matched {
			t.Fatalf("raw=%v link-local: %v", raw, v)
		}
		if rec.replies[1].Target != ll {
			t.Fatalf("reply target %v, want %v", rec.replies[1].Target, ll)
		}
	}
}

func TestDemuxIPv4MappedSource(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	d := newDemux(false, false, 0, testMagic)
	rec := &recorder{}
	r := register(t, d, a, rec, 0, time.Minute)
	if v := d.handle(echoReply(t, false, 0, r.seq, testMagic, r.token), netip.MustParseAddr("::ffff:192.0.2.1"), r.at); v != matched {
		t.Fatalf("mapped source: %v", v)
	}
}

func TestDemuxSeqWrapSkipsPending(t *testing.T) {
	d := newDemux(false, false, 0, testMagic)
	rec := &recorder{}
	a := netip.MustParseAddr("192.0.2.1")
	first := register(t, d, a, rec, 0, time.Minute) // stays pending
	seen := map[uint16]bool{first.seq: true}
	for range 1<<16 - 1 {
		r := register(t, d, a, rec, 0, time.Minute)
		if seen[r.seq] {
			t.Fatalf("seq %d handed out twice while pending", r.seq)
		}
		seen[r.seq] = true
	}
	if _, _, _, err := d.register(a, rec, 0, time.Minute, false); err != errSeqExhausted {
		t.Fatalf("65537th pending request: err %v, want %v", err, errSeqExhausted)
	}
	d.unregister(first.seq + 5)
	r := register(t, d, a, rec, 0, time.Minute)
	if r.seq != first.seq+5 {
		t.Fatalf("after freeing seq %d got %d", first.seq+5, r.seq)
	}
}

func TestDemuxForget(t *testing.T) {
	d := newDemux(false, false, 0, testMagic)
	mine, other := &recorder{}, &recorder{}
	a := netip.MustParseAddr("192.0.2.1")
	register(t, d, a, mine, 0, time.Minute)
	register(t, d, a, mine, 0, time.Minute)
	r := register(t, d, a, other, 0, time.Minute)
	if got := d.forget(mine, nil); len(got) != 2 {
		t.Fatalf("forgot %d, want 2", len(got))
	}
	if d.inFlight() != 1 {
		t.Fatalf("%d pending, want the other owner's 1", d.inFlight())
	}
	if v := d.handle(echoReply(t, false, 0, r.seq, testMagic, r.token), a, r.at); v != matched {
		t.Fatalf("other owner's reply: %v", v)
	}
}

func TestBuildEcho(t *testing.T) {
	var buf [64]byte
	b := buildEcho(buf[:], false, 0x1234, 0x5678, testMagic, 99)
	if checksum(b) != 0 {
		t.Fatalf("IPv4 checksum does not verify: %x", b)
	}
	m, err := icmp.ParseMessage(1, b)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.Body.(*icmp.Echo)
	if m.Type != ipv4.ICMPTypeEcho || !ok || e.ID != 0x1234 || e.Seq != 0x5678 || string(e.Data) != string(payload(testMagic, 99)) {
		t.Fatalf("parsed %+v %+v", m, m.Body)
	}
	b = buildEcho(buf[:], true, 1, 2, testMagic, 3)
	m, err = icmp.ParseMessage(58, b)
	if err != nil || m.Type != ipv6.ICMPTypeEchoRequest {
		t.Fatalf("ICMPv6: %+v %v", m, err)
	}
	// Odd length checksum (RFC 1071 example words).
	if got := checksum([]byte{0x00, 0x01, 0xf2}); got != ^uint16(0x0001+0xf200) {
		t.Fatalf("odd checksum %x", got)
	}
}

// TestHandleReplyNoAlloc pins the steady-state reply path at zero
// allocations (the read loop runs at every reply of every WAN).
func TestHandleReplyNoAlloc(t *testing.T) {
	d, s, pkt, src := benchSetup(t)
	allocs := testing.AllocsPerRun(1000, func() { handleOne(t, d, s, pkt, src) })
	if allocs != 0 {
		t.Fatalf("reply handling allocates %v times per reply", allocs)
	}
}

// benchSetup builds a demux feeding a real Stream's buffer.
func benchSetup(t testing.TB) (*demux, *Stream, []byte, netip.Addr) {
	src := netip.MustParseAddr("192.0.2.1")
	d := newDemux(false, true, 0xbeef, testMagic)
	s := &Stream{ring: make([]Reply, 256), stats: make([]TargetStats, 1), ts: make([]tsTarget, 1), inflight: make([]pendingEcho, 28), cfg: StreamConfig{Targets: []netip.Addr{src}}}
	pkt := withIPv4Header(t, src, echoReply(t, false, 0xbeef, 0, testMagic, 0))
	return d, s, pkt, src
}

var drainBuf = make([]Reply, 0, 256)

func handleOne(t testing.TB, d *demux, s *Stream, pkt []byte, src netip.Addr) {
	seq, token, sent, err := d.register(src, s, 0, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(pkt[20+6:], seq)
	binary.BigEndian.PutUint64(pkt[20+16:], token)
	if v := d.handle(pkt, src, sent.Add(time.Millisecond)); v != matched {
		t.Fatalf("verdict %v", v)
	}
	if s.n == len(s.ring) {
		drainBuf = s.Drain(drainBuf[:0])
	}
}

// BenchmarkHandleReply measures one reply through the pending map into a
// Stream's buffer: register (as the sender does) + parse + match + deliver.
func BenchmarkHandleReply(b *testing.B) {
	d, s, pkt, src := benchSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		handleOne(b, d, s, pkt, src)
	}
}

// FuzzDemuxHandle feeds arbitrary packets (replies are untrusted input) to
// the matcher: it must never panic, and only a packet carrying a pending
// request's seq, token, magic and echo id may match.
func FuzzDemuxHandle(f *testing.F) {
	src := netip.MustParseAddr("192.0.2.1")
	f.Add(withIPv4Header(f, src, echoReply(f, false, 0xbeef, 1, testMagic, 1)), true)
	f.Add(echoReply(f, false, 0xbeef, 1, testMagic, 1), false)
	f.Add(echoReply(f, true, 0xbeef, 1, testMagic, 1), false)
	f.Add([]byte{0x45, 0, 0}, true)
	f.Add([]byte{0x4f}, true)
	f.Fuzz(func(t *testing.T, pkt []byte, raw bool) {
		for _, v6 := range []bool{false, true} {
			d := newDemux(v6, raw, 0xbeef, testMagic)
			rec := &recorder{}
			r := register(t, d, src, rec, 0, time.Minute)
			v := d.handle(pkt, src, r.at)
			if v == matched {
				b := pkt
				if raw && !v6 {
					b = b[int(b[0]&0x0f)*4:]
				}
				if binary.BigEndian.Uint16(b[6:8]) != r.seq || binary.BigEndian.Uint64(b[16:24]) != r.token ||
					len(rec.replies) != 1 || d.inFlight() != 0 {
					t.Fatalf("matched a packet that is not the reply: %x", pkt)
				}
			} else if len(rec.replies) != 0 || d.inFlight() != 1 {
				t.Fatalf("verdict %v but delivered %d, pending %d", v, len(rec.replies), d.inFlight())
			}
		}
	})
}

// expire skips the walk until the earliest deadline may have passed, and
// still expires each request exactly at its own deadline: after replies
// took the earliest ones away, after a request with a shorter timeout
// came in, and after a sweep that left some pending.
func TestDemuxExpireBound(t *testing.T) {
	d := newDemux(false, false, 0, testMagic)
	rec := &recorder{}
	a := netip.MustParseAddr("192.0.2.1")
	ids := func(exp []expiredReq) []uint16 {
		var s []uint16
		for _, e := range exp {
			s = append(s, e.seq)
		}
		slices.Sort(s)
		return s
	}
	r1 := register(t, d, a, rec, 0, 10*time.Millisecond)
	r2 := register(t, d, a, rec, 0, 40*time.Millisecond)
	r3 := register(t, d, a, rec, 0, 30*time.Millisecond)
	base := r3.at // the latest send: every deadline below is >= its own
	// r1 answered: the bound stays at its deadline, which is early.
	if v := d.handle(echoReply(t, false, 4242, r1.seq, testMagic, r1.token), a, base); v != matched {
		t.Fatalf("reply 1: %v", v)
	}
	if exp := d.expire(base.Add(20*time.Millisecond), nil); len(exp) != 0 {
		t.Fatalf("expired before their deadlines: %v", ids(exp))
	}
	// The sweep set the bound to r3's deadline; a shorter timeout
	// lowers it.
	r4 := register(t, d, a, rec, 0, time.Millisecond)
	if exp := d.expire(r4.at.Add(time.Millisecond), nil); !slices.Equal(ids(exp), []uint16{r4.seq}) {
		t.Fatalf("expired %v, want r4 %d (its timeout is the shortest)", ids(exp), r4.seq)
	}
	if exp := d.expire(r3.at.Add(30*time.Millisecond), nil); !slices.Equal(ids(exp), []uint16{r3.seq}) {
		t.Fatalf("expired %v, want r3 %d", ids(exp), r3.seq)
	}
	if exp := d.expire(r2.at.Add(40*time.Millisecond-time.Nanosecond), nil); len(exp) != 0 {
		t.Fatalf("r2 expired a nanosecond early: %v", ids(exp))
	}
	if exp := d.expire(r2.at.Add(40*time.Millisecond), nil); !slices.Equal(ids(exp), []uint16{r2.seq}) {
		t.Fatalf("expired %v, want r2 %d", ids(exp), r2.seq)
	}
	if n := d.inFlight(); n != 0 {
		t.Fatalf("%d requests pending", n)
	}
}

// The expiry sweep each Tick, with requests in flight none of which is
// due (the steady state of a stream).
func BenchmarkDemuxExpireNoneDue(b *testing.B) {
	d := newDemux(false, false, 0, testMagic)
	rec := &recorder{}
	a := netip.MustParseAddr("192.0.2.1")
	for range 40 {
		register(b, d, a, rec, 0, time.Second)
	}
	now := time.Now()
	var dst []expiredReq
	b.ReportAllocs()
	for b.Loop() {
		dst = d.expire(now, dst[:0])
	}
}
