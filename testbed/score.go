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

// recoveryHold is how long the added delay must stay below target for an
// event to count as recovered (the simulator's rule).
const recoveryHold = 1000 // ms

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
	rec := recovery{events: events, belowStart: -1}
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
		rec.step(ms, cur < tgt)
		if ev >= 0 && inSpans(sc.Loaded[d], time.Duration(ms)*time.Millisecond) {
			evLoaded[ev]++
			if cur > 2*tgt {
				above[ev]++
			}
		}
	}
	rec.finish(steps)
	s.RecoveryS = float64(rec.worst) / 1e3
	var sum, n int64
	for k, a := range above {
		if evLoaded[k] > 0 {
			s.AboveMaxS = max(s.AboveMaxS, float64(a)/1e3)
			sum += a
			n++
		}
	}
	if n > 0 {
		s.AboveMeanS = float64(sum) / float64(n) / 1e3
	}
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

// recovery measures, per event, the time from the event until the added
// delay has been below target for recoveryHold (the simulator's rule).
type recovery struct {
	events     []int64 // ms, increasing
	next       int
	open       []int64
	belowStart int64 // start of the current below-target stretch, -1 if above
	worst      int64
}

func (r *recovery) step(ms int64, below bool) {
	for r.next < len(r.events) && r.events[r.next] == ms {
		r.open = append(r.open, ms)
		r.next++
	}
	if !below {
		r.belowStart = -1
		return
	}
	if r.belowStart < 0 {
		r.belowStart = ms
	}
	k := 0
	for _, t0 := range r.open {
		start := max(r.belowStart, t0)
		if ms-start+1 < recoveryHold {
			break
		}
		r.worst = max(r.worst, start-t0)
		k++
	}
	r.open = r.open[k:]
}

// finish closes the events still open at the end of a run of n ms.
func (r *recovery) finish(n int64) {
	for _, t0 := range r.open {
		if r.belowStart >= 0 {
			r.worst = max(r.worst, max(r.belowStart, t0)-t0)
		} else {
			r.worst = max(r.worst, n-t0)
		}
	}
	r.open = nil
}
