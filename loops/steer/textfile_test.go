package steer

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parse(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("textfile does not parse: %v\n%s", err, b)
	}
	return mfs
}

func lint(t *testing.T, b []byte) {
	t.Helper()
	problems, err := promlint.New(bytes.NewReader(b)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// value returns the value of the series of family name whose labels
// include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no %s", name)
	}
	if mf.GetHelp() == "" {
		t.Errorf("%s has no HELP", name)
	}
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		}
		t.Fatalf("%s has type %v", name, mf.GetType())
	}
	t.Fatalf("%s has no series with %v", name, want)
	return 0
}

func textfile(t *testing.T, st State, primary string, d time.Duration, dryRun bool) []byte {
	t.Helper()
	b, err := Textfile(st, primary, d, dryRun)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTextfile(t *testing.T) {
	s := NewState("spectrum")
	s.State = "SPECTRUM_DEGRADED"
	s.RedStreak, s.GreenStreak = 0, 7
	s.TransitionsTotal = 12
	s.RTTDeltaEWMAMs, s.RTTEWMAValid = 12.5, true
	s.LastRun = time.Date(2025, 6, 1, 12, 0, 0, 250e6, time.UTC)
	b := textfile(t, s, "spectrum", 42*time.Millisecond, false)
	lint(t, b)
	mfs := parse(t, b)
	wan := map[string]string{"wan": "spectrum", "dry_run": "false"}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
		typ    dto.MetricType
	}{
		{"wanctl_steering_degraded", wan, 1, dto.MetricType_GAUGE},
		{"wanctl_steering_streak", map[string]string{"wan": "spectrum", "kind": "green"}, 7, dto.MetricType_GAUGE},
		{"wanctl_steering_streak", map[string]string{"wan": "spectrum", "kind": "red"}, 0, dto.MetricType_GAUGE},
		{"wanctl_steering_transitions_total", wan, 12, dto.MetricType_COUNTER},
		{"wanctl_steering_rtt_delta_ewma_seconds", wan, 0.0125, dto.MetricType_GAUGE},
		{"wanctl_steering_last_run_timestamp_seconds", wan, 1748779200.25, dto.MetricType_GAUGE},
		{"wanctl_steering_run_duration_seconds", wan, 0.042, dto.MetricType_GAUGE},
	}
	for _, c := range checks {
		if got := value(t, mfs, c.name, c.labels); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
		if typ := mfs[c.name].GetType(); typ != c.typ {
			t.Errorf("%s type %v, want %v", c.name, typ, c.typ)
		}
	}

	// GOOD, never run, nothing measured.
	b = textfile(t, NewState("att"), "att", 0, false)
	lint(t, b)
	mfs = parse(t, b)
	if v := value(t, mfs, "wanctl_steering_degraded", map[string]string{"wan": "att"}); v != 0 {
		t.Errorf("GOOD: degraded = %v", v)
	}
	if _, ok := mfs["wanctl_steering_rtt_delta_ewma_seconds"]; ok {
		t.Error("rtt ewma exported before any measurement")
	}
}

func TestTextfileEscapesLabel(t *testing.T) {
	b := textfile(t, NewState("x"), "we\"ird\\wan\nname", time.Millisecond, false)
	mfs := parse(t, b)
	if v := value(t, mfs, "wanctl_steering_degraded", map[string]string{"wan": "we\"ird\\wan\nname"}); v != 0 {
		t.Errorf("degraded = %v", v)
	}
	if strings.Count(string(b), "\n# TYPE") != 5 {
		t.Errorf("want 5 families without an EWMA:\n%s", b)
	}
}

func BenchmarkTextfile(b *testing.B) {
	s := withHistory(10, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Textfile(s, "spectrum", time.Millisecond, false); err != nil {
			b.Fatal(err)
		}
	}
}

// The registry itself lints clean (client_golang's own linter), every
// series carries the dry_run label, and WriteTextfile writes what Textfile
// renders, readable by node_exporter (0644).
func TestTextfileRegistry(t *testing.T) {
	s := withHistory(10, 1000)
	s.State = "SPECTRUM_DEGRADED"
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry_run=%v", dry), func(t *testing.T) {
			reg := Registry(s, "spectrum", time.Millisecond, dry)
			problems, err := testutil.GatherAndLint(reg)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("lint: %s: %s", p.Metric, p.Text)
			}
			for _, name := range []string{"wanctl_steering_degraded", "wanctl_steering_streak", "wanctl_steering_transitions_total",
				"wanctl_steering_rtt_delta_ewma_seconds", "wanctl_steering_last_run_timestamp_seconds", "wanctl_steering_run_duration_seconds"} {
				if n, err := testutil.GatherAndCount(reg, name); err != nil || n == 0 {
					t.Errorf("%s: %d series, %v", name, n, err)
				}
			}
			path := filepath.Join(t.TempDir(), TextfileFileName)
			if err := WriteTextfile(path, s, "spectrum", time.Millisecond, dry); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := textfile(t, s, "spectrum", time.Millisecond, dry); !bytes.Equal(got, want) {
				t.Errorf("file:\n%s\nwant:\n%s", got, want)
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
				t.Errorf("mode %v %v, want 0644", st.Mode().Perm(), err)
			}
			mfs := parse(t, got)
			for name, mf := range mfs {
				for _, m := range mf.GetMetric() {
					var v string
					for _, l := range m.GetLabel() {
						if l.GetName() == "dry_run" {
							v = l.GetValue()
						}
					}
					if v != strconv.FormatBool(dry) {
						t.Errorf("%s: dry_run=%q, want %v", name, v, dry)
					}
				}
			}
		})
	}
}
