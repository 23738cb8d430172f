package autorate

import (
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

func TestWritePolicy(t *testing.T) {
	type offer struct {
		at   time.Duration // since t0
		rate int64
		want Verdict
	}
	tests := []struct {
		name   string
		rw     config.RouterWrites
		offers []offer
	}{
		{"first offer always written", config.RouterWrites{MinChange: 0.5, IncreaseInterval: time.Hour, MaxPerMinute: 10}, []offer{
			{0, 900e6, Write},
		}},
		{"same rate skipped", testWAN().RouterWrites, []offer{
			{0, 900e6, Write}, {50 * ms, 900e6, SkipSame},
		}},
		{"small change skipped", testWAN().RouterWrites, []offer{
			{0, 900e6, Write},
			{50 * ms, 890e6, SkipSmall},         // -1.1 %
			{100 * ms, 880e6, Write},            // -2.2 % of the last written
			{2 * time.Second, 890e6, SkipSmall}, // +1.1 %
		}},
		{"floor and ceiling are written however small", testWAN().RouterWrites, []offer{
			{0, 930e6, Write},
			{2 * time.Second, 940e6, Write}, // ceiling, +1.1 %
			{3 * time.Second, 205e6, Write},
			{4 * time.Second, 200e6, Write}, // red floor, -2.4 %
			{5 * time.Second, 203e6, SkipSmall},
			{6 * time.Second, 276e6, Write},
			{7 * time.Second, 275e6, Write}, // soft_red floor, -0.4 %
			{8 * time.Second, 351e6, Write},
			{9 * time.Second, 350e6, Write}, // yellow floor
		}},
		{"increases coalesced", testWAN().RouterWrites, []offer{
			{0, 500e6, Write},
			{50 * ms, 515e6, Write},
			{100 * ms, 530e6, HoldIncrease},
			{500 * ms, 600e6, HoldIncrease},
			{1049 * ms, 615e6, HoldIncrease},
			{1050 * ms, 615e6, Write},
			{1100 * ms, 630e6, HoldIncrease},
		}},
		{"decrease not held behind an increase", testWAN().RouterWrites, []offer{
			{0, 500e6, Write},
			{50 * ms, 515e6, Write},
			{100 * ms, 530e6, HoldIncrease},
			{150 * ms, 450e6, Write},
			{200 * ms, 405e6, Write},
			{250 * ms, 600e6, HoldIncrease}, // the last increase was 200 ms ago
		}},
		{"cap", config.RouterWrites{MinChange: 0.01, IncreaseInterval: 0, MaxPerMinute: 10}, []offer{
			// 9 increases use the increase budget (10 - 10/10)...
			{0, 100e6, Write}, {1 * time.Second, 110e6, Write}, {2 * time.Second, 120e6, Write},
			{3 * time.Second, 130e6, Write}, {4 * time.Second, 140e6, Write}, {5 * time.Second, 150e6, Write},
			{6 * time.Second, 160e6, Write}, {7 * time.Second, 170e6, Write}, {8 * time.Second, 180e6, Write},
			{9 * time.Second, 190e6, HoldCap},
			// ... the reserved slot is a decrease's
			{10 * time.Second, 150e6, Write},
			{11 * time.Second, 100e6, HoldCap},
			{59 * time.Second, 100e6, HoldCap},
			// the first write leaves the window at 60 s
			{60 * time.Second, 100e6, Write},
			{61 * time.Second, 110e6, HoldCap}, // 9 in the window (2..8 s, 10 s, 60 s)
			{62 * time.Second, 110e6, Write},   // 8 once the 2 s write left
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testWAN().Download
			p := NewWritePolicy(tt.rw, &d)
			for i, o := range tt.offers {
				if got := p.Offer(t0.Add(o.at), o.rate); got != o.want {
					t.Fatalf("offer %d (%v, %d): %v, want %v", i, o.at, o.rate, got, o.want)
				}
			}
		})
	}
}
