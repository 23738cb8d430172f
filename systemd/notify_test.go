package systemd

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// listen opens a datagram socket standing in for systemd's notify socket.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no datagram received: %v", err)
	}
	return string(buf[:n])
}

func TestNotifierDatagrams(t *testing.T) {
	for _, sock := range []string{"path", "abstract"} {
		t.Run(sock, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "notify.sock")
			if sock == "abstract" {
				name = "@wanctl-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			}
			srv := listen(t, name)
			n := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": name}))
			if !n.Enabled() {
				t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
			}
			steps := []struct {
				send func() error
				want string
			}{
				{n.Ready, "READY=1"},
				{func() error { return n.Status("spectrum: GREEN 940M/38M") }, "STATUS=spectrum: GREEN 940M/38M"},
				{func() error { return n.Status("spectrum: GREEN\natt: RED\n") }, "STATUS=spectrum: GREEN; att: RED"},
				{func() error { return n.Status("a\r\nb\rc") }, "STATUS=a; b; c"},
				{n.Watchdog, "WATCHDOG=1"},
				{n.Stopping, "STOPPING=1"},
			}
			for _, s := range steps {
				if err := s.send(); err != nil {
					t.Fatal(err)
				}
				if got := receive(t, srv); got != s.want {
					t.Errorf("datagram %q, want %q", got, s.want)
				}
			}
		})
	}
}

func TestNotifierReloading(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify.sock")
	srv := listen(t, name)
	n := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": name}))
	var before, after unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &before); err != nil {
		t.Fatal(err)
	}
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &after); err != nil {
		t.Fatal(err)
	}
	got := receive(t, srv)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("datagram %q, want RELOADING=1\\nMONOTONIC_USEC=<usec>", got)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if usec < before.Nano()/1000 || usec > after.Nano()/1000 {
		t.Errorf("MONOTONIC_USEC=%d outside [%d, %d]", usec, before.Nano()/1000, after.Nano()/1000)
	}
}

func TestNotifierDisabledIsNoop(t *testing.T) {
	n := NewNotifier(env(map[string]string{"WATCHDOG_USEC": "10000000"}))
	if n.Enabled() {
		t.Fatal("Enabled() = true without NOTIFY_SOCKET")
	}
	for _, f := range []func() error{n.Ready, n.Watchdog, n.Stopping, n.Reloading, func() error { return n.Status("x") }} {
		if err := f(); err != nil {
			t.Errorf("no-op notifier returned %v", err)
		}
	}
	if d, ok := n.WatchdogInterval(); ok {
		t.Errorf("WatchdogInterval() = %v, true without NOTIFY_SOCKET", d)
	}
	var nilN *Notifier
	if err := nilN.Ready(); err != nil {
		t.Errorf("nil notifier: %v", err)
	}
}

// The connection is kept between messages; when the service manager
// re-creates its socket (daemon-reexec), the next message dials again.
func TestNotifierRedialsAfterTheManagerRestarts(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify.sock")
	srv := listen(t, name)
	n := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": name}))
	defer n.Close()
	for _, msg := range []func() error{n.Ready, n.Watchdog} {
		if err := msg(); err != nil {
			t.Fatal(err)
		}
		receive(t, srv)
	}
	srv.Close()
	os.Remove(name)
	srv = listen(t, name)
	if err := n.Watchdog(); err != nil {
		t.Fatalf("after the socket was re-created: %v", err)
	}
	if got := receive(t, srv); got != "WATCHDOG=1" {
		t.Fatalf("datagram %q", got)
	}
}

func TestNotifierErrorIsReturned(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone.sock")
	n := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": missing}))
	err := n.Ready()
	if err == nil {
		t.Fatal("Ready() to a missing socket returned nil")
	}
	if !strings.Contains(err.Error(), "READY=1") || !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q should name the message and the socket", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	cases := []struct {
		name   string
		env    map[string]string
		want   time.Duration
		wantOK bool
	}{
		{"10s", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "10000000"}, 5 * time.Second, true},
		{"own pid", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": pid}, 1500 * time.Millisecond, true},
		{"other pid", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}, 0, false},
		{"bad pid", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "me"}, 0, false},
		{"unset", map[string]string{"NOTIFY_SOCKET": "/x"}, 0, false},
		{"garbage", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "10s"}, 0, false},
		{"zero", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "0"}, 0, false},
		{"negative", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "-5"}, 0, false},
		{"no socket", map[string]string{"WATCHDOG_USEC": "10000000"}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := NewNotifier(env(tc.env)).WatchdogInterval()
			if d != tc.want || ok != tc.wantOK {
				t.Errorf("WatchdogInterval() = %v, %v; want %v, %v", d, ok, tc.want, tc.wantOK)
			}
		})
	}
}
