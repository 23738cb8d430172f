package statefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type doc struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
}

func TestWriteReadJSON(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	if found, err := ReadJSON(p, &doc{}, nil); found || err != nil {
		t.Fatalf("missing file: found=%v err=%v", found, err)
	}
	if err := WriteJSON(p, doc{1, "a"}, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "{\n  \"version\": 1,\n  \"name\": \"a\"\n}\n" {
		t.Errorf("file content %q", b)
	}
	var d doc
	if found, err := ReadJSON(p, &d, nil); !found || err != nil || d != (doc{1, "a"}) {
		t.Fatalf("read back %+v found=%v err=%v", d, found, err)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("directory has %d entries, want 1", len(ents))
	}
}

// The file gets the mode asked for, also when it replaces one of another
// mode (wanctl fmt passes the formatted file's own mode).
func TestWriteAtomicMode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		old, perm os.FileMode
	}{
		{"state 0600 over 0644", 0o644, 0o600},
		{"unit 0644 over 0600", 0o600, 0o644},
		{"config keeps 0640", 0o640, 0o640},
		{"read-only 0400", 0o600, 0o400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, []byte("old"), tc.old); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.old); err != nil { // past the umask
				t.Fatal(err)
			}
			for _, w := range []struct {
				name  string
				write func(string, []byte, fs.FileMode) error
			}{{"WriteAtomic", WriteAtomic}, {"Refresh", Refresh}} {
				if err := w.write(p, []byte("new "+w.name), tc.perm); err != nil {
					t.Fatalf("%s: %v", w.name, err)
				}
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != tc.perm {
					t.Errorf("%s: mode %v, want %v", w.name, st.Mode().Perm(), tc.perm)
				}
				if b, _ := os.ReadFile(p); string(b) != "new "+w.name {
					t.Errorf("%s: content %q", w.name, b)
				}
			}
		})
	}
}

// A failed write says which file, wraps the cause, leaves the old file as
// it was and no temporary file behind.
func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	// A directory in the file's place: the rename fails after the temporary
	// file was written.
	occupied := filepath.Join(dir, "occupied")
	if err := os.MkdirAll(filepath.Join(occupied, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		path  string
		is    error
		write func(string, []byte, fs.FileMode) error
	}{
		{"missing directory", filepath.Join(dir, "none", "f.json"), fs.ErrNotExist, WriteAtomic},
		{"missing directory refresh", filepath.Join(dir, "none", "f.json"), fs.ErrNotExist, Refresh},
		{"rename over a directory", occupied, nil, WriteAtomic},
		{"rename over a directory refresh", occupied, nil, Refresh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.write(tc.path, []byte("data"), 0o644)
			if err == nil {
				t.Fatal("no error")
			}
			if want := "write " + tc.path + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			ents, _ := os.ReadDir(filepath.Dir(tc.path)) // none when it is missing
			for _, e := range ents {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
			if st, err := os.Stat(occupied); err != nil || !st.IsDir() {
				t.Errorf("the directory in the file's place was touched: %v", err)
			}
		})
	}
	// Marshalling errors read the same way.
	p := filepath.Join(dir, "m.json")
	if err := WriteJSON(p, make(chan int), 0o600); err == nil || !strings.HasPrefix(err.Error(), "write "+p+": ") {
		t.Errorf("marshal error %v", err)
	}
}

func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.json")
	if err := WriteJSON(p, doc{1, "old"}, 0o600); err != nil {
		t.Fatal(err)
	}
	// A value that cannot be marshalled must not touch the old file.
	if err := WriteJSON(p, map[string]any{"x": make(chan int)}, 0o600); err == nil {
		t.Fatal("want marshal error")
	}
	if err := RefreshJSON(p, map[string]any{"x": make(chan int)}, 0o600); err == nil {
		t.Fatal("want marshal error")
	}
	var d doc
	if _, err := ReadJSON(p, &d, nil); err != nil || d.Name != "old" {
		t.Fatalf("old content lost: %+v %v", d, err)
	}
}

var errRefused = errors.New("refused by validation")

// A file that does not decode, or that the caller's validation refuses,
// is moved aside to <path>.corrupt (replacing an older one) with an error
// that wraps ErrCorrupt and the cause; the next read finds no file.
func TestCorruptMovedAside(t *testing.T) {
	for _, tc := range []struct {
		name     string
		content  string
		validate func(*doc) error
		cause    string // in the error
		is       error  // wrapped too
		calls    int    // of validate
	}{
		{"truncated", `{"version":1,"na`, nil, "unexpected end of JSON input", nil, 0},
		{"not json", "\x00garbage", nil, "invalid character", nil, 0},
		{"wrong type", `{"version":"1"}`, nil, "cannot unmarshal", nil, 0},
		{"truncated, validate not called", `{"version":1,"na`, func(*doc) error { return nil }, "unexpected end", nil, 0},
		{"refused", `{"version":2,"name":"a"}`, func(d *doc) error {
			if d.Version != 1 {
				return errRefused
			}
			return nil
		}, "refused by validation", errRefused, 1},
		{"null refused", `null`, func(d *doc) error {
			if d.Version != 1 {
				return errRefused
			}
			return nil
		}, "refused by validation", errRefused, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "s.json")
			if err := os.WriteFile(p+".corrupt", []byte("an older one"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var d doc
			calls := 0
			var validate func() error
			if tc.validate != nil {
				validate = func() error { calls++; return tc.validate(&d) }
			}
			found, err := ReadJSON(p, &d, validate)
			if !found || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("found=%v err=%v, want ErrCorrupt", found, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			want := "read " + p + ": corrupt state file: "
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.cause) ||
				!strings.HasSuffix(err.Error(), "; moved aside to "+p+".corrupt") {
				t.Errorf("error %q", err)
			}
			if calls != tc.calls {
				t.Errorf("validate called %d times, want %d", calls, tc.calls)
			}
			if b, err := os.ReadFile(p + ".corrupt"); err != nil || string(b) != tc.content {
				t.Errorf("moved aside: %q %v", b, err)
			}
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("corrupt file still in place: %v", err)
			}
			if found, err := ReadJSON(p, &d, validate); found || err != nil {
				t.Errorf("second read: found=%v err=%v", found, err)
			}
		})
	}
}

