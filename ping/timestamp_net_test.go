package ping

import (
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dropICMPOut makes namespace ns drop the ICMP packets of type typ (-1:
// all ICMP) that leave dev: an HTB root whose default class passes
// everything, and a u32 filter sending the matching packets to a class
// whose pfifo holds none. It returns a func that removes the filter. Needs
// iproute2's tc (the testbed uses the same qdiscs).
func dropICMPOut(t testing.TB, ns, dev string, typ int) (stop func()) {
	t.Helper()
	tc := func(args ...string) { run(t, "tc", append([]string{"-n", ns}, args...)...) }
	tc("qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10")
	tc("class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit", "quantum", "1514")
	tc("class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb", "rate", "10gbit", "quantum", "1514")
	tc("qdisc", "add", "dev", dev, "parent", "1:20", "handle", "20:", "pfifo", "limit", "0")
	match := []string{"filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "protocol", "1", "0xff"}
	if typ >= 0 {
		// The ICMP type: the first byte after a 20-byte IP header.
		match = append(match, "match", "u8", strconv.Itoa(typ), "0xff", "at", "20")
	}
	tc(append(match, "flowid", "1:20")...)
	return func() { tc("filter", "del", "dev", dev, "parent", "1:", "prio", "1") }
}

// A Stream with Timestamps to loopback: the kernel answers type 13 itself,
// with the same clock, so Up is the (tiny) one-way delay minus the stamp's
// truncation to the millisecond. Auto mode with ping_group_range open
// would pick an unprivileged socket: Timestamps makes it raw. A stream
// without Timestamps shares the socket and still gets echo replies.
func TestStreamTimestampsLoopback(t *testing.T) {
	allowUnprivileged(t)
	p := openPinger(t, Config{Timestamps: true})
	targets := mustAddrs("127.0.0.1", "127.0.0.2")
	s, err := p.Stream(StreamConfig{Targets: targets, Rate: 50, Timeout: 2 * time.Second, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	echo, err := p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.3"), Rate: 20, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := p.SocketMode(targets[0]); !ok || m != Raw {
		t.Fatalf("socket mode %v (open %v), want raw for timestamps", m, ok)
	}
	replies := collect(t, s, 20, 20*time.Second)
	echoReplies := collect(t, echo, 5, 20*time.Second)
	s.Close()
	echo.Close()
	replies = s.Drain(replies)
	checkReplies(t, replies, targets)
	for _, r := range replies {
		if !r.Stamped || r.Hold != 0 || r.Up <= -2*time.Millisecond || r.Up > r.RTT+2*time.Millisecond {
			t.Errorf("reply %+v: want stamped, no hold, up in (-2ms, RTT+2ms] (same clock)", r)
		}
	}
	for _, ts := range s.Stats().Targets {
		if ts.Stamped != ts.Replies || ts.Echo {
			t.Errorf("stats %+v: want every reply stamped, no fallback", ts)
		}
	}
	checkReplies(t, echo.Drain(echoReplies), mustAddrs("127.0.0.3"))
	for _, r := range echoReplies {
		if r.Stamped || r.Up != 0 {
			t.Errorf("echo stream reply %+v is stamped", r)
		}
	}
}

// A reflector that answers echo but not timestamps (its type 14 replies
// dropped on the way out) falls back to echo, with one warning; an IPv6
// target gets echo from the start, on an unprivileged socket.
func TestStreamTimestampFallback(t *testing.T) {
	n := newTestNet(t, false)
	dropICMPOut(t, n.B, "vB", icmpv4TimestampReply)
	nsSysctl(t, n.A, "net.ipv4.ping_group_range", "0 2147483647")
	log, warns := newCountLogger("ignores ICMP timestamp requests")
	targets := mustAddrs(n.Peer4, n.Peer6)
	var p *Pinger
	var s *Stream
	inNetns(t, n.A, func() {
		p, s = mustStream(t, Config{Timestamps: true, Logger: log},
			StreamConfig{Targets: targets, Rate: 80, Timeout: 200 * time.Millisecond, Timestamps: true})
	})
	if t.Failed() {
		t.FailNow()
	}
	defer p.Close()
	if m, _ := p.SocketMode(targets[0]); m != Raw {
		t.Errorf("IPv4 socket %v, want raw", m)
	}
	if m, _ := p.SocketMode(targets[1]); m != Unprivileged {
		t.Errorf("IPv6 socket %v, want unprivileged (timestamps are IPv4 only)", m)
	}
	waitFor(t, 20*time.Second, "the fallback to echo", func() bool { return s.Stats().Targets[0].Echo })
	// Once the timestamp requests in flight (sent within the timeout,
	// 200 ms, before the fallback) have timed out, the target answers
	// every request.
	got := s.Drain(nil)
	for _, r := range got {
		if r.Stamped {
			t.Errorf("stamped reply %+v from a reflector that sends no timestamp replies", r)
		}
	}
	got = got[:0]
	perTarget := func(a netip.Addr) int {
		k := 0
		for _, r := range got {
			if r.Target == a {
				k++
			}
		}
		return k
	}
	waitFor(t, 20*time.Second, "echo replies", func() bool { got = s.Drain(got); return perTarget(targets[0]) >= 20 })
	before := s.Stats().Targets[0]
	got = got[:0]
	waitFor(t, 20*time.Second, "more echo replies", func() bool { got = s.Drain(got); return perTarget(targets[0]) >= 20 })
	st := s.Stats()
	after := st.Targets[0]
	if after.Timeouts != before.Timeouts {
		t.Errorf("timeouts went on after the fallback: %d -> %d", before.Timeouts, after.Timeouts)
	}
	if after.Stamped != 0 || after.Timeouts < tsIgnoredLimit {
		t.Errorf("IPv4 target %+v: want no stamped replies, at least %d timeouts", after, tsIgnoredLimit)
	}
	// (The veth's first second or so loses IPv6 packets: no assertion on
	// its timeouts.)
	if v6 := st.Targets[1]; v6.Echo || v6.Stamped != 0 || v6.Replies == 0 {
		t.Errorf("IPv6 target %+v: want echo replies, no fallback", v6)
	}
	for _, r := range got {
		if r.Stamped || r.TCP {
			t.Errorf("reply %+v after the fallback", r)
		}
	}
	if st.Blackout {
		t.Error("blackout while echo answers")
	}
	if k, attrs := warns.count(); k != 1 || !strings.Contains(attrs[0], "target="+n.Peer4) {
		t.Errorf("%d fallback warnings %v, want one naming %s", k, attrs, n.Peer4)
	}
}

// A reflector unreachable when the stream starts (all ICMP dropped for
// more than the fallback's 20 requests) is not taken for one that ignores
// timestamps: when the path comes back, its replies are stamped.
func TestStreamTimestampsAfterOutage(t *testing.T) {
	n := newTestNet(t, false)
	restore := dropICMPOut(t, n.B, "vB", -1)
	log, warns := newCountLogger("ignores ICMP timestamp requests")
	var p *Pinger
	var s *Stream
	inNetns(t, n.A, func() {
		p, s = mustStream(t, Config{Timestamps: true, Logger: log},
			StreamConfig{Targets: mustAddrs(n.Peer4), Rate: 80, Timeout: 100 * time.Millisecond, BlackoutAfter: 300 * time.Millisecond, Timestamps: true})
	})
	if t.Failed() {
		t.FailNow()
	}
	defer p.Close()
	waitFor(t, 20*time.Second, "timeouts during the outage", func() bool {
		st := s.Stats()
		return st.Targets[0].Timeouts >= 3*tsIgnoredLimit && st.Blackout
	})
	restore()
	waitFor(t, 20*time.Second, "stamped replies", func() bool { return s.Stats().Targets[0].Stamped >= 10 })
	st := s.Stats()
	if ts := st.Targets[0]; ts.Echo || st.Blackout {
		t.Fatalf("%+v blackout %v: want timestamps after the outage", ts, st.Blackout)
	}
	if k, _ := warns.count(); k != 0 {
		t.Fatalf("%d fallback warnings", k)
	}
}

// Without CAP_NET_RAW, even where unprivileged ICMP sockets are allowed, a
// Pinger with Timestamps cannot open its IPv4 socket, and the error says
// what to do; its IPv6 socket is an unprivileged one as usual.
func TestTimestampPermissionError(t *testing.T) {
	ns := newNetns(t)
	nsSysctl(t, ns, "net.ipv4.ping_group_range", "0 2147483647")
	var tsErr, v6Err, echoErr error
	inNetns(t, ns, func() {
		if err := dropNetRaw(); err != nil {
			t.Error(err)
			return
		}
		p, err := Open(Config{Timestamps: true})
		if err != nil {
			t.Error(err)
			return
		}
		defer p.Close()
		_, tsErr = p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1"), Rate: 1, Timestamps: true})
		_, v6Err = p.Stream(StreamConfig{Targets: mustAddrs("::1"), Rate: 1, Timestamps: true})
		// The same without Timestamps: the unprivileged socket opens.
		p2, err := Open(Config{})
		if err != nil {
			t.Error(err)
			return
		}
		defer p2.Close()
		_, echoErr = p2.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1"), Rate: 1})
	})
	if t.Failed() {
		t.FailNow()
	}
	if tsErr == nil || !errors.Is(tsErr, os.ErrPermission) {
		t.Fatalf("timestamps without CAP_NET_RAW: %v, want a permission error", tsErr)
	}
	for _, w := range []string{"raw IPv4", "timestamp", "CAP_NET_RAW", "AmbientCapabilities=CAP_NET_RAW", "turn timestamps off"} {
		if !strings.Contains(tsErr.Error(), w) {
			t.Errorf("error %q does not mention %q", tsErr, w)
		}
	}
	if v6Err != nil || echoErr != nil {
		t.Errorf("IPv6 with timestamps: %v; IPv4 echo: %v (want both to open unprivileged sockets)", v6Err, echoErr)
	}
}

func TestTimestampConfigErrors(t *testing.T) {
	if _, err := Open(Config{Mode: Unprivileged, Timestamps: true}); err == nil || !strings.Contains(err.Error(), "raw IPv4 socket") {
		t.Errorf("unprivileged mode with timestamps: %v", err)
	}
	p := openPinger(t, Config{Mode: Raw})
	if _, err := p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1"), Rate: 1, Timestamps: true}); err == nil || !strings.Contains(err.Error(), "Config.Timestamps") {
		t.Errorf("stream with timestamps on a pinger without: %v", err)
	}
}
