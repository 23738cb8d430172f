package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/wanctl/wanctl/sim"
)

// The load generator: per direction, Flows bulk TCP connections while the
// scenario has that direction loaded, none otherwise. Bloat needs senders
// that fill buffers: cubic (set per socket; the kernel's default bbr keeps
// queues short) and large fixed socket buffers (setting them switches the
// kernel's autotuning off). A phase ends with a reset (SO_LINGER 0), so
// that what the sender still holds is dropped, not sent during the idle
// phase that follows.

const (
	sinkPortDown = 5002 // on lan: download flows end here
	sinkPortUp   = 5001 // on srv: upload flows end here
	sndBuf       = 4 << 20
	rcvBuf       = 6 << 20
	writeChunk   = 64 << 10
)

// load runs the bulk flows.
type load struct {
	ns        [2]netns // sender namespace per direction
	dst       [2]string
	flows     int
	sinks     [2]net.Listener
	delivered [2]atomic.Int64 // bytes the sinks read

	mu      sync.Mutex
	running [2][]net.Conn
	sinkEnd []net.Conn // accepted connections, closed at the end
	wg      sync.WaitGroup
	errs    []error
}

func sockOpts(opts ...func(fd int) error) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			for _, o := range opts {
				if err = o(int(fd)); err != nil {
					return
				}
			}
		}); cerr != nil {
			return cerr
		}
		return err
	}
}

func setInt(level, opt, v int, what string) func(int) error {
	return func(fd int) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
}

// startLoad opens the sinks; flows start with start.
func startLoad(lan, srv netns, flows int) (*load, error) {
	l := &load{ns: [2]netns{srv, lan}, flows: flows}
	l.dst[sim.Download] = net.JoinHostPort(lanAddr, strconv.Itoa(sinkPortDown))
	l.dst[sim.Upload] = net.JoinHostPort(srvAddr, strconv.Itoa(sinkPortUp))
	// The receive buffer must be set on the listener: the window scale is
	// agreed in the handshake.
	lc := net.ListenConfig{Control: sockOpts(setInt(unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf, "SO_RCVBUFFORCE"))}
	for d, ns := range [2]netns{lan, srv} {
		err := ns.do(func() error {
			ln, err := lc.Listen(context.Background(), "tcp4", l.dst[d])
			if err != nil {
				return fmt.Errorf("%s sink: %w", sim.Dir(d), err)
			}
			l.sinks[d] = ln
			return nil
		})
		if err != nil {
			return nil, errors.Join(err, l.close())
		}
	}
	for d := range 2 {
		l.wg.Add(1)
		go l.accept(sim.Dir(d))
	}
	return l, nil
}

func (l *load) fail(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *load) accept(d sim.Dir) {
	defer l.wg.Done()
	for {
		c, err := l.sinks[d].Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.fail(fmt.Errorf("%s sink: %w", d, err))
			}
			return
		}
		l.mu.Lock()
		l.sinkEnd = append(l.sinkEnd, c)
		l.mu.Unlock()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer c.Close()
			b := make([]byte, 256<<10)
			for {
				n, err := c.Read(b)
				l.delivered[d].Add(int64(n))
				if err != nil {
					return // EOF or the sender's reset ends a phase
				}
			}
		}()
	}
}

// start opens direction d's flows.
func (l *load) start(ctx context.Context, d sim.Dir) error {
	dialer := net.Dialer{Control: sockOpts(
		func(fd int) error {
			if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, "cubic"); err != nil {
				return fmt.Errorf("TCP_CONGESTION cubic: %w", err)
			}
			return nil
		},
		setInt(unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBuf, "SO_SNDBUFFORCE"),
	)}
	var conns []net.Conn
	err := l.ns[d].do(func() error {
		for range l.flows {
			c, err := dialer.DialContext(ctx, "tcp4", l.dst[d])
			if err != nil {
				return fmt.Errorf("%s flow: %w", d, err)
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		return err
	}
	l.mu.Lock()
	l.running[d] = append(l.running[d], conns...)
	l.mu.Unlock()
	for _, c := range conns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			b := make([]byte, writeChunk)
			for {
				if _, err := c.Write(b); err != nil {
					return // stopped
				}
			}
		}()
	}
	return nil
}

// stop resets direction d's flows.
func (l *load) stop(d sim.Dir) {
	l.mu.Lock()
	conns := l.running[d]
	l.running[d] = nil
	l.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// close stops everything.
func (l *load) close() error {
	l.stop(sim.Download)
	l.stop(sim.Upload)
	for _, s := range l.sinks {
		if s != nil {
			s.Close()
		}
	}
	l.mu.Lock()
	for _, c := range l.sinkEnd {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}
