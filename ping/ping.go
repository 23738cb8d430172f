// Package ping measures round-trip times to reflectors with ICMP echo (and
// TCP connect during an ICMP blackout) for the autorate loop, steer and
// calibrate. A Stream (or a Burst: BurstTimestamps) can ask IPv4 reflectors
// with ICMP timestamp requests (RFC 792 type 13) instead, whose replies also
// split the round trip into its two directions (Reply.Up, Reply.Hold;
// StreamConfig.Timestamps).
//
// A Pinger owns one long-lived ICMP socket per address family, shared by
// all its Streams and Bursts. Sequence numbers are allocated per socket and
// every request is registered in the socket's pending map before it is
// written; a reader goroutine per socket timestamps each packet right after
// the read (monotonic clock) and hands a matching reply to the stream or
// burst that sent the request. Consumers never wait on the network: a
// Stream paces its own requests and buffers replies until Drain.
package ping

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Reply is one RTT sample.
type Reply struct {
	Target netip.Addr // the reflector (for TCP fallback: the fallback target's address)
	Seq    uint16
	RTT    time.Duration
	At     time.Time // receive time, monotonic reading (time.Now() right after the read)
	TCP    bool      // measured by TCP connect (fallback), not ICMP

	// Stamped: a timestamp reply whose receive and transmit stamps count
	// milliseconds since midnight UTC (and transmit is not before
	// receive). Up and Hold are set only then. A timestamp reply with
	// non-standard stamps is an RTT sample like an echo reply.
	Stamped bool
	// Up is the reflector's receive stamp minus the local wall-clock send
	// time: the request's one-way delay plus the unknown offset between
	// the two clocks, so it may be negative, and only its changes mean
	// anything. The remote stamp has millisecond resolution (truncated by
	// Linux reflectors, so Up reads up to 1 ms low); the local send time
	// is kept to the nanosecond. The difference is taken modulo one day,
	// in [-12h, +12h).
	Up time.Duration
	// Hold is the reflector's transmit stamp minus its receive stamp: how
	// long it held the request, part of RTT but of neither direction (0
	// for Linux reflectors, which stamp both at once). The reply's one-way
	// delay back, plus the clock offset's opposite, is RTT - Up - Hold.
	Hold time.Duration
}

// Mode selects the kind of ICMP socket.
type Mode int

const (
	// Auto uses an unprivileged ICMP socket ("udp4"/"udp6") when
	// net.ipv4.ping_group_range admits one of the process's groups, a raw
	// socket otherwise.
	Auto Mode = iota
	// Unprivileged uses only datagram ICMP sockets (ping_group_range).
	Unprivileged
	// Raw uses only raw ICMP sockets (CAP_NET_RAW).
	Raw
)

func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Unprivileged:
		return "unprivileged"
	case Raw:
		return "raw"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Config configures a Pinger.
type Config struct {
	Source netip.Addr   // optional source address to bind (multi-homed hosts); zero = any
	Mode   Mode         // Auto (default), Unprivileged or Raw
	Logger *slog.Logger // nil = discard

	// Timestamps lets the Pinger's Streams and Bursts send ICMP timestamp
	// requests (StreamConfig.Timestamps, BurstTimestamps): its IPv4
	// socket is then always a raw one (CAP_NET_RAW), also in mode Auto,
	// as unprivileged ICMP sockets send echo requests only. IPv6 is
	// unaffected. Mode Unprivileged cannot have it.
	Timestamps bool
}

// ErrClosed is returned for a Pinger that has been closed.
var ErrClosed = errors.New("ping: pinger closed")

// Pinger owns the ICMP sockets. Sockets are opened on first use for their
// address family (a host without IPv6 can still ping IPv4 reflectors), in
// the goroutine that calls Stream or Burst; the error then says what
// permission is missing.
type Pinger struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	socks   [2]*socket // [0] IPv4, [1] IPv6
	streams map[*Stream]struct{}
	closed  bool

	unmatched atomic.Uint64

	// dialTCP measures a TCP connect; tests replace it to dial inside a
	// network namespace.
	dialTCP func(ctx context.Context, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (time.Duration, error)
}

