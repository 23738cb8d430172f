package commands

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY returns a pseudo-terminal pair (Linux ioctls; no dependency).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatalf("unlockpt: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("ptsname: %v", errno)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func TestApplyAsksOnATerminal(t *testing.T) {
	for _, tc := range []struct {
		answer string
		code   int
	}{
		{"y", 1}, {"YES ", 1}, {"yes please", 1}, {"", 1}, {"yes", 0},
	} {
		t.Run(strconv.Quote(tc.answer), func(t *testing.T) {
			e := newRouterEnv(t)
			cfg := e.config("", dualWAN)
			master, slave := openPTY(t)
			// The terminal echoes and buffers the typed line for the reader.
			if _, err := master.Write([]byte(tc.answer + "\n")); err != nil {
				t.Fatal(err)
			}
			e.emu.ClearRequests()
			r := e.mustRun(slave, tc.code, "apply", "-config", cfg)
			if !strings.Contains(r.out, "Do you want to perform these actions? Only 'yes' will be accepted:") {
				t.Errorf("no prompt:\n%s", r.out)
			}
			w := writes(e.emu.Requests())
			if tc.code == 0 {
				if len(w) != 32 || !strings.Contains(r.out, "Apply complete! Resources: 32 added") {
					t.Errorf("approved apply made %d writes:\n%s", len(w), r.out)
				}
				return
			}
			if len(w) > 0 {
				t.Errorf("refused apply wrote %v", w)
			}
			if !strings.Contains(r.err, "Apply cancelled") {
				t.Errorf("refusal:\n%s", r.err)
			}
		})
	}
}

// /dev/null is a character device but no terminal: cron and CI jobs that
// run apply with stdin from it get the -auto-approve hint, not a prompt.
func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Error("/dev/null taken for a terminal")
	}
	_, slave := openPTY(t)
	if !isTerminal(slave) {
		t.Error("a pseudo-terminal not taken for a terminal")
	}
	if isTerminal(strings.NewReader("yes\n")) {
		t.Error("a reader taken for a terminal")
	}
}
