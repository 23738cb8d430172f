package ping

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustAddrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func openPinger(t testing.TB, opts Config) *Pinger {
	t.Helper()
	p, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// collect drains s until want replies arrived.
func collect(t testing.TB, s *Stream, want int, within time.Duration) []Reply {
	t.Helper()
	var got []Reply
	waitFor(t, within, "replies", func() bool {
		got = s.Drain(got)
		return len(got) >= want
	})
	return got
}

// loopbackCase runs fn with a way to create things in the namespace where
// the loopback of the family works: the host's, or a fresh namespace when
// the host has no ::1 (never skipped).
func loopbackEnv(t *testing.T, v6 bool) func(fn func()) {
	if !v6 || hostHasIPv6Loopback() {
		return func(fn func()) { fn() }
	}
	t.Log("host has no usable ::1; testing IPv6 loopback in a fresh network namespace")
	ns := newNetns(t)
	nsSysctl(t, ns, "net.ipv6.conf.all.disable_ipv6", "0")
	nsSysctl(t, ns, "net.ipv6.conf.lo.disable_ipv6", "0")
	return func(fn func()) { inNetns(t, ns, fn) }
}

func TestStreamLoopback(t *testing.T) {
	for _, mode := range []Mode{Raw, Unprivileged, Auto} {
		for _, v6 := range []bool{false, true} {
			name := mode.String() + "/" + familyName(v6)
			t.Run(name, func(t *testing.T) {
				if mode == Unprivileged {
					allowUnprivileged(t)
				}
				targets := mustAddrs("127.0.0.1", "127.0.0.2")
				if v6 {
					targets = mustAddrs("::1")
				}
				var p *Pinger
				var s *Stream
				loopbackEnv(t, v6)(func() {
					var err error
					p, err = Open(Config{Mode: mode})
					if err != nil {
						t.Error(err)
						return
					}
					s, err = p.Stream(StreamConfig{Targets: targets, Rate: 50, Timeout: 2 * time.Second})
					if err != nil {
						t.Error(err)
					}
				})
				if t.Failed() {
					t.FailNow()
				}
				defer p.Close()
				wantMode := mode
				if mode == Auto {
					wantMode = autoMode(t)
				}
				if got, ok := p.SocketMode(targets[0]); !ok || got != wantMode {
					t.Fatalf("socket mode %v (open %v), want %v", got, ok, wantMode)
				}

				replies := collect(t, s, 20, 20*time.Second)
				// Loopback answers within microseconds: what is pending
				// was sent moments ago (at most a few requests).
				if pend := s.PendingInto(nil); len(pend) > 3 {
					t.Errorf("%d requests pending on loopback: %v", len(pend), pend)
				}
				s.Close()
				if pend := s.PendingInto(nil); len(pend) != 0 {
					t.Errorf("%d requests pending after Close", len(pend))
				}
				replies = s.Drain(replies)
				checkReplies(t, replies, targets)

				st := s.Stats()
				var sum uint64
				for i, ts := range st.Targets {
					if ts.Target != targets[i] {
						t.Errorf("stats target %d = %v, want %v", i, ts.Target, targets[i])
					}
					if ts.Replies == 0 || ts.Replies+ts.Timeouts > ts.Sent || ts.SendErrors != 0 {
						t.Errorf("stats %+v: want replies > 0, replies+timeouts <= sent, no send errors", ts)
					}
					sum += ts.Replies
				}
				if sum != uint64(len(replies)) {
					t.Errorf("stats count %d replies, drained %d", sum, len(replies))
				}
				if st.Blackout || st.Dropped != 0 {
					t.Errorf("blackout %v dropped %d on loopback", st.Blackout, st.Dropped)
				}
				for _, sock := range s.uniq {
					if n := sock.dm.inFlight(); n != 0 {
						t.Errorf("%d requests pending after Close", n)
					}
				}
			})
		}
	}
}

// autoMode is the socket kind Auto picks for root in the host namespace.
func autoMode(t *testing.T) Mode {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		t.Fatalf("ping_group_range %q", b)
	}
	if lo, hi := f[0], f[1]; atoi(t, lo) <= 0 && 0 <= atoi(t, hi) {
		return Unprivileged
	}
	return Raw
}

