package steer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/ping"
)

// Sample is one RTT measurement of a run.
type Sample struct {
	// Source is the reflector ("1.1.1.1") or, for a TCP-connect sample, the
	// fallback target ("1.1.1.1:443"): the run compares it with the baseline
	// autorate learned for the same source. "" uses the WAN's baseline.
	Source string
	RTT    time.Duration
	TCP    bool
}

// RTTMeasurer measures a WAN's RTT for one run. It returns what it got;
// the error says why there is nothing (or what failed on the way to the
// samples it has, e.g. ICMP not permitted but TCP worked).
type RTTMeasurer interface {
	MeasureRTT(ctx context.Context, w *config.WAN) ([]Sample, error)
}

// RTTFunc adapts a function to RTTMeasurer (scripted RTTs in tests, the
// simulator and the demo).
type RTTFunc func(ctx context.Context, w *config.WAN) ([]Sample, error)

// MeasureRTT calls f.
func (f RTTFunc) MeasureRTT(ctx context.Context, w *config.WAN) ([]Sample, error) { return f(ctx, w) }

// ConstantRTT answers every run with one sample of d per reflector of the
// WAN (each compared with that reflector's baseline).
func ConstantRTT(d time.Duration) RTTMeasurer {
	return RTTFunc(func(_ context.Context, w *config.WAN) ([]Sample, error) {
		out := make([]Sample, 0, len(w.Measurement.Reflectors))
		for _, r := range w.Measurement.Reflectors {
			out = append(out, Sample{Source: r.String(), RTT: d})
		}
		if len(out) == 0 {
			out = append(out, Sample{RTT: d})
		}
		return out, nil
	})
}

// Defaults of PingMeasurer: 3 rounds 50 ms apart, each request waiting up
// to 300 ms (the ICMP part ends at the latest after 400 ms, as soon as
// every reply is in), TCP fallback within what is left of 500 ms.
const (
	DefaultBurstRounds   = 3
	DefaultBurstInterval = 50 * time.Millisecond
	DefaultBurstTimeout  = 300 * time.Millisecond
	DefaultRTTBudget     = 500 * time.Millisecond
)

// minTCPBudget is the least time the TCP fallback gets even when the ICMP
// burst used up the budget (a blackout burst always waits its timeout).
const minTCPBudget = 100 * time.Millisecond

// PingMeasurer is the production RTTMeasurer: a short ICMP burst to the
// WAN's reflectors (package ping) and, when no reflector answers, one TCP
// connect to each tcp_fallback target. Zero fields take the defaults.
type PingMeasurer struct {
	Rounds   int
	Interval time.Duration
	Timeout  time.Duration // per echo request
	Budget   time.Duration // the whole measurement, TCP fallback included
	Mode     ping.Mode
	Log      *slog.Logger

	// icmp replaces the ICMP burst (tests: a network where nothing answers).
	icmp func(ctx context.Context, w *config.WAN, rounds int, interval, timeout time.Duration, deadline time.Time) ([]Sample, error)
}

// EchoTimeout is how long the burst waits for each echo.
func (m *PingMeasurer) EchoTimeout() time.Duration {
	if m.Timeout <= 0 {
		return DefaultBurstTimeout
	}
	return m.Timeout
}

// echoTimeout is m's echo timeout when it tells (PingMeasurer does), else
// DefaultBurstTimeout.
func echoTimeout(m RTTMeasurer) time.Duration {
	if t, ok := m.(interface{ EchoTimeout() time.Duration }); ok {
		return t.EchoTimeout()
	}
	return DefaultBurstTimeout
}

