package commands

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros/emulator"
)

// scrape returns the daemon's /metrics text.
func (e *e2e) scrape() string {
	e.t.Helper()
	resp, err := http.Get("http://" + e.d.Addr().String() + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// From the binary against the emulator: /metrics names the build, carries
// the standard collectors and follows the router failing and coming back,
// as /health does.
func TestAutorateMetricsFollowTheRouter(t *testing.T) {
	e := newE2E(t)
	e.start()
	defer func() {
		e.sigs <- syscall.SIGTERM
		e.exit()
	}()
	e.clock.Advance(time.Second)
	e.settled()
	e.clock.Advance(50 * ms)
	m := e.scrape()
	for _, want := range []string{
		`wanctl_build_info{goversion="` + runtime.Version() + `",revision="`,
		`wanctl_controlling{wan="spectrum"} 1`,
		`wanctl_signal{wan="spectrum"} 1`,
		`wanctl_icmp_blackout{wan="spectrum"} 0`,
		`wanctl_router_reachable{router="edge"} 1`,
		`wanctl_router_write_failures_total{reason="server_error",router="edge"} 0`,
		`wanctl_shaper_rate_floor_bits_per_second{direction="download",wan="spectrum"} 2e+08`,
		"\nprocess_cpu_seconds_total ",
		"\ngo_goroutines ",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Fatalf("/metrics:\n%s", m)
	}

	e.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Status: 503, Count: 1000, Path: "queue/tree"})
	e.meas.set(320*ms, false)
	e.clock.Advance(500 * ms)
	pollUntil(t, "router unreachable on /metrics", func() bool {
		return strings.Contains(e.scrape(), `wanctl_router_reachable{router="edge"} 0`)
	})
	m = e.scrape()
	if !strings.Contains(m, `wanctl_controlling{wan="spectrum"} 0`) ||
		strings.Contains(m, `wanctl_router_write_failures_total{reason="server_error",router="edge"} 0`) {
		t.Fatalf("/metrics with the router answering 503:\n%s", m)
	}
	if c, h := e.health(); c != 503 || h.WANs[0].Router.Reachable {
		t.Fatalf("/health %d %+v", c, h.WANs[0].Router)
	}

	e.emu.ClearFaults()
	e.settled()
	e.clock.Advance(50 * ms)
	pollUntil(t, "controlling again on /metrics", func() bool {
		m := e.scrape()
		return strings.Contains(m, `wanctl_router_reachable{router="edge"} 1`) && strings.Contains(m, `wanctl_controlling{wan="spectrum"} 1`)
	})
}
