package autorate

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wanctl/wanctl/statefile"
)

func TestStateRoundTrip(t *testing.T) {
	w := testWAN()
	w.Measurement.TCPFallback = nil
	h := newHarness(t, instantWAN())
	h.cycle(100 * ms)
	snap := h.c.Snapshot()
	st := stateFrom("spectrum", h.now.In(time.FixedZone("X", 3600)), &snap)
	st.Download.Queue = "wanctl-spectrum-down"
	st.Download.LastWrittenRate = 846e6
	dir := t.TempDir()
	p := StatePath(filepath.Join(dir, "sub"), "spectrum")
	if p != filepath.Join(dir, "sub", "autorate-spectrum.json") {
		t.Fatalf("path %s", p)
	}
	if err := WriteState(p, &st); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat %v %v", fi.Mode(), err)
	}
	raw, _ := os.ReadFile(p)
	for _, want := range []string{`"version": 1`, `"wan": "spectrum"`, `"timestamp": "2025-01-02T03:04:05.05Z"`, `"zone": "RED"`, `"rate": 846000000`, `"last_written_rate": 846000000`, `"baseline_rtt_ms": 20.017`, `"address": "208.67.222.222"`, `"loaded_delta_ms": 100`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("state file lacks %s:\n%s", want, raw)
		}
	}
	got, err := ReadState(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Download.Zone != Red || got.Download.Rate != 846e6 || !got.Timestamp.Equal(h.now) || got.Age(h.now.Add(time.Second)) != time.Second {
		t.Fatalf("read back %+v", got)
	}
	c := NewController(testWAN())
	c.Restore(got.Snapshot())
	if s := c.Snapshot(); s.Download.Rate != 846e6 || DurationMs(s.Reflectors[3].Baseline) != DurationMs(snap.Reflectors[3].Baseline) {
		t.Fatalf("restored %+v", s)
	}
}

func TestReadStateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadState(filepath.Join(dir, "none.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	if _, err := ReadState(bad); !errors.Is(err, statefile.ErrCorrupt) {
		t.Fatalf("corrupt: %v", err)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Fatal("ReadState must not move the file (it belongs to the daemon)")
	}
	// The daemon's LoadState moves it aside.
	if _, found, err := LoadState(bad); !found || !errors.Is(err, statefile.ErrCorrupt) {
		t.Fatalf("LoadState corrupt: found=%v err=%v", found, err)
	}
	if _, err := os.Stat(bad + ".corrupt"); err != nil {
		t.Fatal("not moved aside")
	}
	v2 := filepath.Join(dir, "v2.json")
	os.WriteFile(v2, []byte(`{"version":2,"wan":"x"}`), 0o600)
	if _, err := ReadState(v2); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("v2: %v", err)
	}
	_, _, err := LoadState(v2)
	if want := "read " + v2 + ": corrupt state file: state version 2, this wanctl reads version 1; moved aside to " + v2 + ".corrupt"; !errors.Is(err, statefile.ErrCorrupt) || err.Error() != want {
		t.Fatalf("LoadState v2: %v, want %s", err, want)
	}
	if _, err := os.Stat(v2 + ".corrupt"); err != nil {
		t.Fatal("v2 not moved aside")
	}
	if _, found, err := LoadState(filepath.Join(dir, "none.json")); found || err != nil {
		t.Fatalf("LoadState missing: %v %v", found, err)
	}
}

func TestMsConversions(t *testing.T) {
	if DurationMs(1234567*time.Nanosecond) != 1.235 {
		t.Fatal(DurationMs(1234567 * time.Nanosecond))
	}
	if MsDuration(1.5) != 1500*time.Microsecond || MsDuration(-1) != 0 {
		t.Fatal("MsDuration")
	}
}

func TestStateLastSeen(t *testing.T) {
	ts, later := t0, t0.Add(time.Minute)
	for _, c := range []struct {
		name string
		st   State
		want time.Time
	}{
		{"the daemon's heartbeat", State{Timestamp: ts, Writer: "autorate", Modified: later}, later},
		{"contents newer than the modification time", State{Timestamp: later, Writer: "autorate", Modified: ts}, later},
		{"calibrate wrote it last", State{Timestamp: ts, Writer: "calibrate", Modified: later}, ts},
		{"no daemon ever wrote it", State{Writer: "calibrate", Modified: later}, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.st.LastSeen(); !got.Equal(c.want) {
				t.Errorf("%v, want %v", got, c.want)
			}
		})
	}
}

// The heartbeat never touches what a symlink at the state path names; it
// fails, and the persister then rewrites the file (replacing the link).
func TestTouchStateRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim, path := filepath.Join(dir, "somefile"), filepath.Join(dir, "autorate-att.json")
	if err := os.WriteFile(victim, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(victim, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := touchState(path, t0); !errors.Is(err, statefile.ErrNotRegular) {
		t.Fatalf("touch through a symlink: %v, want ErrNotRegular", err)
	}
	if fi, err := os.Stat(victim); err != nil || !fi.ModTime().Equal(old) {
		t.Fatalf("the link's target was touched: %v %v", fi.ModTime(), err)
	}
	st := State{Version: StateVersion, WAN: "att", Timestamp: t0}
	if err := refreshState(path, &st); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("after the rewrite: %v %v", fi, err)
	}
	if err := touchState(path, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "x" {
		t.Fatalf("the link's target now holds %q", b)
	}
}

// Steer and status read another process's state: a symlink or FIFO at the
// path, or a zone that is not autorate's, is an error (not GREEN).
func TestReadStateRefuses(t *testing.T) {
	good := `{"version":1,"wan":"att","download":{"zone":"YELLOW"},"upload":{"zone":"GREEN"}}`
	for _, tc := range []struct {
		name, want string
		plant      func(t *testing.T, path string)
	}{
		{"symlink", "not a regular file", func(t *testing.T, path string) {
			target := path + ".real"
			if err := os.WriteFile(target, []byte(good), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"fifo", "not a regular file", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"unknown zone", `unknown download zone "BOGUS"`, func(t *testing.T, path string) {
			os.WriteFile(path, []byte(strings.Replace(good, "YELLOW", "BOGUS", 1)), 0o600)
		}},
		{"lower case zone", `unknown upload zone "green"`, func(t *testing.T, path string) {
			os.WriteFile(path, []byte(strings.Replace(good, `"GREEN"`, `"green"`, 1)), 0o600)
		}},
		{"empty zone", `unknown download zone ""`, func(t *testing.T, path string) {
			os.WriteFile(path, []byte(strings.Replace(good, "YELLOW", "", 1)), 0o600)
		}},
		{"no zone", `no upload zone`, func(t *testing.T, path string) {
			os.WriteFile(path, []byte(strings.Replace(good, `"upload":{"zone":"GREEN"}`, `"upload":{}`, 1)), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "autorate-att.json")
			tc.plant(t, path)
			if _, err := ReadState(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadState: %v, want %q", err, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "autorate-att.json")
	os.WriteFile(path, []byte(good), 0o600)
	if st, err := ReadState(path); err != nil || st.Download.Zone != Yellow {
		t.Fatalf("good state: %+v %v", st, err)
	}
}
