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
	Bounds []struct {
		Scenario        string  `json:"scenario"`
		LagMS           float64 `json:"lag_ms"`
		IncreaseEveryMS float64 `json:"increase_every_ms"`
		Points          []struct {
			Factor   float64   `json:"factor"`
			Download simScores `json:"download"`
			Upload   simScores `json:"upload"`
		} `json:"points"`
	} `json:"bounds"`
}

type simScores struct {
	Utilisation  float64 `json:"utilisation"`
	AddedDelayMS struct {
		P50 float64 `json:"p50"`
		P95 float64 `json:"p95"`
		P99 float64 `json:"p99"`
	} `json:"added_delay_ms"`
	RecoveryS     float64   `json:"recovery_s"`
	WritesPerHour float64   `json:"writes_per_hour"`
	AboveMaxS     float64   `json:"above_2x_target_s"`
	AboveMeanS    float64   `json:"above_2x_target_mean_s"`
	AboveEventsS  []float64 `json:"above_2x_target_events_s"`
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
		// Elastic load: the oracle's utilisation is at most its 95 %
		// (slow start, backoff), zero in a direction never loaded.
		down, up := s.Name != "upload-only", s.Name != "download-only"
		if o := s.Oracle.Utilisation; (down && (o < 0.5 || o > 0.95+1e-9)) || (!down && o != 0) || (down && (s.Wanctl.Utilisation <= 0 || s.Fixed.Utilisation <= 0)) {
			t.Errorf("%s: utilisation wanctl %v oracle %v fixed %v", s.Name, s.Wanctl.Utilisation, s.Oracle.Utilisation, s.Fixed.Utilisation)
		}
		if s.Peer == nil || (down && s.Peer.Utilisation <= 0) {
			t.Errorf("%s: cake_autorate %+v, want the peer's scores", s.Name, s.Peer)
		}
		if len(s.Upload) != 4 || (up && (s.Upload["wanctl"].Utilisation <= 0 || s.Upload["cake_autorate"].Utilisation <= 0 || s.Upload["oracle"].Utilisation <= 0)) {
			t.Errorf("%s: upload %+v", s.Name, s.Upload)
		}
		// The oracle's download is above 2 x target only briefly: each load
		// onset's slow-start burst and starlink's dips queue in the ISP
		// FIFO before its CAKE (sim: the download's ISP FIFO comes before
		// the shaper).
		oracleAbove := 0.5
		if s.Fixed.AboveMaxS < s.Fixed.AboveMeanS || s.Oracle.AboveMaxS > oracleAbove {
			t.Errorf("%s: time above 2 x target: fixed %v/%v, oracle %v", s.Name, s.Fixed.AboveMaxS, s.Fixed.AboveMeanS, s.Oracle.AboveMaxS)
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
		"step-drop", "download", "upload", "wanctl", "cake-autorate", "oracle", "fixed", "p99 ms", ">2x s", "writes/h",
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

// -bound adds the delayed oracle's frontier: one per scenario, the
// factors from 95 % down, and knowing the capacity late costs delay.
func TestSimulateBound(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "drop.csv")
	os.WriteFile(trace, []byte("t_seconds,capacity_bps,upload_bps\n0,500M,50M\n8,200M,20M\n14,500M,50M\n20,500M,50M\n"), 0o644)
	bound := func(lag string) simDoc {
		t.Helper()
		code, out, errOut := run(t, nil, "", "simulate", "-trace", trace, "-bound", lag, "-json")
		if code != 0 {
			t.Fatalf("-bound %s: exit %d: %s", lag, code, errOut)
		}
		doc := decodeSim(t, out)
		if len(doc.Bounds) != 1 || doc.Bounds[0].Scenario != "trace:drop.csv" || doc.Bounds[0].IncreaseEveryMS != 1000 {
			t.Fatalf("-bound %s: bounds %+v", lag, doc.Bounds)
		}
		if p := doc.Bounds[0].Points; len(p) != len(sim.BoundFactors) || p[0].Factor != 0.95 || p[len(p)-1].Factor != 0.5 {
			t.Fatalf("-bound %s: points %+v", lag, p)
		}
		return doc
	}
	now, late := bound("0s"), bound("500ms")
	if late.Bounds[0].LagMS != 500 {
		t.Errorf("lag_ms %v, want 500", late.Bounds[0].LagMS)
	}
	// Knowing the capacity at once, 95 % of it is the oracle's own rate.
	o, b := now.Scenarios[0].Oracle, now.Bounds[0].Points[0].Download
	if d := b.Utilisation - o.Utilisation; d < -0.02 || d > 0.02 {
		t.Errorf("bound at 0 ms, 95 %%: utilisation %v, the oracle's %v", b.Utilisation, o.Utilisation)
	}
	// 500 ms late through a drop to 40 %: the upload's queue builds, the
	// download's elastic flows back off and carry less.
	p0, p1 := now.Bounds[0].Points[0], late.Bounds[0].Points[0]
	if p1.Upload.AddedDelayMS.P99 <= p0.Upload.AddedDelayMS.P99+10 {
		t.Errorf("upload: p99 %v ms 500 ms late, %v ms at once: lateness costs nothing?", p1.Upload.AddedDelayMS.P99, p0.Upload.AddedDelayMS.P99)
	}
	if p1.Download.Utilisation >= p0.Download.Utilisation {
		t.Errorf("download: utilisation %v 500 ms late, %v at once", p1.Download.Utilisation, p0.Download.Utilisation)
	}
	code, out, errOut := run(t, nil, "", "simulate", "-trace", trace, "-bound", "200ms")
	if code != 0 || !strings.Contains(out, "capacity known") || !strings.Contains(out, "200 ms late") || !strings.Contains(out, "learns them from round trips") {
		t.Errorf("text: exit %d\n%s\n%s", code, out, errOut)
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
		{[]string{"-load", "tcp"}, []string{"-load", `"tcp"`, "saturating or elastic"}},
		{[]string{"-jitter-dist", "normal"}, []string{"-jitter-dist", "exp, pareto or lognormal"}},
		{[]string{"-jitter", "-1ms"}, []string{"-jitter -1ms"}},
		{[]string{"-base-rtt", "40ms-10ms"}, []string{"-base-rtt", "40ms-10ms"}},
		{[]string{"-write-latency", "0s"}, []string{"-write-latency 0s"}},
		{[]string{"-ping-rate", "500"}, []string{"-ping-rate 500", "1..100"}},
		{[]string{"-isp-buffer", "0s"}, []string{"-isp-buffer 0s"}},
		{[]string{"-flows", "0"}, []string{"-flows 0"}},
		{[]string{"-nominal", "50M"}, []string{`-nominal "50M"`, "DOWN/UP", "50M/10M"}},
		{[]string{"-nominal", "50M/x"}, []string{`-nominal "50M/x"`}},
		{[]string{"-nominal", "50M/10M", "-config", "../examples/single-wan.hcl"}, []string{"-nominal sizes the built-in example WAN"}},
		{[]string{"-idle-load", "1"}, []string{"-idle-load 1", "0 to below 1"}},
		{[]string{"-shaper", "fq"}, []string{"-shaper", `"fq"`, "cake or htb"}},
		{[]string{"-matrix", "-shaper", "htb"}, []string{"drop -shaper"}},
		{[]string{"-seeds", "3"}, []string{"-seeds only applies to -matrix"}},
		{[]string{"-matrix", "-jitter", "3ms"}, []string{"-matrix varies the link itself: drop -jitter"}},
		{[]string{"-matrix", "-trace", "x.csv"}, []string{"drop -trace"}},
		{[]string{"-matrix", "-bound", "-5ms"}, []string{"-bound -5ms"}},
		{[]string{"-bound", "-1s"}, []string{"-bound -1s", "0..10s"}},
		{[]string{"-matrix", "-seeds", "0"}, []string{"-seeds 0"}},
		{[]string{"-ablate", "turns"}, []string{"-ablate only applies to -matrix"}},
		{[]string{"-matrix", "-ablate", "nope"}, []string{`unknown rule "nope"`, "capacity-cut"}},
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

// The link flags reach the model: each changes the figures, the same
// flags give the same document, and the v1 model (saturating load, 1 ms
// exponential jitter) is still there.
func TestSimulateLinkFlags(t *testing.T) {
	sim1 := func(args ...string) string {
		t.Helper()
		code, out, errOut := run(t, nil, "", append([]string{"simulate", "-scenario", "step-drop", "-duration", "20s", "-json"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	def := sim1()
	if again := sim1("-load", "elastic", "-flows", "4", "-base-rtt", "8ms-25ms", "-write-latency", "30ms", "-isp-buffer", "500ms",
		"-idle-load", "0.01", "-shaper", "cake", "-nominal", "500M/50M"); again != def {
		t.Error("the defaults spelt out give another document")
	}
	for _, args := range [][]string{
		{"-load", "saturating"}, {"-flows", "1"}, {"-jitter", "5ms"}, {"-jitter-dist", "pareto"}, {"-base-rtt", "60ms"},
		{"-write-latency", "150ms"}, {"-ping-rate", "10"}, {"-isp-buffer", "20ms"},
		{"-shaper", "htb"}, {"-nominal", "50M/10M"}, {"-timestamps"},
	} {
		if sim1(args...) == def {
			t.Errorf("%v changed nothing", args)
		}
	}
	if sim1("-timestamps=false") != def {
		t.Error("-timestamps=false is not the example's round trips")
	}
	code, out, errOut := run(t, nil, "", "simulate", "-scenario", "steady", "-duration", "10s", "-timestamps")
	if code != 0 || !strings.Contains(out, "seed 1, one-way delays (ICMP timestamps)\n") {
		t.Errorf("-timestamps: exit %d, header not saying so:\n%s%s", code, out, errOut)
	}
	// The idle phases' traffic reaches the scores only through what it
	// leaves queued: idle-then-burst's capacity halves while idle.
	if sim1("-scenario", "idle-then-burst", "-idle-load", "0.6") == sim1("-scenario", "idle-then-burst") {
		t.Error("-idle-load 0.6 changed nothing in idle-then-burst")
	}
}

func TestSimulateMatrix(t *testing.T) {
	code, out, errOut := run(t, nil, "", "simulate", "-matrix", "-scenario", "step-drop", "-duration", "10s", "-seeds", "2", "-lhs", "1")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d\nstderr: %s", code, errOut)
	}
	for _, want := range []string{"wan example", "seeds 1..2", "32 cells: 16 points x 2 seeds", "step-drop", "wanctl", "fixed", "oracle", "bar met", "ping_rate"} {
		if !strings.Contains(out, want) {
			t.Errorf("matrix table lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = run(t, nil, "", "simulate", "-matrix", "-json", "-scenario", "steady", "-duration", "10s", "-seeds", "1", "-lhs", "0", "-ablate", "turns,jitter-floor", "-bound", "100ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Cells   int `json:"cells"`
		Summary []struct {
			Scenario, Shaper string
			Runs, Met        int
			Fraction         float64
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("-matrix -json: %v\n%s", err, out)
	}
	// steady and all, x wanctl, cake-autorate, the two ablations, fixed, oracle, bound
	if doc.Cells != 15 || len(doc.Summary) != 14 {
		t.Errorf("cells %d, %d summaries:\n%s", doc.Cells, len(doc.Summary), out)
	}
	shapers := map[string]bool{}
	for _, s := range doc.Summary {
		shapers[s.Shaper] = true
	}
	for _, want := range []string{"wanctl", "cake-autorate", "wanctl-no-turns", "wanctl-no-jitter-floor", "fixed", "oracle", "bound"} {
		if !shapers[want] {
			t.Errorf("no %s in the matrix summary: %v", want, shapers)
		}
	}
	for _, s := range doc.Summary {
		if s.Runs != 15 || s.Fraction < 0 || s.Fraction > 1 || (s.Shaper == "oracle" && s.Met != 15) {
			t.Errorf("summary %+v", s)
		}
	}
}
