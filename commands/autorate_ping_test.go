package commands

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/ping"
)

// measurement.timestamps reaches the pinger: a WAN with it makes the pool's
// IPv4 socket raw and its stream send timestamp requests, whose replies
// carry one-way delays (127.0.0.1: this kernel answers them); a WAN
// without it pings with echo on the same socket.
func TestAutoratePingerTimestamps(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	stamped := &config.WAN{Name: "a", Measurement: config.Measurement{Reflectors: []netip.Addr{lo}, PingRate: 20, Timestamps: true}}
	echo := &config.WAN{Name: "b", Measurement: config.Measurement{Reflectors: []netip.Addr{lo}, PingRate: 20}}
	if pc := pingerConfig(&config.Config{WANs: []*config.WAN{echo}}, nil); pc.Timestamps {
		t.Fatalf("pinger config %+v without a WAN on timestamps: want echo sockets", pc)
	}
	pc := pingerConfig(&config.Config{WANs: []*config.WAN{echo, stamped}}, slog.New(slog.DiscardHandler))
	if !pc.Timestamps {
		t.Fatalf("pinger config %+v with a WAN on timestamps", pc)
	}
	pool := ping.NewPool(pc)
	defer pool.Close()
	p, err := pool.Get(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		w    *config.WAN
		want bool
	}{{stamped, true}, {echo, false}} {
		sc := streamConfig(tc.w, false)
		if sc.Timestamps != tc.want || sc.ExternalPacing || len(sc.Targets) != 1 || sc.Rate != 20 {
			t.Fatalf("wan %s: stream config %+v", tc.w.Name, sc)
		}
		s, err := p.Stream(sc)
		if err != nil {
			t.Fatalf("wan %s: %v", tc.w.Name, err)
		}
		var got []ping.Reply
		for deadline := time.Now().Add(10 * time.Second); len(got) < 3 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond) // real sockets: the replies come in real time
			got = s.Drain(got)
		}
		s.Close()
		if len(got) < 3 {
			t.Fatalf("wan %s: %d replies from 127.0.0.1 in 10 s", tc.w.Name, len(got))
		}
		for _, r := range got {
			if r.Stamped != tc.want {
				t.Errorf("wan %s: reply %+v, stamped %v, want %v", tc.w.Name, r, r.Stamped, tc.want)
			}
		}
	}
}
