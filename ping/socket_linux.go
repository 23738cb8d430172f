package ping

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// socket is one ICMP socket and its reader goroutine. Reads and writes go
// through syscall.RawConn with recvfrom/sendto on buffers and sockaddrs
// owned by the socket, so steady-state traffic allocates nothing (the
// net package's ReadFrom/WriteTo allocate an address per packet on raw
// sockets).
//
// recvfrom and sendto are issued as raw system calls (unix.RawSyscall6,
// which skips the runtime's syscall bookkeeping): the socket is
// non-blocking, so neither can block, and the bookkeeping's entersyscall
// wakes the runtime's sysmon thread whenever the process was idle — one
// extra OS thread wake-up (and a few 20 µs polls) per packet, most of an
// idle daemon's CPU time.
type socket struct {
	p       *Pinger
	v6      bool
	pc      *icmp.PacketConn
	rc      syscall.RawConn
	dm      *demux
	network string // "udp4", "ip6:ipv6-icmp", ... for messages

	closing atomic.Bool
	done    chan struct{}

	// Reader state, used by the reader goroutine only.
	rbuf   [1500]byte
	rsa    unix.RawSockaddrAny
	rsalen uint32
	rn     int
	rerr   syscall.Errno
	rat    time.Time
	readFn func(fd uintptr) bool

	// Writer state, guarded by wmu.
	wmu     sync.Mutex
	wbuf    [max(echoLen, timestampLen)]byte
	wsa4    unix.RawSockaddrInet4
	wsa6    unix.RawSockaddrInet6
	wpkt    []byte
	werr    syscall.Errno
	wwait   bool // wait for writability on EAGAIN
	writeFn func(fd uintptr) bool
}

// openSocket opens the ICMP socket of one family in the Pinger's mode and
// starts its reader.
func openSocket(p *Pinger, v6 bool) (*socket, error) {
	var kinds []bool // raw?
	switch {
	case p.cfg.Mode == Raw, p.cfg.Timestamps && !v6:
		// Unprivileged IPv4 sockets send echo requests only.
		kinds = []bool{true}
	case p.cfg.Mode == Unprivileged:
		kinds = []bool{false}
	default:
		kinds = []bool{false, true}
	}
	var errs []error
	for _, raw := range kinds {
		s, err := openKind(p, v6, raw)
		if err == nil {
			p.log.Info("ping socket opened", "family", familyName(v6), "kind", s.network, "source", p.cfg.Source)
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, openError(p.cfg, v6, errs)
}

func openKind(p *Pinger, v6, raw bool) (*socket, error) {
	network, addr := "udp4", "0.0.0.0"
	switch {
	case v6 && raw:
		network, addr = "ip6:ipv6-icmp", "::"
	case v6:
		network, addr = "udp6", "::"
	case raw:
		network = "ip4:icmp"
	}
	if p.cfg.Source.IsValid() {
		addr = p.cfg.Source.String()
	}
	pc, err := icmp.ListenPacket(network, addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", network, err)
	}
	var conn net.PacketConn
	if v6 {
		conn = pc.IPv6PacketConn().PacketConn
	} else {
		conn = pc.IPv4PacketConn().PacketConn
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("%s: socket %T gives no raw access", network, conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("%s: %w", network, err)
	}
	var id uint16
	if raw {
		// A raw socket receives every ICMP packet the host gets; let the
		// kernel drop all but echo (and timestamp) replies (Linux ICMP
		// filters), and pick an id to recognise ours among other
		// pingers' replies.
		id = uint16(rand.Uint32())
		if v6 {
			var f ipv6.ICMPFilter
			f.SetAll(true)
			f.Accept(ipv6.ICMPTypeEchoReply)
			err = pc.IPv6PacketConn().SetICMPFilter(&f)
		} else {
			var f ipv4.ICMPFilter
			f.SetAll(true)
			f.Accept(ipv4.ICMPTypeEchoReply)
			if p.cfg.Timestamps {
				f.Accept(ipv4.ICMPTypeTimestampReply)
			}
			err = pc.IPv4PacketConn().SetICMPFilter(&f)
		}
		if err != nil {
			p.log.Debug("ping: ICMP filter not set; filtering in user space", "socket", network, "err", err)
		}
	}
	s := &socket{
		p:       p,
		v6:      v6,
		pc:      pc,
		rc:      rc,
		dm:      newDemux(v6, raw, id, rand.Uint64()),
		network: network,
		done:    make(chan struct{}),
	}
	s.readFn = s.recv
	s.writeFn = s.sendto
	go s.readLoop()
	return s, nil
}

// openError explains which permission is missing when no socket kind could
// be opened, and passes other errors (a bad source address) through.
func openError(cfg Config, v6 bool, errs []error) error {
	joined := errors.Join(errs...)
	msgs := make([]string, len(errs))
	perm := true
	for i, e := range errs {
		msgs[i] = e.Error()
		if !errors.Is(e, os.ErrPermission) {
			perm = false
		}
	}
	detail := strings.Join(msgs, "; ")
	if !perm {
		if cfg.Source.IsValid() && errors.Is(joined, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("ping: cannot bind ICMP socket to source address %s: it is not an address of this host (%s): %w", cfg.Source, detail, joined)
		}
		return fmt.Errorf("ping: cannot open %s ICMP socket (%s): %w", familyName(v6), detail, joined)
	}
	var how string
	switch {
	case cfg.Timestamps && !v6:
		// Auto would have fallen back to an unprivileged socket, which
		// cannot send timestamp requests: say why raw is needed.
		return fmt.Errorf("ping: not permitted to open a raw IPv4 ICMP socket, which ICMP timestamp requests need (%s); grant CAP_NET_RAW (systemd unit: AmbientCapabilities=CAP_NET_RAW; or setcap cap_net_raw+ep on the binary), or turn timestamps off to measure with echo requests: %w", detail, joined)
	case cfg.Mode == Unprivileged:
		how = `allow unprivileged ICMP sockets for the service's group: sysctl -w net.ipv4.ping_group_range="0 2147483647" (persist it in /etc/sysctl.d/), or use mode raw with CAP_NET_RAW`
	case cfg.Mode == Raw:
		how = `grant CAP_NET_RAW (systemd unit: AmbientCapabilities=CAP_NET_RAW; or setcap cap_net_raw+ep on the binary)`
	default:
		how = `either allow unprivileged ICMP sockets: sysctl -w net.ipv4.ping_group_range="0 2147483647" (persist it in /etc/sysctl.d/; it covers IPv6 too), or grant CAP_NET_RAW (systemd unit: AmbientCapabilities=CAP_NET_RAW; or setcap cap_net_raw+ep on the binary)`
	}
	return fmt.Errorf("ping: not permitted to open an %s ICMP socket (%s); %s: %w", familyName(v6), detail, how, joined)
}

func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// recv is the RawConn read callback: one recvfrom, timestamped at once.
func (s *socket) recv(fd uintptr) bool {
	for {
		s.rsalen = unix.SizeofSockaddrAny
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)), 0,
			uintptr(unsafe.Pointer(&s.rsa)), uintptr(unsafe.Pointer(&s.rsalen)))
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait for readability
		}
		s.rat = time.Now()
		s.rn = int(n)
		s.rerr = errno
		return true
	}
}