// Open validates cfg and returns a Pinger. No socket is opened yet.
func Open(cfg Config) (*Pinger, error) {
	switch cfg.Mode {
	case Auto, Unprivileged, Raw:
	default:
		return nil, fmt.Errorf("ping: unknown mode %d (use Auto, Unprivileged or Raw)", int(cfg.Mode))
	}
	if cfg.Timestamps && cfg.Mode == Unprivileged {
		return nil, errors.New("ping: ICMP timestamps need a raw IPv4 socket (CAP_NET_RAW), and mode unprivileged opens none; use mode auto or raw, or turn timestamps off")
	}
	if cfg.Source.IsValid() {
		cfg.Source = cfg.Source.Unmap()
		if cfg.Source.IsUnspecified() || cfg.Source.IsMulticast() {
			return nil, fmt.Errorf("ping: source address %s is not a unicast address of this host; leave measurement.source empty to use the routing table's choice", cfg.Source)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pinger{
		cfg:     cfg,
		log:     log,
		streams: make(map[*Stream]struct{}),
		dialTCP: tcpConnectRTT,
	}, nil
}

// Close stops every Stream of the Pinger and closes its sockets.
func (p *Pinger) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	streams := make([]*Stream, 0, len(p.streams))
	for s := range p.streams {
		streams = append(streams, s)
	}
	p.mu.Unlock()

	for _, s := range streams {
		s.Close()
	}
	var errs []error
	for _, s := range p.socks {
		if s != nil {
			errs = append(errs, s.close())
		}
	}
	return errors.Join(errs...)
}

// Unmatched counts received echo (and timestamp) replies that matched no
// pending request: late (after their timeout), duplicated, or from an
// unexpected address.
// Raw sockets also see other programs' replies; those are not counted.
func (p *Pinger) Unmatched() uint64 { return p.unmatched.Load() }

// SocketMode reports which kind of socket (Unprivileged or Raw) serves the
// family of addr, and false when that socket is not open yet.
func (p *Pinger) SocketMode(addr netip.Addr) (Mode, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.socks[familyIndex(addr)]
	if s == nil {
		return Auto, false
	}
	if s.dm.raw {
		return Raw, true
	}
	return Unprivileged, true
}

// socketFor returns the socket for target's family, opening it if needed.
func (p *Pinger) socketFor(target netip.Addr) (*socket, error) {
	v6 := target.Is6() && !target.Is4In6()
	if src := p.cfg.Source; src.IsValid() && src.Is6() != v6 {
		return nil, fmt.Errorf("ping: source address %s and reflector %s are of different address families; use a source of the same family or no source", src, target)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	i := familyIndex(target)
	if p.socks[i] == nil {
		s, err := openSocket(p, v6)
		if err != nil {
			return nil, err
		}
		p.socks[i] = s
	}
	return p.socks[i], nil
}

func familyIndex(a netip.Addr) int {
	if a.Is6() && !a.Is4In6() {
		return 1
	}
	return 0
}

// checkTargets unmaps the targets and refuses invalid or duplicate ones.
func checkTargets(targets []netip.Addr) ([]netip.Addr, error) {
	if len(targets) == 0 {
		return nil, errors.New("ping: no targets; list at least one reflector")
	}
	out := make([]netip.Addr, len(targets))
	seen := make(map[netip.Addr]bool, len(targets))
	for i, t := range targets {
		if !t.IsValid() {
			return nil, fmt.Errorf("ping: target %d is not a valid IP address", i+1)
		}
		t = t.Unmap()
		if t.IsUnspecified() || t.IsMulticast() {
			return nil, fmt.Errorf("ping: target %s is not a unicast address", t)
		}
		// Replies are matched by source address without zone.
		key := t.WithZone("")
		if seen[key] {
			return nil, fmt.Errorf("ping: target %s is listed twice", t)
		}
		seen[key] = true
		out[i] = t
	}
	return out, nil
}

// reportExpired hands timed-out (or forgotten) requests to their owners.
func reportExpired(list []expiredReq) {
	for _, e := range list {
		e.owner.expired(e.target, e.seq, e.tag)
	}
}
