package testbed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The probe measures the added delay the way a latency-sensitive flow
// meets it: a small UDP packet from the LAN to the server every
// ProbeInterval and back. All namespaces share one clock, so each
// direction's one-way delay is measured on its own: the send time is read
// right around the sendto (a sample whose two readings are further apart
// than maxStampGap — the sender was descheduled — is discarded), the
// receive time is the kernel's (SO_TIMESTAMPNS), so a busy receiver does
// not add to it. The added delay is the one-way delay minus the idle
// link's (the median before the first load starts).

const (
	probePort   = 5201
	probeMagic  = 0x77746270 // "wtbp"
	probeLen    = 64
	maxStampGap = 500 * time.Microsecond
)

// probeSample is one probe's four timestamps (Unix ns; 0: never).
type probeSample struct {
	sent, recvd    int64 // client send, server receive (upload)
	echoed, back   int64 // server send, client receive (download)
	badUp, badDown bool  // a send time is not trustworthy
}

type probe struct {
	interval time.Duration
	mu       sync.Mutex
	samples  []probeSample
	client   *net.UDPConn
	server   *net.UDPConn
	wg       sync.WaitGroup
	errs     []error
}

// startProbe opens the server in srv and the client in lan and starts
// answering; probes are sent by run.
func startProbe(lan, srv netns, interval time.Duration, maxSamples int) (*probe, error) {
	p := &probe{interval: interval, samples: make([]probeSample, 0, maxSamples)}
	err := srv.do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(srvAddr), Port: probePort})
		if err != nil {
			return fmt.Errorf("probe server: %w", err)
		}
		p.server = c
		return kernelStamps(c)
	})
	if err != nil {
		return nil, errors.Join(err, p.close())
	}
	err = lan.do(func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(lanAddr)}, &net.UDPAddr{IP: net.ParseIP(srvAddr), Port: probePort})
		if err != nil {
			return fmt.Errorf("probe client: %w", err)
		}
		p.client = c
		return kernelStamps(c)
	})
	if err != nil {
		return nil, errors.Join(err, p.close())
	}
	p.wg.Add(2)
	go p.serve()
	go p.receive()
	return p, nil
}

func kernelStamps(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("probe: SO_TIMESTAMPNS: %w", serr)
	}
	return nil
}

// recvStamped reads one datagram and its kernel receive time (Unix ns).
func recvStamped(c *net.UDPConn, b, oob []byte) (n int, from *net.UDPAddr, at int64, err error) {
	n, oobn, _, from, err := c.ReadMsgUDP(b, oob)
	if err != nil {
		return 0, nil, 0, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
				return n, from, sec*1e9 + nsec, nil
			}
		}
	}
	return n, from, time.Now().UnixNano(), nil
}

// seqOf returns a probe packet's sequence number, -1 if it is not one.
func seqOf(b []byte) int {
	if len(b) < 8 || binary.BigEndian.Uint32(b) != probeMagic {
		return -1
	}
	return int(binary.BigEndian.Uint32(b[4:]))
}

// serve echoes probes, stamping them in and out.
func (p *probe) serve() {
	defer p.wg.Done()
	b, oob := make([]byte, 256), make([]byte, 128)
	for {
		n, from, at, err := recvStamped(p.server, b, oob)
		if err != nil {
			p.fail(err)
			return
		}
		seq := seqOf(b[:n])
		if seq < 0 {
			continue
		}
		t0 := time.Now().UnixNano()
		_, werr := p.server.WriteToUDP(b[:n], from)
		t1 := time.Now().UnixNano()
		p.mu.Lock()
		if seq < len(p.samples) {
			s := &p.samples[seq]
			s.recvd = at
			if werr == nil {
				s.echoed, s.badDown = t0, t1-t0 > int64(maxStampGap)
			}
		}
		p.mu.Unlock()
	}
}

// receive takes the echoes back.
func (p *probe) receive() {
	defer p.wg.Done()
	b, oob := make([]byte, 256), make([]byte, 128)
	for {
		n, _, at, err := recvStamped(p.client, b, oob)
		if err != nil {
			p.fail(err)
			return
		}
		seq := seqOf(b[:n])
		p.mu.Lock()
		if seq >= 0 && seq < len(p.samples) {
			p.samples[seq].back = at
		}
		p.mu.Unlock()
	}
}

func (p *probe) fail(err error) {
	if errors.Is(err, net.ErrClosed) {
		return
	}
	p.mu.Lock()
	p.errs = append(p.errs, err)
	p.mu.Unlock()
}

// run sends a probe every interval until ctx ends or the sample space is
// used up.
func (p *probe) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	b := make([]byte, probeLen)
	binary.BigEndian.PutUint32(b, probeMagic)
	for {
		p.mu.Lock()
		seq := len(p.samples)
		if seq == cap(p.samples) {
			p.mu.Unlock()
			return
		}
		p.samples = append(p.samples, probeSample{})
		p.mu.Unlock()
		binary.BigEndian.PutUint32(b[4:], uint32(seq))
		t0 := time.Now().UnixNano()
		_, err := p.client.Write(b)
		t1 := time.Now().UnixNano()
		p.mu.Lock()
		if err == nil {
			p.samples[seq].sent, p.samples[seq].badUp = t0, t1-t0 > int64(maxStampGap)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			p.errs = append(p.errs, err)
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// drain waits until every probe sent has come back, or none came back for
// 500 ms (the rest are lost), at most within: probes still queued when a
// run ends are late, not lost.
func (p *probe) drain(within time.Duration) {
	deadline := time.Now().Add(within)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		p.mu.Lock()
		out := 0
		for _, s := range p.samples {
			if s.sent != 0 && s.back == 0 {
				out++
			}
		}
		p.mu.Unlock()
		if out == 0 {
			return
		}
		if out != last {
			last, since = out, time.Now()
		} else if time.Since(since) > 500*time.Millisecond {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close stops the probe and returns what it measured.
func (p *probe) close() error {
	var errs []error
	for _, c := range []*net.UDPConn{p.client, p.server} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	p.wg.Wait()
	p.mu.Lock()
	errs = append(errs, p.errs...)
	p.mu.Unlock()
	return errors.Join(errs...)
}

// result returns the samples (after close).
func (p *probe) result() []probeSample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]probeSample(nil), p.samples...)
}
