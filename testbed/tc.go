package testbed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The shapers are created with tc (once per run) and changed over rtnetlink
// (often): a change is one request and its ack, well under a millisecond,
// where running tc costs a fork and an exec (tens of milliseconds on a busy
// machine) and would add that to every router write and every step of a
// capacity profile.

// Netlink constants the x/sys/unix package does not name.
const (
	rtmGetTClass = 0x2a // RTM_GETTCLASS

	tcaHTBParms = 1 // TCA_HTB_PARMS
	tcaTBFParms = 1 // TCA_TBF_PARMS
	tcaTBFBurst = 6 // TCA_TBF_BURST

	tcaStatsBasic = 1 // TCA_STATS_BASIC
	tcaStatsQueue = 3 // TCA_STATS_QUEUE

	linklayerEthernet = 1 // TC_LINKLAYER_ETHERNET: no rate table needed

	tcHRoot = 0xFFFFFFFF // TC_H_ROOT
)

// handle builds a tc handle major:minor.
func handle(major, minor uint16) uint32 { return uint32(major)<<16 | uint32(minor) }

// ticks converts the time to send size bytes at rate bytes/s into the
// kernel's psched ticks (64 ns), as tc computes a burst's buffer.
func ticks(size, rateBps uint64) uint32 {
	if rateBps == 0 {
		return 0
	}
	return uint32(size * 1e9 / rateBps / 64)
}

// tcConn is an rtnetlink socket in one namespace, one request at a time.
type tcConn struct {
	mu  sync.Mutex
	fd  int
	seq uint32
	buf []byte
}

// openTC opens an rtnetlink socket in ns.
func openTC(ns netns) (*tcConn, error) {
	c := &tcConn{fd: -1, buf: make([]byte, 1<<16)}
	err := ns.do(func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink socket in %s: %w", ns.name, err)
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("netlink bind in %s: %w", ns.name, err)
		}
		c.fd = fd
		return nil
	})
	return c, err
}

func (c *tcConn) Close() error {
	if c == nil || c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// ifindex looks an interface up in ns.
func ifindex(ns netns, name string) (int, error) {
	var idx int
	err := ns.do(func() error {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("interface %s in %s: %w", name, ns.name, err)
		}
		idx = ifc.Index
		return nil
	})
	return idx, err
}

// nlMsg builds a netlink message: header, tcmsg, attributes.
type nlMsg struct{ b []byte }

func newTCMsg(typ, flags uint16, ifindex int32, hdl, parent uint32) *nlMsg {
	m := &nlMsg{b: make([]byte, unix.NLMSG_HDRLEN, 256)}
	binary.NativeEndian.PutUint16(m.b[4:], typ)
	binary.NativeEndian.PutUint16(m.b[6:], flags|unix.NLM_F_REQUEST)
	var tcm [20]byte // family, pad, pad, ifindex, handle, parent, info
	binary.NativeEndian.PutUint32(tcm[4:], uint32(ifindex))
	binary.NativeEndian.PutUint32(tcm[8:], hdl)
	binary.NativeEndian.PutUint32(tcm[12:], parent)
	m.b = append(m.b, tcm[:]...)
	return m
}

func align4(n int) int { return (n + 3) &^ 3 }

