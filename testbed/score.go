package testbed

import (
	"math"
	"slices"
	"time"

	"github.com/wanctl/wanctl/sim"
)

// Scores are one direction's figures of one run: the simulator's, with its
// definitions and JSON keys (the time above 2 x target_bloat included), so
// that the two benches compare cell by cell.
type Scores = sim.Scores

// delaySample is one probe's added delay in one direction.
type delaySample struct {
	At    time.Duration // since the scenario's start (send time)
	Delay float64       // ms above the idle link's
}

// score computes a direction's scores from its probe samples (in send
// order), its delivered and offered bits over the loaded phases and its
// writes.
func score(sc *sim.Scenario, d sim.Dir, samples []delaySample, delivered, capacity float64, writes int, target time.Duration) Scores {
	var s Scores
	if capacity > 0 {
		s.Utilisation = delivered / capacity
	}
	s.WritesPerHour = float64(writes) / sc.Duration.Hours()

	var loaded []float64
	for _, x := range samples {
		if inSpans(sc.Loaded[d], x.At) {
			loaded = append(loaded, max(x.Delay, 0))
		}
	}
	slices.Sort(loaded)
	s.AddedDelayMS = sim.Percentiles{P50: percentile(loaded, 0.50), P95: percentile(loaded, 0.95), P99: percentile(loaded, 0.99)}

	// The probe samples every few milliseconds; the simulator's rules run
	// on a 1 ms grid, each sample holding until the next. The time above
	// 2 x target is the simulator's: per event, the loaded milliseconds
	// from it until the next event with the delay above 2 x target; the
	// worst event's and the mean over the events followed by loaded time.
	events := sim.RecoveryEvents(sc, d)
	steps := int64(sc.Duration / time.Millisecond)
	rec := sim.NewRecovery(events)
	tgt := float64(target) / float64(time.Millisecond)
	evLoaded := make([]int64, len(events))
	above := make([]int64, len(events))
	cur, i, ev := 0.0, 0, -1
	for ms := range steps {
		for i < len(samples) && samples[i].At <= time.Duration(ms)*time.Millisecond {
			cur = samples[i].Delay
			i++
		}
		for ev+1 < len(events) && events[ev+1] <= ms {
			ev++
		}
		rec.Step(ms, cur < tgt)
		if ev >= 0 && inSpans(sc.Loaded[d], time.Duration(ms)*time.Millisecond) {
			evLoaded[ev]++
			if cur > 2*tgt {
				above[ev]++
			}
		}
	}
	rec.Finish(steps)
	s.RecoveryS = float64(rec.Worst()) / 1e3
	s.SetAbove(above, evLoaded)
	return s
}

func inSpans(spans []sim.Span, t time.Duration) bool {
	for _, s := range spans {
		if s.Start <= t && t < s.End {
			return true
		}
	}
	return false
}

// percentile is the nearest-rank quantile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}
