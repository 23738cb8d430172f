package ping

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

func sentTotal(s *Stream) uint64 {
	var n uint64
	for _, t := range s.Stats().Targets {
		n += t.Sent
	}
	return n
}

// An externally paced stream sends only from Tick, what is due at Rate:
// for each rate/interval ratio the number of requests per Tick follows
// the schedule exactly (also with timer jitter on the Ticks), and the
// total is Rate times the time covered.
func TestExternalPacingRequestsPerTick(t *testing.T) {
	cases := []struct {
		rate     float64
		interval time.Duration
		first    int   // requests sent by the first Tick
		cycle    []int // then by the following Ticks, repeating
		jitter   time.Duration
	}{
		{20, 50 * time.Millisecond, 1, []int{1}, 10 * time.Millisecond}, // ping_rate 20 at 50 ms: one per cycle
		{40, 50 * time.Millisecond, 1, []int{2}, 10 * time.Millisecond},
		{10, 50 * time.Millisecond, 1, []int{0, 1}, 10 * time.Millisecond}, // every other cycle
		{5, 50 * time.Millisecond, 1, []int{0, 0, 0, 1}, 10 * time.Millisecond},
		{1, 50 * time.Millisecond, 1, append(make([]int, 19), 1), 10 * time.Millisecond}, // one every 20 cycles
		{20, 10 * time.Millisecond, 1, []int{0, 0, 0, 0, 1}, 2 * time.Millisecond},
		{100, 20 * time.Millisecond, 1, []int{2}, 4 * time.Millisecond},
		// 1.5 per cycle, spread; its slots are 4.2 ms from a Tick's
		// boundary, so more jitter moves some by one Tick.
		{30, 50 * time.Millisecond, 1, []int{1, 2}, 3 * time.Millisecond},
	}
	p := openPinger(t, Config{Mode: Raw})
	for _, c := range cases {
		t.Run(fmt.Sprintf("rate %g every %v", c.rate, c.interval), func(t *testing.T) {
			for _, jitter := range []time.Duration{0, c.jitter} {
				s, err := p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1", "127.0.0.2", "127.0.0.3"), Rate: c.rate, ExternalPacing: true})
				if err != nil {
					t.Fatal(err)
				}
				if n := sentTotal(s); n != 0 {
					t.Fatalf("rate %g: %d requests sent before the first Tick", c.rate, n)
				}
				rng := rand.New(rand.NewPCG(1, uint64(c.rate)))
				base := time.Now()
				ticks := 200
				var got []int
				for k := range ticks {
					at := base.Add(time.Duration(k) * c.interval)
					if jitter > 0 && k > 0 {
						at = at.Add(time.Duration(rng.Int64N(int64(2*jitter))) - jitter)
					}
					before := sentTotal(s)
					s.Tick(at)
					got = append(got, int(sentTotal(s)-before))
				}
				s.Close()
				for k, n := range got {
					w := c.first
					if k > 0 {
						w = c.cycle[(k-1)%len(c.cycle)]
					}
					if n != w {
						t.Fatalf("rate %g/s, Ticks every %v (jitter ±%v): Tick %d sent %d, want %d (first Ticks: %v)", c.rate, c.interval, jitter, k, n, w, got[:min(len(got), 12)])
					}
				}
				total := 0
				for _, n := range got {
					total += n
				}
				span := time.Duration(ticks-1) * c.interval
				if want := c.rate * span.Seconds(); math.Abs(float64(total)-want) > 2 {
					t.Errorf("rate %g/s over %v: %d requests, want %.0f", c.rate, span, total, want)
				}
			}
		})
	}
}

// The requests of an externally paced stream are real: replies arrive and
// are timestamped by the reader, requests in flight are listed, and the
// targets are taken in turn.
func TestExternalPacingReplies(t *testing.T) {
	p := openPinger(t, Config{Mode: Raw})
	targets := mustAddrs("127.0.0.1", "127.0.0.2")
	s, err := p.Stream(StreamConfig{Targets: targets, Rate: 40, ExternalPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []Reply
	waitFor(t, 20*time.Second, "replies", func() bool {
		s.Tick(time.Now())
		got = s.Drain(got)
		return len(got) >= 10
	})
	checkReplies(t, got, targets)
	st := s.Stats()
	if d := int(st.Targets[0].Sent) - int(st.Targets[1].Sent); d < 0 || d > 1 {
		t.Errorf("targets not taken in turn: %+v", st.Targets)
	}
	s.Close()
	n := sentTotal(s)
	s.Tick(time.Now().Add(time.Second))
	if sentTotal(s) != n {
		t.Fatal("Tick sent after Close")
	}
	if pend := s.PendingInto(nil); len(pend) != 0 {
		t.Fatalf("%d requests pending after Close", len(pend))
	}
}

// A late owner catches up on its schedule only within maxCatchUp; after a
// longer stall the schedule restarts instead of bursting.
func TestExternalPacingStall(t *testing.T) {
	p := openPinger(t, Config{Mode: Raw})
	s, err := p.Stream(StreamConfig{Targets: mustAddrs("127.0.0.1"), Rate: 20, ExternalPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.Now()
	tick := func(at time.Duration) int {
		before := sentTotal(s)
		s.Tick(base.Add(at))
		return int(sentTotal(s) - before)
	}
	tick(0)
	tick(50 * time.Millisecond)
	if n := tick(200 * time.Millisecond); n != 3 { // 100, 150 and 200 ms were due
		t.Fatalf("after a missed cycle: %d requests, want 3", n)
	}
	if n := tick(5 * time.Second); n != 1 {
		t.Fatalf("after a 4.8 s stall: %d requests, want 1 (schedule restarted)", n)
	}
	if n := tick(5*time.Second + 50*time.Millisecond); n != 1 {
		t.Fatalf("next cycle after the restart: %d requests, want 1", n)
	}
}

// Tick does nothing on a self-paced stream (its own ticker sends).
func TestTickSelfPacedNoop(t *testing.T) {
	p := openPinger(t, Config{Mode: Raw})
	s, err := p.Stream(StreamConfig{Targets: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, 10*time.Second, "first request", func() bool { return sentTotal(s) == 1 })
	s.Tick(time.Now().Add(time.Hour))
	if n := sentTotal(s); n != 1 {
		t.Fatalf("Tick on a self-paced stream: %d requests, want its own 1", n)
	}
}
