package commands

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

// TestAutorateReloadHostileFiles: SIGHUP with the configuration replaced by
// a FIFO (the read blocked the signal loop: later SIGHUP and SIGTERM went
// unheard), a symbolic link to /dev/zero, a file nested 60,000 deep (a fatal
// stack overflow in HCL's parser) or a syntax error on the password line:
// each reload fails with the reason logged, the password is not, and the
// daemon runs on with the previous configuration and stops on SIGTERM.
func TestAutorateReloadHostileFiles(t *testing.T) {
	e := newE2E(t)
	e.start()
	e.clock.Advance(time.Second)
	e.settled()

	replace := func(write func(path string) error) {
		t.Helper()
		if err := os.Remove(e.cfgPath); err != nil {
			t.Fatal(err)
		}
		if err := write(e.cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	fails := 0
	reload := func(why string) {
		t.Helper()
		fails++
		e.sigs <- syscall.SIGHUP
		pollUntil(t, why, func() bool {
			// The diagnostics are wrapped, and their newlines escaped.
			log := strings.Join(strings.Fields(strings.ReplaceAll(e.stderr.String(), `\n`, " ")), " ")
			return strings.Count(log, "reload failed; still running on the previous configuration") == fails && strings.Contains(log, why)
		})
	}
	replace(func(p string) error { return syscall.Mkfifo(p, 0o600) })
	reload("not a regular file (a FIFO)")
	replace(func(p string) error { return os.Symlink("/dev/zero", p) })
	reload("not a regular file (a device)")
	replace(func(p string) error {
		return os.WriteFile(p, []byte("x = "+strings.Repeat("[", 60000)+strings.Repeat("]", 60000)+"\n"), 0o600)
	})
	reload("Nesting too deep")
	replace(func(p string) error {
		return os.WriteFile(p, []byte("router \"edge\" {\n  password = \"Sup3rSecret\n}\n"), 0o600)
	})
	reload("Unterminated template string")
	if strings.Contains(e.stderr.String(), "Sup3rSecret") {
		t.Errorf("password in the log:\n%s", e.stderr)
	}

	e.clock.Advance(time.Second)
	if code, h := e.health(); code != 200 || h.WANs[0].Download.Rate != 940e6 {
		t.Fatalf("after the failed reloads: %d %+v", code, h.WANs[0].Download)
	}
	e.sigs <- syscall.SIGTERM
	if c := e.exit(); c != 0 {
		t.Fatalf("exit %d: %s", c, e.stderr)
	}
}

// TestAutorateReloadOffTheSignalLoop: a reload whose read hangs does not
// stop the daemon from handling signals; it times out after reloadTimeout
// (virtual time), a SIGHUP during it reloads again afterwards, and SIGTERM
// stops the daemon while a read still hangs.
func TestAutorateReloadOffTheSignalLoop(t *testing.T) {
	e := newE2E(t)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	var calls atomic.Int32
	e.reload = func() (*config.Config, error) {
		calls.Add(1)
		<-hang
		return nil, errors.New("unblocked")
	}
	e.start()
	e.clock.Advance(time.Second)
	e.settled()

	// The daemon's own tickers: the WAN's loop and the status/watchdog
	// loop, whose goroutine may start after the first cycles (under load
	// it did, and the reload's ticker was never the only new one).
	pollUntil(t, "loop and status tickers", func() bool { return e.clock.Tickers() == 2 })
	tickers := e.clock.Tickers()
	e.sigs <- syscall.SIGHUP
	pollUntil(t, "reload started with its timeout", func() bool { return calls.Load() == 1 && e.clock.Tickers() == tickers+1 })
	e.sigs <- syscall.SIGHUP
	pollUntil(t, "second SIGHUP noted", func() bool {
		return strings.Contains(e.stderr.String(), "reload already in progress; reloading again when it ends")
	})
	e.sigs <- syscall.SIGUSR1
	pollUntil(t, "SIGUSR1 handled during the reload", func() bool { return strings.Contains(e.stderr.String(), "log level changed") })

	e.clock.Advance(reloadTimeout)
	pollUntil(t, "reload timed out", func() bool {
		return strings.Contains(e.stderr.String(), "reading the configuration took longer than 10s")
	})
	pollUntil(t, "the pending reload started", func() bool { return calls.Load() == 2 })
	// The 10 s jump leaves the last cycle 10 s old until the loop's ticker
	// fires and its cycle runs: health is 503 ("stalled") until then.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		code, h := e.health()
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %d: %+v", code, h)
		}
	}
	e.sigs <- syscall.SIGTERM
	if c := e.exit(); c != 0 {
		t.Fatalf("exit %d: %s", c, e.stderr)
	}
}