func atoi(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkReplies checks RTTs, receive times, targets and seq uniqueness.
func checkReplies(t *testing.T, replies []Reply, targets []netip.Addr) {
	t.Helper()
	type key struct {
		v6  bool // seqs are per socket, one socket per family
		seq uint16
	}
	seen := map[key]bool{}
	per := map[netip.Addr]int{}
	var prev time.Time
	for _, r := range replies {
		if r.RTT <= 0 || r.RTT > 2*time.Second {
			t.Errorf("reply %+v: RTT not in (0, 2s]", r)
		}
		if r.TCP {
			t.Errorf("reply %+v: TCP on an answering ICMP target", r)
		}
		if r.At.Before(prev) {
			t.Errorf("reply %+v received before the previous one (%v)", r, prev)
		}
		prev = r.At
		k := key{r.Target.Is6(), r.Seq}
		if seen[k] {
			t.Errorf("seq %d delivered twice", r.Seq)
		}
		seen[k] = true
		per[r.Target]++
	}
	for _, tg := range targets {
		if per[tg] == 0 {
			t.Errorf("no reply from %v (got %v)", tg, per)
		}
	}
	if len(per) != len(targets) {
		t.Errorf("replies from %v, want only %v", per, targets)
	}
}

// Two streams (two WANs) share one Pinger and its socket: each gets only
// its own replies, and seqs never collide.
func TestStreamsShareSocket(t *testing.T) {
	p := openPinger(t, Config{Mode: Raw})
	a, err := p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1"), Rate: 40})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.3"), Rate: 40})
	if err != nil {
		t.Fatal(err)
	}
	if a.socks[0] != b.socks[0] {
		t.Fatal("streams of one Pinger use different IPv4 sockets")
	}
	ra := collect(t, a, 15, 20*time.Second)
	rb := collect(t, b, 15, 20*time.Second)
	p.Close() // closes both streams
	checkReplies(t, ra, mustAddrs("127.0.0.1"))
	checkReplies(t, rb, mustAddrs("127.0.0.3"))
	for _, x := range ra {
		for _, y := range rb {
			if x.Seq == y.Seq {
				t.Fatalf("seq %d used by both streams", x.Seq)
			}
		}
	}
	if _, err := p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1"), Rate: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stream on a closed Pinger: %v", err)
	}
}

// Drain never blocks and keeps only the newest Buffer replies.
func TestStreamBufferOverflow(t *testing.T) {
	p := openPinger(t, Config{Mode: Raw})
	s, err := p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1"), Rate: 100, Buffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "drops", func() bool { return s.Stats().Dropped >= 3 })
	s.Close()
	got := s.Drain(nil)
	st := s.Stats()
	if len(got) != 4 {
		t.Fatalf("drained %d, want the buffer's 4", len(got))
	}
	if st.Targets[0].Replies != uint64(len(got))+st.Dropped {
		t.Fatalf("replies %d != drained %d + dropped %d", st.Targets[0].Replies, len(got), st.Dropped)
	}
	for i := 1; i < len(got); i++ {
		if got[i].At.Before(got[i-1].At) {
			t.Fatalf("drained out of order: %+v", got)
		}
	}
}

