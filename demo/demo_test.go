package demo

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDemo plays the whole demo 15 times faster than real time: apply to
// the emulator, the autorate daemon writing max-limit over HTTP, steer every
// 2 s (virtual), the simulated links following what the router was told.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := Run(ctx, Config{Out: &out, Speed: 15, Latency: 2 * time.Millisecond, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"Apply complete! Resources: 34 added", "Summary for cable", "steering:"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "steer: ") && strings.Contains(text, "error") {
		t.Errorf("a steer run failed:\n%s", text)
	}
	// A line per second of the run.
	if n := strings.Count(text, "s  "); n < 25 {
		t.Errorf("%d timeline lines, want about 30:\n%s", n, text)
	}
	if sum.Writes == 0 {
		t.Errorf("the daemon wrote no max-limit: %+v", sum)
	}
	if sum.SteeringRuns < 10 {
		t.Errorf("%d steer runs in 30 s (virtual), want about 15", sum.SteeringRuns)
	}
	// The point of the product: the capacity drop hurts far less than with
	// a fixed shaper at the ceiling.
	if !(sum.Download.AddedDelayMS.P99 < sum.FixedDownload.AddedDelayMS.P99) {
		t.Errorf("download p99 %.1f ms not better than the fixed shaper's %.1f ms", sum.Download.AddedDelayMS.P99, sum.FixedDownload.AddedDelayMS.P99)
	}
	// The primary spends 6 of the 30 s below autorate's floor and then
	// climbs back from it: about 0.6 (0.75 before that phase existed).
	if sum.Download.Utilisation < 0.4 {
		t.Errorf("download utilisation %.2f", sum.Download.Utilisation)
	}
}

// TestDemoSteers: the demo's primary falls below autorate's floor, where
// only steering helps. Steering must engage on the router (through the
// emulator, whose CAKE trees report no drops, as RouterOS 7.23) and
// return once the primary recovers, on more than one seed.
func TestDemoSteers(t *testing.T) {
	for _, seed := range []int64{1, 2} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sum, err := Run(ctx, Config{Out: &out, Speed: 6, Latency: 2 * time.Millisecond, Dir: t.TempDir(), Seed: seed})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			if sum.SteeringEngaged < 1 || sum.SteeringReturned < 1 || sum.SteeringState != "CABLE_GOOD" {
				t.Fatalf("steering engaged %d, returned %d, ends %s; want >= 1, >= 1, CABLE_GOOD:\n%s",
					sum.SteeringEngaged, sum.SteeringReturned, sum.SteeringState, out.String())
			}
			text := out.String()
			for _, want := range []string{"steer: CABLE_GOOD -> CABLE_DEGRADED", "steering rules enabled", "steer: CABLE_DEGRADED -> CABLE_GOOD", "CABLE_DEGRADED\n"} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
		})
	}
}