// MeasureRTT implements RTTMeasurer.
func (m *PingMeasurer) MeasureRTT(ctx context.Context, w *config.WAN) ([]Sample, error) {
	rounds, interval, timeout, budget := m.Rounds, m.Interval, m.EchoTimeout(), m.Budget
	if rounds <= 0 {
		rounds = DefaultBurstRounds
	}
	if interval <= 0 {
		interval = DefaultBurstInterval
	}
	if budget <= 0 {
		budget = DefaultRTTBudget
	}
	start := time.Now()
	deadline := start.Add(budget)

	var samples []Sample
	var icmpErr error
	if refl := w.Measurement.Reflectors; len(refl) > 0 {
		burst := m.icmp
		if burst == nil {
			burst = m.burst
		}
		samples, icmpErr = burst(ctx, w, rounds, interval, timeout, deadline)
		if len(samples) > 0 {
			return samples, nil
		}
	}
	if ctx.Err() != nil {
		return nil, errors.Join(icmpErr, ctx.Err())
	}
	fb := w.Measurement.TCPFallback
	if len(fb) == 0 {
		if icmpErr == nil {
			icmpErr = fmt.Errorf("no reflector of %s answered, and it has no tcp_fallback targets", w.Name)
		}
		return nil, icmpErr
	}
	left := time.Until(deadline)
	if left < minTCPBudget {
		left = minTCPBudget
	}
	tcp, tcpErr := tcpProbe(ctx, w.Measurement.Source, fb, left)
	if len(tcp) > 0 {
		// ICMP failing while TCP works is worth a warning (permissions,
		// a filter): the caller logs it with the samples.
		return tcp, icmpErr
	}
	if icmpErr == nil {
		icmpErr = fmt.Errorf("no reflector of %s answered", w.Name)
	}
	return nil, fmt.Errorf("%w; TCP fallback: %w", icmpErr, tcpErr)
}

func (m *PingMeasurer) burst(ctx context.Context, w *config.WAN, rounds int, interval, timeout time.Duration, deadline time.Time) ([]Sample, error) {
	var log *slog.Logger
	if m.Log != nil {
		log = slog.New(quiet{m.Log.Handler()})
	}
	p, err := ping.Open(ping.Config{Source: w.Measurement.Source, Mode: m.Mode, Logger: log})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	// Never outlive the budget, even if the pinger waits longer.
	bctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	replies, _, err := p.Burst(bctx, w.Measurement.Reflectors, rounds, interval, timeout)
	out := make([]Sample, 0, len(replies))
	for _, r := range replies {
		out = append(out, Sample{Source: r.Target.String(), RTT: r.RTT})
	}
	if err != nil && len(out) > 0 && bctx.Err() != nil && ctx.Err() == nil {
		err = nil // the budget cut the wait for the last replies; what came is enough
	}
	return out, err
}

// tcpProbe measures one TCP handshake to each target at once.
func tcpProbe(ctx context.Context, src netip.Addr, targets []netip.AddrPort, timeout time.Duration) ([]Sample, error) {
	type res struct {
		s   Sample
		err error
	}
	ch := make(chan res, len(targets))
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtt, err := tcpConnectRTT(ctx, src, t, timeout)
			ch <- res{Sample{Source: t.String(), RTT: rtt, TCP: true}, err}
		}()
	}
	wg.Wait()
	close(ch)
	var out []Sample
	var errs []error
	for r := range ch {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		out = append(out, r.s)
	}
	return out, errors.Join(errs...)
}

// tcpConnectRTT is ping.TCPConnectRTT, bound to measurement.source when the
// WAN has one: the router's pinned routes match this host's address, so a
// probe from another source address would measure another path.
func tcpConnectRTT(ctx context.Context, src netip.Addr, target netip.AddrPort, timeout time.Duration) (time.Duration, error) {
	if !src.IsValid() {
		return ping.TCPConnectRTT(ctx, target, timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", target.String())
	rtt := time.Since(start)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return rtt, nil // a RST crossed the path too
		}
		return 0, fmt.Errorf("tcp connect %s from %s: %w", target, src, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
	return rtt, nil
}

// quiet demotes the pinger's info records ("ping socket opened", worth a
// line once in a daemon's life, not every 2 s) to debug, keeping a run to
// one log line.
type quiet struct{ h slog.Handler }

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return q.h.Enabled(ctx, l)
}

func (q quiet) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return q.h.Handle(ctx, r)
}

func (q quiet) WithAttrs(a []slog.Attr) slog.Handler { return quiet{q.h.WithAttrs(a)} }
func (q quiet) WithGroup(n string) slog.Handler      { return quiet{q.h.WithGroup(n)} }
