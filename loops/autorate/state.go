package autorate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wanctl/wanctl/statefile"
)

// StateVersion is the version of the state file format this code writes.
const StateVersion = 1

// State is the content of a WAN's state file, state_dir/autorate-<wan>.json
// (see docs/autorate.md). Durations are float milliseconds in keys ending in
// _ms; rates are bits/s.
type State struct {
	Version int    `json:"version"`
	WAN     string `json:"wan"`
	// Timestamp is when the daemon wrote the contents (UTC, RFC 3339 with
	// nanoseconds). Between rewrites the daemon refreshes the file's
	// modification time at least every 2 s (its heartbeat): LastSeen.
	Timestamp time.Time `json:"timestamp"`
	// PID of the writing process; Writer is "autorate" or "calibrate".
	PID    int    `json:"pid,omitempty"`
	Writer string `json:"writer,omitempty"`
	// Signal is false while no reflector answers (rates are being held).
	Signal   bool           `json:"signal"`
	Download DirectionState `json:"download"`
	Upload   DirectionState `json:"upload"`
	// BaselineRTTMs is the median of the reflectors' baselines.
	BaselineRTTMs float64 `json:"baseline_rtt_ms"`
	// LoadedDeltaMs is the loaded delta (EWMA of the median per-reflector
	// delta) the zones are judged on.
	LoadedDeltaMs float64          `json:"loaded_delta_ms"`
	Reflectors    []ReflectorState `json:"reflectors"`
	// CalibratedAt is when `wanctl calibrate` last wrote the baselines
	// (omitted if never).
	CalibratedAt *time.Time `json:"calibrated_at,omitempty"`

	// Modified is the file's modification time, set by ReadState and
	// LoadState (not part of the contents).
	Modified time.Time `json:"-"`
}

// DirectionState is one direction in the state file.
type DirectionState struct {
	Queue string `json:"queue"`
	Zone  Zone   `json:"zone"`
	// Rate is the controller's current rate; LastWrittenRate the last one
	// the router accepted (0: none since the daemon started).
	Rate            int64 `json:"rate"`
	LastWrittenRate int64 `json:"last_written_rate"`
	GreenStreak     int   `json:"green_streak"`
	YellowStreak    int   `json:"yellow_streak"`
}

// ReflectorState is one measurement source's learned baseline.
type ReflectorState struct {
	// Address is a reflector ("1.1.1.1") or a TCP fallback target
	// ("1.1.1.1:443", "[2606:4700::1111]:443").
	Address       string  `json:"address"`
	BaselineRTTMs float64 `json:"baseline_rtt_ms"` // 0: none learned
}

// StatePath is the state file of WAN wan in stateDir.
func StatePath(stateDir, wan string) string {
	return filepath.Join(stateDir, "autorate-"+wan+".json")
}

// LockPath is the daemon's lock file for WAN wan in lockDir.
func LockPath(lockDir, wan string) string {
	return filepath.Join(lockDir, "autorate-"+wan+".lock")
}

// LastSeen is when the daemon that wrote the state was last known to run:
// the later of Timestamp and the file's modification time, which the daemon
// refreshes every 2 s between rewrites of the contents (a heartbeat costs a
// utimensat instead of a write and an fsync). Only the daemon's own files
// count their modification time: a file calibrate wrote last keeps the
// daemon's old Timestamp (zero in a file calibrate created), so that a
// calibration is never taken for a live daemon.
func (s *State) LastSeen() time.Time {
	if s.Timestamp.IsZero() {
		return time.Time{}
	}
	if s.Writer == "autorate" && s.Modified.After(s.Timestamp) {
		return s.Modified
	}
	return s.Timestamp
}

// Age is how long before now the daemon was last seen (LastSeen).
func (s *State) Age(now time.Time) time.Duration { return now.Sub(s.LastSeen()) }

// DurationMs converts a duration to the file's float milliseconds
// (microsecond precision).
func DurationMs(d time.Duration) float64 {
	return math.Round(float64(d)/1e3) / 1e3
}

// MsDuration is the inverse of DurationMs.
func MsDuration(v float64) time.Duration {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > 1e9 {
		return 0
	}
	return time.Duration(v * 1e6)
}

// check validates a decoded state.
func (s *State) check() error {
	if s.Version != StateVersion {
		return fmt.Errorf("state version %d, this wanctl reads version %d", s.Version, StateVersion)
	}
	if s.WAN == "" {
		return errors.New("no wan name")
	}
	return nil
}

// ReadState reads a state file without modifying it (for steer and
// status). A missing file is an error wrapping fs.ErrNotExist; a file with
// an unknown or missing zone is an error.
func ReadState(path string) (State, error) {
	var s State
	// fi is the modification time of the file that is read, not of one
	// renamed over it in between. A symlink, FIFO or huge file at the
	// path is an error (steer then does not trust the WAN).
	b, fi, err := statefile.ReadRegular(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("%s: %w: %v", path, statefile.ErrCorrupt, err)
	}
	if err := s.check(); err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkZones(b); err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	s.Modified = fi.ModTime()
	return s, nil
}

