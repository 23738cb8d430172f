package autorate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/routeros"
)

// seriesValue returns the value of the series name{labels} in g, and whether it
// exists. labels is "k=v,k=v" in any order ("" for none).
func seriesValue(t *testing.T, g prometheus.Gatherer, name, labels string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	if labels != "" {
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			want[k] = v
		}
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if want[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return metricValue(m), true
		}
	}
	return 0, false
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// mustSeries is seriesValue for a series that has to exist.
func mustSeries(t *testing.T, g prometheus.Gatherer, name, labels string) float64 {
	t.Helper()
	v, ok := seriesValue(t, g, name, labels)
	if !ok {
		t.Fatalf("no series %s{%s}", name, labels)
	}
	return v
}

func unixOf(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// Every state /health reports per WAN and per router is on /metrics too,
// and moves with it: cycles, signal, ICMP blackout with and without a TCP
// fallback, the router failing and coming back, the state file.
func TestMetricsFollowHealth(t *testing.T) {
	cfg := testConfig(t)
	cfg.WANs[0].Measurement.TCPFallback = []netip.AddrPort{netip.MustParseAddrPort("1.1.1.1:443")}
	f, err := newDaemonFixture(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := f.d.metrics.Registry
	gauge := func(name, labels string) float64 { t.Helper(); return mustSeries(t, reg, name, labels) }
	// healthAgrees checks the metrics against /health for every WAN.
	healthAgrees := func(what string) {
		t.Helper()
		_, h := f.health()
		for _, w := range h.WANs {
			l := "wan=" + w.WAN
			if got, want := gauge("wanctl_controlling", l), boolGauge(w.Controlling); got != want {
				t.Errorf("%s: %s controlling %v, /health %v (%v)", what, w.WAN, got, want, w.DegradedReasons)
			}
			if got, want := gauge("wanctl_signal", l), boolGauge(w.Signal); got != want {
				t.Errorf("%s: %s signal %v, /health %v", what, w.WAN, got, want)
			}
			if got, want := gauge("wanctl_icmp_blackout", l), boolGauge(w.ICMPBlackout); got != want {
				t.Errorf("%s: %s icmp_blackout %v, /health %v", what, w.WAN, got, want)
			}
			if got, want := gauge("wanctl_router_reachable", "router="+w.Router.Name), boolGauge(w.Router.Reachable); got != want {
				t.Errorf("%s: router reachable %v, /health %v", what, got, want)
			}
		}
	}

	// Before the first cycle: not controlling, nothing written yet.
	for _, w := range []string{"spectrum", "att"} {
		if v := gauge("wanctl_controlling", "wan="+w); v != 0 {
			t.Errorf("%s controlling %v before any cycle", w, v)
		}
		if v := gauge("wanctl_state_last_write_success_timestamp_seconds", "wan="+w); v != 0 {
			t.Errorf("%s state written at %v before any cycle", w, v)
		}
	}
	if v := gauge("wanctl_router_reachable_changed_timestamp_seconds", "router=edge"); v != 0 {
		t.Errorf("reachability changed at %v before any write", v)
	}
	if v := gauge("wanctl_router_last_write_success_timestamp_seconds", "router=edge"); v != 0 {
		t.Errorf("last write at %v before any write", v)
	}
	failures := func(reason string) float64 {
		t.Helper()
		return gauge("wanctl_router_write_failures_total", "router=edge,reason="+reason)
	}
	for _, r := range writeFailureReasons {
		if failures(r) != 0 {
			t.Errorf("write failures %s at start", r)
		}
	}

	f.start()
	defer f.stop()
	f.clock.Advance(time.Second)
	waitFor(t, "first writes", func() bool {
		return f.exec.limit("wanctl-spectrum-down") == 940e6 && f.exec.limit("wanctl-att-up") == 38e6
	})
	waitFor(t, "state written", func() bool {
		return gauge("wanctl_state_last_write_success_timestamp_seconds", "wan=att") > 0
	})
	healthAgrees("controlling")
	for _, w := range []string{"spectrum", "att"} {
		l := "wan=" + w
		if gauge("wanctl_controlling", l) != 1 || gauge("wanctl_signal", l) != 1 || gauge("wanctl_icmp_blackout", l) != 0 || gauge("wanctl_tcp_fallback_active", l) != 0 {
			t.Fatalf("%s not controlling with signal", w)
		}
	}
	if v := gauge("wanctl_router_reachable", "router=edge"); v != 1 {
		t.Fatalf("router reachable %v", v)
	}
	firstOK := gauge("wanctl_router_reachable_changed_timestamp_seconds", "router=edge")
	lastOK := gauge("wanctl_router_last_write_success_timestamp_seconds", "router=edge")
	if firstOK <= unixOf(t0) || firstOK > unixOf(f.clock.Now()) || lastOK < firstOK {
		t.Fatalf("reachable since %v, last write %v (start %v, now %v)", firstOK, lastOK, unixOf(t0), unixOf(f.clock.Now()))
	}
	if v := gauge("wanctl_shaper_rate_floor_bits_per_second", "wan=spectrum,direction=download"); v != 200e6 {
		t.Errorf("download floor %v", v)
	}
	if v := gauge("wanctl_shaper_rate_ceiling_bits_per_second", "wan=att,direction=upload"); v != 38e6 {
		t.Errorf("upload ceiling %v", v)
	}

	// The router times out: unreachable since the first failure, the
	// failures counted as timeouts, no WAN controlling.
	f.exec.setFail(&routeros.Error{Kind: routeros.KindTimeout, Router: "edge", Err: context.DeadlineExceeded})
	failAt := f.clock.Now()
	f.meas["spectrum"].set(120*ms, false)
	f.clock.Advance(200 * time.Millisecond)
	waitFor(t, "router unreachable", func() bool { return gauge("wanctl_router_reachable", "router=edge") == 0 })
	healthAgrees("router failing")
	if v := gauge("wanctl_controlling", "wan=att"); v != 0 {
		t.Errorf("att controlling %v with its router failing", v)
	}
	if n := failures("timeout"); n < 1 {
		t.Errorf("timeouts %v", n)
	}
	if n := failures("transport") + failures("other"); n != 0 {
		t.Errorf("timeouts counted as other reasons: %v", n)
	}
	downSince := gauge("wanctl_router_reachable_changed_timestamp_seconds", "router=edge")
	if downSince < unixOf(failAt) || gauge("wanctl_router_last_write_success_timestamp_seconds", "router=edge") > downSince {
		t.Errorf("unreachable since %v (failing from %v), last success %v", downSince, unixOf(failAt),
			gauge("wanctl_router_last_write_success_timestamp_seconds", "router=edge"))
	}
	// More failures of the same streak leave "since" where it is.
	f.exec.setFail(fmt.Errorf("queue %q: %w", "wanctl-spectrum-down", ErrQueueMissing))
	f.clock.Advance(100 * time.Millisecond)
	waitFor(t, "queue_missing counted", func() bool { return failures("queue_missing") >= 1 })
	if v := gauge("wanctl_router_reachable_changed_timestamp_seconds", "router=edge"); v != downSince {
		t.Errorf("unreachable since moved within a streak: %v -> %v", downSince, v)
	}

	// Back: reachable since the first success, which is the last success.
	f.exec.setFail(nil)
	backAt := f.clock.Now()
	want := f.d.Loops()[0].Controller().Rate(false)
	waitFor(t, "writes resume", func() bool { return f.exec.limit("wanctl-spectrum-down") == want })
	waitFor(t, "router reachable", func() bool { return gauge("wanctl_router_reachable", "router=edge") == 1 })
	if v := gauge("wanctl_router_reachable_changed_timestamp_seconds", "router=edge"); v < unixOf(backAt) {
		t.Errorf("reachable since %v, back at %v", v, unixOf(backAt))
	}
	if v := gauge("wanctl_router_last_write_success_timestamp_seconds", "router=edge"); v < unixOf(backAt) {
		t.Errorf("last success %v, back at %v", v, unixOf(backAt))
	}
	f.clock.Advance(100 * time.Millisecond)
	healthAgrees("router back")

	// spectrum: ICMP silent, its TCP fallback answers: still a signal,
	// still controlling. att: silent with no fallback: no signal.
	f.meas["spectrum"].mu.Lock()
	f.meas["spectrum"].blackout = true
	f.meas["spectrum"].mu.Unlock()
	f.meas["att"].mu.Lock()
	f.meas["att"].blackout = true
	f.meas["att"].mu.Unlock()
	f.meas["att"].set(20*ms, true)
	f.clock.Advance(5 * time.Second)
	healthAgrees("blackout")
	for _, c := range []struct {
		wan                                     string
		controlling, signal, blackout, fallback float64
	}{
		{"spectrum", 1, 1, 1, 1},
		{"att", 0, 0, 1, 0},
	} {
		l := "wan=" + c.wan
		got := []float64{gauge("wanctl_controlling", l), gauge("wanctl_signal", l), gauge("wanctl_icmp_blackout", l), gauge("wanctl_tcp_fallback_active", l)}
		if want := []float64{c.controlling, c.signal, c.blackout, c.fallback}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s in blackout: controlling, signal, blackout, fallback = %v, want %v", c.wan, got, want)
		}
	}
	lintMetrics(t, f.d.metrics)
}

// A daemon stalled (no cycle for a while) is not controlling at the next
// scrape: the metric is computed when scraped, not when the loop last ran.
func TestControllingMetricSeesAStall(t *testing.T) {
	f, err := newDaemonFixture(t, testConfig(t), "spectrum")
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	f.clock.Advance(time.Second)
	waitFor(t, "controlling", func() bool {
		return mustSeries(t, f.d.metrics.Registry, "wanctl_controlling", "wan=spectrum") == 1
	})
	if err := f.stop(); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if v := mustSeries(t, f.d.metrics.Registry, "wanctl_controlling", "wan=spectrum"); v != 0 {
		t.Fatalf("controlling %v a minute after the last cycle", v)
	}
}

func TestWriteFailureReason(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"transport", &routeros.Error{Kind: routeros.KindTransport}, "transport"},
		{"timeout", fmt.Errorf("queue %q: %w", "q", &routeros.Error{Kind: routeros.KindTimeout}), "timeout"},
		{"5xx", &routeros.Error{Kind: routeros.KindServer, Status: 503}, "server_error"},
		{"401", &routeros.Error{Kind: routeros.KindUnauthorized, Status: 401}, "unauthorized"},
		{"400", &routeros.Error{Kind: routeros.KindBadRequest, Status: 400}, "bad_request"},
		{"404", &routeros.Error{Kind: routeros.KindNotFound, Status: 404}, "not_found"},
		{"406", &routeros.Error{Kind: routeros.KindNotAcceptable, Status: 406}, "not_acceptable"},
		{"tls", &routeros.Error{Kind: routeros.KindTLS}, "tls"},
		{"protocol", &routeros.Error{Kind: routeros.KindProtocol}, "protocol"},
		{"canceled", &routeros.Error{Kind: routeros.KindCanceled, Err: context.Canceled}, "canceled"},
		{"queue missing", fmt.Errorf("queue %q: %w", "q", ErrQueueMissing), "queue_missing"},
		{"misdirected", fmt.Errorf("%w (.id *5)", ErrMisdirected), "misdirected"},
		{"writer timeout around another executor", fmt.Errorf("link: %w", context.DeadlineExceeded), "timeout"},
		{"anything else", errors.New("503 Service Unavailable"), "other"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := writeFailureReason(c.err)
			if got != c.want {
				t.Fatalf("reason %q, want %q", got, c.want)
			}
			// Every reason is one of the series created at start (and
			// named in the help).
			found := false
			for _, r := range writeFailureReasons {
				found = found || r == got
			}
			if !found || !strings.Contains(writeFailureReasonList, got) {
				t.Fatalf("reason %q is not among the pre-created ones", got)
			}
		})
	}
	if len(writeFailureReasons) != strings.Count(writeFailureReasonList, ",")+1 {
		t.Fatalf("help lists %q, series %v", writeFailureReasonList, writeFailureReasons)
	}
}

