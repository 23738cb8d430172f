package sim

import (
	"bytes"
	"testing"
)

// achieved is what the default controller reached on one direction of a
// built-in scenario (seed 1, the built-in example WAN, 120 s): BENCHMARKS.md
// records the full figures.
type achieved struct {
	utilisation float64 // delivered / capacity while loaded
	p99         float64 // ms of added delay while loaded
}

// qualityBaseline is the controller's quality per scenario as of the
// change that set it. TestControllerQualityDoesNotRegress fails when a
// change makes any of them worse by more than the margins below; when a
// change makes them better, lower the numbers here (and update
// BENCHMARKS.md) so the gain is kept.
var qualityBaseline = []struct {
	name string
	dirs [2]achieved
}{
	{"steady", [2]achieved{{0.9000, 1.03}, {0.9000, 1.27}}},
	{"step-drop", [2]achieved{{0.8688, 18.79}, {0.8741, 25.89}}},
	{"cable-evening", [2]achieved{{0.9332, 24.77}, {0.9066, 20.24}}},
	{"lte", [2]achieved{{0.6570, 104.69}, {0.6276, 86.46}}},
	{"starlink", [2]achieved{{0.5825, 68.99}, {0.6590, 104.38}}},
	{"idle-then-burst", [2]achieved{{0.9314, 161.71}, {0.8156, 103.69}}},
	{"icmp-blackout", [2]achieved{{0.8979, 17.53}, {0.9132, 21.28}}},
	// Added with the v2 model (issue 12), measured on the v1 model; the
	// unloaded direction scores 0.
	{"download-only", [2]achieved{{0.8576, 40.74}, {0, 0}}},
	{"upload-only", [2]achieved{{0, 0}, {0.8583, 123.81}}},
	{"idle-rise", [2]achieved{{0.9074, 20.64}, {0.9032, 19.58}}},
	{"app-limited", [2]achieved{{0.7456, 19.52}, {0.7488, 22.90}}},
}

// Margins: utilisation may drop 3 points, the p99 grow by 30 % (plus
// 0.5 ms, for the figures that are CAKE's own 1 ms).
const (
	utilisationMargin = 0.03
	p99Margin         = 1.3
	p99Slack          = 0.5
)

func TestControllerQualityDoesNotRegress(t *testing.T) {
	if len(qualityBaseline) != len(ScenarioNames()) {
		t.Fatalf("baseline covers %d scenarios, the catalogue has %d: add the new ones", len(qualityBaseline), len(ScenarioNames()))
	}
	var results []*Result
	for i, q := range qualityBaseline {
		if q.name != ScenarioNames()[i] {
			t.Fatalf("baseline %d is %s, catalogue has %s", i, q.name, ScenarioNames()[i])
		}
		res := evalWanctl(t, q.name, 0, 1)
		results = append(results, res)
		for d := range Dir(2) {
			got, want := res.Wanctl.Dirs[d].Scores, q.dirs[d]
			if got.Utilisation < want.utilisation-utilisationMargin {
				t.Errorf("%s %s: utilisation %.4f, was %.4f", q.name, d, got.Utilisation, want.utilisation)
			}
			if limit := want.p99*p99Margin + p99Slack; got.AddedDelayMS.P99 > limit {
				t.Errorf("%s %s: p99 added delay %.2f ms, was %.2f (limit %.2f)", q.name, d, got.AddedDelayMS.P99, want.p99, limit)
			}
		}
	}
	if t.Failed() {
		var b bytes.Buffer
		NewReport(results...).WriteText(&b)
		t.Log("\n" + b.String())
	}
}
