package autorate

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wanctl/wanctl/config"
)

// daemonCollector exports what /health reports, computed at scrape time
// from the same function (Daemon.wanHealth): an alert on /metrics and a
// check of /health cannot disagree, and nothing is added to the cycle.
type daemonCollector struct {
	d *Daemon

	buildInfo    prometheus.Metric
	controlling  *prometheus.Desc
	signal       *prometheus.Desc
	blackout     *prometheus.Desc
	fallback     *prometheus.Desc
	floor        *prometheus.Desc
	ceiling      *prometheus.Desc
	reachable    *prometheus.Desc
	reachChanged *prometheus.Desc
	lastWriteOK  *prometheus.Desc
	stateWriteOK *prometheus.Desc
}

func newDaemonCollector(d *Daemon, version, revision string) *daemonCollector {
	if version == "" {
		version = "unknown"
	}
	if revision == "" {
		revision = "unknown"
	}
	wan := []string{"wan"}
	wd := []string{"wan", "direction"}
	router := []string{"router"}
	return &daemonCollector{
		d: d,
		buildInfo: prometheus.MustNewConstMetric(prometheus.NewDesc("wanctl_build_info",
			"Always 1; the labels name the running build.", []string{"version", "revision", "goversion"}, nil),
			prometheus.GaugeValue, 1, version, revision, runtime.Version()),
		controlling: prometheus.NewDesc("wanctl_controlling",
			"1 while the WAN is controlling (cycles completing, a signal measured, the router and the state file accepting writes), else 0; /health's degraded_reasons say why.", wan, nil),
		signal: prometheus.NewDesc("wanctl_signal",
			"1 while a reflector (or TCP fallback target) answered recently, else 0 (rates are held).", wan, nil),
		blackout: prometheus.NewDesc("wanctl_icmp_blackout",
			"1 while no reflector answers ICMP, else 0.", wan, nil),
		fallback: prometheus.NewDesc("wanctl_tcp_fallback_active",
			"1 while the RTT comes from the TCP fallback targets (an ICMP blackout with tcp_fallback configured), else 0.", wan, nil),
		floor: prometheus.NewDesc("wanctl_shaper_rate_floor_bits_per_second",
			"Lowest rate the controller sets (the red floor), in bits per second.", wd, nil),
		ceiling: prometheus.NewDesc("wanctl_shaper_rate_ceiling_bits_per_second",
			"Highest rate the controller sets (the ceiling), in bits per second.", wd, nil),
		reachable: prometheus.NewDesc("wanctl_router_reachable",
			"0 while the router's latest write failed or no request (counter read or write) succeeded for "+RouterUnreachableAfter.String()+", else 1 (/health's router.reachable).", router, nil),
		reachChanged: prometheus.NewDesc("wanctl_router_reachable_changed_timestamp_seconds",
			"Unix time wanctl_router_reachable last changed; 0 before the first write.", router, nil),
		lastWriteOK: prometheus.NewDesc("wanctl_router_last_write_success_timestamp_seconds",
			"Unix time of the router's last successful max-limit write; 0 before the first.", router, nil),
		stateWriteOK: prometheus.NewDesc("wanctl_state_last_write_success_timestamp_seconds",
			"Unix time of the WAN's last successful state file write (or heartbeat); 0 before the first.", wan, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo.Desc(), c.controlling, c.signal, c.blackout, c.fallback,
		c.floor, c.ceiling, c.reachable, c.reachChanged, c.lastWriteOK, c.stateWriteOK} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *daemonCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- c.buildInfo
	d := c.d
	now := d.clock.Now()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	routers := map[*Writer]bool{}
	for _, r := range d.wans {
		h := d.wanHealth(r, now)
		w := r.loop.WAN()
		gauge(c.controlling, boolGauge(h.Controlling), h.WAN)
		gauge(c.signal, boolGauge(h.Signal), h.WAN)
		gauge(c.blackout, boolGauge(h.ICMPBlackout), h.WAN)
		gauge(c.fallback, boolGauge(h.ICMPBlackout && len(w.Measurement.TCPFallback) > 0), h.WAN)
		gauge(c.stateWriteOK, unixSeconds(h.StateFile.LastSuccess), h.WAN)
		// By index: the direction's label is the same as the other
		// metrics', whatever Name a hand-built configuration has.
		for i, dir := range w.Directions() {
			name := []string{config.Download, config.Upload}[i]
			gauge(c.floor, float64(dir.Floor.Red), h.WAN, name)
			gauge(c.ceiling, float64(dir.Ceiling), h.WAN, name)
		}
		if r.writer == nil || routers[r.writer] {
			continue
		}
		routers[r.writer] = true
		rs := r.writer.Status()
		gauge(c.reachable, boolGauge(rs.Reachable), rs.Router)
		gauge(c.reachChanged, unixSeconds(timePtr(rs.Since)), rs.Router)
		gauge(c.lastWriteOK, unixSeconds(timePtr(rs.LastSuccess)), rs.Router)
	}
}

// unixSeconds is a timestamp metric's value: 0 for none.
func unixSeconds(t *time.Time) float64 {
	if t == nil {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}