// attr appends an attribute.
func (m *nlMsg) attr(typ uint16, data []byte) {
	var h [4]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(4+len(data)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	m.b = append(m.b, h[:]...)
	m.b = append(m.b, data...)
	for len(m.b)%4 != 0 {
		m.b = append(m.b, 0)
	}
}

// nest starts a nested attribute; end closes it.
func (m *nlMsg) nest(typ uint16) int {
	at := len(m.b)
	m.attr(typ|unix.NLA_F_NESTED, nil)
	return at
}

func (m *nlMsg) end(at int) { binary.NativeEndian.PutUint16(m.b[at:], uint16(len(m.b)-at)) }

func cstring(s string) []byte { return append([]byte(s), 0) }

// rateSpec is struct tc_ratespec for bytes/s (below 4 GB/s).
func rateSpec(bps uint64) []byte {
	var r [12]byte
	r[1] = linklayerEthernet
	binary.NativeEndian.PutUint32(r[8:], uint32(bps))
	return r[:]
}

// do sends m and waits for its ack.
func (c *tcConn) do(m *nlMsg) error {
	return c.exchange(m, func(msg syscall.NetlinkMessage) (bool, error) {
		if msg.Header.Type != unix.NLMSG_ERROR {
			return false, nil
		}
		if len(msg.Data) < 4 {
			return true, errors.New("netlink: short error message")
		}
		return true, ackErr(msg.Data)
	})
}

// dump sends a dump request and calls fn with each reply's payload.
func (c *tcConn) dump(m *nlMsg, fn func(typ uint16, data []byte)) error {
	return c.exchange(m, func(msg syscall.NetlinkMessage) (bool, error) {
		switch msg.Header.Type {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(msg.Data) >= 4 {
				return true, ackErr(msg.Data)
			}
			return true, nil
		}
		fn(msg.Header.Type, msg.Data)
		return false, nil
	})
}

// exchange sends m and hands each reply of its sequence number to each
// until that says the exchange is over (with its error).
func (c *tcConn) exchange(m *nlMsg, each func(syscall.NetlinkMessage) (bool, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	binary.NativeEndian.PutUint32(m.b[0:], uint32(len(m.b)))
	binary.NativeEndian.PutUint32(m.b[8:], c.seq)
	if err := unix.Sendto(c.fd, m.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:n])
		if err != nil {
			return fmt.Errorf("netlink parse: %w", err)
		}
		for _, msg := range msgs {
			if msg.Header.Seq != c.seq {
				continue
			}
			if done, err := each(msg); done {
				return err
			}
		}
	}
}

// ackErr is the error an NLMSG_ERROR payload carries (nil for an ack).
func ackErr(data []byte) error {
	if e := int32(binary.NativeEndian.Uint32(data)); e != 0 {
		return unix.Errno(-e)
	}
	return nil
}

// htbClass is the parameters of one HTB class, as tc created it.
type htbClass struct {
	ifindex        int32
	parent, handle uint32
	prio           uint32
	quantum        uint32
}

// burstBytes is the burst the shapers are given at rate bytes/s: 1 ms of
// traffic, and at least two full frames.
func burstBytes(rateBps uint64) uint64 { return max(rateBps/1000, 2*frameBytes) }

// setHTB changes an HTB class's rate and ceil (bits/s).
func (c *tcConn) setHTB(cl htbClass, rate, ceil int64) error {
	rb, cb := uint64(rate/8), uint64(ceil/8)
	m := newTCMsg(unix.RTM_NEWTCLASS, unix.NLM_F_ACK, cl.ifindex, cl.handle, cl.parent)
	m.attr(unix.TCA_KIND, cstring("htb"))
	at := m.nest(unix.TCA_OPTIONS)
	var opt []byte
	opt = append(opt, rateSpec(rb)...)
	opt = append(opt, rateSpec(cb)...)
	var tail [20]byte // buffer, cbuffer, quantum, level, prio
	binary.NativeEndian.PutUint32(tail[0:], ticks(burstBytes(rb), rb))
	binary.NativeEndian.PutUint32(tail[4:], ticks(burstBytes(cb), cb))
	binary.NativeEndian.PutUint32(tail[8:], cl.quantum)
	binary.NativeEndian.PutUint32(tail[16:], cl.prio)
	opt = append(opt, tail[:]...)
	m.attr(tcaHTBParms, opt)
	m.end(at)
	if err := c.do(m); err != nil {
		return fmt.Errorf("htb class %x:%x rate %d: %w", cl.handle>>16, cl.handle&0xffff, rate, err)
	}
	return nil
}

