package autorate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Health is the /health document (see docs/autorate.md). Status is "ok"
// (HTTP 200) when every WAN is controlling, "degraded" (HTTP 503)
// otherwise.
type Health struct {
	Status string      `json:"status"`
	Time   time.Time   `json:"time"`
	PID    int         `json:"pid"`
	WANs   []WANHealth `json:"wans"`
}

// WANHealth is one WAN in /health.
type WANHealth struct {
	WAN string `json:"wan"`
	// Controlling: cycles are completing, a signal is measured and the
	// router accepts writes. Otherwise DegradedReasons says why.
	Controlling     bool     `json:"controlling"`
	DegradedReasons []string `json:"degraded_reasons"`
	Signal          bool     `json:"signal"`
	// ICMPBlackout: no reflector answers ICMP; RTT comes from the TCP
	// fallback targets if they answer.
	ICMPBlackout    bool         `json:"icmp_blackout"`
	Download        DirHealth    `json:"download"`
	Upload          DirHealth    `json:"upload"`
	BaselineRTTMs   float64      `json:"baseline_rtt_ms"`
	DeltaMs         float64      `json:"delta_ms"`
	RawDeltaMs      float64      `json:"raw_delta_ms"`
	ReflectorsAlive int          `json:"reflectors_alive"`
	ReflectorsTotal int          `json:"reflectors_total"`
	Router          RouterHealth `json:"router"`
	// StateFile is the WAN's state file writes (steer reads the file).
	StateFile StateFileHealth `json:"state_file"`
	// LoadReads are the reads of the WAN's queue counters (absent when
	// the daemon does not read them).
	LoadReads *LoadReadHealth `json:"load_reads,omitempty"`
	Cycles    CycleHealth     `json:"cycles"`
}

// LoadReadHealth is a WAN's queue counter reads in /health.
type LoadReadHealth struct {
	LastSuccess     *time.Time `json:"last_success,omitempty"`
	LastSuccessAgeS *float64   `json:"last_success_age_s,omitempty"`
	// Failures counts consecutive failed reads.
	Failures  int    `json:"failures"`
	LastError string `json:"last_error,omitempty"`
}

// DirHealth is one direction in /health.
type DirHealth struct {
	Queue string `json:"queue"`
	Zone  string `json:"zone"`
	// Rate is what the controller wants; LastWrittenRate what the router
	// last accepted (0: nothing written since start).
	Rate            int64      `json:"rate"`
	LastWrittenRate int64      `json:"last_written_rate"`
	Pending         bool       `json:"pending"` // a write is waiting or in flight
	LastWrite       *time.Time `json:"last_write,omitempty"`
	LastWriteAgeS   *float64   `json:"last_write_age_s,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
	// AchievedBps is the throughput the shaper passed between the last
	// two counter reads, measured at AchievedAt (absent: not measured).
	AchievedBps  *float64   `json:"achieved_bps,omitempty"`
	AchievedAt   *time.Time `json:"achieved_at,omitempty"`
	AchievedAgeS *float64   `json:"achieved_age_s,omitempty"`
}

// RouterHealth is the WAN's router as seen by its writer.
type RouterHealth struct {
	Name string `json:"name"`
	// Reachable is false while the latest write failed, or once no
	// request (counter read or write) succeeded for
	// RouterUnreachableAfter.
	Reachable bool `json:"reachable"`
	// Failures counts consecutive failed writes.
	Failures        int        `json:"failures"`
	LastError       string     `json:"last_error,omitempty"`
	LastSuccess     *time.Time `json:"last_success,omitempty"`
	LastSuccessAgeS *float64   `json:"last_success_age_s,omitempty"`
	// LastReply is the last request of any kind that succeeded.
	LastReply     *time.Time `json:"last_reply,omitempty"`
	LastReplyAgeS *float64   `json:"last_reply_age_s,omitempty"`
}

// StateFileHealth is a WAN's state file writes in /health.
type StateFileHealth struct {
	Path            string     `json:"path"`
	LastSuccess     *time.Time `json:"last_success,omitempty"`
	LastSuccessAgeS *float64   `json:"last_success_age_s,omitempty"`
	// Failures counts consecutive failed writes.
	Failures  int    `json:"failures"`
	LastError string `json:"last_error,omitempty"`
}

// stateFileHealth adds the state file's writes to h: a failing write
// degrades the WAN, since steer then sees its state go stale and the next
// start loses what was learned.
func stateFileHealth(h *WANHealth, now time.Time, path string, st PersistStatus) {
	h.StateFile = StateFileHealth{Path: path, LastSuccess: timePtr(st.LastSuccess), LastSuccessAgeS: agePtr(now, st.LastSuccess),
		Failures: st.Failures, LastError: st.LastError}
	if st.Failures > 0 {
		h.DegradedReasons = append(h.DegradedReasons, fmt.Sprintf("state file %s: %d writes failed in a row: %s", path, st.Failures, st.LastError))
		h.Controlling = false
	}
}

// CycleHealth are the WAN's control cycle counters.
type CycleHealth struct {
	Total          uint64     `json:"total"`
	Overruns       uint64     `json:"overruns"`
	Failures       uint64     `json:"failures"`
	IntervalMs     float64    `json:"interval_ms"`
	LastDurationMs float64    `json:"last_duration_ms"`
	Last           *time.Time `json:"last,omitempty"`
	LastAgeS       *float64   `json:"last_age_s,omitempty"`
	LastFailure    string     `json:"last_failure,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func agePtr(now, t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	a := now.Sub(t).Seconds()
	return &a
}

