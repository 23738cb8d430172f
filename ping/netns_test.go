package ping

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests that need a network without answers (timeouts, blackout) build
// it from network namespaces they create and delete themselves:
//
//	netns A (the pinger)  vA 198.51.100.1/24, 2001:db8:51::1/64
//	   | veth
//	netns B (the "reflector")  vB 198.51.100.2/24, 2001:db8:51::2/64,
//	                           icmp_echo_ignore_all=1 (IPv4 and IPv6)
//
// Code runs inside a namespace through inNetns: a goroutine locked to its OS
// thread switches that thread's network namespace (setns) and runs fn there.
// Sockets belong to the namespace they were created in for their whole
// life, so a Pinger whose sockets are opened inside fn keeps pinging from
// namespace A while the rest of the test runs anywhere. The goroutine exits
// still locked, so the Go runtime discards the thread instead of reusing it
// in a foreign namespace. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and
// iproute2's `ip` (for netns add/del and the veth pair).

var nsCounter atomic.Int32

// run runs a command and fails the test with its output if it fails.
func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// newNetns creates a network namespace with lo up, deleted at cleanup.
func newNetns(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("wping%d-%d", os.Getpid(), nsCounter.Add(1))
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// nsSysctl sets a sysctl inside a namespace: /proc/sys/net resolves to the
// network namespace of the thread that opens it.
func nsSysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	var err error
	inNetns(t, ns, func() { err = os.WriteFile(path, []byte(value), 0o644) })
	if err != nil {
		t.Fatalf("sysctl %s=%s in netns %s: %v", key, value, ns, err)
	}
}

// inNetns runs fn on an OS thread inside network namespace ns and waits.
func inNetns(t testing.TB, ns string, fn func()) {
	t.Helper()
	if err := tryInNetns(ns, fn); err != nil {
		t.Fatal(err)
	}
}

func tryInNetns(ns string, fn func()) error {
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: the thread dies with this goroutine.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- fmt.Errorf("netns %s: %w", ns, err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		fn()
		errc <- nil
	}()
	return <-errc
}

// testNet is the two-namespace topology above.
type testNet struct {
	A, B     string // namespace names
	Local4   string // in A
	Peer4    string // in B
	Local6   string
	Peer6    string
	Silent4  string // on A's subnet, owned by nobody
	NoRoute4 string // no route in A
}

// newTestNet builds the topology; B ignores echo requests (ignoreICMP) or
// answers them.
func newTestNet(t testing.TB, ignoreICMP bool) *testNet {
	t.Helper()
	n := &testNet{
		A: newNetns(t), B: newNetns(t),
		Local4: "198.51.100.1", Peer4: "198.51.100.2",
		Local6: "2001:db8:51::1", Peer6: "2001:db8:51::2",
		Silent4: "198.51.100.3", NoRoute4: "203.0.113.1",
	}
	run(t, "ip", "-n", n.A, "link", "add", "vA", "type", "veth", "peer", "name", "vB", "netns", n.B)
	run(t, "ip", "-n", n.A, "addr", "add", n.Local4+"/24", "dev", "vA")
	run(t, "ip", "-n", n.B, "addr", "add", n.Peer4+"/24", "dev", "vB")
	run(t, "ip", "-n", n.A, "addr", "add", n.Local6+"/64", "dev", "vA", "nodad")
	run(t, "ip", "-n", n.B, "addr", "add", n.Peer6+"/64", "dev", "vB", "nodad")
	run(t, "ip", "-n", n.A, "link", "set", "vA", "up")
	run(t, "ip", "-n", n.B, "link", "set", "vB", "up")
	n.setIgnoreICMP(t, ignoreICMP)
	return n
}

func (n *testNet) setIgnoreICMP(t testing.TB, ignore bool) {
	t.Helper()
	v := "0"
	if ignore {
		v = "1"
	}
	nsSysctl(t, n.B, "net.ipv4.icmp_echo_ignore_all", v)
	nsSysctl(t, n.B, "net.ipv6.icmp.echo_ignore_all", v)
}

// allowUnprivileged lets root's group open unprivileged ICMP sockets in the
// host namespace for the test's duration and restores the old range.
func allowUnprivileged(t testing.TB) {
	t.Helper()
	const path = "/proc/sys/net/ipv4/ping_group_range"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("0 2147483647"), 0o644); err != nil {
		t.Fatalf("allow unprivileged ICMP (tests run as root): %v", err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Errorf("restore %s to %q: %v", path, strings.TrimSpace(string(old)), err)
		}
	})
}

// hostHasIPv6Loopback reports whether ::1 is usable in the host namespace.
func hostHasIPv6Loopback() bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// dropNetRaw removes CAP_NET_RAW from the calling thread's effective set.
// Only for a locked thread that will die (inNetns).
func dropNetRaw() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
