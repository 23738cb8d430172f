//go:build !race

package sim

import "testing"

// This file is left out of the race detector's build: TestSeedRobustnessNow
// is pure computation in one goroutine, where the detector has nothing to
// find, and it makes the test 13 times slower (170 s instead of 13 s).
// `go test ./...` runs it.

// robustnessFloorNow is robustnessFloor on the current model (elastic
// load, the scenarios' jitter: what wanctl simulate plays), set with
// controller v2 (BENCHMARKS.md, "Controller v2 landed"), by the same rule;
// raised with the drain margin's 200 ms (BENCHMARKS.md, "Sixth round").
var robustnessFloorNow = map[string]int{
	"steady":          20,
	"step-drop":       19,
	"cable-evening":   17,
	"lte":             0,
	"starlink":        4,
	"idle-then-burst": 8,
	"icmp-blackout":   19,
	"download-only":   19,
	"upload-only":     19,
	"idle-rise":       19,
	"app-limited":     19,
}

// TestSeedRobustnessNow is TestSeedRobustness on the current model.
func TestSeedRobustnessNow(t *testing.T) {
	seedRobustness(t, robustnessFloorNow, OptionsFromWAN)
}

// robustnessFloorTimestamps is robustnessFloorNow with ICMP timestamps
// (measurement.timestamps), set when one-way delays landed by the same rule
// (BENCHMARKS.md, "Eighth round"): 190 runs of 220 where round trips meet
// 172.
var robustnessFloorTimestamps = map[string]int{
	"steady":          20,
	"step-drop":       19,
	"cable-evening":   19,
	"lte":             2,
	"starlink":        16,
	"idle-then-burst": 9,
	"icmp-blackout":   19,
	"download-only":   19,
	"upload-only":     19,
	"idle-rise":       19,
	"app-limited":     19,
}

// TestSeedRobustnessTimestamps is TestSeedRobustnessNow measuring with
// ICMP timestamps.
func TestSeedRobustnessTimestamps(t *testing.T) {
	seedRobustness(t, robustnessFloorTimestamps, timestampOptions)
}
