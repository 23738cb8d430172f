package autorate

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/routeros"
)

// Metrics are the daemon's Prometheus collectors, in their own registry
// (with the standard process_* and go_* collectors: a registry of its own
// keeps tests and the demo, which run several daemons in one process,
// apart).
type Metrics struct {
	Registry *prometheus.Registry

	rate          *prometheus.GaugeVec
	zone          *prometheus.GaugeVec
	baseline      *prometheus.GaugeVec
	delta         *prometheus.GaugeVec
	dirDelta      *prometheus.GaugeVec
	cycles        *prometheus.CounterVec
	cycleDuration *prometheus.HistogramVec
	overruns      *prometheus.CounterVec
	failures      *prometheus.CounterVec
	writes        *prometheus.CounterVec
	writeSeconds  *prometheus.HistogramVec
	misdirected   *prometheus.CounterVec
	drift         *prometheus.CounterVec
	stateWrites   *prometheus.CounterVec
	replies       *prometheus.CounterVec
	timeouts      *prometheus.CounterVec
	stamped       *prometheus.CounterVec
	echoFallback  *prometheus.GaugeVec
	reads         *prometheus.CounterVec
	achieved      *prometheus.GaugeVec
	writeFailures *prometheus.CounterVec
}

// NewMetrics creates and registers the collectors.
func NewMetrics() *Metrics {
	wd := []string{"wan", "direction"}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		rate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wanctl_shaper_rate_bits_per_second",
			Help: "Shaper rate (queue max-limit) the controller wants, in bits per second.",
		}, wd),
		zone: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wanctl_zone",
			Help: "Congestion zone of the direction: 1 for the current zone, 0 for the others.",
		}, []string{"wan", "direction", "zone"}),
		baseline: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wanctl_rtt_baseline_seconds",
			Help: "Median of the reflectors' baseline (unloaded) round-trip times.",
		}, []string{"wan"}),
		delta: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wanctl_rtt_delta_seconds",
			Help: "Loaded RTT delta above baseline the zones are judged on (with measurement.timestamps: the larger of the two directions' one-way deltas).",
		}, []string{"wan"}),
		dirDelta: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wanctl_delay_delta_seconds",
			Help: "Loaded delay delta the direction's zone is judged on: the round trip's, or with measurement.timestamps the direction's own one-way delay's.",
		}, wd),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_cycles_total",
			Help: "Control cycles completed.",
		}, []string{"wan"}),
		cycleDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wanctl_cycle_duration_seconds",
			Help:    "Time spent in one control cycle.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 3, 10), // 5 µs .. 98 ms
		}, []string{"wan"}),
		overruns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_cycle_overruns_total",
			Help: "Control cycles that took longer than the interval.",
		}, []string{"wan"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_cycle_failures_total",
			Help: "Control cycles that failed (a panic, recovered and logged).",
		}, []string{"wan"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_router_writes_total",
			Help: "Queue max-limit writes sent to the router, by result (ok, error).",
		}, []string{"wan", "direction", "result"}),
		writeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wanctl_router_write_seconds",
			Help:    "Duration of queue max-limit writes to the router.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 11), // 5 ms .. 5.1 s
		}, wd),
		misdirected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_router_misdirected_writes_total",
			Help: "Max-limit writes the router applied to another queue-tree entry than the configured queue (its .id had been reused); the id is looked up again by name.",
		}, wd),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_router_rate_drift_total",
			Help: "Times a counter read found the queue's max-limit on the router different from the rate last written (a hand edit, another tool, a router reset); the rate is written again.",
		}, wd),
		stateWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_state_writes_total",
			Help: "State file writes (contents or heartbeat), by result (ok, error).",
		}, []string{"wan", "result"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_ping_replies_total",
			Help: "Ping replies received per reflector (TCP fallback targets as address:port).",
		}, []string{"wan", "reflector"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_ping_timeouts_total",
			Help: "Pings unanswered in time per reflector (TCP fallback targets as address:port).",
		}, []string{"wan", "reflector"}),
		stamped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_ping_timestamp_replies_total",
			Help: "Replies per reflector that carried one-way delays (ICMP timestamps, measurement.timestamps).",
		}, []string{"wan", "reflector"}),
		echoFallback: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wanctl_ping_timestamps_ignored",
			Help: "1 when the reflector ignored ICMP timestamp requests and is pinged with echo instead, else 0.",
		}, []string{"wan", "reflector"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_router_reads_total",
			Help: "Queue counter reads (one GET for all the router's WANs), by result (ok, error).",
		}, []string{"router", "result"}),
		achieved: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wanctl_achieved_bits_per_second",
			Help: "Throughput the shaper passed between the last two queue counter reads, in bits per second.",
		}, wd),
		writeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wanctl_router_write_failures_total",
			Help: "Failed queue max-limit writes to the router, by reason (" + writeFailureReasonList + ").",
		}, []string{"router", "reason"}),
	}
	m.Registry.MustRegister(m.rate, m.zone, m.baseline, m.delta, m.dirDelta, m.cycles, m.cycleDuration,
		m.overruns, m.failures, m.writes, m.writeSeconds, m.misdirected, m.drift, m.stateWrites, m.replies, m.timeouts, m.stamped, m.echoFallback, m.reads, m.achieved,
		m.writeFailures,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return m
}

