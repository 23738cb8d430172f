package testbed

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wanctl/wanctl/sim"
)

// The delay line gives the path its base round-trip time: this kernel has
// no netem. It copies Ethernet frames between two veths of a namespace
// without addresses, each after a one-way delay, through AF_PACKET sockets.
// It runs as a process of its own (`wanctl lab bridge`, started by Run in
// the net namespace) with SCHED_FIFO priority where allowed, so that other
// work on a busy machine delays its frames as little as possible.
//
// Frames leave in arrival order. A frame from a local TCP stack can carry a
// partial checksum (veths offload it, and a forwarded frame keeps it until
// it reaches a real device); the line completes TCP and UDP checksums
// before sending, or the far end would drop the segment.
//
// The line also plays the scenario's path changes: RTTShift (half on each
// direction) and ICMPLoss (ICMP echo requests toward the server are
// dropped with that probability).

// BridgeConfig is the delay line's first input line (JSON).
type BridgeConfig struct {
	// Up and Down name the interfaces: frames received on Up are sent on
	// Down after the delay, and the other way round.
	Up, Down string
	// Delay is the one-way delay in each direction.
	Delay time.Duration
	Seed  int64
}

// BridgeScenario is the optional second input line: the path's changes
// from Start (Unix nanoseconds, the scenario's time zero) on.
type BridgeScenario struct {
	Start    int64
	RTTShift sim.Profile // ms
	ICMPLoss sim.Profile // 0..1
}

// BridgeStats is what the line reports when its input ends.
type BridgeStats struct {
	Realtime string            `json:"realtime"` // "SCHED_FIFO 20" or why not
	Dirs     [2]BridgeDirStats `json:"dirs"`     // [0]: up -> down (toward the server)
}

// BridgeDirStats count one direction's frames.
type BridgeDirStats struct {
	Frames      uint64 `json:"frames"`
	Bytes       uint64 `json:"bytes"`
	Checksummed uint64 `json:"checksummed"`  // frames whose TCP/UDP checksum was completed
	ICMPDropped uint64 `json:"icmp_dropped"` // echo and timestamp requests lost on purpose (ICMPLoss)
	RingFull    uint64 `json:"ring_full"`    // dropped: more frames held than the line has room for
	Oversize    uint64 `json:"oversize"`     // dropped: a frame longer than a slot (GSO leaked)
	SendErrors  uint64 `json:"send_errors"`
	KernelDrops uint64 `json:"kernel_drops"` // dropped by the socket before the line read them
	MaxHeld     int    `json:"max_held"`
	// LateP99US is the 99th percentile of how late frames left after
	// their due time, in microseconds; MaxLateUS the worst.
	LateP99US int64 `json:"late_p99_us"`
	MaxLateUS int64 `json:"max_late_us"`
}

const (
	slotSize  = 2048
	ringSlots = 8192
	// rtPriority is the delay line's SCHED_FIFO priority: above every
	// ordinary process, below the kernel's own real-time threads.
	rtPriority = 20
)

type slot struct {
	n   int
	due int64 // monotonic ns
	buf [slotSize]byte
}

// lineDir is one direction of the line.
type lineDir struct {
	in, out int
	up      bool // toward the server: ICMP loss applies
	delay   int64
	sc      *atomic.Pointer[BridgeScenario]
	rng     *rand.Rand
	ring    []slot
	head, n int
	lastDue int64
	late    [64]uint64 // histogram of lateness, bucket i: [2^i, 2^(i+1)) ns
	st      BridgeDirStats
	msgs    [batch]unix.Mmsghdr
	iov     [batch]unix.Iovec
}

// monoNow is CLOCK_MONOTONIC in ns; the scenario clock is wall time, read
// separately, because the lab process shares only that with this one.
func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// RunBridge reads a BridgeConfig line from in, opens the line in the
// current network namespace, writes "ready" to out, then runs until in
// ends (an optional BridgeScenario line may come first) and writes its
// BridgeStats as one JSON line.
func RunBridge(in io.Reader, out io.Writer) error {
	rd := bufio.NewReader(in)
	line, err := rd.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("delay line: reading its configuration: %w", err)
	}
	var cfg BridgeConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("delay line: configuration: %w", err)
	}
	if cfg.Delay < 0 || cfg.Delay > 10*time.Second {
		return fmt.Errorf("delay line: delay %v out of range", cfg.Delay)
	}
	stats := BridgeStats{Realtime: makeRealtime()}
	up, err := openPacket(cfg.Up)
	if err != nil {
		return err
	}
	defer unix.Close(up)
	down, err := openPacket(cfg.Down)
	if err != nil {
		return err
	}
	defer unix.Close(down)

	var sc atomic.Pointer[BridgeScenario]
	var stop atomic.Bool
	dirs := [2]*lineDir{
		{in: up, out: down, up: true, delay: int64(cfg.Delay), sc: &sc, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 1)), ring: make([]slot, ringSlots)},
		{in: down, out: up, delay: int64(cfg.Delay), sc: &sc, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 2)), ring: make([]slot, ringSlots)},
	}
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_ = setRealtime(0)
		runErr = run(dirs, &stop)
	}()
	if _, err := io.WriteString(out, "ready\n"); err != nil {
		stop.Store(true)
	}
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			break
		}
		var s BridgeScenario
		if json.Unmarshal(line, &s) == nil {
			sc.Store(&s)
		}
	}
	stop.Store(true)
	<-done
	for i, d := range dirs {
		if ps, err := unix.GetsockoptTpacketStats(d.in, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			d.st.KernelDrops = uint64(ps.Drops)
		}
		d.st.LateP99US, d.st.MaxLateUS = d.lateness()
		stats.Dirs[i] = d.st
	}
	b, err := json.Marshal(stats)
	if err != nil {
		return err
	}
	if _, err := out.Write(append(b, '\n')); err != nil {
		return err
	}
	return runErr
}

