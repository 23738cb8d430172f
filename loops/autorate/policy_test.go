package autorate

import (
	"math"
	"slices"
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
		{"first offer always written", config.RouterWrites{MinChange: 0.5, IncreaseInterval: time.Hour, WritesPerMinute: 1, Burst: 1}, []offer{
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
		{"budget: a burst, then one increase per token", budget(10, 3), []offer{
			{0, 500e6, Write}, // 2 tokens left
			{1 * time.Second, 510e6, Write},
			{2 * time.Second, 520e6, Write}, // 1/3 of a token left
			{3 * time.Second, 530e6, HoldBudget},
			{5999 * ms, 530e6, HoldBudget},
			{6 * time.Second, 530e6, Write}, // 1/3 + 4 s x 10/min
			{11999 * ms, 540e6, HoldBudget},
			{12 * time.Second, 540e6, Write},
		}},
		{"budget: decreases are written with no token, into debt", budget(10, 2), []offer{
			{0, 500e6, Write},
			{1 * time.Second, 510e6, Write}, // 1/6 of a token left
			{2 * time.Second, 520e6, HoldBudget},
			{2100 * ms, 450e6, Write},
			{2200 * ms, 400e6, Write},
			{2300 * ms, 380e6, Write}, // the debt stops at one burst: -2
			{2400 * ms, 360e6, Write},
			{3 * time.Second, 400e6, HoldBudget},
			// 3 tokens repay the debt and pay for the increase: 18 s
			{20399 * ms, 400e6, HoldBudget},
			{20400 * ms, 400e6, Write},
		}},
		{"budget: coalescing is told before the budget", config.RouterWrites{MinChange: 0.01, IncreaseInterval: time.Second, WritesPerMinute: 1, Burst: 2}, []offer{
			{0, 500e6, Write},
			{50 * ms, 550e6, Write}, // the last token
			{100 * ms, 600e6, HoldIncrease},
			{1050 * ms, 600e6, HoldBudget},
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

// budget is router_writes with every write's size and no coalescing, so
// that only the budget holds increases.
func budget(perMinute, burst int) config.RouterWrites {
	return config.RouterWrites{MinChange: 0.01, WritesPerMinute: perMinute, Burst: burst}
}

// The Loop offers the controller's rate every cycle: a held increase goes
// out at the first cycle that finds a token, with the newest rate.
func TestWritePolicyHeldIncreaseGoesOut(t *testing.T) {
	d := testWAN().Download
	rw := budget(10, 1)
	rw.MinChange = 0
	p := NewWritePolicy(rw, &d)
	if v := p.Offer(t0, 500e6); v != Write {
		t.Fatalf("first offer: %v", v)
	}
	var wrote []time.Duration
	for at := 50 * ms; at <= 13*time.Second; at += 50 * ms {
		rate := int64(500e6) + int64(at/ms)*10_000 // the controller keeps climbing
		switch v := p.Offer(t0.Add(at), rate); v {
		case Write:
			wrote = append(wrote, at)
			if p.Written() != rate {
				t.Fatalf("at %v wrote %d, want the newest rate %d", at, p.Written(), rate)
			}
		case HoldBudget:
		default:
			t.Fatalf("at %v: %v", at, v)
		}
	}
	if want := []time.Duration{6 * time.Second, 12 * time.Second}; !slices.Equal(wrote, want) {
		t.Fatalf("increases written at %v, want %v", wrote, want)
	}
}

// Over a long run the budget holds every write, decreases included, to
// burst + writes_per_minute a minute, while no decrease ever waits: a
// controller swinging between two rates every cycle.
func TestWritePolicySustainedRate(t *testing.T) {
	d := testWAN().Download
	p := NewWritePolicy(budget(10, 5), &d)
	writes, decreases := 0, 0
	for i := range 20 * 60 * 10 { // 10 min of 50 ms cycles
		rate := int64(500e6)
		if i%2 == 1 {
			rate = 400e6
		}
		before := p.Written()
		v := p.Offer(t0.Add(time.Duration(i)*50*ms), rate)
		if v == Write {
			writes++
		}
		if before != 0 && rate < before {
			decreases++
			if v != Write {
				t.Fatalf("cycle %d: decrease %v", i, v)
			}
		}
	}
	// Each swing is a decrease and an increase: two tokens. The debt the
	// decreases leave is at most one write's.
	if writes < 104 || writes > 106 || decreases < 50 {
		t.Fatalf("%d writes (%d decreases) in 10 min, want 5 + 100 and half of them decreases", writes, decreases)
	}
}

// Forget makes the next offer a write, whatever the budget holds.
func TestWritePolicyForgetWritesWithoutToken(t *testing.T) {
	d := testWAN().Download
	p := NewWritePolicy(budget(1, 1), &d)
	p.Offer(t0, 500e6)
	if v := p.Offer(t0.Add(time.Second), 600e6); v != HoldBudget {
		t.Fatalf("increase with an empty bucket: %v", v)
	}
	p.Forget()
	if v := p.Offer(t0.Add(2*time.Second), 600e6); v != Write {
		t.Fatalf("offer after Forget: %v", v)
	}
}

// A reload (SIGHUP) keeps the balance: it neither refills an empty bucket
// nor forgives a debt beyond the new burst's, and the new rate refills
// from then on.
func TestWritePolicyReconfigureKeepsBalance(t *testing.T) {
	d := testWAN().Download
	tests := []struct {
		name         string
		before       config.RouterWrites
		offers       []int64 // one a second from t0
		after        config.RouterWrites
		wantTokens   float64       // right after the reload
		nextIncrease time.Duration // after the last offer: the first increase written, offered every 50 ms
	}{
		{"empty bucket, bigger burst and rate", budget(10, 2), []int64{500e6, 510e6}, budget(60, 10), 1.0 / 6, 850 * ms}, // 5/6 of a token at 1/s
		{"full bucket, smaller burst", budget(10, 5), nil, budget(10, 2), 2, 50 * ms},
		{"debt held within the new burst", budget(10, 5), []int64{500e6, 510e6, 400e6, 300e6, 290e6, 280e6, 270e6, 260e6}, budget(10, 1), -1, 12 * time.Second},
		{"slower rate", budget(60, 1), []int64{500e6}, budget(6, 1), 0, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewWritePolicy(tt.before, &d)
			last := t0
			for i, r := range tt.offers {
				last = t0.Add(time.Duration(i) * time.Second)
				p.Offer(last, r)
			}
			if len(tt.offers) == 0 {
				p.Offer(last, 500e6) // costs a token: count it back below
				p.bucket.credit = p.bucket.burst * token
			}
			p.Reconfigure(tt.after, &d)
			if got := p.tokens(); math.Abs(got-tt.wantTokens) > 1e-9 {
				t.Fatalf("%.4f tokens after the reload, want %.4f", got, tt.wantTokens)
			}
			for at := 50 * ms; at <= time.Minute; at += 50 * ms {
				if p.Offer(last.Add(at), p.Written()*2) == Write {
					if at != tt.nextIncrease {
						t.Fatalf("next increase written %v after the reload, want %v", at, tt.nextIncrease)
					}
					return
				}
			}
			t.Fatal("no increase written within a minute")
		})
	}
}

// The bucket refills to its burst and no further, also after weeks idle
// (where elapsed × rate would overflow), and a clock stepping back credits
// nothing.
func TestWriteBudgetRefill(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // since the bucket was emptied at t0
		want  float64       // tokens
	}{
		{"same instant", 0, 0},
		{"one token's time", 1500 * ms, 1},
		{"part of a token", 750 * ms, 0.5},
		{"to the burst", 4500 * ms, 3},
		{"no further", time.Hour, 3},
		{"weeks idle", 90 * 24 * time.Hour, 3},
		{"clock stepped back", -time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bucket
			b.configure(40, 3)
			for range 3 {
				if !b.spend(t0, false) {
					t.Fatal("a full bucket refused a token")
				}
			}
			b.refill(t0.Add(tt.after))
			if got := float64(b.credit) / float64(token); math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("%.4f tokens, want %.4f", got, tt.want)
			}
		})
	}
}
