//go:build linux && ignore

// echo-responder answers ICMP echo requests from user space after a delay,
// so that a reply reaches the pinger between its ticks, as on a real link
// (on loopback the kernel answers inside the sender's sendto). Run it in a
// network namespace whose kernel does not answer itself;
// scripts/daemon-cost.sh does that with REPLY_DELAY set:
//
//	ip netns add cost && ip -n cost link set lo up
//	ip netns exec cost sysctl -w net.ipv4.icmp_echo_ignore_all=1
//	ip netns exec cost go run scripts/echo-responder.go -delay 20ms -spread 12ms
//
// Each destination address gets its own delay, delay + spread * (last
// octet % 4) / 3, so that the WANs' reflectors answer at different times.
// IPv4 only; it needs a raw socket (root or CAP_NET_RAW).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

func main() {
	delay := flag.Duration("delay", 20*time.Millisecond, "base reply delay")
	spread := flag.Duration("spread", 12*time.Millisecond, "extra delay across destinations")
	flag.Parse()
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-responder:", err)
		os.Exit(1)
	}
	p := c.IPv4PacketConn()
	if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
		fmt.Fprintln(os.Stderr, "echo-responder:", err)
		os.Exit(1)
	}
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := p.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo-responder:", err)
			os.Exit(1)
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEcho || cm == nil {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok {
			continue
		}
		reply, err := (&icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{
			ID: echo.ID, Seq: echo.Seq, Data: append([]byte(nil), echo.Data...)}}).Marshal(nil)
		if err != nil {
			continue
		}
		dst := cm.Dst.To4()
		d := *delay + *spread*time.Duration(dst[3]%4)/3
		to := src
		// The reply comes from the address that was pinged.
		time.AfterFunc(d, func() {
			p.WriteTo(reply, &ipv4.ControlMessage{Src: dst}, to)
		})
	}
}