// makeRealtime puts every thread of the process under SCHED_FIFO (threads
// created later inherit it) and says what it did.
func makeRealtime() string {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return "no: " + err.Error()
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := setRealtime(tid); err != nil {
			return "no: " + err.Error()
		}
	}
	return "SCHED_FIFO " + strconv.Itoa(rtPriority)
}

func setRealtime(tid int) error {
	return unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: rtPriority}, 0)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openPacket opens a non-blocking AF_PACKET socket on an interface that
// sees what the interface receives, not what this process sends on it.
func openPacket(name string) (int, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return -1, fmt.Errorf("delay line: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("delay line: packet socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("delay line: %s on %s: %w", what, name, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("PACKET_IGNORE_OUTGOING", err)
	}
	for _, o := range []int{unix.SO_RCVBUFFORCE, unix.SO_SNDBUFFORCE} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o, 16<<20); err != nil {
			return fail("socket buffer", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		return fail("bind", err)
	}
	return fd, nil
}

// batch is how many frames one recvmmsg or sendmmsg moves at most.
const batch = 64

// minWake spaces the line's wake-ups while it holds frames: at thousands
// of frames per second, a wake-up per frame would cost more CPU than the
// frames themselves. A frame is stamped when it is read and sent at the
// first wake-up at or after its due time, so each end is at most this
// late; the line idles in poll when it holds nothing, and then a frame is
// read as it arrives.
const minWake = 250 * time.Microsecond

// run moves both directions' frames until stop.
func run(dirs [2]*lineDir, stop *atomic.Bool) error {
	fds := []unix.PollFd{{Fd: int32(dirs[0].in), Events: unix.POLLIN}, {Fd: int32(dirs[1].in), Events: unix.POLLIN}}
	last := int64(0)
	for !stop.Load() {
		if now := monoNow(); now-last < int64(minWake) {
			ts := unix.NsecToTimespec(last + int64(minWake))
			if err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil); err != nil && err != unix.EINTR {
				return fmt.Errorf("delay line: sleep: %w", err)
			}
		}
		last = monoNow()
		wait := int64(100 * time.Millisecond) // to notice stop
		for _, d := range dirs {
			if err := d.receive(); err != nil {
				return err
			}
			d.flush(monoNow())
			if d.n > 0 {
				wait = min(wait, d.ring[d.head].due-monoNow())
			}
		}
		if wait <= 0 {
			continue
		}
		ts := unix.NsecToTimespec(wait)
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && err != unix.EINTR {
			return fmt.Errorf("delay line: poll: %w", err)
		}
	}
	return nil
}

