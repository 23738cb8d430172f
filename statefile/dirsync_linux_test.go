package statefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// dirOpens counts how often write opened dir itself, which it does only to
// fsync it: inotify reports an open of the watched directory as an IN_OPEN
// event with IN_ISDIR and no name (an open of a file in it carries the
// file's name). The events are queued by the system calls themselves, so
// reading them once write has returned sees them all.
func dirOpens(t *testing.T, dir string, write func() error) int {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_OPEN); err != nil {
		t.Fatalf("inotify watch: %v", err)
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	opens := 0
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(fd, buf)
		if errors.Is(err, syscall.EAGAIN) {
			return opens
		}
		if err != nil {
			t.Fatalf("inotify read: %v", err)
		}
		r := bytes.NewReader(buf[:n])
		for r.Len() > 0 {
			var ev syscall.InotifyEvent
			if err := binary.Read(r, binary.NativeEndian, &ev); err != nil {
				t.Fatalf("inotify event: %v", err)
			}
			if _, err := r.Seek(int64(ev.Len), 1); err != nil {
				t.Fatal(err)
			}
			if ev.Mask&syscall.IN_OPEN != 0 && ev.Mask&syscall.IN_ISDIR != 0 && ev.Len == 0 {
				opens++
			}
		}
	}
}

// WriteAtomic fsyncs the directory after the rename; Refresh, for the
// heartbeat's recurring writes, does not.
func TestDirSync(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(path string) error
		want  int
	}{
		{"WriteAtomic", func(p string) error { return WriteAtomic(p, []byte("x"), 0o600) }, 1},
		{"WriteJSON", func(p string) error { return WriteJSON(p, doc{1, "x"}, 0o600) }, 1},
		{"Refresh", func(p string) error { return Refresh(p, []byte("x"), 0o600) }, 0},
		{"RefreshJSON", func(p string) error { return RefreshJSON(p, doc{1, "x"}, 0o600) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "wan.json")
			for _, existing := range []bool{false, true} {
				if got := dirOpens(t, dir, func() error { return tc.write(p) }); got != tc.want {
					t.Errorf("file existed %v: directory opened %d times, want %d", existing, got, tc.want)
				}
			}
		})
	}
	// The count is of real opens: reading the directory is one.
	dir := t.TempDir()
	if got := dirOpens(t, dir, func() error { _, err := fs.ReadDir(os.DirFS(dir), "."); return err }); got != 1 {
		t.Fatalf("ReadDir opened the directory %d times, want 1", got)
	}
}
