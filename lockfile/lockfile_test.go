package lockfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// A symlink, FIFO or hard link planted at the lock path is refused, and
// what it points at is left alone (a symlink to a file had it truncated and
// a pid written into it).
func TestTryLockRefusesNonRegular(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, lock, victim string)
	}{
		{"symlink", func(t *testing.T, lock, victim string) {
			if err := os.Symlink(victim, lock); err != nil {
				t.Fatal(err)
			}
		}},
		{"dangling symlink", func(t *testing.T, lock, victim string) {
			if err := os.Symlink(victim+".new", lock); err != nil {
				t.Fatal(err)
			}
		}},
		{"hard link", func(t *testing.T, lock, victim string) {
			if err := os.Link(victim, lock); err != nil {
				t.Fatal(err)
			}
		}},
		{"fifo", func(t *testing.T, lock, _ string) {
			if err := syscall.Mkfifo(lock, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			lock, victim := filepath.Join(dir, "autorate-att.lock"), filepath.Join(dir, "somefile")
			if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, lock, victim)
			l, err := TryLock(lock)
			if err == nil {
				l.Unlock()
			}
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), lock) {
				t.Fatalf("TryLock: %v, want ErrNotRegular naming the path", err)
			}
			if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
				t.Fatalf("the file behind the lock path now holds %q", b)
			}
			if _, err := os.Lstat(victim + ".new"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the dangling symlink's target was created: %v", err)
			}
		})
	}
}