// setTBF changes the root TBF of an interface: rate (bits/s), queue limit
// (bytes).
func (c *tcConn) setTBF(ifindex int32, rate int64, limit uint32) error {
	rb := uint64(rate / 8)
	burst := burstBytes(rb)
	m := newTCMsg(unix.RTM_NEWQDISC, unix.NLM_F_ACK, ifindex, handle(1, 0), tcHRoot)
	m.attr(unix.TCA_KIND, cstring("tbf"))
	at := m.nest(unix.TCA_OPTIONS)
	var opt []byte
	opt = append(opt, rateSpec(rb)...)
	opt = append(opt, make([]byte, 12)...) // no peak rate
	var tail [12]byte                      // limit, buffer, mtu
	binary.NativeEndian.PutUint32(tail[0:], limit)
	binary.NativeEndian.PutUint32(tail[4:], ticks(burst, rb))
	opt = append(opt, tail[:]...)
	m.attr(tcaTBFParms, opt)
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(burst))
	m.attr(tcaTBFBurst, b[:])
	m.end(at)
	if err := c.do(m); err != nil {
		return fmt.Errorf("tbf rate %d: %w", rate, err)
	}
	return nil
}

// qdiscStats are a qdisc's counters.
type qdiscStats struct {
	Kind           string
	Handle, Parent uint32
	Bytes          uint64
	Packets        uint32
	Backlog        uint32 // bytes queued now
	Drops          uint32
}

// qdiscs lists the qdiscs of an interface with their counters.
func (c *tcConn) qdiscs(ifindex int32) ([]qdiscStats, error) {
	var out []qdiscStats
	m := newTCMsg(unix.RTM_GETQDISC, unix.NLM_F_DUMP, 0, 0, 0)
	err := c.dump(m, func(typ uint16, data []byte) {
		if typ != unix.RTM_NEWQDISC || len(data) < 20 || int32(binary.NativeEndian.Uint32(data[4:])) != ifindex {
			return
		}
		q := qdiscStats{Handle: binary.NativeEndian.Uint32(data[8:]), Parent: binary.NativeEndian.Uint32(data[12:])}
		walkAttrs(data[20:], func(t uint16, v []byte) {
			switch t {
			case unix.TCA_KIND:
				q.Kind = string(trimNul(v))
			case unix.TCA_STATS2:
				walkAttrs(v, func(t uint16, v []byte) {
					switch {
					case t == tcaStatsBasic && len(v) >= 12:
						q.Bytes = binary.NativeEndian.Uint64(v)
						q.Packets = binary.NativeEndian.Uint32(v[8:])
					case t == tcaStatsQueue && len(v) >= 12:
						q.Backlog = binary.NativeEndian.Uint32(v[4:])
						q.Drops = binary.NativeEndian.Uint32(v[8:])
					}
				})
			}
		})
		out = append(out, q)
	})
	if err != nil {
		return nil, fmt.Errorf("qdisc stats: %w", err)
	}
	return out, nil
}

// classRate reads the rate (bits/s) of an HTB class.
func (c *tcConn) classRate(ifindex int32, hdl uint32) (int64, error) {
	rate := int64(-1)
	m := newTCMsg(rtmGetTClass, unix.NLM_F_DUMP, ifindex, 0, 0)
	err := c.dump(m, func(typ uint16, data []byte) {
		if len(data) < 20 || int32(binary.NativeEndian.Uint32(data[4:])) != ifindex || binary.NativeEndian.Uint32(data[8:]) != hdl {
			return
		}
		walkAttrs(data[20:], func(t uint16, v []byte) {
			if t&^unix.NLA_F_NESTED != unix.TCA_OPTIONS {
				return
			}
			walkAttrs(v, func(t uint16, v []byte) {
				if t == tcaHTBParms && len(v) >= 12 {
					rate = int64(binary.NativeEndian.Uint32(v[8:])) * 8
				}
			})
		})
	})
	if err != nil {
		return 0, fmt.Errorf("class %x:%x: %w", hdl>>16, hdl&0xffff, err)
	}
	if rate < 0 {
		return 0, fmt.Errorf("class %x:%x: not found", hdl>>16, hdl&0xffff)
	}
	return rate, nil
}

func walkAttrs(b []byte, fn func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		t := binary.NativeEndian.Uint16(b[2:])
		if l < 4 || l > len(b) {
			return
		}
		fn(t&^unix.NLA_F_NESTED, b[4:l])
		b = b[min(align4(l), len(b)):]
	}
}

func trimNul(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