// wanctl_build_info names the build; the standard process_* and go_*
// collectors are in the daemon's registry.
func TestBuildInfoAndStandardCollectors(t *testing.T) {
	f, err := newDaemonFixture(t, testConfig(t), "spectrum")
	if err != nil {
		t.Fatal(err)
	}
	defer f.d.Close()
	if v := mustSeries(t, f.d.metrics.Registry, "wanctl_build_info", "version=unknown,revision=unknown,goversion="+runtime.Version()); v != 1 {
		t.Fatalf("build info %v", v)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newDaemonCollector(f.d, "v1.2.3", "0123abc"))
	if v := mustSeries(t, reg, "wanctl_build_info", "version=v1.2.3,revision=0123abc,goversion="+runtime.Version()); v != 1 {
		t.Fatalf("build info %v", v)
	}
	mfs, err := f.d.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	sort.Strings(names)
	all := " " + strings.Join(names, " ") + " "
	for _, want := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"} {
		if !strings.Contains(all, " "+want+" ") {
			t.Errorf("no %s in %s", want, all)
		}
	}
	// A Metrics serves one daemon: a second one on it is refused, not
	// merged into the same series.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = NewDaemon(DaemonConfig{Config: f.cfg, WANs: []string{"att"}, Metrics: f.d.metrics,
		NewMeasurer: func(w *config.WAN) (Measurer, error) { return &scriptMeasurer{clock: f.clock}, nil },
		NewExecutor: func(*config.Router) (Executor, error) { return f.exec, nil }, Listener: ln})
	if err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("second daemon on the same Metrics: %v", err)
	}
	if n, err := testutil.GatherAndCount(f.d.metrics.Registry, "wanctl_build_info"); err != nil || n != 1 {
		t.Fatalf("%d build_info series (%v)", n, err)
	}
}
