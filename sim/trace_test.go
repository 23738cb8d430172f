package sim

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
)

func TestParseTrace(t *testing.T) {
	src := "\uFEFFt_seconds,capacity_bps\n# evening\n0,100M\n\n10.5, 50000000\n20,1e8\n"
	tr, err := ParseTrace("trace.csv", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Download.Points) != 3 || tr.End != 20*time.Second || tr.HasUpload() || !tr.Download.Step {
		t.Fatalf("trace %+v", tr)
	}
	// Piecewise constant: a row holds until the next row.
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 100e6}, {10499 * time.Millisecond, 100e6}, {10500 * time.Millisecond, 50e6}, {15 * time.Second, 50e6}, {time.Minute, 100e6}} {
		t.Run(c.at.String(), func(t *testing.T) {
			if got := tr.Download.At(c.at); got != c.want {
				t.Errorf("At(%v) = %v, want %v", c.at, got, c.want)
			}
		})
	}
	tr, err = ParseTrace("t.csv", strings.NewReader("0,100M,20M\n5,40M,8M\n"))
	if err != nil || !tr.HasUpload() || tr.Upload.At(6*time.Second) != 8e6 {
		t.Fatalf("3 columns: %+v %v", tr, err)
	}
}

func TestParseTraceErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"0,100M\n1,abc\n", `trace.csv:2: capacity "abc" is not a number`},
		{"t,c\n0,1e8\n5,2e8\n3,1e8\n", `trace.csv:4: time 3 is not after the previous row's 5s: times must strictly increase`},
		{"0,1e8\n0.0004,2e8\n", `trace.csv:2: time 0.0004 is not after the previous row's 0s`},
		{"0,-5\n", `trace.csv:1: capacity -5 must be > 0 bits/s`},
		{"0,0\n", `trace.csv:1: capacity 0 must be > 0 bits/s`},
		{"0,NaN\n", `trace.csv:1: capacity "NaN" is not a number`},
		{"0,1e13\n", `trace.csv:1: capacity 1e13 is above 1 Tbit/s`},
		{"0,10\n", `trace.csv:1: capacity 10 is below the 1000 bits/s minimum`},
		{"0,1e8\ninf,1e8\n", `trace.csv:2: time "inf" is not a number of seconds`},
		{"0,1e8\nx,1e8\n", `trace.csv:2: time "x" is not a number of seconds`},
		{"-1,1e8\n", `trace.csv:1: time -1 is outside 0..86400 seconds`},
		{"0,1,2,3\n", `trace.csv:1: want 2 or 3 comma-separated fields (t_seconds,capacity_bps[,upload_bps]), got 4`},
		{"0\n", `trace.csv:1: want 2 or 3 comma-separated fields`},
		{"0,1e8\n1,1e8,2e7\n", `trace.csv:2: got 3 fields, but the first row had 2`},
		{"0,1e8,x\n", `trace.csv:1: upload capacity "x" is not a number`},
		{"", `trace.csv: no data rows`},
		{"t_seconds,capacity_bps\n# nothing\n", `trace.csv: no data rows`},
		{"0,1e8\n" + strings.Repeat("9", 70000) + "\n", `trace.csv:2: line longer than 64 KiB`},
	} {
		t.Run(c.want, func(t *testing.T) {
			_, err := ParseTrace("trace.csv", strings.NewReader(c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%q: error %v, want %q", c.src[:min(len(c.src), 40)], err, c.want)
			}
		})
	}
}

func TestTraceScenario(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evening.csv")
	if err := os.WriteFile(path, []byte("t_seconds,capacity_bps\n0,100M\n10,40M\n20,80M\n30,80M\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := ReadTraceFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := TraceScenario(tr, ceil100x20, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name != "trace:evening.csv" || sc.Duration != 30*time.Second || sc.Nominal != [2]float64{100e6, 20e6} ||
		sc.Loaded[Download][0] != (Span{3 * time.Second, 30 * time.Second}) || sc.Capacity[Upload].At(time.Second) != 20e6 {
		t.Fatalf("scenario %+v", sc)
	}
	res, err := Evaluate(sc, Options{Ceiling: ceil100x20}, noop())
	if err != nil {
		t.Fatal(err)
	}
	// The fixed shaper at 100M bloats from 10 s on: the drop is an event.
	if f := res.Fixed.Dirs[Download]; f.Drops != 2 || f.Scores.AddedDelayMS.P99 < 500 {
		t.Errorf("fixed on the trace: %d events, %+v", f.Drops, f.Scores)
	}
	// Longer than the trace: the last capacity holds.
	sc, err = TraceScenario(tr, ceil100x20, time.Minute, 3)
	if err != nil || sc.Duration != time.Minute || sc.Capacity[Download].At(50*time.Second) != 80e6 {
		t.Errorf("-duration 1m: %v %v", sc, err)
	}
	short, _ := ParseTrace("short.csv", strings.NewReader("0,1e8\n5,2e8\n"))
	if _, err := TraceScenario(short, ceil100x20, 0, 1); err == nil || !strings.Contains(err.Error(), "short.csv: the trace ends at 5s, shorter than 10s: give a duration") {
		t.Errorf("short trace: %v", err)
	}
	if _, err := ReadTraceFile(filepath.Join(t.TempDir(), "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseTrace(f *testing.F) {
	for _, s := range []string{
		"t_seconds,capacity_bps\n0,100M\n10.5,5e7\n",
		"0,1e8,2e7\n1,2e8,3e7\n",
		"# c\n\n0,1k\n",
		"0,abc\n", "1,1\n0,1\n", "0,1e8\n0.0001,1e8\n", "\uFEFF0, 100 \n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tr, err := ParseTrace("f.csv", strings.NewReader(src))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		pts := tr.Download.Points
		if len(pts) == 0 || tr.End != pts[len(pts)-1].At {
			t.Fatalf("no points or wrong end: %+v", tr)
		}
		if tr.HasUpload() && len(tr.Upload.Points) != len(pts) {
			t.Fatalf("upload has %d points, download %d", len(tr.Upload.Points), len(pts))
		}
		for _, p := range []Profile{tr.Download, tr.Upload} {
			if len(p.Points) == 0 {
				continue
			}
			if err := p.validate("fuzz", minTraceRate, maxTraceRate); err != nil {
				t.Fatal(err)
			}
			for _, pt := range p.Points {
				if pt.At%time.Millisecond != 0 || pt.At > maxTraceTime || math.IsNaN(pt.V) {
					t.Fatalf("bad point %+v", pt)
				}
			}
		}
	})
}

// The WANs BENCHMARKS.md plays the measured traces on stay valid
// configurations with ceilings near each trace's maximum.
func TestTraceConfigs(t *testing.T) {
	for _, tc := range []struct {
		file          string
		down, up, low int64
	}{
		{"testdata/trace-lte-short.hcl", 60e6, 30e6, 1e6},
		{"testdata/trace-umts-driving.hcl", 7e6, 1.5e6, 0.4e6},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, diags := config.Parse(tc.file, src, config.Options{LookupEnv: func(string) (string, bool) { return "pw", true }})
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			w := cfg.WANs[0]
			if w.Download.Ceiling != tc.down || w.Upload.Ceiling != tc.up || w.Download.Floor.Red != tc.low || w.Upload.Floor.Red != tc.low {
				t.Errorf("ceilings %d/%d, red floors %d/%d", w.Download.Ceiling, w.Upload.Ceiling, w.Download.Floor.Red, w.Upload.Floor.Red)
			}
		})
	}
}
