// Package statefile is wanctl's one implementation of atomic files: it
// writes a file so that a crash at any moment leaves either the old or the
// new content, never a mix (state files, a saved plan, a formatted config,
// rendered units, the emulator's CA), and reads JSON state back, moving a
// corrupt or refused file aside instead of failing on it forever.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// WriteAtomic replaces path with data: write a temporary file in the same
// directory, fsync it, rename it over path, fsync the directory. The file
// gets mode perm. Errors read "write <path>: <cause>" and wrap the cause
// (fs.ErrNotExist when the directory is missing: callers create it then).
// On an error path is untouched and the temporary file is removed.
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	return writeAtomic(path, data, perm, true)
}

// Refresh is WriteAtomic without the directory's fsync, for a file
// rewritten every second or two (the autorate heartbeat): a crash still
// leaves the old or the new content, never a mix (the file itself is
// fsynced before the rename), but a power loss may bring back the previous
// version, which the next write replaces anyway. The directory fsync is a
// blocking system call that cost the daemon a sixth of its wake-ups.
func Refresh(path string, data []byte, perm fs.FileMode) error {
	return writeAtomic(path, data, perm, false)
}

func writeAtomic(path string, data []byte, perm fs.FileMode, syncDir bool) (err error) {
	dir := filepath.Dir(path)
	// CreateTemp opens with O_CREATE|O_EXCL, which never follows a
	// symlink (one planted at the name fails with EEXIST and another name
	// is tried), and the rename below replaces a symlink at path rather
	// than writing through it.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// 0600 is CreateTemp's own mode; only a umask that takes the owner's
	// own bits would change it, not worth an fchmod on every heartbeat.
	if perm != 0o600 {
		if err = tmp.Chmod(perm); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is on disk.
	if !syncDir {
		return nil
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteJSON marshals v (indented, trailing newline) and writes it atomically.
func WriteJSON(path string, v any, perm fs.FileMode) error {
	b, err := marshal(path, v)
	if err != nil {
		return err
	}
	return WriteAtomic(path, b, perm)
}

// RefreshJSON is WriteJSON through Refresh.
func RefreshJSON(path string, v any, perm fs.FileMode) error {
	b, err := marshal(path, v)
	if err != nil {
		return err
	}
	return Refresh(path, b, perm)
}

func marshal(path string, v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return append(b, '\n'), nil
}

// MaxReadSize bounds what ReadRegular (and so ReadJSON) reads: state files
// are a few kilobytes.
const MaxReadSize = 1 << 20

// ErrNotRegular is wrapped by ReadRegular for a path that is a symlink, a
// FIFO, a device or a directory: reading one could hang (a FIFO), never end
// (/dev/zero) or read a file the state was never meant to be.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by ReadRegular for a file above MaxReadSize.
var ErrTooLarge = fmt.Errorf("larger than %d bytes", MaxReadSize)

// ReadRegular reads the regular file at path, without following a symlink
// at its last component and without blocking on a FIFO, and returns its
// contents and its metadata as of the read. Errors read "read <path>: ...";
// a missing file's wraps fs.ErrNotExist.
func ReadRegular(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, nil, fmt.Errorf("read %s: %w (a symlink)", path, ErrNotRegular)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if fi.IsDir() {
		// Not something an attacker plants to hang or flood a reader,
		// and not to be moved aside: an error as the read would give.
		return nil, nil, fmt.Errorf("read %s: %w", path, syscall.EISDIR)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("read %s: %w (%s)", path, ErrNotRegular, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxReadSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxReadSize {
		return nil, nil, fmt.Errorf("read %s: %w", path, ErrTooLarge)
	}
	return b, fi, nil
}

// ErrCorrupt is wrapped by ReadJSON when the file existed but did not
// decode or was refused by the caller's validation; the file has then been
// moved aside to <path>.corrupt.
var ErrCorrupt = errors.New("corrupt state file")

// ReadJSON decodes path into v and, when validate is not nil, calls it on
// the result. It returns found=false, err=nil when the file does not exist.
// A file that does not decode or that validate refuses is renamed to
// "<path>.corrupt" (replacing an older one) and an error wrapping both
// ErrCorrupt and the cause is returned, so that the caller can warn and
// start fresh while the bad file stays available for inspection. A file
// that cannot be read is left where it is: it may be fine once readable.
// Temporaries of path that a crashed writer left behind are removed first.
func ReadJSON(path string, v any, validate func() error) (found bool, err error) {
	RemoveStaleTemps(path, time.Now())
	b, _, err := ReadRegular(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case errors.Is(err, ErrNotRegular), errors.Is(err, ErrTooLarge):
		// Never a file the writer made: out of the way, like a corrupt one.
		return true, quarantine(path, err)
	case err != nil:
		return false, err
	}
	cause := json.Unmarshal(b, v)
	if cause == nil && validate != nil {
		cause = validate()
	}
	if cause == nil {
		return true, nil
	}
	return true, quarantine(path, cause)
}

// quarantine moves the unusable file at path aside to <path>.corrupt and
// says so in the error it returns. The rename's own error is not wrapped: a
// caller testing for fs.ErrNotExist must not take this for a missing file.
func quarantine(path string, cause error) error {
	aside := path + ".corrupt"
	if rerr := os.Rename(path, aside); rerr != nil {
		return fmt.Errorf("read %s: %w: %w; moving it aside failed: %v", path, ErrCorrupt, cause, rerr)
	}
	return fmt.Errorf("read %s: %w: %w; moved aside to %s", path, ErrCorrupt, cause, aside)
}

// staleAfter is how old a temporary file of WriteAtomic must be before
// RemoveStaleTemps takes it for a crash's leftover: a write in progress
// takes milliseconds.
const staleAfter = time.Minute

// RemoveStaleTemps deletes the temporary files WriteAtomic left next to
// path when the process died between creating and renaming one
// (".<name>.tmp-<n>", older than a minute at now). Nothing else in the
// directory is touched (it may be shared). Errors are ignored: a leftover
// costs only its few bytes.
func RemoveStaleTemps(path string, now time.Time) {
	dir, prefix := filepath.Dir(path), "."+filepath.Base(path)+".tmp-"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, prefix) {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleAfter {
			os.Remove(filepath.Join(dir, n))
		}
	}
}
