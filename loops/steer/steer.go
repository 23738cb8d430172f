// Package steer decides when latency-sensitive new connections leave the
// primary WAN for the alternate one, and when they come back.
//
// Everything here is pure: no clock, no files, no network. The driver (the
// `wanctl steer` one-shot) gathers Inputs, calls Step with the persisted
// State, applies Decision.Disabled to the router's mark-connection rules,
// and persists the returned State only when that worked — Step never
// mutates its argument, so on failure the caller simply keeps the old
// State and the next run retries.
package steer

import (
	"fmt"
	"strings"
	"time"

	"github.com/wanctl/wanctl/config"
)

// File names inside daemon.state_dir.
const (
	StateFileName    = "steering.json"
	TextfileFileName = "steering.prom"
)

// StateVersion is the version of the State JSON layout.
const StateVersion = 1

// HistoryLimit bounds State.History (oldest transitions are dropped).
const HistoryLimit = 50

// StaleRunAfter: when the previous run is older than this (the timer was
// stopped, the host slept or rebooted) — or in the future, after a clock
// step — the smoothed RTT, the drop counter and the streaks start over
// instead of mixing samples minutes apart. The GOOD/DEGRADED state itself
// is kept: it mirrors what the router rules are.
const StaleRunAfter = time.Minute

// Level is the assessment of one run.
type Level string

// Assessment levels.
const (
	Green  Level = "GREEN"
	Yellow Level = "YELLOW"
	Red    Level = "RED"
)

// StateName returns "<PRIMARY>_GOOD" or "<PRIMARY>_DEGRADED".
func StateName(primary string, degraded bool) string {
	if degraded {
		return strings.ToUpper(primary) + "_DEGRADED"
	}
	return strings.ToUpper(primary) + "_GOOD"
}