// Reasons of failed router writes (wanctl_router_write_failures_total):
// the REST client's error kinds, the executor's own two, and other.
const (
	reasonQueueMissing = "queue_missing"
	reasonMisdirected  = "misdirected"
	reasonTimeout      = "timeout"
	reasonOther        = "other"
)

var writeFailureReasons = []string{
	"transport", reasonTimeout, "server_error", "unauthorized", "bad_request", "not_found",
	"not_acceptable", "tls", "protocol", "canceled", reasonQueueMissing, reasonMisdirected, reasonOther,
}

const writeFailureReasonList = "transport, timeout, server_error, unauthorized, bad_request, not_found, " +
	"not_acceptable, tls, protocol, canceled, queue_missing, misdirected, other"

// writeFailureReason is the reason label of a failed write: a small fixed
// set, so that an alert can name the cause without a series per message.
func writeFailureReason(err error) string {
	switch {
	case errors.Is(err, ErrQueueMissing):
		return reasonQueueMissing
	case errors.Is(err, ErrMisdirected):
		return reasonMisdirected
	}
	var re *routeros.Error
	if errors.As(err, &re) {
		switch re.Kind {
		case routeros.KindTransport:
			return "transport"
		case routeros.KindTimeout:
			return reasonTimeout
		case routeros.KindServer:
			return "server_error"
		case routeros.KindUnauthorized:
			return "unauthorized"
		case routeros.KindBadRequest:
			return "bad_request"
		case routeros.KindNotFound:
			return "not_found"
		case routeros.KindNotAcceptable:
			return "not_acceptable"
		case routeros.KindTLS:
			return "tls"
		case routeros.KindProtocol:
			return "protocol"
		case routeros.KindCanceled:
			return "canceled"
		}
	}
	// The writer's own per-request timeout, around an executor that is
	// not the REST client (the simulator's).
	if errors.Is(err, context.DeadlineExceeded) {
		return reasonTimeout
	}
	return reasonOther
}

// writeFailureObserver returns the function that counts router's failed
// writes by reason; every reason's series exists from then on, at 0, so
// that increase() sees the first failure.
func (m *Metrics) writeFailureObserver(router string) func(error) {
	byReason := make(map[string]prometheus.Counter, len(writeFailureReasons))
	for _, r := range writeFailureReasons {
		byReason[r] = m.writeFailures.WithLabelValues(router, r)
	}
	return func(err error) {
		if err != nil {
			byReason[writeFailureReason(err)].Inc()
		}
	}
}

