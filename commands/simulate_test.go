package commands

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/sim"
)

// simDoc mirrors the -json document of DESIGN.md, decoded strictly.
type simDoc struct {
	FormatVersion int     `json:"format_version"`
	TargetBloatMS float64 `json:"target_bloat_ms"`
	Scenarios     []struct {
		Name   string               `json:"name"`
		Seed   int64                `json:"seed"`
		Wanctl simScores            `json:"wanctl"`
		Peer   *simScores           `json:"cake_autorate"`
		Oracle simScores            `json:"oracle"`
		Fixed  simScores            `json:"fixed"`
		Upload map[string]simScores `json:"upload"`
	} `json:"scenarios"`
}

type simScores struct {
	Utilisation  float64 `json:"utilisation"`
	AddedDelayMS struct {
		P50 float64 `json:"p50"`
		P95 float64 `json:"p95"`
		P99 float64 `json:"p99"`
	} `json:"added_delay_ms"`
	RecoveryS     float64 `json:"recovery_s"`
	WritesPerHour float64 `json:"writes_per_hour"`
}

func decodeSim(t *testing.T, out string) simDoc {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var doc simDoc
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("-json output does not decode: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document:\n%s", out)
	}
	return doc
}

func TestSimulateAllJSON(t *testing.T) {
	code, out, errOut := run(t, nil, "", "simulate", "-json", "-duration", "20s")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d\nstderr: %s", code, errOut)
	}
	doc := decodeSim(t, out)
	if doc.FormatVersion != 1 || doc.TargetBloatMS != 15 {
		t.Errorf("header %+v", doc)
	}
	names := sim.ScenarioNames()
	if len(doc.Scenarios) != len(names) {
		t.Fatalf("%d scenarios, want every built-in one (%v)", len(doc.Scenarios), names)
	}
	for i, s := range doc.Scenarios {
		if s.Name != names[i] || s.Seed != 1 {
			t.Errorf("scenario %d: %s seed %d, want %s seed 1", i, s.Name, s.Seed, names[i])
		}
		if s.Oracle.Utilisation < 0.94 || s.Oracle.Utilisation > 0.96 || s.Wanctl.Utilisation <= 0 || s.Fixed.Utilisation <= 0 {
			t.Errorf("%s: utilisation wanctl %v oracle %v fixed %v", s.Name, s.Wanctl.Utilisation, s.Oracle.Utilisation, s.Fixed.Utilisation)
		}
		if s.Peer == nil || s.Peer.Utilisation <= 0 || s.Peer.WritesPerHour <= 0 {
			t.Errorf("%s: cake_autorate %+v, want the peer's scores", s.Name, s.Peer)
		}
		if len(s.Upload) != 4 || s.Upload["wanctl"].Utilisation <= 0 || s.Upload["cake_autorate"].Utilisation <= 0 || s.Upload["oracle"].Utilisation <= 0 {
			t.Errorf("%s: upload %+v", s.Name, s.Upload)
		}
		if s.Fixed.WritesPerHour != 0 || s.Oracle.WritesPerHour != 0 {
			t.Errorf("%s: the references never write: %+v", s.Name, s)
		}
	}
}

func TestSimulateTextAndSVG(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "plot.svg")
	code, out, errOut := run(t, nil, "", "simulate", "-scenario", "step-drop", "-seed", "3", "-svg", svg)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d\nstderr: %s", code, errOut)
	}
	for _, want := range []string{
		"wan example from built-in example", "ceiling 450M", "seed 3",
		"step-drop", "download", "upload", "wanctl", "cake-autorate", "oracle", "fixed", "p99 ms", "writes/h",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "steady") {
		t.Errorf("-scenario step-drop ran other scenarios:\n%s", out)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "<?xml") || !strings.Contains(string(b), "</svg>") || !strings.Contains(string(b), "step-drop") {
		t.Errorf("-svg wrote %d bytes that are not the plot", len(b))
	}
}

// The same seed gives the same document; another seed another link.
func TestSimulateSeed(t *testing.T) {
	a := func(seed string) string {
		code, out, errOut := run(t, nil, "", "simulate", "-scenario", "lte", "-duration", "15s", "-seed", seed, "-json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		return out
	}
	first, again, other := a("7"), a("7"), a("8")
	if first != again {
		t.Error("two runs with seed 7 differ")
	}
	if first == other {
		t.Error("seeds 7 and 8 gave the same link")
	}
}

func TestSimulateTrace(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "drop.csv")
	os.WriteFile(good, []byte("t_seconds,capacity_bps,upload_bps\n0,500M,50M\n8,200M,50M\n14,500M,50M\n20,500M,50M\n"), 0o644)
	code, out, errOut := run(t, nil, "", "simulate", "-trace", good, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	doc := decodeSim(t, out)
	if len(doc.Scenarios) != 1 || doc.Scenarios[0].Name != "trace:drop.csv" {
		t.Fatalf("scenarios %+v", doc.Scenarios)
	}
	if p := doc.Scenarios[0].Peer; p == nil || p.Utilisation <= 0 {
		t.Errorf("a trace shows cake-autorate too: %+v", p)
	}

	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("t_seconds,capacity_bps\n0,500M\n5,abc\n"), 0o644)
	code, _, errOut = run(t, nil, "", "simulate", "-trace", bad)
	if code != 1 || !strings.Contains(errOut, "bad.csv:3:") || !strings.Contains(errOut, `"abc"`) {
		t.Errorf("bad trace: exit %d, stderr %q", code, errOut)
	}
}

func TestSimulateConfig(t *testing.T) {
	// A file's WAN is simulated; its env() secret need not be set.
	code, out, errOut := run(t, nil, "", "simulate", "-config", "../examples/dual-wan-steering.hcl", "-wan", "fibre", "-scenario", "steady", "-duration", "10s")
	if code != 0 || !strings.Contains(out, "wan fibre from ../examples/dual-wan-steering.hcl") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	// $WANCTL_CONFIG is honoured like -config.
	code, out, _ = run(t, map[string]string{"WANCTL_CONFIG": "../examples/single-wan.hcl"}, "", "simulate", "-scenario", "steady", "-duration", "10s")
	if code != 0 || !strings.Contains(out, "wan isp from ../examples/single-wan.hcl") {
		t.Errorf("WANCTL_CONFIG: exit %d\n%s", code, out)
	}
}

func TestSimulateErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-scenario", "sunny"}, []string{`unknown scenario "sunny"`, "steady", "step-drop", "icmp-blackout", "or all"}},
		{[]string{"-duration", "2s"}, []string{"-duration 2s", "10s"}},
		{[]string{"-trace", "x.csv", "-scenario", "lte"}, []string{"-trace and -scenario exclude each other"}},
		{[]string{"-trace", "/nonexistent/t.csv"}, []string{"/nonexistent/t.csv", "no such file"}},
		{[]string{"-config", "../examples/dual-wan-steering.hcl"}, []string{"declares 2 WANs", "cable", "fibre", "-wan NAME"}},
		{[]string{"-config", "../examples/single-wan.hcl", "-wan", "nope"}, []string{`-wan "nope"`, "declared: isp"}},
		{[]string{"-config", "../config/testdata/invalid/five-mistakes.hcl"}, []string{"is invalid", "wanctl validate"}},
		{[]string{"extra"}, []string{"takes no arguments"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, nil, "", append([]string{"simulate"}, tc.args...)...)
			if code != 1 || out != "" {
				t.Errorf("%v: exit %d, stdout %q", tc.args, code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("%v: stderr lacks %q:\n%s", tc.args, w, errOut)
				}
			}
		})
	}
}
