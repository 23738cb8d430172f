package ping

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Echo requests carry 16 bytes of payload: a random number fixed per socket
// ("magic") and a per-request token. A reply must echo both, so replies to
// other programs' pings (raw sockets see them all) and replies so late that
// their seq has since been reused are told apart from the ones we wait for.
const (
	headerLen  = 8
	payloadLen = 16
	echoLen    = headerLen + payloadLen

	icmpv4EchoRequest = 8
	icmpv4EchoReply   = 0
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
)

// verdict is what handle made of one received packet.
type verdict uint8

const (
	matched      verdict = iota // delivered to its owner
	malformed                   // too short, bad IP header
	notEchoReply                // another ICMP type (our own requests on loopback, errors)
	otherID                     // raw socket: someone else's echo id
	foreign                     // payload is not ours
	unknownSeq                  // no request pending: late (after timeout), duplicate, stale token or originate, or the other kind of request
	wrongSource                 // pending seq, but the reply came from another address
)

func (v verdict) String() string {
	switch v {
	case matched:
		return "matched"
	case malformed:
		return "malformed"
	case notEchoReply:
		return "not an echo or timestamp reply"
	case otherID:
		return "other echo id"
	case foreign:
		return "foreign payload"
	case unknownSeq:
		return "unknown seq"
	case wrongSource:
		return "wrong source"
	}
	return "verdict?"
}

// sink receives the outcome of the requests it registered. Both methods are
// called without any demux lock held and must not block.
type sink interface {
	deliver(r Reply, tag int)
	expired(target netip.Addr, seq uint16, tag int)
}

// registrar is implemented by sinks that track their requests in flight
// (Stream). registered is called with the demux lock held, before the
// request is written: no reply can be delivered before it. It must not
// block and must not call back into the demux.
type registrar interface {
	registered(seq uint16, sent time.Time, tag int, ts bool)
	// unregistered: the request could not be written after all.
	unregistered(seq uint16, tag int)
}

// pendingReq is one echo or timestamp request waiting for its reply.
type pendingReq struct {
	target   netip.Addr // unmapped; compared without zone with the reply's source
	sent     time.Time
	deadline time.Time
	// token is the echo payload's token, or for a timestamp request the
	// originate stamp, which the reply must carry back.
	token uint64
	ts    bool // a timestamp request: only a timestamp reply answers it
	owner sink
	tag   int // the owner's index for the target, handed back unchanged
}

// expiredReq is a request that timed out, collected by expire.
type expiredReq struct {
	target netip.Addr
	seq    uint16
	owner  sink
	tag    int
}

var errSeqExhausted = errors.New("all 65536 echo sequence numbers are pending; lower ping_rate or timeout")

// demux allocates sequence numbers for one socket and matches replies to the
// requests waiting for them. It is separate from the socket so that the
// matching can be tested with crafted packets.
type demux struct {
	v6    bool
	raw   bool   // raw socket: sees everyone's replies; IPv4 ones start with the IP header
	id    uint16 // echo id we send on a raw socket (the kernel sets it on unprivileged ones)
	magic uint64

	mu      sync.Mutex
	seq     uint16
	token   uint64
	pending map[uint16]pendingReq
	// expireAt is at or before the earliest deadline in pending, so that
	// expire, called every tick, walks the map only when one may have
	// passed (replies and unregister leave it early: still a bound).
	expireAt time.Time
}

func newDemux(v6, raw bool, id uint16, magic uint64) *demux {
	return &demux{v6: v6, raw: raw, id: id, magic: magic, pending: make(map[uint16]pendingReq, 256)}
}

// register records a request to target before it is written, so that a
// reply can never arrive before its entry. It returns the seq and token to
// put in the packet (ts: a timestamp request, whose token is its originate
// stamp) and the send time (monotonic clock, and the wall clock that the
// originate stamp and Reply.Up are taken from).
func (d *demux) register(target netip.Addr, owner sink, tag int, timeout time.Duration, ts bool) (seq uint16, token uint64, sent time.Time, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pending) >= 1<<16 {
		return 0, 0, time.Time{}, errSeqExhausted
	}
	for {
		d.seq++
		if _, busy := d.pending[d.seq]; !busy {
			break
		}
	}
	sent = time.Now()
	if ts {
		token = uint64(originateStamp(sent))
	} else {
		d.token++
		token = d.token
	}
	deadline := sent.Add(timeout)
	if len(d.pending) == 0 || deadline.Before(d.expireAt) {
		d.expireAt = deadline
	}
	d.pending[d.seq] = pendingReq{
		target:   target,
		sent:     sent,
		deadline: deadline,
		token:    token,
		ts:       ts,
		owner:    owner,
		tag:      tag,
	}
	if r, ok := owner.(registrar); ok {
		r.registered(d.seq, sent, tag, ts)
	}
	return d.seq, token, sent, nil
}

// unregister drops a request whose write failed.
func (d *demux) unregister(seq uint16) {
	d.mu.Lock()
	delete(d.pending, seq)
	d.mu.Unlock()
}

