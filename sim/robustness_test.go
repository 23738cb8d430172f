package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

// robustnessSeeds is how many seeds TestSeedRobustness plays per scenario
// (seeds 1..robustnessSeeds).
const robustnessSeeds = 10

// robustnessFloor is, per scenario, the fewest direction-runs (of
// 2 × robustnessSeeds) that must meet DESIGN.md's quality bar: what the
// controller achieves less one run of slack, but above what it achieved
// before this test existed (steady 20, step-drop 11, cable-evening 12,
// icmp-blackout 3). Raise a floor when a change makes more runs pass;
// lowering one needs a written reason in BENCHMARKS.md. lte, starlink and
// idle-then-burst are argued out of the bar's reach there (0). Controller
// v2 lowered step-drop (16), cable-evening (17), icmp-blackout (19) and
// idle-rise (19): 128 runs of 220 where v1 met 134, against 165 of 220
// where v1 met 114 on the current model (TestSeedRobustnessNow) and the
// matrix (BENCHMARKS.md, "Controller v2 landed"). The drain margin's
// 200 ms raised step-drop, cable-evening and download-only and lowered
// idle-rise (18 → 17; 135 runs of 220, BENCHMARKS.md, "Sixth round"). The
// repeat gate's limit on "too few replies" raised icmp-blackout (17 → 18:
// BENCHMARKS.md, "Seventh round").
var robustnessFloor = map[string]int{
	"steady":          20,
	"step-drop":       17,
	"cable-evening":   19,
	"lte":             0,
	"starlink":        0,
	"idle-then-burst": 0,
	"icmp-blackout":   18,
	// Added with the v2 model (issue 12): the unloaded direction meets
	// the bar by definition (10 runs); the loaded one misses it on every
	// seed (its p99 is 40-130 ms: BENCHMARKS.md, "Bench v2").
	"download-only": 10,
	"upload-only":   10,
	"idle-rise":     17,
	"app-limited":   19,
}

// barMet reports whether one direction of a run meets DESIGN.md's quality
// bar: utilisation at least 85 % of the oracle's and a loaded p99 added
// delay at most 2 × target_bloat + the oracle's p99.
func barMet(res *Result, d Dir) bool {
	return MeetsBar(res.Wanctl.Dirs[d].Scores, res.Oracle.Dirs[d].Scores, res.TargetBloat)
}

// TestSeedRobustness plays every built-in scenario with seeds 1..10 on
// the first model and counts the direction-runs that meet the quality bar
// (BENCHMARKS.md, "Across seeds"): a controller tuned to seed 1 alone
// would pass TestControllerQualityDoesNotRegress and fail here. -v prints
// the table.
func TestSeedRobustness(t *testing.T) {
	seedRobustness(t, robustnessFloor, v1Options)
}

func seedRobustness(t *testing.T, floors map[string]int, options func(*config.WAN, time.Duration) Options) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-16s %5s %5s  %-22s %-22s %s\n", "scenario", "bar", "floor", "utilisation/oracle's", "p99 ms (mean)", "missed")
	total := 0
	for _, name := range ScenarioNames() {
		floor, ok := floors[name]
		if !ok {
			t.Fatalf("no robustness floor for scenario %s: add one", name)
		}
		pass := 0
		var util, p99 [2]float64
		var missed []string
		for seed := int64(1); seed <= robustnessSeeds; seed++ {
			res := evalWanctlModel(t, name, 0, seed, options, nil)
			for d := range Dir(2) {
				s, o := res.Wanctl.Dirs[d].Scores, res.Oracle.Dirs[d].Scores
				util[d] += s.Utilisation / o.Utilisation / robustnessSeeds
				p99[d] += s.AddedDelayMS.P99 / robustnessSeeds
				if barMet(res, d) {
					pass++
				} else {
					missed = append(missed, fmt.Sprintf("%d%s", seed, d.String()[:2]))
				}
			}
		}
		total += pass
		if pass == 0 {
			missed = []string{"all"}
		}
		fmt.Fprintf(&b, "%-16s %2d/%2d %5d  down %3.0f %% up %3.0f %%    down %5.1f up %6.1f   %s\n",
			name, pass, 2*robustnessSeeds, floor, 100*util[0], 100*util[1], p99[0], p99[1], strings.Join(missed, " "))
		if pass < floor {
			t.Errorf("%s: the quality bar is met in %d of %d direction-runs (seeds 1-%d), the floor is %d",
				name, pass, 2*robustnessSeeds, robustnessSeeds, floor)
		}
	}
	fmt.Fprintf(&b, "%-16s %5d\n", "all", total)
	t.Log(b.String())
}
