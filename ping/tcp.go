package ping

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// TCPConnectRTT measures the time a TCP handshake with target takes, then
// closes the connection. A refused connection (RST) also crossed the path
// and counts as a valid sample. timeout <= 0 leaves the limit to ctx.
func TCPConnectRTT(ctx context.Context, target netip.AddrPort, timeout time.Duration) (time.Duration, error) {
	return tcpConnectRTT(ctx, netip.Addr{}, target, timeout)
}

func tcpConnectRTT(ctx context.Context, src netip.Addr, target netip.AddrPort, timeout time.Duration) (time.Duration, error) {
	if !target.IsValid() || target.Port() == 0 {
		return 0, fmt.Errorf("tcp connect %s: need an address and a port, e.g. 1.1.1.1:443", target)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	if src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", target.String())
	rtt := time.Since(start)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return rtt, nil
		}
		return 0, fmt.Errorf("tcp connect %s: %w", target, err)
	}
	// Close with RST: a probe leaves no TIME_WAIT socket behind.
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
	return rtt, nil
}