// Unanswered requests time out: counted per target, and the pending map
// does not keep them.
func TestStreamTimeouts(t *testing.T) {
	n := newTestNet(t, true)
	for _, mode := range []Mode{Raw, Unprivileged} {
		t.Run(mode.String(), func(t *testing.T) {
			if mode == Unprivileged {
				nsSysctl(t, n.A, "net.ipv4.ping_group_range", "0 2147483647")
				t.Cleanup(func() { nsSysctl(t, n.A, "net.ipv4.ping_group_range", "1 0") })
			}
			targets := mustAddrs(n.Peer4, n.Peer6)
			var p *Pinger
			var s *Stream
			inNetns(t, n.A, func() {
				p, s = mustStream(t, Config{Mode: mode}, StreamConfig{Targets: targets, Rate: 40, Timeout: 150 * time.Millisecond, BlackoutAfter: 300 * time.Millisecond})
			})
			if t.Failed() {
				t.FailNow()
			}
			defer p.Close()
			waitFor(t, 20*time.Second, "3 timeouts per target", func() bool {
				st := s.Stats()
				return st.Targets[0].Timeouts >= 3 && st.Targets[1].Timeouts >= 3
			})
			waitFor(t, 20*time.Second, "blackout", func() bool { return s.Stats().Blackout })
			// Every request is pending until it times out: oldest first,
			// none older than the timeout (plus the expiry sweep, once
			// per send), at most rate*timeout of them (plus that slack).
			pend := s.PendingInto(nil)
			now := time.Now()
			if len(pend) == 0 || len(pend) > 9 {
				t.Errorf("%d requests pending from silent targets, want 1..9", len(pend))
			}
			for i, pe := range pend {
				if pe.Target != targets[0] && pe.Target != targets[1] {
					t.Errorf("pending request to %v", pe.Target)
				}
				if age := now.Sub(pe.Sent); age < 0 || age > 150*time.Millisecond+100*time.Millisecond {
					t.Errorf("pending request %d is %v old (timeout 150ms)", i, age)
				}
				if i > 0 && pe.Sent.Before(pend[i-1].Sent) {
					t.Errorf("pending requests out of send order: %v", pend)
				}
			}
			// At most rate*timeout requests (+ a tick of slack) may be in
			// flight per socket; the rest have been cleaned up.
			for _, sock := range s.uniq {
				if n := sock.dm.inFlight(); n > 6 {
					t.Errorf("%d requests pending on %s, want at most 6", n, sock.network)
				}
			}
			s.Close()
			st := s.Stats()
			for _, ts := range st.Targets {
				if ts.Replies != 0 || ts.SendErrors != 0 || ts.Sent < ts.Timeouts {
					t.Errorf("%+v: want no replies or send errors", ts)
				}
			}
			if got := s.Drain(nil); len(got) != 0 {
				t.Errorf("drained %d replies from silent targets", len(got))
			}
			if got := s.PendingInto(nil); len(got) != 0 {
				t.Errorf("%d requests pending after Close", len(got))
			}
			for _, sock := range s.uniq {
				if n := sock.dm.inFlight(); n != 0 {
					t.Errorf("%d requests pending on %s after Close", n, sock.network)
				}
			}
		})
	}
}

func mustStream(t testing.TB, opts Config, cfg StreamConfig) (*Pinger, *Stream) {
	p, err := Open(opts)
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	s, err := p.Stream(cfg)
	if err != nil {
		p.Close()
		t.Error(err)
		return nil, nil
	}
	return p, s
}

// A target without a route: the write fails and is counted, the stream
// carries on with the other targets.
func TestStreamSendErrors(t *testing.T) {
	n := newTestNet(t, false)
	var p *Pinger
	var s *Stream
	inNetns(t, n.A, func() {
		p, s = mustStream(t, Config{Mode: Raw}, StreamConfig{Targets: mustAddrs(n.NoRoute4, n.Peer4), Rate: 40})
	})
	if t.Failed() {
		t.FailNow()
	}
	defer p.Close()
	replies := collect(t, s, 5, 20*time.Second)
	waitFor(t, 20*time.Second, "send errors", func() bool { return s.Stats().Targets[0].SendErrors >= 2 })
	s.Close()
	for _, r := range s.Drain(replies) {
		if r.Target != netip.MustParseAddr(n.Peer4) {
			t.Fatalf("reply from %v", r.Target)
		}
	}
	if ts := s.Stats().Targets[0]; ts.Replies != 0 || ts.Timeouts != 0 || ts.SendErrors == 0 {
		t.Fatalf("unroutable target stats %+v", ts)
	}
}

