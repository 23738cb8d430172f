// Package lockfile takes non-blocking exclusive locks (flock) that name
// their holder, so that a refused second instance can say who holds it.
package lockfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is a held lock; Unlock releases it.
type Lock struct {
	f *os.File
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

// ErrNotRegular is wrapped when the lock path is a symlink or not a
// regular file: following a symlink planted in lock_dir truncated its
// target and wrote a pid into it.
var ErrNotRegular = errors.New("not a regular file (a symlink, a device, a FIFO or a hard link): refusing to use it as a lock")

// TryLock takes the lock at path without waiting, creating the directory if
// needed, and records this process's pid in the file. The flock is tied to
// the open file, so a crashed holder never leaves a stale lock behind. The
// file is opened without following a symlink, and must be a regular file
// with one link: the pid is written through that same descriptor.
func TryLock(path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// O_NONBLOCK: opening a FIFO planted there must not hang.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("lock %s: %w", path, ErrNotRegular)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.Mode().IsRegular() || (ok && st.Nlink != 1) {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, ErrNotRegular)
	}
	if err := flockRetry(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		h := &HeldError{Path: path}
		if b, rerr := io.ReadAll(io.LimitReader(f, 32)); rerr == nil {
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
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// flockRetry retries flock(2) when a signal interrupts it.
func flockRetry(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Unlock releases the lock. The file stays (removing it would race with a
// process that just opened it).
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := flockRetry(l.f, syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// alive reports whether a process with this pid exists (signal 0: EPERM
// means it exists but is not ours to signal).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
