package demo

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/sim"
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
	t.Run("timeline", func(t *testing.T) { checkTimeline(t, text, sum, 30*time.Second) })
	t.Run("svg", func(t *testing.T) { checkSVG(t, sum) })
}

// timelineLine is a line of the per-second table: time, the primary's
// download and upload "cap / shaper" (the shaper rate marked with ↓, ↑ or
// ↕ when it changed that second), peak delays, worst zones.
var timelineLine = regexp.MustCompile(`^\s*(\d+)s\s+\S+ / ([↓↑↕ ]?)\S+\s+\S+ / ([↓↑↕ ]?)\S+\s+\+([\d.]+)ms / \+([\d.]+)ms\s+(\S+)`)

// checkTimeline: the seconds of the capacity drop show what the summary's
// percentiles are made of — a zone other than GREEN, a shaper cut, and a
// delay peak of the size of the p99 — and the recovery shows a raise.
func checkTimeline(t *testing.T, text string, sum *Summary, dur time.Duration) {
	var lines int
	var cutInDrop, raiseAfter, redInDrop bool
	var peak float64
	for _, l := range strings.Split(text, "\n") {
		m := timelineLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		lines++
		sec, _ := strconv.Atoi(m[1])
		at := time.Duration(sec) * time.Second
		down, _ := strconv.ParseFloat(m[4], 64)
		peak = max(peak, down)
		inDrop := at > dropAt(dur) && at <= recoverAt(dur)
		if inDrop && (m[2] == "↓" || m[2] == "↕") {
			cutInDrop = true
		}
		if inDrop && m[6] != "GREEN/GREEN" {
			redInDrop = true
		}
		if at > recoverAt(dur) && m[2] == "↑" {
			raiseAfter = true
		}
	}
	if lines < 25 {
		t.Fatalf("%d timeline lines, want about 30:\n%s", lines, text)
	}
	if !cutInDrop || !redInDrop || !raiseAfter {
		t.Errorf("cut in the drop %v, non-GREEN zone in the drop %v, raise after it %v; want all:\n%s", cutInDrop, redInDrop, raiseAfter, text)
	}
	// The per-second peaks are sampled every 10 ms (virtual): the worst
	// of them is of the order of the summary's p99, not a tenth of it.
	if p99 := sum.Download.AddedDelayMS.P99; peak < p99/2 {
		t.Errorf("worst per-second download peak %.1f ms, summary p99 %.1f ms:\n%s", peak, p99, text)
	}
	for _, want := range []string{"<- engaged", "<- returned", "engaged at ", "cuts, "} {
		if sum.SteeringEngaged > 0 && !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// checkSVG: the plot is the simulator's, of the live run, and well-formed
// XML with an <svg> root.
func checkSVG(t *testing.T, sum *Summary) {
	if sum.Plot == nil {
		t.Fatal("no plot")
	}
	var b bytes.Buffer
	if err := sim.WriteSVG(&b, sum.Plot); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "wanctl demo: cable") {
		t.Errorf("the plot's title lacks the demo's WAN")
	}
	d := xml.NewDecoder(&b)
	var root string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("svg: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
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
			sum, err := Run(ctx, Config{Out: &out, Speed: 3, Latency: 2 * time.Millisecond, Dir: t.TempDir(), Seed: seed})
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