// dialIn makes the Pinger's TCP fallback connect from inside namespace ns.
func dialIn(t testing.TB, p *Pinger, ns string) {
	p.dialTCP = func(ctx context.Context, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (rtt time.Duration, err error) {
		if nerr := tryInNetns(ns, func() { rtt, err = tcpConnectRTT(ctx, src, dst, timeout) }); nerr != nil {
			return 0, nerr
		}
		return rtt, err
	}
}

// listenIn opens a TCP listener inside ns that accepts and closes.
func listenIn(t testing.TB, ns, addr string) netip.AddrPort {
	t.Helper()
	var ln net.Listener
	inNetns(t, ns, func() {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// ICMP blackout: TCP-connect RTTs replace ICMP after BlackoutAfter, and the
// stream returns to ICMP when replies come back.
func TestStreamBlackoutFallback(t *testing.T) {
	n := newTestNet(t, true)
	fb := listenIn(t, n.B, net.JoinHostPort(n.Peer4, "0"))
	p := openPinger(t, Config{Mode: Raw})
	dialIn(t, p, n.A)
	var s *Stream
	inNetns(t, n.A, func() {
		var err error
		s, err = p.Stream(StreamConfig{
			Targets:       mustAddrs(n.Peer4, n.Peer6),
			Rate:          40,
			Timeout:       200 * time.Millisecond,
			BlackoutAfter: 300 * time.Millisecond,
			Fallback:      []netip.AddrPort{fb},
			FallbackRate:  20,
		})
		if err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	var got []Reply
	waitFor(t, 20*time.Second, "TCP fallback replies", func() bool {
		got = s.Drain(got)
		tcp := 0
		for _, r := range got {
			if r.TCP {
				tcp++
			}
		}
		return tcp >= 3
	})
	st := s.Stats()
	if !st.Blackout {
		t.Fatal("TCP replies without a blackout")
	}
	for _, r := range got {
		if !r.TCP || r.Target != fb.Addr() || r.RTT <= 0 || r.RTT > time.Second {
			t.Fatalf("reply during blackout %+v, want TCP from %v", r, fb.Addr())
		}
	}
	if f := st.Fallback[0]; f.Target != fb || f.Replies < 3 || f.Attempts < f.Replies {
		t.Fatalf("fallback stats %+v", f)
	}

	n.setIgnoreICMP(t, false)
	waitFor(t, 20*time.Second, "blackout to end", func() bool { return !s.Stats().Blackout })
	attempts := s.Stats().Fallback[0].Attempts
	got = got[:0]
	waitFor(t, 20*time.Second, "ICMP replies from both targets", func() bool {
		got = s.Drain(got)
		per := map[netip.Addr]int{}
		for _, r := range got {
			if !r.TCP {
				per[r.Target]++
			}
		}
		return per[netip.MustParseAddr(n.Peer4)] >= 10 && per[netip.MustParseAddr(n.Peer6)] >= 10
	})
	// 20 ICMP replies at 40/s span far more than the fallback interval
	// (50 ms): had TCP probing continued, attempts would have grown. One
	// probe may have started in the tick that raced the first reply.
	if after := s.Stats().Fallback[0].Attempts; after > attempts+1 {
		t.Fatalf("TCP probes went on after ICMP returned: %d -> %d attempts", attempts, after)
	}
	if s.Stats().Blackout {
		t.Fatal("blackout again while ICMP answers")
	}
}

func TestBurst(t *testing.T) {
	p := openPinger(t, Config{})
	targets := mustAddrs("127.0.0.1", "127.0.0.2", "::1")
	const count, interval, timeout = 5, 20 * time.Millisecond, 2 * time.Second
	start := time.Now()
	replies, st, err := p.Burst(context.Background(), targets, count, interval, timeout)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	// Not a speed assertion: the documented upper bound, which holds even
	// on a loaded machine because nothing waits longer than the deadline.
	if limit := (count-1)*interval + timeout + time.Second; took > limit {
		t.Errorf("Burst took %v, documented bound %v", took, limit)
	}
	if len(replies) != count*len(targets) {
		t.Fatalf("%d replies, want %d", len(replies), count*len(targets))
	}
	checkReplies(t, replies, targets)
	for _, ts := range st.Targets {
		if ts.Sent != count || ts.Replies != count || ts.Timeouts != 0 || ts.SendErrors != 0 {
			t.Errorf("burst stats %+v, want %d sent and answered", ts, count)
		}
	}
	if st.Blackout {
		t.Error("blackout with replies")
	}
}

func TestBurstTimeouts(t *testing.T) {
	n := newTestNet(t, true)
	var p *Pinger
	inNetns(t, n.A, func() {
		var err error
		p, err = Open(Config{})
		if err != nil {
			t.Error(err)
			return
		}
		// Open the sockets here, inside A.
		if _, _, err := p.Burst(context.Background(), mustAddrs(n.Local4, n.Local6), 1, 0, time.Second); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	defer p.Close()
	const count, interval, timeout = 4, 10 * time.Millisecond, 100 * time.Millisecond
	targets := mustAddrs(n.Peer4, n.Peer6, n.NoRoute4)
	replies, st, err := p.Burst(context.Background(), targets, count, interval, timeout)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 0 || !st.Blackout {
		t.Fatalf("%d replies, blackout %v from silent targets", len(replies), st.Blackout)
	}
	for i, ts := range st.Targets {
		want := TargetStats{Target: targets[i], Sent: count, Timeouts: count}
		if i == 2 {
			want = TargetStats{Target: targets[i], Sent: count, SendErrors: count}
		}
		if ts != want {
			t.Errorf("stats %+v, want %+v", ts, want)
		}
	}
	for _, s := range p.socks {
		if s != nil && s.dm.inFlight() != 0 {
			t.Errorf("%d requests pending after the burst on %s", s.dm.inFlight(), s.network)
		}
	}

	// A cancelled context ends the burst early with what it has.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = p.Burst(ctx, targets[:1], 3, time.Second, time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled burst: %v", err)
	}
	for _, s := range p.socks {
		if s != nil && s.dm.inFlight() != 0 {
			t.Errorf("%d requests pending after a cancelled burst", s.dm.inFlight())
		}
	}
}

func TestBurstBadArguments(t *testing.T) {
	p := openPinger(t, Config{})
	ctx := context.Background()
	lo := mustAddrs("127.0.0.1")
	cases := []struct {
		name    string
		targets []netip.Addr
		count   int
		iv, to  time.Duration
		want    string
	}{
		{"no targets", nil, 1, 0, time.Second, "no targets"},
		{"zero count", lo, 0, 0, time.Second, "at least one round"},
		{"no interval", lo, 2, 0, time.Second, "interval"},
		{"no timeout", lo, 1, 0, 0, "timeout"},
		{"duplicate", mustAddrs("127.0.0.1", "127.0.0.1"), 1, 0, time.Second, "listed twice"},
		{"invalid", []netip.Addr{{}}, 1, 0, time.Second, "not a valid IP"},
		{"multicast", mustAddrs("224.0.0.1"), 1, 0, time.Second, "unicast"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := p.Burst(ctx, c.targets, c.count, c.iv, c.to); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestStreamBadConfig(t *testing.T) {
	p := openPinger(t, Config{})
	lo := mustAddrs("127.0.0.1")
	cases := []struct {
		name string
		cfg  StreamConfig
		want string
	}{
		{"no rate", StreamConfig{Targets: lo}, "rate"},
		{"negative timeout", StreamConfig{Targets: lo, Rate: 1, Timeout: -1}, "negative"},
		{"fallback without port", StreamConfig{Targets: lo, Rate: 1, Fallback: []netip.AddrPort{netip.AddrPortFrom(lo[0], 0)}}, "port"},
		{"no targets", StreamConfig{Rate: 1}, "no targets"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := p.Stream(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want it to mention %q", err, c.want)
			}
		})
	}
	if _, err := Open(Config{Mode: 9}); err == nil {
		t.Error("Open accepted mode 9")
	}
}

func TestSourceAddress(t *testing.T) {
	p := openPinger(t, Config{Source: netip.MustParseAddr("127.0.0.1"), Mode: Raw})
	replies, _, err := p.Burst(context.Background(), mustAddrs("127.0.0.2"), 2, 10*time.Millisecond, 2*time.Second)
	if err != nil || len(replies) != 2 {
		t.Fatalf("bound to 127.0.0.1: %d replies, %v", len(replies), err)
	}
	if _, _, err := p.Burst(context.Background(), mustAddrs("::1"), 1, 0, time.Second); err == nil || !strings.Contains(err.Error(), "address families") {
		t.Fatalf("IPv4 source, IPv6 target: %v", err)
	}
	p2 := openPinger(t, Config{Source: netip.MustParseAddr("192.0.2.77")})
	_, err = p2.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1"), Rate: 1})
	if err == nil || !strings.Contains(err.Error(), "not an address of this host") {
		t.Fatalf("foreign source address: %v", err)
	}
}

// Without CAP_NET_RAW and with ping_group_range closed (a fresh namespace's
// default "1 0"), the error says what to grant.
func TestPermissionError(t *testing.T) {
	ns := newNetns(t)
	for _, c := range []struct {
		mode Mode
		want []string
	}{
		{Auto, []string{"ping_group_range", "CAP_NET_RAW", "AmbientCapabilities=CAP_NET_RAW", "IPv4"}},
		{Raw, []string{"CAP_NET_RAW"}},
		{Unprivileged, []string{`net.ipv4.ping_group_range="0 2147483647"`}},
	} {
		t.Run(c.mode.String(), func(t *testing.T) {
			var err error
			inNetns(t, ns, func() {
				if derr := dropNetRaw(); derr != nil {
					t.Error(derr)
					return
				}
				p, oerr := Open(Config{Mode: c.mode})
				if oerr != nil {
					t.Error(oerr)
					return
				}
				defer p.Close()
				_, err = p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1"), Rate: 1})
			})
			if err == nil {
				t.Fatalf("Stream opened an ICMP socket without permission")
			}
			if !errors.Is(err, os.ErrPermission) {
				t.Errorf("%v is not a permission error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestTCPConnectRTT(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx := context.Background()
	open := netip.MustParseAddrPort(ln.Addr().String())
	if rtt, err := TCPConnectRTT(ctx, open, time.Second); err != nil || rtt <= 0 {
		t.Fatalf("listener: %v %v", rtt, err)
	}

	// A closed port answers with RST: the path works, the sample counts.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := netip.MustParseAddrPort(closed.Addr().String())
	closed.Close()
	if rtt, err := TCPConnectRTT(ctx, refused, time.Second); err != nil || rtt <= 0 {
		t.Fatalf("refused: %v %v", rtt, err)
	}

	if _, err := TCPConnectRTT(ctx, netip.AddrPortFrom(open.Addr(), 0), time.Second); err == nil {
		t.Fatal("port 0 accepted")
	}
}

// A target that never answers (an address nobody owns) times out.
func TestTCPConnectRTTTimeout(t *testing.T) {
	n := newTestNet(t, false)
	var err error
	inNetns(t, n.A, func() {
		_, err = TCPConnectRTT(context.Background(), netip.MustParseAddrPort(n.Silent4+":443"), 200*time.Millisecond)
	})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("silent target: %v, want a timeout", err)
	}
}

// The stream's ring of requests in flight: registered before the write,
// settled by the reply, the timeout or a failed write, listed oldest first.
// Replies delivered out of receive-time order (the IPv4 and IPv6 readers
// race) are drained in receive-time order.
func TestStreamDrainsInReceiveOrder(t *testing.T) {
	targets := mustAddrs("192.0.2.1", "2001:db8::1")
	s := &Stream{cfg: StreamConfig{Targets: targets}, stats: make([]TargetStats, 2), ts: make([]tsTarget, 2), ring: make([]Reply, 4), inflight: make([]pendingEcho, 8)}
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, ms := range []int{10, 30, 20, 5, 40, 35} {
		s.deliver(Reply{Target: targets[ms%2], Seq: uint16(ms), At: at(ms)}, ms%2)
	}
	// The ring holds 4: the two oldest in receive order (5 and 10) are
	// dropped, the rest come out sorted.
	got := s.Drain(nil)
	var ms []int
	for _, r := range got {
		ms = append(ms, int(r.At.Sub(t0)/time.Millisecond))
	}
	if !slices.Equal(ms, []int{20, 30, 35, 40}) {
		t.Fatalf("drained at %v ms, want [20 30 35 40]", ms)
	}
}

func TestStreamPendingRing(t *testing.T) {
	targets := mustAddrs("192.0.2.1", "192.0.2.2")
	s := &Stream{cfg: StreamConfig{Targets: targets}, stats: make([]TargetStats, 2), ts: make([]tsTarget, 2), ring: make([]Reply, 8), inflight: make([]pendingEcho, 4)}
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	check := func(what string, want ...int) {
		t.Helper()
		got := s.PendingInto(nil)
		if len(got) != len(want) {
			t.Fatalf("%s: pending %v, want sent at %v ms", what, got, want)
		}
		for i, ms := range want {
			if !got[i].Sent.Equal(at(ms)) || got[i].Target != targets[ms/50%2] {
				t.Fatalf("%s: pending %d = %+v, want sent at %d ms to %v", what, i, got[i], ms, targets[ms/50%2])
			}
		}
	}
	s.registered(1, at(0), 0, false)
	s.registered(2, at(50), 1, false)
	s.registered(3, at(100), 0, false)
	check("three sent", 0, 50, 100)
	s.deliver(Reply{Target: targets[1], Seq: 2, RTT: 20 * time.Millisecond, At: at(70)}, 1)
	check("the middle one answered", 0, 100)
	s.expired(targets[0], 1, 0)
	check("the oldest timed out", 100)
	s.registered(4, at(150), 1, false)
	s.unregistered(4, 1)
	check("a failed write is never pending", 100)
	// More than the ring holds: the oldest is forgotten.
	for i, ms := range []int{200, 250, 300, 350} {
		s.registered(uint16(5+i), at(ms), ms/50%2, false)
	}
	check("ring full", 200, 250, 300, 350)
	s.deliver(Reply{Target: targets[0], Seq: 99, At: at(400)}, 0) // unknown seq: nothing changes
	check("unknown seq", 200, 250, 300, 350)

	dst := make([]Pending, 0, 8)
	if n := testing.AllocsPerRun(100, func() { dst = s.PendingInto(dst[:0]) }); n != 0 {
		t.Errorf("PendingInto allocates %v times per call", n)
	}
}
