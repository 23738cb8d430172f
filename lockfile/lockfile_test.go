package lockfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gofrs/flock"
)

func TestTryLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "x.lock")
	l, err := TryLock(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid", b)
	}
	// flock locks belong to open file descriptions, so a second TryLock in
	// the same process conflicts just like another process would.
	_, err = TryLock(p)
	var he *HeldError
	if !errors.As(err, &he) || !errors.Is(err, ErrHeld) {
		t.Fatalf("second lock: %v, want HeldError", err)
	}
	if want := "pid " + strconv.Itoa(os.Getpid()); he.Holder != want || !strings.Contains(err.Error(), want) {
		t.Errorf("holder %q / %q, want %q", he.Holder, err, want)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := TryLock(p)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

// A pid left in the file by a process that has exited is not named as the
// holder (another program may hold the flock without writing its pid).
func TestHolderNotNamedWhenDead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	other := flock.New(p)
	if ok, err := other.TryLock(); !ok || err != nil {
		t.Fatalf("flock: %v %v", ok, err)
	}
	defer other.Unlock()
	if err := os.WriteFile(p, []byte(strconv.Itoa(dead)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := TryLock(p)
	var h *HeldError
	if !errors.As(err, &h) || h.Holder != "" || strings.Contains(err.Error(), strconv.Itoa(dead)) {
		t.Fatalf("%v (holder %q), want no pid named", err, h.Holder)
	}
	if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(p); !errors.As(err, &h) || h.Holder != "pid "+strconv.Itoa(os.Getpid()) {
		t.Fatalf("%v, want our pid named", err)
	}
}
