package testenv

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds WaitFor. It only turns a hang into a failure; nothing
// is expected to take more than a fraction of it.
const waitLimit = 10 * time.Second

// Notifier records sd_notify messages from either side of the protocol:
//   - as the service manager: a datagram socket at Socket, for a process
//     (or a systemd.Notifier) given it as NOTIFY_SOCKET;
//   - as the daemon's notifier: its Ready, Status, ... methods record the
//     message they stand for in-process (STATUS= verbatim, RELOADING=1
//     without MONOTONIC_USEC), for tests that drive the daemon directly.
//
// WaitFor wakes up at every message, so a test need not guess how long a
// datagram takes to be read.
type Notifier struct {
	// Socket is the path of the listening datagram socket.
	Socket string
	// Disabled makes Enabled report false, as systemd.Notifier does
	// without NOTIFY_SOCKET. The in-process methods still record, so a
	// test can see what a disabled notifier was asked to send.
	Disabled bool
	// WatchdogPeriod is what WatchdogInterval reports; 0: no watchdog.
	WatchdogPeriod time.Duration

	mu      sync.Mutex
	msgs    []string
	arrived chan struct{} // closed, and replaced, at every message
}

// NewNotifier listens on a fresh socket until the test ends.
func NewNotifier(t testing.TB) *Notifier {
	t.Helper()
	// Not t.TempDir: its name grows with the test's, and a socket path
	// must fit in sockaddr_un (108 bytes).
	dir, err := os.MkdirTemp("", "sdnotify")
	if err != nil {
		t.Fatalf("notify socket: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &Notifier{Socket: filepath.Join(dir, "notify.sock"), arrived: make(chan struct{})}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.Socket, Net: "unixgram"})
	if err != nil {
		t.Fatalf("notify socket: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return // closed at cleanup
			}
			n.record(string(buf[:k]))
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return n
}

func (n *Notifier) record(msg string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, msg)
	close(n.arrived)
	n.arrived = make(chan struct{})
	return nil
}

// Messages returns every message so far, oldest first.
func (n *Notifier) Messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// Count returns how many messages start with prefix.
func (n *Notifier) Count(prefix string) int {
	c := 0
	for _, m := range n.Messages() {
		if strings.HasPrefix(m, prefix) {
			c++
		}
	}
	return c
}

// Last returns the newest message that starts with prefix, or "".
func (n *Notifier) Last(prefix string) string {
	msgs := n.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.HasPrefix(msgs[i], prefix) {
			return msgs[i]
		}
	}
	return ""
}

// WaitFor returns once cond holds, checking it now and after every message;
// it fails the test, naming what, if that takes longer than waitLimit.
// cond may call Count, Last and Messages.
func (n *Notifier) WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	limit := time.NewTimer(waitLimit)
	defer limit.Stop()
	for {
		// Taken before cond: a message recorded while cond runs closes
		// this channel, so it is not missed.
		n.mu.Lock()
		arrived := n.arrived
		n.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-arrived:
		case <-limit.C:
			t.Fatalf("timed out waiting for %s; sd_notify messages: %q", what, n.Messages())
			return
		}
	}
}

// The daemon's side (loops/autorate.Notifier).

func (n *Notifier) Ready() error          { return n.record("READY=1") }
func (n *Notifier) Reloading() error      { return n.record("RELOADING=1") }
func (n *Notifier) Stopping() error       { return n.record("STOPPING=1") }
func (n *Notifier) Watchdog() error       { return n.record("WATCHDOG=1") }
func (n *Notifier) Status(s string) error { return n.record("STATUS=" + s) }
func (n *Notifier) Enabled() bool         { return !n.Disabled }
func (n *Notifier) WatchdogInterval() (time.Duration, bool) {
	return n.WatchdogPeriod, n.WatchdogPeriod > 0
}