// checkZones refuses a state whose zones are missing or not zone names.
// Zone's decoder reads an unknown name as GREEN (the daemon restarting
// on a newer version's file); a reader that acts on another process's
// zones (steer) must not take "BOGUS", "red" or "" for GREEN.
func checkZones(b []byte) error {
	var raw struct {
		Download struct {
			Zone *string `json:"zone"`
		} `json:"download"`
		Upload struct {
			Zone *string `json:"zone"`
		} `json:"upload"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, d := range []struct {
		dir  string
		zone *string
	}{{"download", raw.Download.Zone}, {"upload", raw.Upload.Zone}} {
		if d.zone == nil {
			return fmt.Errorf("no %s zone", d.dir)
		}
		if _, ok := ParseZone(*d.zone); !ok {
			return fmt.Errorf("unknown %s zone %q", d.dir, *d.zone)
		}
	}
	return nil
}

// LoadState reads the daemon's own state file. found is false when there is
// none. A file that does not decode, or is of another version, is moved aside
// to <path>.corrupt and an error wrapping statefile.ErrCorrupt is returned:
// the caller warns and starts fresh.
func LoadState(path string) (s State, found bool, err error) {
	found, err = statefile.ReadJSON(path, &s, s.check) // s.check is bound to &s: it sees what was decoded
	if err != nil || !found {
		return State{}, found, err
	}
	if fi, err := os.Stat(path); err == nil {
		s.Modified = fi.ModTime()
	}
	return s, true, nil
}

// WriteState writes s atomically with mode 0600, creating the directory,
// durably (the directory is fsynced too): calibrate and the daemon's last
// write.
func WriteState(path string, s *State) error {
	return writeState(path, s, statefile.WriteJSON)
}

// refreshState is WriteState for the daemon's recurring writes (at least
// every 2 s): atomic, without the directory fsync (statefile.Refresh).
func refreshState(path string, s *State) error {
	return writeState(path, s, statefile.RefreshJSON)
}

// touchState is the daemon's heartbeat between rewrites: it sets the state
// file's modification time to t, leaving the contents alone. It never
// follows a symlink (that touched whatever the link named); anything but a
// regular file is an error, and the persister then rewrites the file,
// whose rename replaces the link.
func touchState(path string, t time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("touch %s: %w", path, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("touch %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("touch %s: %w", path, statefile.ErrNotRegular)
	}
	return nil
}

func writeState(path string, s *State, write func(string, any, fs.FileMode) error) error {
	err := write(path, s, 0o600)
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// The directory is created on the first write only (or again if it
	// was removed), not checked on every one.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return write(path, s, 0o600)
}

// Snapshot converts the file's controller part back into a Snapshot.
// Reflectors whose address does not parse are dropped.
func (s *State) Snapshot() Snapshot {
	snap := Snapshot{
		Download:    DirSnapshot{Zone: s.Download.Zone, Rate: s.Download.Rate, GreenStreak: s.Download.GreenStreak, YellowStreak: s.Download.YellowStreak},
		Upload:      DirSnapshot{Zone: s.Upload.Zone, Rate: s.Upload.Rate, GreenStreak: s.Upload.GreenStreak, YellowStreak: s.Upload.YellowStreak},
		Baseline:    MsDuration(s.BaselineRTTMs),
		LoadedDelta: MsDuration(s.LoadedDeltaMs),
	}
	for _, r := range s.Reflectors {
		a, err := netip.ParseAddrPort(r.Address)
		if err != nil {
			ip, err := netip.ParseAddr(r.Address)
			if err != nil {
				continue
			}
			a = netip.AddrPortFrom(ip, 0)
		}
		snap.Reflectors = append(snap.Reflectors, ReflectorSnapshot{Addr: a, Baseline: MsDuration(r.BaselineRTTMs)})
	}
	return snap
}

// stateFrom builds a State from a controller snapshot.
func stateFrom(wan string, now time.Time, snap *Snapshot) State {
	s := State{
		Version:       StateVersion,
		WAN:           wan,
		Timestamp:     now.UTC().Round(0),
		PID:           os.Getpid(),
		Signal:        snap.Signal,
		Download:      DirectionState{Zone: snap.Download.Zone, Rate: snap.Download.Rate, GreenStreak: snap.Download.GreenStreak, YellowStreak: snap.Download.YellowStreak},
		Upload:        DirectionState{Zone: snap.Upload.Zone, Rate: snap.Upload.Rate, GreenStreak: snap.Upload.GreenStreak, YellowStreak: snap.Upload.YellowStreak},
		BaselineRTTMs: DurationMs(snap.Baseline),
		LoadedDeltaMs: DurationMs(snap.LoadedDelta),
		Reflectors:    make([]ReflectorState, 0, len(snap.Reflectors)),
	}
	for _, r := range snap.Reflectors {
		s.Reflectors = append(s.Reflectors, ReflectorState{Address: sourceString(r.Addr), BaselineRTTMs: DurationMs(r.Baseline)})
	}
	return s
}

// sourceString is a reflector's address, or a TCP fallback target's
// address:port.
func sourceString(a netip.AddrPort) string {
	if a.Port() == 0 {
		return a.Addr().String()
	}
	return a.String()
}
