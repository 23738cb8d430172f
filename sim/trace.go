package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wanctl/wanctl/config"
)

// Limits on trace values: generous, but they keep durations and rates far
// from overflow and a typo (a rate in bytes·1e9) from passing silently.
const (
	maxTraceTime = 24 * time.Hour
	maxTraceRate = 1e12 // 1 Tbit/s
	minTraceRate = 1e3
)

// Trace is a capacity trace read from CSV: download capacity, and upload
// capacity when the file has a third column. Capacities are piecewise
// constant: a row's capacity holds from its time until the next row's.
type Trace struct {
	Name     string  // file name, for error messages and reports
	Download Profile // Step profile, bits/s
	Upload   Profile // Step profile, bits/s; no points when the file has no upload column
	// End is the last row's time. A run over the trace lasts End unless a
	// duration is given; past End the last capacity holds.
	End time.Duration
}

// HasUpload reports whether the trace gave upload capacities.
func (t *Trace) HasUpload() bool { return len(t.Upload.Points) > 0 }

// ReadTraceFile parses the CSV trace at path.
func ReadTraceFile(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capacity trace: %w", err)
	}
	defer f.Close()
	return ParseTrace(path, f)
}

// ParseTrace reads a capacity trace: one row per line,
//
//	t_seconds,capacity_bps[,upload_bps]
//
// Times are seconds (decimals allowed, at least 1 ms apart, strictly
// increasing, from 0 to 24 h); capacities are bits/s > 0, as a plain number
// ("100000000", "1e8") or with a k/M/G suffix ("100M"). A first line whose
// first field is not a number is a header; blank lines and lines starting
// with '#' are skipped. Every row has the same number of fields. Errors name
// the file and line: `trace.csv:7: capacity "abc" is not a number`.
func ParseTrace(name string, r io.Reader) (*Trace, error) {
	t := &Trace{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	line, fields, rows := 0, 0, 0
	var prevMS int64 = -1
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // a BOM from spreadsheet exports
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		parts := strings.Split(text, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if rows == 0 && line == 1 {
			if _, err := strconv.ParseFloat(parts[0], 64); err != nil {
				continue // header
			}
		}
		at := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, a...))
		}
		if len(parts) != 2 && len(parts) != 3 {
			return nil, at("want 2 or 3 comma-separated fields (t_seconds,capacity_bps[,upload_bps]), got %d", len(parts))
		}
		if fields == 0 {
			fields = len(parts)
		} else if len(parts) != fields {
			return nil, at("got %d fields, but the first row had %d: every row needs the same columns", len(parts), fields)
		}
		ts, err := strconv.ParseFloat(parts[0], 64)
		if err != nil || math.IsNaN(ts) || math.IsInf(ts, 0) {
			return nil, at("time %q is not a number of seconds", parts[0])
		}
		if ts < 0 || ts > maxTraceTime.Seconds() {
			return nil, at("time %s is outside 0..%d seconds", parts[0], int(maxTraceTime.Seconds()))
		}
		ms := int64(math.Round(ts * 1000))
		if ms <= prevMS {
			return nil, at("time %s is not after the previous row's %gs: times must strictly increase, by at least 1 ms", parts[0], float64(prevMS)/1000)
		}
		prevMS = ms
		down, err := parseCapacity(parts[1])
		if err != nil {
			return nil, at("capacity %s", err)
		}
		when := time.Duration(ms) * time.Millisecond
		t.Download.Points = append(t.Download.Points, Point{when, down})
		if fields == 3 {
			up, err := parseCapacity(parts[2])
			if err != nil {
				return nil, at("upload capacity %s", err)
			}
			t.Upload.Points = append(t.Upload.Points, Point{when, up})
		}
		t.End = when
		rows++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than 64 KiB: is this a CSV trace?", name, line+1)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if rows == 0 {
		return nil, fmt.Errorf("%s: no data rows: want lines \"t_seconds,capacity_bps\" such as \"0,100M\"", name)
	}
	t.Download.Step, t.Upload.Step = true, true
	return t, nil
}

// parseCapacity reads bits/s: a float ("1e8", "100000000.0") or an hcl
// rate ("100M"). The error text follows the field name.
func parseCapacity(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		r, rerr := config.ParseRate(s)
		if rerr != nil {
			return 0, fmt.Errorf("%q is not a number (bits/s, e.g. 100000000 or 100M)", s)
		}
		v = float64(r)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number (bits/s, e.g. 100000000 or 100M)", s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("%s must be > 0 bits/s", s)
	}
	if v < minTraceRate {
		return 0, fmt.Errorf("%s is below the 1000 bits/s minimum", s)
	}
	if v > maxTraceRate {
		return 0, fmt.Errorf("%s is above 1 Tbit/s: capacities are bits/s, not bytes or kbit", s)
	}
	return v, nil
}
