package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type doc struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
}

func TestWriteReadJSON(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	if found, err := ReadJSON(p, &doc{}); found || err != nil {
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
	var d doc
	if found, err := ReadJSON(p, &d); !found || err != nil || d != (doc{1, "a"}) {
		t.Fatalf("read back %+v found=%v err=%v", d, found, err)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("directory has %d entries, want 1", len(ents))
	}
}

func TestCorruptMovedAside(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(p, []byte(`{"version":1,"na`), 0o600); err != nil {
		t.Fatal(err)
	}
	var d doc
	found, err := ReadJSON(p, &d)
	if !found || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("found=%v err=%v, want ErrCorrupt", found, err)
	}
	if _, err := os.Stat(p + ".corrupt"); err != nil {
		t.Errorf("corrupt file not moved aside: %v", err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("corrupt file still in place: %v", err)
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
	var d doc
	if _, err := ReadJSON(p, &d); err != nil || d.Name != "old" {
		t.Fatalf("old content lost: %+v %v", d, err)
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
	if found, err := ReadJSON(path, &v); !found || err != nil || v["a"] != 1 {
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
		if found, err := ReadJSON(p, &got); !found || err != nil || got != (doc{i + 1, "x"}) {
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
