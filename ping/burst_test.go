package ping

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// BurstTimestamps to loopback: the kernel answers type 13 with its own
// clock, so every IPv4 reply is stamped (Hold 0, Up within the RTT give or
// take the stamp's millisecond truncation); ::1 gets echo requests. The
// pinger's raw socket still serves plain echo Bursts, unstamped.
func TestBurstTimestampsLoopback(t *testing.T) {
	allowUnprivileged(t) // Timestamps must make the IPv4 socket raw anyway
	p := openPinger(t, Config{Timestamps: true})
	v4 := mustAddrs("127.0.0.1", "127.0.0.2")
	targets := append(v4, mustAddrs("::1")...)
	const count, interval, timeout = 5, 20 * time.Millisecond, 2 * time.Second
	replies, st, err := p.BurstTimestamps(context.Background(), targets, count, interval, timeout)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := p.SocketMode(v4[0]); !ok || m != Raw {
		t.Fatalf("IPv4 socket mode %v (open %v), want raw for timestamps", m, ok)
	}
	if len(replies) != count*len(targets) {
		t.Fatalf("%d replies, want %d", len(replies), count*len(targets))
	}
	checkReplies(t, replies, targets)
	for _, r := range replies {
		switch {
		case r.Target.Is6():
			if r.Stamped || r.Up != 0 || r.Hold != 0 {
				t.Errorf("IPv6 reply %+v is stamped: IPv6 targets get echo requests", r)
			}
		case !r.Stamped || r.Hold != 0 || r.Up <= -2*time.Millisecond || r.Up > r.RTT+2*time.Millisecond:
			t.Errorf("reply %+v: want stamped, no hold, up in (-2ms, RTT+2ms] (same clock)", r)
		}
	}
	for _, ts := range st.Targets {
		want := TargetStats{Target: ts.Target, Sent: count, Replies: count, Stamped: count}
		if ts.Target.Is6() {
			want.Stamped = 0
		}
		if ts != want {
			t.Errorf("stats %+v, want %+v", ts, want)
		}
	}
	if st.Blackout {
		t.Error("blackout with replies")
	}

	// The echo Burst is unchanged on the same (raw) socket.
	replies, st, err = p.Burst(context.Background(), v4, 2, interval, timeout)
	if err != nil || len(replies) != 2*len(v4) {
		t.Fatalf("echo burst on the timestamp pinger: %d replies, %v", len(replies), err)
	}
	for _, r := range replies {
		if r.Stamped || r.Up != 0 {
			t.Errorf("echo burst reply %+v is stamped", r)
		}
	}
	for _, ts := range st.Targets {
		if ts.Stamped != 0 || ts.Replies != 2 {
			t.Errorf("echo burst stats %+v", ts)
		}
	}
}

// A reflector whose type 14 replies are dropped on the way out answers the
// echo Burst but nothing of BurstTimestamps, which does not fall back to
// echo: all its requests time out, none is stamped. With the filter gone
// the same burst is stamped, so it was the filter that silenced it.
func TestBurstTimestampsIgnored(t *testing.T) {
	n := newTestNet(t, false)
	restore := dropICMPOut(t, n.B, "vB", icmpv4TimestampReply)
	peer := mustAddrs(n.Peer4)
	var p *Pinger
	var echoReplies []Reply
	inNetns(t, n.A, func() {
		var err error
		p, err = Open(Config{Timestamps: true})
		if err != nil {
			t.Error(err)
			return
		}
		// Opens the raw IPv4 socket here, inside A.
		echoReplies, _, err = p.Burst(context.Background(), peer, 5, 20*time.Millisecond, time.Second)
		if err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	defer p.Close()
	if len(echoReplies) == 0 {
		t.Fatal("the peer answers no echo request: the test network is broken")
	}

	const count, interval, timeout = 4, 10 * time.Millisecond, 200 * time.Millisecond
	replies, st, err := p.BurstTimestamps(context.Background(), peer, count, interval, timeout)
	if err != nil {
		t.Fatal(err)
	}
	want := TargetStats{Target: peer[0], Sent: count, Timeouts: count}
	if len(replies) != 0 || st.Targets[0] != want || !st.Blackout {
		t.Fatalf("timestamps ignored: %d replies, stats %+v (want %+v), blackout %v", len(replies), st.Targets[0], want, st.Blackout)
	}
	for _, s := range p.socks {
		if s != nil && s.dm.inFlight() != 0 {
			t.Errorf("%d requests pending after the burst on %s", s.dm.inFlight(), s.network)
		}
	}

	restore()
	replies, st, err = p.BurstTimestamps(context.Background(), peer, count, interval, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ts := st.Targets[0]; len(replies) == 0 || ts.Stamped != ts.Replies {
		t.Fatalf("filter removed: %d replies, stats %+v: want stamped replies", len(replies), ts)
	}
}

func TestBurstTimestampsBadArguments(t *testing.T) {
	stamps := openPinger(t, Config{Timestamps: true})
	echo := openPinger(t, Config{Mode: Raw})
	lo := mustAddrs("127.0.0.1")
	cases := []struct {
		name   string
		p      *Pinger
		count  int
		iv, to time.Duration
		want   string
	}{
		{"pinger without timestamps", echo, 1, 0, time.Second, "Config.Timestamps"},
		{"zero count", stamps, 0, 0, time.Second, "at least one round"},
		{"no timeout", stamps, 1, 0, 0, "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := c.p.BurstTimestamps(context.Background(), lo, c.count, c.iv, c.to); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want it to mention %q", err, c.want)
			}
		})
	}
	if _, ok := echo.SocketMode(netip.MustParseAddr("127.0.0.1")); ok {
		t.Error("a refused burst opened a socket")
	}
}
