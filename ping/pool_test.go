package ping

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
)

// Opening a Pinger opens no socket, so these tests need no privilege.

func TestPoolOnePingerPerSource(t *testing.T) {
	pool := NewPool(Config{Mode: Raw, Source: netip.MustParseAddr("192.0.2.1")})
	defer pool.Close()
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	get := func(src netip.Addr) *Pinger {
		t.Helper()
		p, err := pool.Get(src)
		if err != nil {
			t.Fatalf("Get(%v): %v", src, err)
		}
		return p
	}
	pa, pb, pany := get(a), get(b), get(netip.Addr{})
	if pa == pb || pa == pany || pb == pany {
		t.Fatal("different sources share a Pinger")
	}
	if get(a) != pa || get(b) != pb || get(netip.Addr{}) != pany {
		t.Fatal("the same source got a second Pinger")
	}
	// The Pool's Config is the template; the source is Get's.
	for src, p := range map[netip.Addr]*Pinger{a: pa, b: pb, {}: pany} {
		if p.cfg.Source != src || p.cfg.Mode != Raw {
			t.Errorf("Get(%v): Pinger has source %v mode %v, want %v and raw", src, p.cfg.Source, p.cfg.Mode, src)
		}
	}
}

func TestPoolOpenErrorNotRemembered(t *testing.T) {
	pool := NewPool(Config{})
	defer pool.Close()
	bad := netip.MustParseAddr("224.0.0.1")
	for range 2 {
		if p, err := pool.Get(bad); err == nil {
			t.Fatalf("Get(multicast) = %p, want an error", p)
		}
	}
	if len(pool.pingers) != 0 || len(pool.bySource) != 0 {
		t.Fatalf("a failed Get was kept: %d pingers", len(pool.pingers))
	}
	if _, err := pool.Get(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatalf("a good source after a bad one: %v", err)
	}
}

func TestPoolClose(t *testing.T) {
	pool := NewPool(Config{})
	var pingers []*Pinger
	for _, s := range []string{"127.0.0.1", "::1"} {
		p, err := pool.Get(netip.MustParseAddr(s))
		if err != nil {
			t.Fatal(err)
		}
		pingers = append(pingers, p)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range pingers {
		if _, err := p.Stream(StreamConfig{Targets: []netip.Addr{p.cfg.Source}, Rate: 1}); !errors.Is(err, ErrClosed) {
			t.Errorf("Pinger %v after Pool.Close: Stream err %v, want ErrClosed", p.cfg.Source, err)
		}
	}
	if _, err := pool.Get(netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if err := pool.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// calibrate pings several WANs at once; they must still share a Pinger.
func TestPoolConcurrentGet(t *testing.T) {
	pool := NewPool(Config{})
	defer pool.Close()
	src := netip.MustParseAddr("127.0.0.1")
	got := make([]*Pinger, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			p, err := pool.Get(src)
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		})
	}
	wg.Wait()
	for i, p := range got {
		if p == nil || p != got[0] {
			t.Fatalf("Get %d returned %p, Get 0 %p", i, p, got[0])
		}
	}
	if len(pool.pingers) != 1 {
		t.Fatalf("%d Pingers opened for one source", len(pool.pingers))
	}
}