// stallAfter is how long without a completed cycle makes a loop stalled.
func stallAfter(interval time.Duration) time.Duration {
	return max(10*interval, time.Second)
}

// wanHealth composes one WAN's health at now.
func wanHealth(now time.Time, interval time.Duration, l *Loop, w *Writer, slots [2]*Slot, load *LoadReader) WANHealth {
	st := l.Status()
	wan := l.WAN()
	d := &st.Decision
	h := WANHealth{
		WAN:             st.WAN,
		Signal:          d.Signal,
		ICMPBlackout:    st.Blackout,
		BaselineRTTMs:   DurationMs(d.Baseline),
		DeltaMs:         DurationMs(d.Delta),
		RawDeltaMs:      DurationMs(d.RawDelta),
		ReflectorsAlive: d.Fresh,
		ReflectorsTotal: len(wan.Measurement.Reflectors),
		DegradedReasons: []string{},
		Cycles: CycleHealth{
			Total: st.Cycles, Overruns: st.Overruns, Failures: st.Failures,
			IntervalMs:     DurationMs(interval),
			LastDurationMs: DurationMs(st.LastDuration),
			Last:           timePtr(st.LastCycle),
			LastAgeS:       agePtr(now, st.LastCycle),
			LastFailure:    st.LastFailure,
		},
	}
	for i, dh := range []*DirHealth{&h.Download, &h.Upload} {
		dd := d.Dir(i == 1)
		dh.Queue = wan.Directions()[i].Queue
		dh.Zone = dd.Zone.String()
		dh.Rate = dd.Rate
		if slots[i] != nil {
			ss := slots[i].Status()
			dh.LastWrittenRate = ss.Written
			dh.Pending = ss.Pending
			dh.LastWrite = timePtr(ss.WrittenAt)
			dh.LastWriteAgeS = agePtr(now, ss.WrittenAt)
			dh.LastError = ss.LastError
		}
		if a := st.Achieved[i]; !a.At.IsZero() {
			bps := a.Bps
			dh.AchievedBps = &bps
			dh.AchievedAt = timePtr(a.At)
			dh.AchievedAgeS = agePtr(now, a.At)
		}
	}
	if load != nil {
		ls := load.Status()
		h.LoadReads = &LoadReadHealth{LastSuccess: timePtr(ls.LastRead), LastSuccessAgeS: agePtr(now, ls.LastRead),
			Failures: ls.Failures, LastError: ls.LastError}
	}
	reasons := &h.DegradedReasons
	switch {
	case st.Cycles == 0:
		*reasons = append(*reasons, "no control cycle completed yet")
	case now.Sub(st.LastCycle) > stallAfter(interval):
		*reasons = append(*reasons, fmt.Sprintf("control loop stalled: last cycle %.1fs ago", now.Sub(st.LastCycle).Seconds()))
	}
	if st.Cycles > 0 && !d.Signal {
		*reasons = append(*reasons, "no signal: no reflector answered recently; rates held (RED keeps decreasing)")
	}
	if w != nil {
		rs := w.Status()
		h.Router = RouterHealth{
			Name: rs.Router, Reachable: rs.Reachable, Failures: rs.Failures, LastError: rs.LastError,
			LastSuccess: timePtr(rs.LastSuccess), LastSuccessAgeS: agePtr(now, rs.LastSuccess),
			LastReply: timePtr(rs.LastReply), LastReplyAgeS: agePtr(now, rs.LastReply),
		}
		switch {
		case rs.Failures > 0:
			*reasons = append(*reasons, fmt.Sprintf("router %s: %d writes failed in a row: %s", rs.Router, rs.Failures, rs.LastError))
		case !rs.Reachable:
			// Nothing to write, but the reads that go out every second
			// fail: the router went away while the rates held still.
			*reasons = append(*reasons, fmt.Sprintf("router %s: no request succeeded for %.1fs: %s",
				rs.Router, now.Sub(rs.Unanswered).Seconds(), rs.LastReadError))
		}
	}
	h.Controlling = len(h.DegradedReasons) == 0
	return h
}

// HealthHandler serves f's document as JSON: 200 when every WAN is
// controlling, 503 otherwise.
func HealthHandler(f func() Health) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := f()
		b, err := json.MarshalIndent(h, "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write(append(b, '\n'))
	})
}
