package steer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

func loopbackWAN(reflectors ...string) *config.WAN {
	w := &config.WAN{Name: "spectrum"}
	for _, r := range reflectors {
		w.Measurement.Reflectors = append(w.Measurement.Reflectors, netip.MustParseAddr(r))
	}
	return w
}

// TestPingMeasurerLoopback pings real loopback reflectors (IPv4 and IPv6).
func TestPingMeasurerLoopback(t *testing.T) {
	var logs bytes.Buffer
	m := &PingMeasurer{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	w := loopbackWAN("127.0.0.1", "127.0.0.2", "::1")
	start := time.Now()
	samples, err := m.MeasureRTT(context.Background(), w)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, s := range samples {
		if s.TCP || s.RTT <= 0 || s.RTT > DefaultBurstTimeout {
			t.Errorf("sample %+v", s)
		}
		per[s.Source]++
	}
	for _, r := range []string{"127.0.0.1", "127.0.0.2", "::1"} {
		if per[r] != DefaultBurstRounds {
			t.Errorf("%s: %d replies, want %d (%v)", r, per[r], DefaultBurstRounds, per)
		}
	}
	t.Logf("%d samples in %v", len(samples), took)
	if logs.Len() != 0 {
		t.Errorf("the pinger logged at info in a one-shot:\n%s", logs.String())
	}
}

// listener accepts TCP connections on loopback until the test ends.
func listener(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(l.Addr().String())
}

// silent is an ICMP burst on a network where no reflector answers (this
// sandbox's network answers every address, so the real one cannot show it
// without a network namespace); err is what the burst reports.
func silent(err error) func(context.Context, *config.WAN, int, time.Duration, time.Duration, time.Time) ([]Sample, error) {
	return func(ctx context.Context, _ *config.WAN, _ int, _, timeout time.Duration, _ time.Time) ([]Sample, error) {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return nil, err
	}
}

// TestPingMeasurerTCPFallback: no reflector answers, so the TCP targets
// are measured (for real, on loopback); a refused port counts (the RST
// crossed the path): port 1 on loopback refuses.
func TestPingMeasurerTCPFallback(t *testing.T) {
	open := listener(t)
	w := loopbackWAN("127.0.0.1")
	w.Measurement.TCPFallback = []netip.AddrPort{open, netip.MustParseAddrPort("127.0.0.1:1")}
	for _, src := range []netip.Addr{{}, netip.MustParseAddr("127.0.0.1")} {
		w.Measurement.Source = src
		m := &PingMeasurer{Rounds: 1, Timeout: 100 * time.Millisecond, icmp: silent(nil)}
		samples, err := m.MeasureRTT(context.Background(), w)
		if err != nil {
			t.Errorf("source %v: %v", src, err)
		}
		got := map[string]bool{}
		for _, s := range samples {
			if !s.TCP || s.RTT <= 0 {
				t.Errorf("sample %+v", s)
			}
			got[s.Source] = true
		}
		if !got[open.String()] || !got["127.0.0.1:1"] || len(samples) != 2 {
			t.Fatalf("source %v: samples %+v, err %v", src, samples, err)
		}
	}
}

// TestPingMeasurerICMPNotPermittedTCPWorks: the ICMP error is reported
// with the TCP samples (the run logs it as a warning).
func TestPingMeasurerICMPNotPermittedTCPWorks(t *testing.T) {
	w := loopbackWAN("127.0.0.1")
	w.Measurement.TCPFallback = []netip.AddrPort{listener(t)}
	m := &PingMeasurer{icmp: func(context.Context, *config.WAN, int, time.Duration, time.Duration, time.Time) ([]Sample, error) {
		return nil, errors.New("ping: no permission to open an ICMP socket")
	}}
	samples, err := m.MeasureRTT(context.Background(), w)
	if len(samples) != 1 || !samples[0].TCP || err == nil || !strings.Contains(err.Error(), "no permission") {
		t.Fatalf("%v %v", samples, err)
	}
}

// blackhole is a loopback TCP port that never completes a handshake: a
// listening socket (backlog 0) that never accepts, with its accept queue
// filled, so the kernel drops further SYNs.
func blackhole(t *testing.T) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.(*syscall.SockaddrInet4).Port))
	// Fill the accept queue until a connect does not complete.
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", ap.String(), 100*time.Millisecond)
		if err != nil {
			return ap
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("the accept queue never filled")
	return ap
}

func TestPingMeasurerNothingAnswers(t *testing.T) {
	w := loopbackWAN("127.0.0.1")
	m := &PingMeasurer{Rounds: 1, Timeout: 50 * time.Millisecond, icmp: silent(nil)}
	samples, err := m.MeasureRTT(context.Background(), w)
	if len(samples) != 0 || err == nil || !strings.Contains(err.Error(), "no tcp_fallback targets") {
		t.Fatalf("%v %v", samples, err)
	}
	// A fallback that never completes a handshake ends with the budget.
	w.Measurement.TCPFallback = []netip.AddrPort{blackhole(t)}
	m.Budget = 150 * time.Millisecond
	start := time.Now()
	samples, err = m.MeasureRTT(context.Background(), w)
	if len(samples) != 0 || err == nil || !strings.Contains(err.Error(), "TCP fallback") {
		t.Fatalf("%v %v", samples, err)
	}
	t.Logf("blackhole fallback gave up after %v: %v", time.Since(start), err)
	w.Measurement.TCPFallback = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")}
	// A refused-only fallback is a sample, so no error.
	samples, err = m.MeasureRTT(context.Background(), w)
	if len(samples) != 1 || err != nil {
		t.Fatalf("%v %v", samples, err)
	}
}

func TestConstantRTT(t *testing.T) {
	s, err := ConstantRTT(7*time.Millisecond).MeasureRTT(context.Background(), loopbackWAN("1.1.1.1", "9.9.9.9"))
	if err != nil || len(s) != 2 || s[0] != (Sample{Source: "1.1.1.1", RTT: 7 * time.Millisecond}) {
		t.Fatalf("%+v %v", s, err)
	}
}