// When the corrupt file cannot be moved aside the error says so, still
// wraps ErrCorrupt, and does not pass for a missing file.
func TestCorruptMoveAsideFails(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.json")
	if err := os.WriteFile(p, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A non-empty directory where the corrupt file would go.
	if err := os.MkdirAll(filepath.Join(p+".corrupt", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	var d doc
	found, err := ReadJSON(p, &d, nil)
	if !found || !errors.Is(err, ErrCorrupt) || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("found=%v err=%v", found, err)
	}
	if !strings.HasPrefix(err.Error(), "read "+p+": corrupt state file: ") || !strings.Contains(err.Error(), "; moving it aside failed: ") {
		t.Errorf("error %q", err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "garbage" {
		t.Errorf("file not left in place: %q %v", b, err)
	}
}

// A file that exists but cannot be read is an error, not corruption: it is
// left where it is and validate is not called.
func TestReadJSONUnreadable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	var d doc
	found, err := ReadJSON(p, &d, func() error { t.Error("validate called"); return nil })
	if found || err == nil || errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "read "+p+": ") {
		t.Fatalf("found=%v err=%v", found, err)
	}
	if st, err := os.Stat(p); err != nil || !st.IsDir() {
		t.Errorf("moved: %v", err)
	}
	if _, err := os.Stat(p + ".corrupt"); !os.IsNotExist(err) {
		t.Errorf("something moved aside: %v", err)
	}
}

// A missing file is found=false without calling validate.
func TestReadJSONMissingSkipsValidate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	found, err := ReadJSON(p, &doc{}, func() error { return errRefused })
	if found || err != nil {
		t.Fatalf("found=%v err=%v", found, err)
	}
}

// A crash between creating the temporary file and renaming it leaves the
// temporary file behind; the next read removes it once it is stale, and
// leaves a fresh one (a write in progress) and every other file's alone.
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spectrum.json")
	if err := WriteJSON(path, map[string]int{"a": 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, ".spectrum.json.tmp-123")
	fresh := filepath.Join(dir, ".spectrum.json.tmp-456")
	other := filepath.Join(dir, ".other.json.tmp-789") // another file's: not ours to judge
	for _, f := range []string{stale, fresh, other} {
		if err := os.WriteFile(f, []byte(`{"a":`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Minute)
	for _, f := range []string{stale, other} {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	var v map[string]int
	if found, err := ReadJSON(path, &v, nil); !found || err != nil || v["a"] != 1 {
		t.Fatalf("read %v %v %v", found, err, v)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file still there: %v", err)
	}
	for _, f := range []string{fresh, other, path} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s removed: %v", f, err)
		}
	}
}

// Refresh replaces the file as WriteAtomic does (only the directory fsync
// is left out): same content, same mode, no temporary file left.
func TestRefreshJSON(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wan.json")
	for i, perm := range []os.FileMode{0o600, 0o644} {
		if err := RefreshJSON(p, doc{i + 1, "x"}, perm); err != nil {
			t.Fatal(err)
		}
		var got doc
		if found, err := ReadJSON(p, &got, nil); !found || err != nil || got != (doc{i + 1, "x"}) {
			t.Fatalf("read back %+v %v %v", got, found, err)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != perm {
			t.Fatalf("mode %v, want %v (%v)", st.Mode().Perm(), perm, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("files left: %v", ents)
	}
}

// A symlink, a FIFO or an oversized file at the state path is moved aside
// like a corrupt file, without reading through the link, blocking on the
// FIFO or reading without end; what the link points at is left alone.
func TestReadJSONRefusesNonRegular(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, p, target string)
		want  error
	}{
		{"symlink", func(t *testing.T, p, target string) {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}, ErrNotRegular},
		{"fifo", func(t *testing.T, p, _ string) {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}, ErrNotRegular},
		{"too large", func(t *testing.T, p, _ string) {
			b := []byte(`{"version": 1, "name": "` + strings.Repeat("a", MaxReadSize) + `"}`)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, target := filepath.Join(dir, "s.json"), filepath.Join(dir, "other.json")
			if err := os.WriteFile(target, []byte(`{"version": 1, "name": "other"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, p, target)
			var d doc
			found, err := ReadJSON(p, &d, nil)
			if !found || !errors.Is(err, ErrCorrupt) || !errors.Is(err, tc.want) || d != (doc{}) {
				t.Fatalf("found=%v err=%v doc %+v: want %v, moved aside", found, err, d, tc.want)
			}
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Errorf("still at the path: %v", err)
			}
			if b, _ := os.ReadFile(target); string(b) != `{"version": 1, "name": "other"}` {
				t.Errorf("the link's target changed: %q", b)
			}
		})
	}
}
