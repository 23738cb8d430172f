package sim

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/wanctl/wanctl/loops/autorate"
)

// DelayedOracle knows the true capacity and the ISP queues, but lag late:
// every tick it sets each direction's rate to factor x the capacity lag
// ago, less a drain margin while the queue lag ago stood (the margin that
// empties it in autorate.DrainTime, at most autorate.MaxDrainMargin, as wanctl's cut
// aims), decreases at once and increases at most once per increaseEvery
// (router_writes' increase_interval). A controller that learns the
// capacity from round trips knows a change no sooner than a round trip
// after it, and an increase only by probing for it: the delayed oracle is
// what one could reach that knew everything else.
type DelayedOracle struct {
	sc            *Scenario
	lag           time.Duration
	factor        float64
	increaseEvery time.Duration
	rate          [2]float64
	lastIncrease  [2]time.Duration
	queues        []queueSample // the ISP queues seen, oldest first
}

type queueSample struct {
	at time.Duration
	q  [2]float64 // s
}

// queueObserver is a reference policy the engine tells the ISP queues
// (delay at the current capacity, s) before each tick: an oracle's
// knowledge, never a controller's.
type queueObserver interface {
	observeQueues(now time.Time, q [2]float64)
}

func (o *DelayedOracle) observeQueues(now time.Time, q [2]float64) {
	o.queues = append(o.queues, queueSample{now.Sub(Epoch), q})
}

// queueAt is the ISP queues at t (the newest sample at or before it; none:
// empty), dropping the samples no later call needs.
func (o *DelayedOracle) queueAt(t time.Duration) [2]float64 {
	i := 0
	for i+1 < len(o.queues) && o.queues[i+1].at <= t {
		i++
	}
	o.queues = o.queues[i:]
	if len(o.queues) == 0 || o.queues[0].at > t {
		return [2]float64{}
	}
	return o.queues[0].q
}

// NewDelayedOracle is a delayed oracle on sc's capacity.
func NewDelayedOracle(sc *Scenario, lag time.Duration, factor float64, increaseEvery time.Duration) *DelayedOracle {
	return &DelayedOracle{sc: sc, lag: lag, factor: factor, increaseEvery: increaseEvery}
}

// Tick implements Policy. Like wanctl's writer it sends nothing while a
// write is on its way (the newest rates go when the router is free, a
// decrease first): queued behind slow writes, stale rates would pile up.
func (o *DelayedOracle) Tick(in Input, w Writer) {
	if w.Pending() > 0 {
		return
	}
	t := in.Now.Sub(Epoch)
	q := o.queueAt(t - o.lag)
	var want [2]float64
	for d := range 2 {
		// wanctl's cut's drain margin (docs/autorate.md, "How far").
		margin := min(q[d]/autorate.DrainTime.Seconds(), autorate.MaxDrainMargin)
		want[d] = o.factor * o.sc.Capacity[d].At(max(t-o.lag, 0)) * (1 - margin)
	}
	order := [2]int{0, 1}
	if want[1] < o.rate[1] && want[0] >= o.rate[0] {
		order = [2]int{1, 0}
	}
	for _, d := range order {
		if want[d] <= 0 || want[d] == o.rate[d] {
			continue
		}
		if want[d] > o.rate[d] {
			if o.rate[d] > 0 && t-o.lastIncrease[d] < o.increaseEvery {
				continue
			}
			o.lastIncrease[d] = t
		}
		o.rate[d] = want[d]
		w.Submit(Dir(d), int64(want[d]), nil)
	}
}

// BoundFactors are the fractions of the capacity EvaluateBound tries: from
// the oracle's 95 % down to half.
var BoundFactors = []float64{0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5}

// BoundPoint is the delayed oracle's scores at one factor.
type BoundPoint struct {
	Factor   float64 `json:"factor"`
	Download Scores  `json:"download"`
	Upload   Scores  `json:"upload"`
}

// Bound is the delayed oracle's frontier on one scenario: utilisation
// against p99 as the factor falls, at one lag.
type Bound struct {
	Scenario        string       `json:"scenario"`
	LagMS           float64      `json:"lag_ms"`
	IncreaseEveryMS float64      `json:"increase_every_ms"`
	Points          []BoundPoint `json:"points"`
}

// EvaluateBound plays a DelayedOracle on sc at each factor, with opt's
// link: its writes take opt.WriteLatency after the lag.
func EvaluateBound(sc *Scenario, opt Options, lag, increaseEvery time.Duration, factors []float64) (*Bound, error) {
	opt = opt.WithDefaults()
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	if lag < 0 || increaseEvery < 0 {
		return nil, fmt.Errorf("simulator: bound lag %v, increase interval %v: want >= 0", lag, increaseEvery)
	}
	b := &Bound{Scenario: sc.Name, LagMS: ms(lag), IncreaseEveryMS: ms(increaseEvery), Points: []BoundPoint{}}
	events := [2][]int64{recoveryEvents(sc, Download), recoveryEvents(sc, Upload)}
	for _, f := range factors {
		if f <= 0 || f > 1 {
			return nil, fmt.Errorf("simulator: bound factor %g: want (0, 1]", f)
		}
		run := newEngine(sc, &opt, modePolicy, NewDelayedOracle(sc, lag, f, increaseEvery), events).run()
		b.Points = append(b.Points, BoundPoint{Factor: f, Download: run.Dirs[Download].Scores.Rounded(), Upload: run.Dirs[Upload].Scores.Rounded()})
	}
	return b, nil
}

// WriteBoundText prints the frontiers as a table.
func WriteBoundText(w io.Writer, bounds ...*Bound) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\tcapacity known\tfactor\tdownload util\tp99 ms\tupload util\tp99 ms\t\n")
	for _, b := range bounds {
		for i, p := range b.Points {
			name, lag := "", ""
			if i == 0 {
				name, lag = b.Scenario, fmt.Sprintf("%g ms late", b.LagMS)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.1f%%\t%.1f\t%.1f%%\t%.1f\t\n", name, lag, p.Factor,
				100*p.Download.Utilisation, p.Download.AddedDelayMS.P99, 100*p.Upload.Utilisation, p.Upload.AddedDelayMS.P99)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(bounds) > 0 {
		_, err := fmt.Fprintf(w, "bound: a shaper that knows the true capacity and the ISP queue that late, sets factor x the capacity less wanctl's drain margin\n"+
			"(decreases at once, increases at most once per %g ms, the link's writes): about the best a controller that learns them from round trips can hope for\n", bounds[0].IncreaseEveryMS)
		return err
	}
	return nil
}