// WANMetrics are one WAN's pre-resolved metric children: updating them
// does not allocate.
type WANMetrics struct {
	rate          [2]prometheus.Gauge
	dirDelta      [2]prometheus.Gauge
	zone          [2][len(zoneNames)]prometheus.Gauge // nil for upload SOFT_RED
	zoneNow       [2]Zone
	zoneSet       bool
	baseline      prometheus.Gauge
	delta         prometheus.Gauge
	cycles        prometheus.Counter
	cycleDuration prometheus.Observer
	overruns      prometheus.Counter
	failures      prometheus.Counter
	writeOK       [2]prometheus.Counter
	writeErr      [2]prometheus.Counter
	writeSeconds  [2]prometheus.Observer
	misdirected   [2]prometheus.Counter
	drift         [2]prometheus.Counter
	stateWriteOK  prometheus.Counter
	stateWriteErr prometheus.Counter
	achieved      [2]prometheus.Gauge
	sources       []string // label per measurement source
	replies       []prometheus.Counter
	timeouts      []prometheus.Counter
	lastReplies   []uint64
	stamps        []prometheus.Counter // per reflector (not the TCP fallback)
	lastStamps    []uint64
	ignored       []prometheus.Gauge
	lastTimeouts  []uint64
}

// WAN returns the children for w, creating them (every series exists from
// the start, at 0).
func (m *Metrics) WAN(w *config.WAN) *WANMetrics {
	if m == nil {
		return nil
	}
	wm := &WANMetrics{
		baseline:      m.baseline.WithLabelValues(w.Name),
		delta:         m.delta.WithLabelValues(w.Name),
		cycles:        m.cycles.WithLabelValues(w.Name),
		cycleDuration: m.cycleDuration.WithLabelValues(w.Name),
		overruns:      m.overruns.WithLabelValues(w.Name),
		failures:      m.failures.WithLabelValues(w.Name),
		stateWriteOK:  m.stateWrites.WithLabelValues(w.Name, "ok"),
		stateWriteErr: m.stateWrites.WithLabelValues(w.Name, "error"),
	}
	for i, dir := range []string{config.Download, config.Upload} {
		wm.rate[i] = m.rate.WithLabelValues(w.Name, dir)
		wm.dirDelta[i] = m.dirDelta.WithLabelValues(w.Name, dir)
		for _, z := range Zones {
			if i == 1 && z == SoftRed {
				continue
			}
			wm.zone[i][z] = m.zone.WithLabelValues(w.Name, dir, z.String())
		}
		wm.writeOK[i] = m.writes.WithLabelValues(w.Name, dir, "ok")
		wm.writeErr[i] = m.writes.WithLabelValues(w.Name, dir, "error")
		wm.writeSeconds[i] = m.writeSeconds.WithLabelValues(w.Name, dir)
		wm.misdirected[i] = m.misdirected.WithLabelValues(w.Name, dir)
		wm.drift[i] = m.drift.WithLabelValues(w.Name, dir)
		wm.achieved[i] = m.achieved.WithLabelValues(w.Name, dir)
	}
	wm.setSources(m, w)
	return wm
}

func (wm *WANMetrics) setSources(m *Metrics, w *config.WAN) {
	wm.sources = wm.sources[:0]
	for _, a := range w.Measurement.Reflectors {
		wm.sources = append(wm.sources, a.String())
	}
	for _, a := range w.Measurement.TCPFallback {
		wm.sources = append(wm.sources, a.String())
	}
	wm.replies = make([]prometheus.Counter, len(wm.sources))
	wm.timeouts = make([]prometheus.Counter, len(wm.sources))
	wm.lastReplies = make([]uint64, len(wm.sources))
	wm.lastTimeouts = make([]uint64, len(wm.sources))
	for i, s := range wm.sources {
		wm.replies[i] = m.replies.WithLabelValues(w.Name, s)
		wm.timeouts[i] = m.timeouts.WithLabelValues(w.Name, s)
	}
	n := len(w.Measurement.Reflectors)
	wm.stamps = make([]prometheus.Counter, n)
	wm.lastStamps = make([]uint64, n)
	wm.ignored = make([]prometheus.Gauge, n)
	for i, s := range wm.sources[:n] {
		wm.stamps[i] = m.stamped.WithLabelValues(w.Name, s)
		wm.ignored[i] = m.echoFallback.WithLabelValues(w.Name, s)
	}
}