// handle matches one received packet; at is the receive time. Only a
// reply that matches a pending request (seq, token, source; echo id on raw
// sockets; for a timestamp reply id, seq, originate and source) is
// delivered, and its entry is removed, so a duplicate or a late reply (its
// entry already expired) is ignored.
func (d *demux) handle(b []byte, src netip.Addr, at time.Time) verdict {
	if d.raw && !d.v6 {
		// Raw IPv4 sockets deliver the IP header; skip it (IHL words).
		if len(b) < 20 || b[0]>>4 != 4 {
			return malformed
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return malformed
		}
		b = b[ihl:]
		if len(b) > 0 && b[0] == icmpv4TimestampReply {
			return d.handleTimestamp(b, src, at)
		}
	}
	if len(b) < echoLen {
		if len(b) >= 2 && b[0] != replyType(d.v6) {
			return notEchoReply
		}
		return malformed
	}
	if b[0] != replyType(d.v6) || b[1] != 0 {
		return notEchoReply
	}
	if d.raw && binary.BigEndian.Uint16(b[4:6]) != d.id {
		return otherID
	}
	if binary.BigEndian.Uint64(b[8:16]) != d.magic {
		return foreign
	}
	seq := binary.BigEndian.Uint16(b[6:8])
	token := binary.BigEndian.Uint64(b[16:24])
	p, v := d.take(seq, token, false, src)
	if v != matched {
		return v
	}
	p.owner.deliver(Reply{Target: p.target, Seq: seq, RTT: rtt(p.sent, at), At: at}, p.tag)
	return matched
}

// handleTimestamp matches a timestamp reply (raw IPv4 socket, IP header
// already skipped). Timestamp replies carry no payload to tell ours from
// other programs': the id (random per socket), seq, originate stamp (the
// send time to the millisecond) and source must all match, and the
// checksum must verify (raw sockets get packets before the kernel's ICMP
// code checks it).
func (d *demux) handleTimestamp(b []byte, src netip.Addr, at time.Time) verdict {
	m, ok := parseTimestampReply(b)
	if !ok {
		return malformed
	}
	if m.id != d.id {
		return otherID
	}
	p, v := d.take(m.seq, uint64(m.originate), true, src)
	if v != matched {
		return v
	}
	r := Reply{Target: p.target, Seq: m.seq, RTT: rtt(p.sent, at), At: at}
	r.Up, r.Hold, r.Stamped = oneWay(p.sent, m.receive, m.transm)
	p.owner.deliver(r, p.tag)
	return matched
}

// take removes and returns the pending request that a reply with seq and
// token, of kind ts, from src answers.
func (d *demux) take(seq uint16, token uint64, ts bool, src netip.Addr) (pendingReq, verdict) {
	src = src.Unmap().WithZone("") // recvfrom's scope id is not turned into a zone name
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.pending[seq]
	if !ok || p.token != token || p.ts != ts {
		return pendingReq{}, unknownSeq
	}
	if p.target.WithZone("") != src {
		// Keep the entry: the genuine reply may still come.
		return pendingReq{}, wrongSource
	}
	delete(d.pending, seq)
	return p, matched
}

// rtt is the round trip on the monotonic clock, never negative.
func rtt(sent, at time.Time) time.Duration {
	return max(at.Sub(sent), 0)
}

// expire removes the requests whose deadline has passed, appends them to
// dst and returns it; the caller reports them to their owners outside the
// lock.
func (d *demux) expire(now time.Time, dst []expiredReq) []expiredReq {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pending) == 0 || now.Before(d.expireAt) {
		return dst
	}
	var next time.Time
	for seq, p := range d.pending {
		if !now.Before(p.deadline) {
			dst = append(dst, expiredReq{target: p.target, seq: seq, owner: p.owner, tag: p.tag})
			delete(d.pending, seq)
		} else if next.IsZero() || p.deadline.Before(next) {
			next = p.deadline
		}
	}
	d.expireAt = next
	return dst
}

// forget removes every request of owner (its stream or burst ended) and
// appends them to dst.
func (d *demux) forget(owner sink, dst []expiredReq) []expiredReq {
	d.mu.Lock()
	for seq, p := range d.pending {
		if p.owner == owner {
			dst = append(dst, expiredReq{target: p.target, seq: seq, owner: p.owner, tag: p.tag})
			delete(d.pending, seq)
		}
	}
	d.mu.Unlock()
	return dst
}

// inFlight is the number of pending requests.
func (d *demux) inFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

func replyType(v6 bool) byte {
	if v6 {
		return icmpv6EchoReply
	}
	return icmpv4EchoReply
}

// buildEcho writes an echo request into b (len >= echoLen) and returns the
// packet. The IPv4 checksum is computed here (raw sockets need it; the
// kernel rewrites it on unprivileged ones); for ICMPv6 the kernel always
// computes it, as it covers a pseudo-header we do not know.
func buildEcho(b []byte, v6 bool, id, seq uint16, magic, token uint64) []byte {
	b = b[:echoLen]
	if v6 {
		b[0] = icmpv6EchoRequest
	} else {
		b[0] = icmpv4EchoRequest
	}
	b[1] = 0
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	binary.BigEndian.PutUint64(b[8:16], magic)
	binary.BigEndian.PutUint64(b[16:24], token)
	if !v6 {
		binary.BigEndian.PutUint16(b[2:4], checksum(b))
	}
	return b
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
