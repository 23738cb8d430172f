//go:build linux && ignore

// daemon-floor is the least a Go process costs doing what the autorate
// daemon's measurement needs: a ticker every control interval and ICMP
// echo requests to loopback reflectors at ping_rate per WAN, each reply
// read and timestamped by a reader goroutine as it arrives. No control
// logic, no router, no files, no HTTP, no allocations in steady state.
// scripts/daemon-cost.sh measures it like the daemon:
//
//	go build -o /tmp/daemon-floor scripts/daemon-floor.go
//	DAEMON=/tmp/daemon-floor scripts/daemon-cost.sh 30 5
//
// The environment selects the variant (the defaults are the cheapest):
//
//	FLOOR_WANS      WANs (default 2), FLOOR_RATE pings/s per WAN (default
//	                20), FLOOR_INTERVAL (default 50ms)
//	FLOOR_TICKERS   shared: one ticker sends every WAN's echoes due at each
//	                tick (default); separate: a ticker per WAN for its cycle
//	                and one per WAN for its pings, as wanctl 0.x did
//	FLOOR_TIMER     fd: a timerfd read through the poller (default); go: a
//	                time.Ticker
//	FLOOR_SYSCALL   raw: recvfrom/sendto as raw system calls on the
//	                socket's RawConn (default); net: the net package's
//	                ReadFrom/WriteTo
//
// It needs ICMP (root, or ping_group_range) and pings 127.0.0.1..N only.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "daemon-floor:", err)
	os.Exit(1)
}

// newTicker returns a function waiting for the next tick.
func newTicker(kind string, d time.Duration) func() {
	if kind == "go" {
		t := time.NewTicker(d)
		return func() { <-t.C }
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		fail(err)
	}
	ts := unix.NsecToTimespec(int64(d))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		fail(err)
	}
	rc, err := os.NewFile(uintptr(fd), "timerfd").SyscallConn()
	if err != nil {
		fail(err)
	}
	var buf [8]byte
	read := func(fd uintptr) bool {
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), 8)
		return e != unix.EAGAIN
	}
	return func() { rc.Read(read) }
}

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1) // as wanctl autorate
	}
	wans, _ := strconv.Atoi(env("FLOOR_WANS", "2"))
	rate, _ := strconv.ParseFloat(env("FLOOR_RATE", "20"), 64)
	interval, err := time.ParseDuration(env("FLOOR_INTERVAL", "50ms"))
	if err != nil || wans < 1 || wans > 254 || rate <= 0 {
		fail(fmt.Errorf("bad FLOOR_WANS, FLOOR_RATE or FLOOR_INTERVAL"))
	}
	timer, sysc, tickers := env("FLOOR_TIMER", "fd"), env("FLOOR_SYSCALL", "raw"), env("FLOOR_TICKERS", "shared")

	// As wanctl's Auto mode: an unprivileged ICMP socket where
	// ping_group_range allows it, else a raw one filtered down to echo
	// replies.
	network := "udp4"
	c, err := icmp.ListenPacket(network, "0.0.0.0")
	if err != nil {
		network = "ip4:icmp"
		if c, err = icmp.ListenPacket(network, "0.0.0.0"); err != nil {
			fail(err)
		}
		var f ipv4.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv4.ICMPTypeEchoReply)
		if err := c.IPv4PacketConn().SetICMPFilter(&f); err != nil {
			fail(err)
		}
	}
	var rc syscall.RawConn
	if network == "udp4" {
		rc, err = c.IPv4PacketConn().PacketConn.(*net.UDPConn).SyscallConn()
	} else {
		rc, err = c.IPv4PacketConn().PacketConn.(*net.IPConn).SyscallConn()
	}
	if err != nil {
		fail(err)
	}

	var lastReply time.Time // each reply's timestamp, as the pinger takes it
	defer func() { _ = lastReply }()
	go func() { // the reader
		if sysc == "net" {
			buf := make([]byte, 1500)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
				lastReply = time.Now()
			}
		}
		var buf [1500]byte
		var sa unix.RawSockaddrAny
		var salen uint32
		recv := func(fd uintptr) bool {
			for {
				salen = unix.SizeofSockaddrAny
				_, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0,
					uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
				if e == unix.EAGAIN {
					return false
				}
				lastReply = time.Now()
			}
		}
		for rc.Read(recv) == nil {
		}
	}()

	// Echo requests, built in place.
	pkt := make([]byte, 8+16)
	pkt[0] = 8 // echo request
	seq := uint16(0)
	var sa4 unix.RawSockaddrInet4
	var ip4 net.IPAddr
	var udp4 net.UDPAddr
	sendto := func(fd uintptr) bool {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)), 0,
			uintptr(unsafe.Pointer(&sa4)), unix.SizeofSockaddrInet4)
		return e != unix.EAGAIN
	}
	var mu sync.Mutex // the separate tickers send from several goroutines
	send := func(w int) {
		mu.Lock()
		defer mu.Unlock()
		seq++
		pkt[6], pkt[7] = byte(seq>>8), byte(seq)
		pkt[2], pkt[3] = 0, 0
		var sum uint32
		for i := 0; i < len(pkt); i += 2 {
			sum += uint32(pkt[i])<<8 | uint32(pkt[i+1])
		}
		sum = (sum >> 16) + (sum & 0xffff)
		sum += sum >> 16
		pkt[2], pkt[3] = ^byte(sum>>8), ^byte(sum)
		addr := [4]byte{127, 0, 0, byte(1 + w)}
		if sysc == "net" {
			if network == "udp4" {
				udp4.IP = addr[:]
				c.WriteTo(pkt, &udp4)
			} else {
				ip4.IP = addr[:]
				c.WriteTo(pkt, &ip4)
			}
			return
		}
		sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr}
		rc.Write(sendto)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		os.Exit(0)
	}()

	switch tickers {
	case "shared":
		// One wake-up per interval: each WAN's cycle (a clock read),
		// then its echoes due by now.
		wait := newTicker(timer, interval)
		credit := make([]float64, wans)
		per := rate * interval.Seconds()
		for {
			wait()
			for w := range wans {
				_ = time.Now()
				for credit[w] += per; credit[w] >= 1; credit[w]-- {
					send(w)
				}
			}
		}
	case "separate":
		for w := range wans {
			go func() {
				wait := newTicker(timer, interval)
				for {
					wait()
					_ = time.Now()
				}
			}()
			go func() {
				wait := newTicker(timer, time.Duration(float64(time.Second)/rate))
				for {
					wait()
					send(w)
				}
			}()
		}
		select {}
	default:
		fail(fmt.Errorf("FLOOR_TICKERS is shared or separate, not %q", tickers))
	}
}