// observeStamps takes reflector i's cumulative count of replies with one-way
// delays and whether it fell back to echo.
func (wm *WANMetrics) observeStamps(i int, stamped uint64, echo bool) {
	if wm == nil || i < 0 || i >= len(wm.stamps) {
		return
	}
	if stamped > wm.lastStamps[i] {
		wm.stamps[i].Add(float64(stamped - wm.lastStamps[i]))
	}
	wm.lastStamps[i] = stamped
	wm.ignored[i].Set(boolGauge(echo))
}

func (wm *WANMetrics) observeDecision(d *Decision) {
	if wm == nil {
		return
	}
	for i := range 2 {
		dd := d.Dir(i == 1)
		wm.rate[i].Set(float64(dd.Rate))
		wm.dirDelta[i].Set(dd.Delta.Seconds())
		if !wm.zoneSet || wm.zoneNow[i] != dd.Zone {
			for z, g := range wm.zone[i] {
				if g != nil {
					g.Set(boolGauge(Zone(z) == dd.Zone))
				}
			}
			wm.zoneNow[i] = dd.Zone
		}
	}
	wm.zoneSet = true
	wm.baseline.Set(d.Baseline.Seconds())
	wm.delta.Set(d.Delta.Seconds())
}

// boolGauge is a gauge's value for a condition: 1 true, 0 false.
func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// observeSource adds to source i's cumulative reply and timeout counts.
func (wm *WANMetrics) observeSource(i int, replies, timeouts uint64) {
	if wm == nil || i < 0 || i >= len(wm.replies) {
		return
	}
	if replies > wm.lastReplies[i] {
		wm.replies[i].Add(float64(replies - wm.lastReplies[i]))
	}
	if timeouts > wm.lastTimeouts[i] {
		wm.timeouts[i].Add(float64(timeouts - wm.lastTimeouts[i]))
	}
	wm.lastReplies[i], wm.lastTimeouts[i] = replies, timeouts
}

// observeWrite records one router write of direction upload.
func (wm *WANMetrics) observeWrite(upload bool, err error, seconds float64) {
	if wm == nil {
		return
	}
	i := dirIndex(upload)
	if err != nil {
		wm.writeErr[i].Inc()
	} else {
		wm.writeOK[i].Inc()
	}
	wm.writeSeconds[i].Observe(seconds)
}

// observeMisdirected counts a write the router applied to another queue.
func (wm *WANMetrics) observeMisdirected(upload bool) {
	if wm == nil {
		return
	}
	wm.misdirected[dirIndex(upload)].Inc()
}

// observeDrift counts a max-limit found changed behind the daemon's back.
func (wm *WANMetrics) observeDrift(upload bool) {
	if wm == nil {
		return
	}
	wm.drift[dirIndex(upload)].Inc()
}

// observeStateWrite counts one state write (or heartbeat) of the WAN.
func (wm *WANMetrics) observeStateWrite(err error) {
	if wm == nil {
		return
	}
	if err != nil {
		wm.stateWriteErr.Inc()
	} else {
		wm.stateWriteOK.Inc()
	}
}

// readObserver returns the function that counts a router's counter reads
// (WriterConfig.ObserveRead); its series exist from then on, at 0.
func (m *Metrics) readObserver(router string) func(error, time.Duration) {
	ok, failed := m.reads.WithLabelValues(router, "ok"), m.reads.WithLabelValues(router, "error")
	return func(err error, _ time.Duration) {
		if err != nil {
			failed.Inc()
		} else {
			ok.Inc()
		}
	}
}

// observeAchieved sets direction i's achieved throughput.
func (wm *WANMetrics) observeAchieved(i int, bps float64) {
	if wm == nil {
		return
	}
	wm.achieved[i].Set(bps)
}
