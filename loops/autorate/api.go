// Package autorate is wanctl's latency-driven shaper controller and the
// daemon around it.
//
// The Controller is pure: it is fed ping replies (Observe) and asked for a
// decision at a given instant (Step); it never reads a clock, a socket or a
// file, so the simulator can run it in virtual time. The WritePolicy decides
// which desired rates are sent to the router; the Writer sends them. Loop
// glues a measurement source, the controller, the write policy, the writer,
// metrics and state persistence together for one WAN, one Cycle at a time;
// Daemon runs the loops on tickers.
package autorate

import (
	"net/netip"
	"time"
)

// Zone is a direction's congestion state. Larger is worse.
type Zone uint8

// Zones in order of severity.
const (
	Green Zone = iota
	Yellow
	SoftRed
	Red
)

var zoneNames = [...]string{"GREEN", "YELLOW", "SOFT_RED", "RED"}

// Zones lists every zone in order of severity.
var Zones = [...]Zone{Green, Yellow, SoftRed, Red}

func (z Zone) String() string {
	if int(z) < len(zoneNames) {
		return zoneNames[z]
	}
	return "UNKNOWN"
}

// ParseZone is the inverse of Zone.String.
func ParseZone(s string) (Zone, bool) {
	for i, n := range zoneNames {
		if n == s {
			return Zone(i), true
		}
	}
	return Green, false
}

// MarshalText writes the zone's name ("GREEN", "SOFT_RED", ...).
func (z Zone) MarshalText() ([]byte, error) { return []byte(z.String()), nil }

// UnmarshalText reads a zone name; an unknown name is GREEN (a state file
// from a newer version must not stop the daemon).
func (z *Zone) UnmarshalText(b []byte) error {
	*z, _ = ParseZone(string(b))
	return nil
}

// Action is what a Step did to a direction's rate.
type Action uint8

// Actions.
const (
	Hold     Action = iota // rate unchanged
	Decrease               // a zone lowered the rate
	Increase               // GREEN stepped the rate up
	NoSignal               // no fresh measurement: rate held
)

var actionNames = [...]string{"hold", "decrease", "increase", "no-signal"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// DirDecision is one direction's outcome of a Step.
type DirDecision struct {
	Zone    Zone
	Rate    int64 // bits/s after this step
	Prev    int64 // bits/s before this step
	Changed bool  // Rate != Prev
	Action  Action
	// GreenStreak counts consecutive GREEN cycles (reset by any other
	// measurement); YellowStreak counts consecutive cycles whose delta was
	// above target_bloat (the dwell counter).
	GreenStreak, YellowStreak int
	// Delta is the loaded delta the direction judged: the round trip's,
	// or with timestamps its own one-way delay's.
	Delta time.Duration
}

// Decision is the outcome of one Step.
type Decision struct {
	Download, Upload DirDecision
	// Signal is false when no reflector was heard from recently: rates were
	// held and the zones are the previous ones.
	Signal bool
	// RawDelta is this cycle's raw delta, Delta the loaded delta
	// (docs/autorate.md, "Signals"); with timestamps the larger of the
	// two directions' (DirDecision.Delta has each).
	RawDelta, Delta time.Duration
	// Baseline is the median of the reflectors' baselines (0 before any
	// reply).
	Baseline time.Duration
	// Fresh is the number of reflectors heard from recently.
	Fresh int
}

// Dir returns the decision for download (false) or upload (true).
func (d *Decision) Dir(upload bool) *DirDecision {
	if upload {
		return &d.Upload
	}
	return &d.Download
}

// LoadReading is one reading of a direction's queue counter: the bytes its
// shaper has passed since the counter was last reset, and when the reply
// carrying it arrived.
type LoadReading struct {
	Bytes uint64
	At    time.Time
}

// LoadSource gives a WAN's newest counter readings (download, upload); a
// zero At means none yet. It must not block: the Loop calls it every
// cycle.
type LoadSource interface {
	Load() [2]LoadReading
}

// Achieved is the throughput download (false) or upload (true) last
// measured and when; ok is false before two readings.
func (c *Controller) Achieved(upload bool) (bps float64, at time.Time, ok bool) {
	l := &c.dirs[dirIndex(upload)].load
	return l.achieved, l.at, l.valid
}

// Signal reports whether the last Step had a fresh measurement.
func (c *Controller) Signal() bool { return c.signal }

// Rate returns the current rate of download (false) or upload (true).
func (c *Controller) Rate(upload bool) int64 { return c.dirs[dirIndex(upload)].rate }

// Sources returns the number of measurement sources: the reflectors, then
// the TCP fallback targets.
func (c *Controller) Sources() int { return len(c.refl) }

// SourceIndex returns the index Observe expects for a reply from addr: a
// reflector's index for an ICMP reply, len(reflectors) + the fallback
// target's index for a TCP one; -1 if it is not a configured source. TCP
// replies match a fallback target by address (their port is not reported).
func (c *Controller) SourceIndex(addr netip.Addr, tcp bool) int {
	addr = addr.Unmap()
	for i := range c.refl {
		a := c.refl[i].addr
		if (a.Port() != 0) == tcp && a.Addr() == addr {
			return i
		}
	}
	return -1
}
