package systemd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages to the service manager. Every method is
// a no-op returning nil when NOTIFY_SOCKET was unset (not started by systemd
// as Type=notify). Errors are returned for the caller to log; a failed
// notification is never fatal to the daemon.
//
// It speaks the protocol of go-systemd's daemon package (same messages, same
// datagram socket) but takes the environment at construction instead of
// reading the process environment on every call, so that tests and several
// notifiers never share global state.
type Notifier struct {
	socket       string // NOTIFY_SOCKET; "@name" is an abstract socket
	watchdogUsec string
	watchdogPID  string
	pid          int

	// conn is kept between messages (the daemon sends one or two a
	// second; dialling each time cost four system calls and a socket),
	// and redialled once when a send fails (the manager re-executed).
	mu   sync.Mutex
	conn *net.UnixConn
}

// NewNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID through
// getenv (os.Getenv in production).
func NewNotifier(getenv func(string) string) *Notifier {
	return &Notifier{
		socket:       getenv("NOTIFY_SOCKET"),
		watchdogUsec: getenv("WATCHDOG_USEC"),
		watchdogPID:  getenv("WATCHDOG_PID"),
		pid:          os.Getpid(),
	}
}

// Enabled reports whether a service manager listens (NOTIFY_SOCKET set).
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// Ready tells systemd that start-up (or a reload) has finished: READY=1.
func (n *Notifier) Ready() error { return n.Notify(daemon.SdNotifyReady) }

// Stopping tells systemd that shutdown has begun: STOPPING=1.
func (n *Notifier) Stopping() error { return n.Notify(daemon.SdNotifyStopping) }

// Watchdog pings the watchdog: WATCHDOG=1. Send it only from work that
// really completed, so a stuck daemon stops pinging and gets restarted.
func (n *Notifier) Watchdog() error { return n.Notify(daemon.SdNotifyWatchdog) }

// Reloading tells systemd a configuration reload started: RELOADING=1 with
// MONOTONIC_USEC (required by Type=notify-reload). Call Ready when done.
func (n *Notifier) Reloading() error {
	return n.Notify(daemon.SdNotifyReloading + "\n" + strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"))
}

// Status sets the free-form status line "systemctl status" shows:
// STATUS=<s>. The protocol has one line per assignment, so line breaks in s
// become "; ".
func (n *Notifier) Status(s string) error {
	if !n.Enabled() {
		return nil
	}
	s = strings.TrimRight(s, "\r\n")
	if strings.ContainsAny(s, "\r\n") {
		s = strings.ReplaceAll(s, "\r\n", "; ")
		s = strings.ReplaceAll(s, "\n", "; ")
		s = strings.ReplaceAll(s, "\r", "; ")
	}
	return n.Notify("STATUS=" + s)
}

// WatchdogInterval returns how often to call Watchdog: half of
// WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends. ok is false when no
// watchdog is configured for this process (no NOTIFY_SOCKET, WATCHDOG_USEC
// unset or invalid, or WATCHDOG_PID naming another process).
func (n *Notifier) WatchdogInterval() (d time.Duration, ok bool) {
	if !n.Enabled() || n.watchdogUsec == "" {
		return 0, false
	}
	usec, err := strconv.ParseInt(n.watchdogUsec, 10, 64)
	if err != nil || usec <= 0 {
		return 0, false
	}
	if n.watchdogPID != "" {
		pid, err := strconv.Atoi(n.watchdogPID)
		if err != nil || pid != n.pid {
			return 0, false
		}
	}
	return time.Duration(usec) * time.Microsecond / 2, true
}

// Notify sends one raw message (newline-separated assignments).
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if n.conn == nil {
			n.conn, err = net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
			if err != nil {
				break
			}
		}
		if _, err = n.conn.Write([]byte(state)); err == nil {
			return nil
		}
		n.conn.Close()
		n.conn = nil
	}
	return fmt.Errorf("sd_notify %s: %w", firstLine(state), err)
}

// Close releases the connection to the service manager (the next message
// dials again).
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		return nil
	}
	err := n.conn.Close()
	n.conn = nil
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