// source is the sender of the packet in the read buffer.
func (s *socket) source() netip.Addr {
	switch s.rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.rsa))
		return netip.AddrFrom4(sa.Addr)
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&s.rsa))
		return netip.AddrFrom16(sa.Addr)
	}
	return netip.Addr{}
}

func (s *socket) readLoop() {
	defer close(s.done)
	var lastErr time.Time
	for {
		err := s.rc.Read(s.readFn)
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Should not happen on an open socket; do not spin on it.
			s.p.log.Warn("ping: read failed", "socket", s.network, "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if s.rerr != 0 {
			// An ICMP error queued on the socket (e.g. host unreachable
			// on an unprivileged socket). The request still times out;
			// log it now and then.
			if now := time.Now(); now.Sub(lastErr) > 10*time.Second {
				lastErr = now
				s.p.log.Debug("ping: socket error", "socket", s.network, "err", s.rerr)
			}
			continue
		}
		switch s.dm.handle(s.rbuf[:s.rn], s.source(), s.rat) {
		case unknownSeq, wrongSource:
			s.p.unmatched.Add(1)
		}
	}
}

// sendto is the RawConn write callback for the packet prepared in wpkt.
func (s *socket) sendto(fd uintptr) bool {
	sa, salen := uintptr(unsafe.Pointer(&s.wsa4)), uintptr(unix.SizeofSockaddrInet4)
	if s.v6 {
		sa, salen = uintptr(unsafe.Pointer(&s.wsa6)), uintptr(unix.SizeofSockaddrInet6)
	}
	for {
		_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, fd,
			uintptr(unsafe.Pointer(&s.wpkt[0])), uintptr(len(s.wpkt)), 0, sa, salen)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if s.wwait {
				return false // wait for writability
			}
		}
		s.werr = errno
		return true
	}
}

// send registers an echo request (ts: a timestamp request, raw IPv4
// sockets only) to target for owner, then writes it. With wait false it
// never waits for the socket to become writable: a full send buffer
// (EAGAIN) is an error, and the caller (a control loop) goes on.
func (s *socket) send(target netip.Addr, owner sink, tag int, timeout time.Duration, wait, ts bool) (uint16, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.v6 {
		s.wsa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: target.As16()}
		if z := target.Zone(); z != "" {
			idx, err := zoneIndex(z)
			if err != nil {
				return 0, fmt.Errorf("ping %s: %w", target, err)
			}
			s.wsa6.Scope_id = idx
		}
	} else {
		s.wsa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: target.As4()}
	}
	if ts && (s.v6 || !s.dm.raw) {
		// ICMPv6 has no timestamp message; unprivileged sockets send echo only.
		return 0, fmt.Errorf("ping %s: timestamp request on a %s socket: needs a raw IPv4 socket", target, s.network)
	}
	seq, token, _, err := s.dm.register(target, owner, tag, timeout, ts)
	if err != nil {
		return 0, err
	}
	if ts {
		s.wpkt = buildTimestamp(s.wbuf[:], s.dm.id, seq, uint32(token))
	} else {
		s.wpkt = buildEcho(s.wbuf[:], s.v6, s.dm.id, seq, s.dm.magic, token)
	}
	s.werr = 0
	s.wwait = wait
	err = s.rc.Write(s.writeFn)
	if err == nil && s.werr != 0 {
		err = s.werr
	}
	if err != nil {
		s.dm.unregister(seq)
		if r, ok := owner.(registrar); ok {
			r.unregistered(seq, tag)
		}
		return seq, fmt.Errorf("ping %s: %w", target, err)
	}
	return seq, nil
}

func zoneIndex(z string) (uint32, error) {
	if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(z)
	if err != nil {
		return 0, fmt.Errorf("zone %q: %w", z, err)
	}
	return uint32(ifi.Index), nil
}

func (s *socket) close() error {
	s.closing.Store(true)
	err := s.pc.Close()
	<-s.done
	return err
}
