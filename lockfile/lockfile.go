// Package lockfile takes non-blocking exclusive locks (flock) that name
// their holder, so that a refused second instance can say who holds it.
package lockfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gofrs/flock"
)

// Lock is a held lock; Unlock releases it.
type Lock struct {
	fl *flock.Flock
}

// HeldError reports that another process holds the lock.
type HeldError struct {
	Path   string
	Holder string // "pid 1234" when known
}

func (e *HeldError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("lock %s is held by another process", e.Path)
	}
	return fmt.Sprintf("lock %s is held by %s", e.Path, e.Holder)
}

// ErrHeld matches any *HeldError with errors.Is.
var ErrHeld = errors.New("lock held")

// Is makes errors.Is(err, ErrHeld) true for a *HeldError.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// TryLock takes the lock at path without waiting, creating the directory if
// needed, and records this process's pid in the file. The flock is tied to
// the open file, so a crashed holder never leaves a stale lock behind.
func TryLock(path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	fl := flock.New(path)
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		h := &HeldError{Path: path}
		if b, rerr := os.ReadFile(path); rerr == nil {
			// The pid is of the last process that took the lock; the one
			// holding it now may not have written one (flock(1)). Name it
			// only if that process still exists.
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 && alive(pid) {
				h.Holder = "pid " + strconv.Itoa(pid)
			}
		}
		return nil, h
	}
	// Record the holder (best effort: the lock itself is the flock, not
	// the content).
	if f, ferr := os.OpenFile(path, os.O_WRONLY, 0); ferr == nil {
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		f.Close()
	}
	return &Lock{fl: fl}, nil
}

// Unlock releases the lock. The file stays (removing it would race with a
// process that just opened it).
func (l *Lock) Unlock() error {
	if l == nil || l.fl == nil {
		return nil
	}
	return l.fl.Unlock()
}

// alive reports whether a process with this pid exists (signal 0: EPERM
// means it exists but is not ours to signal).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
