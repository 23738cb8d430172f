package ping

import (
	"encoding/binary"
	"time"
)

// ICMP timestamp messages (RFC 792 types 13 and 14) carry three 32-bit
// timestamps after the usual id and seq: originate (the sender's clock,
// echoed verbatim by the reflector), receive (the reflector's clock when
// the request arrived) and transmit (when the reply left). Each counts
// milliseconds since midnight UTC; a set high-order bit marks a value that
// is not (RFC 792: "any time can be inserted ... provided the high order
// bit is also set"), useless for delays. There is no payload, so a reply is
// recognised by id, seq and the originate value instead of a magic and
// token. IPv6 has no timestamp message.
const (
	timestampLen = headerLen + 12

	icmpv4TimestampRequest = 13
	icmpv4TimestampReply   = 14

	day        = 24 * time.Hour
	msPerDay   = uint32(day / time.Millisecond)
	nonStdMask = 1 << 31
)

// tsReply is the part of a timestamp reply the demux needs.
type tsReply struct {
	id, seq                    uint16
	originate, receive, transm uint32
}

// parseTimestampReply parses an ICMP timestamp reply (without IP header).
// It checks the type, code, length and checksum, nothing else: the caller
// matches id, seq and originate against what it sent.
func parseTimestampReply(b []byte) (tsReply, bool) {
	if len(b) < timestampLen || b[0] != icmpv4TimestampReply || b[1] != 0 || checksum(b) != 0 {
		return tsReply{}, false
	}
	return tsReply{
		id:        binary.BigEndian.Uint16(b[4:6]),
		seq:       binary.BigEndian.Uint16(b[6:8]),
		originate: binary.BigEndian.Uint32(b[8:12]),
		receive:   binary.BigEndian.Uint32(b[12:16]),
		transm:    binary.BigEndian.Uint32(b[16:20]),
	}, true
}

// buildTimestamp writes a timestamp request into b (len >= timestampLen)
// and returns the packet. Receive and transmit are zero, for the reflector
// to fill in.
func buildTimestamp(b []byte, id, seq uint16, originate uint32) []byte {
	b = b[:timestampLen]
	b[0] = icmpv4TimestampRequest
	b[1] = 0
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	binary.BigEndian.PutUint32(b[8:12], originate)
	clear(b[12:20])
	binary.BigEndian.PutUint16(b[2:4], checksum(b))
	return b
}

// sinceMidnight is t's wall-clock time since midnight UTC, to the
// nanosecond. Unix time has no leap seconds, so its days start at UTC
// midnight as the RFC 792 timestamps' do.
func sinceMidnight(t time.Time) time.Duration {
	ns := t.UnixNano() % int64(day)
	if ns < 0 {
		ns += int64(day)
	}
	return time.Duration(ns)
}

// originateStamp is the originate value for a request sent at t.
func originateStamp(t time.Time) uint32 {
	return uint32(sinceMidnight(t) / time.Millisecond)
}

// wrapDay brings a difference of two times of day into [-12h, +12h): the
// timestamps are taken modulo one day, and two clocks (or the two ends of
// one request) are assumed to be less than half a day apart.
func wrapDay(d time.Duration) time.Duration {
	d = (d + day/2) % day
	if d < 0 {
		d += day
	}
	return d - day/2
}

// standard reports whether a timestamp counts milliseconds since midnight
// UTC: high bit clear and less than one day.
func standard(v uint32) bool {
	return v&nonStdMask == 0 && v < msPerDay
}

// oneWay computes a Reply's Up and Hold from the local wall-clock send
// time and the reflector's stamps: Up = receive - sent (the request's
// one-way delay plus the offset between the clocks), Hold = transmit -
// receive (how long the reflector kept the request, which belongs to
// neither leg). ok is false when a stamp is non-standard or the reflector's
// transmit precedes its receive (a broken clock): such a reply still gives
// an RTT but no one-way delay.
func oneWay(sent time.Time, receive, transmit uint32) (up, hold time.Duration, ok bool) {
	if !standard(receive) || !standard(transmit) {
		return 0, 0, false
	}
	hold = wrapDay(time.Duration(int64(transmit)-int64(receive)) * time.Millisecond)
	if hold < 0 {
		return 0, 0, false
	}
	up = wrapDay(time.Duration(receive)*time.Millisecond - sinceMidnight(sent))
	return up, hold, true
}