// receive reads every frame waiting on the socket into the ring.
func (d *lineDir) receive() error {
	for {
		free := len(d.ring) - d.n
		if free == 0 {
			// Full: read the frames anyway, and drop them.
			var junk [slotSize]byte
			n, err := recvTrunc(d.in, junk[:])
			if err != nil {
				return ignoreAgain(err)
			}
			if n > 0 {
				d.st.RingFull++
			}
			continue
		}
		// The free slots from the tail on, up to the ring's end.
		tail := (d.head + d.n) % len(d.ring)
		k := min(free, batch, len(d.ring)-tail)
		for i := range k {
			d.iov[i].Base = &d.ring[tail+i].buf[0]
			d.iov[i].SetLen(slotSize)
			d.msgs[i] = unix.Mmsghdr{}
			d.msgs[i].Hdr.Iov = &d.iov[i]
			d.msgs[i].Hdr.SetIovlen(1)
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(d.in), uintptr(unsafe.Pointer(&d.msgs[0])), uintptr(k),
			unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		if e != 0 {
			return ignoreAgain(e)
		}
		now := monoNow()
		var sc *BridgeScenario
		var t time.Duration
		if sc = d.sc.Load(); sc != nil {
			t = time.Duration(time.Now().UnixNano() - sc.Start)
		}
		got := int(r)
		for i := range got {
			m := &d.msgs[i]
			n := int(m.Len)
			if m.Hdr.Flags&unix.MSG_TRUNC != 0 || n > slotSize {
				d.st.Oversize++
				continue
			}
			frame := d.ring[tail+i].buf[:n]
			delay := d.delay
			if sc != nil {
				if d.up && isEchoRequest(frame) && d.rng.Float64() < sc.ICMPLoss.At(t) {
					d.st.ICMPDropped++
					continue
				}
				delay += int64(sc.RTTShift.At(t) / 2 * float64(time.Millisecond))
			}
			if completeChecksum(frame) {
				d.st.Checksummed++
			}
			// Kept frames move down over dropped ones, in order.
			dst := &d.ring[(d.head+d.n)%len(d.ring)]
			if dst != &d.ring[tail+i] {
				dst.n = copy(dst.buf[:], frame)
			}
			dst.n = n
			dst.due = max(now+delay, d.lastDue) // in order
			d.lastDue = dst.due
			d.n++
		}
		d.st.MaxHeld = max(d.st.MaxHeld, d.n)
		if got < k {
			return nil
		}
	}
}

func ignoreAgain(err error) error {
	if err == unix.EAGAIN || err == unix.EINTR {
		return nil
	}
	return fmt.Errorf("delay line: receive: %w", err)
}

// recvTrunc receives one frame; the length is the frame's, even when it
// did not fit (MSG_TRUNC).
func recvTrunc(fd int, b []byte) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// flush sends the frames due by now, in batches.
func (d *lineDir) flush(now int64) {
	for d.n > 0 && d.ring[d.head].due <= now {
		k := 0
		for k < min(d.n, batch) && d.head+k < len(d.ring) {
			s := &d.ring[d.head+k]
			if s.due > now {
				break
			}
			d.iov[k].Base = &s.buf[0]
			d.iov[k].SetLen(s.n)
			d.msgs[k] = unix.Mmsghdr{}
			d.msgs[k].Hdr.Iov = &d.iov[k]
			d.msgs[k].Hdr.SetIovlen(1)
			late := max(now-s.due, 1)
			d.late[63-bits.LeadingZeros64(uint64(late))]++
			d.st.MaxLateUS = max(d.st.MaxLateUS, late/1000)
			k++
		}
		sent := 0
		for sent < k {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(d.out), uintptr(unsafe.Pointer(&d.msgs[sent])), uintptr(k-sent), 0, 0, 0)
			if e != 0 {
				// The frame that failed is dropped; the rest are retried.
				d.st.SendErrors++
				sent++
				continue
			}
			for i := sent; i < sent+int(r); i++ {
				d.st.Frames++
				d.st.Bytes += uint64(d.ring[d.head+i].n)
			}
			sent += int(r)
		}
		d.head = (d.head + k) % len(d.ring)
		d.n -= k
	}
}

// lateness returns the 99th percentile (the upper end of its power-of-two
// bucket) and the maximum, in microseconds.
func (d *lineDir) lateness() (p99, maxUS int64) {
	var total uint64
	for _, c := range d.late {
		total += c
	}
	if total == 0 {
		return 0, 0
	}
	var acc uint64
	for i, c := range d.late {
		acc += c
		if acc*100 >= total*99 {
			return (int64(1) << uint(i+1)) / 1000, d.st.MaxLateUS
		}
	}
	return d.st.MaxLateUS, d.st.MaxLateUS
}

const (
	etherTypeIPv4 = 0x0800
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
)

// ipv4 returns a frame's IPv4 header and payload (nil for anything else,
// including fragments).
func ipv4(frame []byte) (hdr, payload []byte, proto byte) {
	if len(frame) < ethHeader+20 || binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv4 {
		return nil, nil, 0
	}
	ip := frame[ethHeader:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || total < ihl || total > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return nil, nil, 0
	}
	return ip[:ihl], ip[ihl:total], ip[9]
}

// isEchoRequest: an ICMP echo or timestamp request (type 8 or 13), the
// requests a blackout loses.
func isEchoRequest(frame []byte) bool {
	_, p, proto := ipv4(frame)
	return proto == protoICMP && len(p) > 0 && (p[0] == 8 || p[0] == 13)
}

// completeChecksum sets the TCP or UDP checksum of an IPv4 frame to its
// full value and reports whether it changed.
func completeChecksum(frame []byte) bool {
	hdr, p, proto := ipv4(frame)
	off := 0
	switch {
	case proto == protoTCP && len(p) >= 20:
		off = 16
	case proto == protoUDP && len(p) >= 8:
		off = 6
	default:
		return false
	}
	old := binary.BigEndian.Uint16(p[off:])
	p[off], p[off+1] = 0, 0
	sum := uint64(binary.BigEndian.Uint32(hdr[12:])) + uint64(binary.BigEndian.Uint32(hdr[16:])) +
		uint64(proto) + uint64(len(p))
	sum += onesSum(p)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	if proto == protoUDP && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(p[off:], c)
	return c != old
}

// onesSum is the unfolded one's-complement sum of b as 16-bit big-endian
// words, eight bytes at a time.
func onesSum(b []byte) uint64 {
	var sum uint64
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v >> 32
		sum += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}
