package ping

import (
	"net/netip"
	"testing"
	"time"
)

// chanSink signals every reply on a channel.
type chanSink struct{ ch chan struct{} }

func (c *chanSink) deliver(Reply, int)              { c.ch <- struct{}{} }
func (c *chanSink) expired(netip.Addr, uint16, int) { c.ch <- struct{}{} }

// BenchmarkLoopbackRoundTrip is one echo (or timestamp) request and reply
// over a real socket on loopback: register, sendto, kernel, recvfrom in the
// reader goroutine, match, deliver. allocs/op covers the reader goroutine too.
func BenchmarkLoopbackRoundTrip(b *testing.B) {
	for _, mode := range []Mode{Raw, Unprivileged} {
		for _, target := range []string{"127.0.0.1", "::1"} {
			b.Run(mode.String()+"/"+target, func(b *testing.B) {
				if mode == Unprivileged {
					allowUnprivileged(b)
				}
				roundTrips(b, openPinger(b, Config{Mode: mode}), target, false)
			})
		}
	}
	// A timestamp request and reply (raw IPv4 only).
	b.Run("raw/timestamps/127.0.0.1", func(b *testing.B) {
		roundTrips(b, openPinger(b, Config{Timestamps: true}), "127.0.0.1", true)
	})
}

// roundTrips sends one request at a time to target and waits for its reply.
func roundTrips(b *testing.B, p *Pinger, target string, stamps bool) {
	dst := netip.MustParseAddr(target)
	sock, err := p.socketFor(dst)
	if err != nil {
		b.Fatal(err)
	}
	sk := &chanSink{ch: make(chan struct{}, 1)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sock.send(dst, sk, 0, time.Second, true, stamps); err != nil {
			b.Fatal(err)
		}
		<-sk.ch
	}
}
