package steer

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// Textfile renders the state as a node_exporter textfile-collector file
// (Prometheus text format 0.0.4) for state_dir/steering.prom. Every series
// carries wan="<primary>". runDuration is the wall time of the run that
// produced st.
func Textfile(st State, primary string, runDuration time.Duration) []byte {
	var b bytes.Buffer
	wan := `wan="` + escapeLabel(primary) + `"`
	metric := func(name, typ, help string) {
		b.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
	}
	sample := func(name, labels string, v float64) {
		b.WriteString(name + "{" + labels + "} " + strconv.FormatFloat(v, 'f', -1, 64) + "\n")
	}

	metric("wanctl_steering_degraded", "gauge", "1 while latency-sensitive new connections are steered to the alternate WAN, else 0.")
	degraded := 0.0
	if st.Degraded() {
		degraded = 1
	}
	sample("wanctl_steering_degraded", wan, degraded)

	metric("wanctl_steering_streak", "gauge", "Consecutive steering runs assessed RED (kind=red) or GREEN (kind=green).")
	sample("wanctl_steering_streak", `kind="green",`+wan, float64(st.GreenStreak))
	sample("wanctl_steering_streak", `kind="red",`+wan, float64(st.RedStreak))

	metric("wanctl_steering_transitions_total", "counter", "Steering state transitions since the state file was created.")
	sample("wanctl_steering_transitions_total", wan, float64(st.TransitionsTotal))

	if st.RTTEWMAValid {
		metric("wanctl_steering_rtt_delta_ewma_seconds", "gauge", "Smoothed RTT increase over the primary's baseline, as steering sees it.")
		sample("wanctl_steering_rtt_delta_ewma_seconds", wan, st.RTTDeltaEWMAMs/1000)
	}

	metric("wanctl_steering_last_run_timestamp_seconds", "gauge", "Unix time of the last steering run.")
	last := 0.0
	if !st.LastRun.IsZero() {
		last = float64(st.LastRun.UnixMilli()) / 1000
	}
	sample("wanctl_steering_last_run_timestamp_seconds", wan, last)

	metric("wanctl_steering_run_duration_seconds", "gauge", "Wall time of the last steering run.")
	sample("wanctl_steering_run_duration_seconds", wan, runDuration.Seconds())
	return b.Bytes()
}

// escapeLabel escapes a label value for the text format.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