// Transition is one change of the steering state.
type Transition struct {
	Time   time.Time `json:"time"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
	// DryRun: a dry run decided it; the router's rules were not touched.
	DryRun bool `json:"dry_run,omitempty"`
}

// State is the persisted steering state (state_dir/steering.json).
type State struct {
	Version int `json:"version"`
	// State is StateName(primary, degraded).
	State       string `json:"state"`
	RedStreak   int    `json:"red_streak"`
	GreenStreak int    `json:"green_streak"`
	// RTTDeltaEWMAMs is the smoothed RTT delta in milliseconds (fractions
	// kept); meaningful only when RTTEWMAValid.
	RTTDeltaEWMAMs float64 `json:"rtt_delta_ewma_ms"`
	RTTEWMAValid   bool    `json:"rtt_ewma_valid"`
	// Dropped is the primary download queue's cumulative `dropped` counter
	// at the previous run, by queue name (only the current queue is kept).
	Dropped          map[string]int64 `json:"dropped"`
	LastRun          time.Time        `json:"last_run"`
	LastAssessment   Level            `json:"last_assessment,omitempty"`
	TransitionsTotal int64            `json:"transitions_total"`
	// History holds the last HistoryLimit transitions, oldest first.
	History []Transition `json:"history"`
	// DryRun: the last run was a dry run, so State is what steering would
	// be, not what the router's rules are.
	DryRun bool `json:"dry_run,omitempty"`
}

// NewState is the state of a first run: GOOD, nothing measured yet.
func NewState(primary string) State {
	return State{Version: StateVersion, State: StateName(primary, false), Dropped: map[string]int64{}, History: []Transition{}}
}

// Degraded reports whether the state steers (the rules are enabled).
func (s State) Degraded() bool { return strings.HasSuffix(s.State, "_DEGRADED") }

// clone returns a deep copy, so that Step never shares maps or slices with
// the state it was given.
func (s State) clone() State {
	c := s
	c.Dropped = make(map[string]int64, len(s.Dropped))
	for k, v := range s.Dropped {
		c.Dropped[k] = v
	}
	c.History = append(make([]Transition, 0, len(s.History)+1), s.History...)
	return c
}

// WANState is what a run knows about a WAN from its autorate state file.
type WANState struct {
	// Trusted is false when the state file is missing, unreadable or older
	// than state_max_age (see Fresh): the autorate daemon is not running.
	Trusted bool
	// BaselineRTT is the idle RTT (used for the primary only).
	BaselineRTT time.Duration
	// DownloadZone is autorate's download zone: GREEN, YELLOW, SOFT_RED, RED.
	DownloadZone string
	// DownloadRate is autorate's current download rate (bits/s) and
	// DownloadFloor the floor of DownloadZone it cannot cut below (0 when
	// the zone is neither SOFT_RED nor RED): a rate at that floor means
	// the shaper has done all it may.
	DownloadRate, DownloadFloor int64
	// Why says what is wrong when Trusted is false ("no state file",
	// "state 9.2s old (state_max_age 5s)", ...); "" gives a generic text.
	Why string
}

// QueueStats are the primary download queue's counters from one GET.
type QueueStats struct {
	OK            bool   // false when the read failed
	Name          string // queue-tree entry name
	Dropped       int64  // cumulative `dropped` counter
	QueuedPackets int64  // `queued-packets` right now
}

// Inputs are everything one run measured.
type Inputs struct {
	Now       time.Time
	Primary   WANState
	Alternate WANState
	// RTTOK is false when the burst got no answer at all (ICMP and TCP).
	RTTOK bool
	RTT   time.Duration
	Queue QueueStats
}

// Fresh reports whether a state file stamped at stamp can be trusted at
// now: not older than maxAge, and not more than maxAge in the future
// (a clock step).
func Fresh(stamp, now time.Time, maxAge time.Duration) bool {
	if stamp.IsZero() {
		return false
	}
	age := now.Sub(stamp)
	return age <= maxAge && age >= -maxAge
}

// Assessment is how congested the primary looked in one run.
type Assessment struct {
	Level Level
	// Reason explains the level with the figures behind it.
	Reason string
	// RTTDelta is this run's max(0, rtt - baseline); valid with RTTMeasured.
	RTTDelta    time.Duration
	RTTMeasured bool
	// RTTDeltaEWMAMs is the smoothed delta after this run, in ms; valid
	// with EWMAValid.
	RTTDeltaEWMAMs float64
	EWMAValid      bool
	// Drops are packets the queue dropped since the previous run (0 on a
	// first run; the whole counter after a counter reset).
	Drops int64
	// Queued is the queue's current backlog in packets.
	Queued int64
	// AtFloor: the primary's autorate is in SOFT_RED or RED with its
	// download rate at that zone's floor.
	AtFloor bool
}

// Congested reports whether w's autorate is in SOFT_RED or RED.
func (w WANState) Congested() bool {
	switch strings.ToUpper(w.DownloadZone) {
	case "SOFT_RED", "RED":
		return true
	}
	return false
}

// AtFloor reports whether w's autorate is in SOFT_RED or RED with the
// download rate at (or within 1 % above) that zone's floor. The margin
// absorbs rounding of the rate in the state file.
func (w WANState) AtFloor() bool {
	if !w.Congested() {
		return false
	}
	return w.DownloadFloor > 0 && w.DownloadRate > 0 && w.DownloadRate <= w.DownloadFloor+w.DownloadFloor/100
}

// Assess rates one run from the inputs and the previous state.
//
//	rtt_delta = max(0, rtt - baseline), smoothed with rtt_ewma_alpha (the
//	first sample initialises the EWMA);
//	RED    = ewma > rtt_red AND (drops >= min_drops_red OR queued >= queue_red
//	         OR the primary's autorate is SOFT_RED/RED at that zone's floor);
//	YELLOW = ewma > rtt_yellow OR queued >= queue_yellow;
//	GREEN  otherwise.
//
// The delay alone is not enough for RED: steering is for a primary the
// shaper cannot fix, and any one of the three signals says so. None of
// them is required, because a router may leave a counter unpopulated (a
// CAKE queue tree's `dropped` stays 0 on RouterOS 7.23) and the floor is
// known only to autorate.
//
// A run that lacks a piece of evidence — the primary's autorate state is
// untrusted (no baseline to measure against), the RTT burst got no answer,
// or the queue statistics could not be read — is YELLOW: it can neither
// start steering (never RED) nor count towards ending it (never GREEN), and
// it breaks both streaks. Steering therefore holds its current state until
// the evidence is back.
func Assess(prev State, in Inputs, th config.SteerThresholds) Assessment {
	var a Assessment
	a.RTTDeltaEWMAMs, a.EWMAValid = prev.RTTDeltaEWMAMs, prev.RTTEWMAValid

	if in.Queue.OK {
		a.Queued = in.Queue.QueuedPackets
		if last, ok := prev.Dropped[in.Queue.Name]; ok {
			a.Drops = in.Queue.Dropped - last
			if in.Queue.Dropped < last { // the counter was reset
				a.Drops = in.Queue.Dropped
			}
		}
	}
	if in.Primary.Trusted && in.RTTOK {
		a.RTTDelta = max(0, in.RTT-in.Primary.BaselineRTT)
		a.RTTMeasured = true
		d := ms(a.RTTDelta)
		if a.EWMAValid {
			a.RTTDeltaEWMAMs = th.RTTEWMAAlpha*d + (1-th.RTTEWMAAlpha)*a.RTTDeltaEWMAMs
		} else {
			a.RTTDeltaEWMAMs, a.EWMAValid = d, true
		}
	}

	var missing []string
	if !in.Primary.Trusted {
		why := "missing or older than state_max_age"
		if in.Primary.Why != "" {
			why = in.Primary.Why
		}
		missing = append(missing, "primary autorate state untrusted ("+why+")")
	}
	if !in.RTTOK {
		missing = append(missing, "no RTT measurement")
	}
	if !in.Queue.OK {
		missing = append(missing, "no queue statistics")
	}
	if len(missing) > 0 {
		a.Level = Yellow
		a.Reason = "holding: " + strings.Join(missing, ", ")
		return a
	}

	a.AtFloor = in.Primary.AtFloor()
	figures := fmt.Sprintf("rtt delta ewma %.1fms, %d drops, %d queued, autorate %s", a.RTTDeltaEWMAMs, a.Drops, a.Queued, in.Primary.DownloadZone)
	if a.AtFloor {
		figures += " at floor"
	}
	var evidence []string
	if a.Drops >= th.MinDropsRed {
		evidence = append(evidence, fmt.Sprintf("drops >= %d", th.MinDropsRed))
	}
	if a.Queued >= th.QueueRed {
		evidence = append(evidence, fmt.Sprintf("queued >= %d", th.QueueRed))
	}
	if a.AtFloor {
		evidence = append(evidence, "autorate at its floor")
	}
	ewmaRed := a.RTTDeltaEWMAMs > ms(th.RTTRed)
	switch {
	case ewmaRed && len(evidence) > 0:
		a.Level = Red
		a.Reason = fmt.Sprintf("%s (red: ewma > %v and %s)", figures, th.RTTRed, strings.Join(evidence, ", "))
	case a.RTTDeltaEWMAMs > ms(th.RTTYellow) || a.Queued >= th.QueueYellow:
		a.Level = Yellow
		a.Reason = fmt.Sprintf("%s (yellow: ewma > %v or queued >= %d)", figures, th.RTTYellow, th.QueueYellow)
	default:
		a.Level = Green
		a.Reason = figures
	}
	return a
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Decision is what one run concluded.
type Decision struct {
	Assessment Assessment
	// State is the steering state after this run.
	State string
	// Transition is non-nil when this run changed the state.
	Transition *Transition
	// Disabled is the desired `disabled` value of the managed
	// mark-connection rules: they are enabled exactly while DEGRADED.
	Disabled bool
	// Blocked explains why the primary is RED for long enough but steering
	// does not start (the alternate is untrusted or congested); "" otherwise.
	Blocked string
}

// Step runs the hysteresis on one run's inputs and returns the next state
// without touching prev.
//
// GOOD -> DEGRADED after red_samples consecutive RED runs, and only while
// the alternate's autorate state is trusted and its download zone is not
// RED or SOFT_RED (never steer onto a dead or congested link).
// DEGRADED -> GOOD after green_samples consecutive GREEN runs (YELLOW and
// RED reset the GREEN streak), or at once when the alternate becomes
// untrusted, RED or SOFT_RED. Both streaks restart from zero after any
// transition.
//
// A state that does not belong to primary (the configured primary changed)
// restarts as GOOD, keeping the history and the transition count.
func Step(prev State, in Inputs, th config.SteerThresholds, primary, alternate string) (State, Decision) {
	good, degraded := StateName(primary, false), StateName(primary, true)
	next := prev.clone()
	next.Version = StateVersion
	var tr *Transition
	if next.State != good && next.State != degraded {
		// First run, or the configured primary changed: start as GOOD.
		fresh := NewState(primary)
		fresh.TransitionsTotal, fresh.History = next.TransitionsTotal, next.History
		if next.State != "" {
			tr = &Transition{Time: in.Now, From: next.State, To: good, Reason: fmt.Sprintf("steering primary is now %s", primary)}
		}
		next = fresh
	}
	if !next.LastRun.IsZero() && (in.Now.Sub(next.LastRun) > StaleRunAfter || in.Now.Before(next.LastRun)) {
		next.RedStreak, next.GreenStreak = 0, 0
		next.RTTDeltaEWMAMs, next.RTTEWMAValid = 0, false
		next.Dropped = map[string]int64{}
	}

	a := Assess(next, in, th)
	switch a.Level {
	case Red:
		next.RedStreak++
		next.GreenStreak = 0
	case Green:
		next.GreenStreak++
		next.RedStreak = 0
	default:
		next.RedStreak, next.GreenStreak = 0, 0
	}

	var blocked string
	altWhy := alternateProblem(in.Alternate, alternate)
	switch {
	case tr != nil:
		// The state was just reset; hysteresis starts with the next run.
	case next.State == good:
		if a.Level == Red && next.RedStreak >= max(1, th.RedSamples) {
			if altWhy != "" {
				blocked = fmt.Sprintf("primary %s RED for %d runs but not steering: %s", primary, next.RedStreak, altWhy)
			} else {
				tr = &Transition{Time: in.Now, From: good, To: degraded,
					Reason: fmt.Sprintf("primary %s RED for %d consecutive runs: %s", primary, next.RedStreak, a.Reason)}
			}
		}
	case next.State == degraded:
		switch {
		case altWhy != "":
			tr = &Transition{Time: in.Now, From: degraded, To: good, Reason: "stop steering: " + altWhy}
		case a.Level == Green && next.GreenStreak >= max(1, th.GreenSamples):
			tr = &Transition{Time: in.Now, From: degraded, To: good,
				Reason: fmt.Sprintf("primary %s GREEN for %d consecutive runs: %s", primary, next.GreenStreak, a.Reason)}
		}
	}
	if tr != nil {
		next.State = tr.To
		next.RedStreak, next.GreenStreak = 0, 0
		next.TransitionsTotal++
		next.History = append(next.History, *tr)
		if n := len(next.History); n > HistoryLimit {
			next.History = append([]Transition(nil), next.History[n-HistoryLimit:]...)
		}
	}

	next.RTTDeltaEWMAMs, next.RTTEWMAValid = a.RTTDeltaEWMAMs, a.EWMAValid
	if in.Queue.OK {
		next.Dropped = map[string]int64{in.Queue.Name: in.Queue.Dropped}
	}
	next.LastRun = in.Now
	next.LastAssessment = a.Level
	return next, Decision{Assessment: a, State: next.State, Transition: tr, Disabled: !next.Degraded(), Blocked: blocked}
}

// alternateProblem says why the alternate must not carry steered traffic,
// or "" when it may.
func alternateProblem(w WANState, name string) string {
	if !w.Trusted {
		why := "autorate state missing or older than state_max_age"
		if w.Why != "" {
			why = w.Why
		}
		return fmt.Sprintf("alternate %s untrusted (%s)", name, why)
	}
	switch z := strings.ToUpper(w.DownloadZone); z {
	case "GREEN", "YELLOW":
		return ""
	case "RED", "SOFT_RED":
		return fmt.Sprintf("alternate %s is %s", name, z)
	default:
		// Only autorate's own zone names are evidence of a usable link.
		return fmt.Sprintf("alternate %s untrusted (unknown download zone %q)", name, w.DownloadZone)
	}
}
