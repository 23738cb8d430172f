package testbed

import (
	"math"
	"slices"
	"time"

	"github.com/wanctl/wanctl/sim"
)

// Scores are one direction's figures of one run: the simulator's
// (sim.Scores, the same JSON keys) and the time the added delay spent
// above twice target_bloat, per recovery event.
type Scores struct {
	sim.Scores
	// AboveTwiceTargetS is the time in the run with the added delay above
	// 2 x target_bloat, divided by the number of recovery events (load
	// onsets and capacity drops), in seconds.
	AboveTwiceTargetS float64 `json:"above_2x_target_s_per_event"`
}

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
	// on a 1 ms grid, each sample holding until the next.
	events := recoveryEvents(sc, d)
	steps := int64(sc.Duration / time.Millisecond)
	rec := recovery{events: events, belowStart: -1}
	tgt := float64(target) / float64(time.Millisecond)
	above := int64(0)
	cur, i := 0.0, 0
	for ms := range steps {
		for i < len(samples) && samples[i].At <= time.Duration(ms)*time.Millisecond {
			cur = samples[i].Delay
			i++
		}
		rec.step(ms, cur < tgt)
		if cur > 2*tgt {
			above++
		}
	}
	rec.finish(steps)
	s.RecoveryS = float64(rec.worst) / 1e3
	if len(events) > 0 {
		s.AboveTwiceTargetS = float64(above) / 1e3 / float64(len(events))
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

// recoveryEvents lists, in ms, when d's recovery is measured, as the
// simulator does: each start of a loaded phase, and each capacity drop —
// the capacity falling below 80% of its maximum over the preceding second,
// at most one per second.
func recoveryEvents(sc *sim.Scenario, d sim.Dir) []int64 {
	var ev []int64
	for _, s := range sc.Loaded[d] {
		ev = append(ev, int64(s.Start/time.Millisecond))
	}
	const bucket = 100 // ms; the reference maximum is kept per bucket
	var ring [10]float64
	cur, last := 0.0, int64(-1)
	steps := int64(sc.Duration / time.Millisecond)
	for ms := range steps {
		if ms > 0 && ms%bucket == 0 {
			ring[(ms/bucket-1)%10] = cur
			cur = 0
		}
		v := sc.Capacity[d].At(time.Duration(ms) * time.Millisecond)
		ref := cur
		for _, m := range ring {
			ref = max(ref, m)
		}
		if v < 0.8*ref && (last < 0 || ms-last >= 1000) {
			ev = append(ev, ms)
			last = ms
		}
		cur = max(cur, v)
	}
	slices.Sort(ev)
	return slices.Compact(ev)
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
