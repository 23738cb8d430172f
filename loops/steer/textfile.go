package steer

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Registry holds the metrics of one run, for the node_exporter textfile
// collector (state_dir/steering.prom). Every series carries
// wan="<primary>" and dry_run="true"|"false", so a dashboard or an alert
// can tell what steering did from what it would have done. runDuration is
// the wall time of the run that produced st. The registry is the run's
// own: a one-shot has no process-wide metrics to share.
func Registry(st State, primary string, runDuration time.Duration, dryRun bool) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	labels := prometheus.Labels{"wan": primary, "dry_run": strconv.FormatBool(dryRun)}
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
		g.Set(v)
		reg.MustRegister(g)
	}

	degraded := 0.0
	if st.Degraded() {
		degraded = 1
	}
	gauge("wanctl_steering_degraded", "1 while latency-sensitive new connections are steered to the alternate WAN, else 0.", degraded)

	streak := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wanctl_steering_streak",
		Help: "Consecutive steering runs assessed RED (kind=red) or GREEN (kind=green).", ConstLabels: labels}, []string{"kind"})
	streak.WithLabelValues("green").Set(float64(st.GreenStreak))
	streak.WithLabelValues("red").Set(float64(st.RedStreak))
	reg.MustRegister(streak)

	transitions := prometheus.NewCounter(prometheus.CounterOpts{Name: "wanctl_steering_transitions_total",
		Help: "Steering state transitions since the state file was created.", ConstLabels: labels})
	transitions.Add(float64(max(0, st.TransitionsTotal)))
	reg.MustRegister(transitions)

	if st.RTTEWMAValid {
		gauge("wanctl_steering_rtt_delta_ewma_seconds", "Smoothed RTT increase over the primary's baseline, as steering sees it.", st.RTTDeltaEWMAMs/1000)
	}
	last := 0.0
	if !st.LastRun.IsZero() {
		last = float64(st.LastRun.UnixMilli()) / 1000
	}
	gauge("wanctl_steering_last_run_timestamp_seconds", "Unix time of the last steering run.", last)
	gauge("wanctl_steering_run_duration_seconds", "Wall time of the last steering run.", runDuration.Seconds())
	return reg
}

// WriteTextfile writes the run's metrics to path atomically (a temporary
// file in the same directory, renamed over it; node_exporter reads only
// *.prom names, so it never sees the temporary one).
func WriteTextfile(path string, st State, primary string, runDuration time.Duration, dryRun bool) error {
	if err := prometheus.WriteToTextfile(path, Registry(st, primary, runDuration, dryRun)); err != nil {
		return fmt.Errorf("write metrics textfile %s: %w", path, err)
	}
	return nil
}

// Textfile renders what WriteTextfile writes (Prometheus text format).
func Textfile(st State, primary string, runDuration time.Duration, dryRun bool) ([]byte, error) {
	mfs, err := Registry(st, primary, runDuration, dryRun).Gather()
	if err != nil {
		return nil, fmt.Errorf("gather steering metrics: %w", err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			return nil, fmt.Errorf("render steering metrics: %w", err)
		}
	}
	return b.Bytes(), nil
}
