package autorate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// The Grafana dashboard and the alerting rules in contrib/ use only metric
// names that exist: autorate's (its registry, with every series the daemon
// creates) and steer's (the names in its textfile's source). A renamed
// metric fails here rather than as an empty panel or an alert that can
// never fire.
func TestContribUsesExistingMetrics(t *testing.T) {
	known := autorateMetricNames(t)
	steer := steerMetricNames(t)
	for n := range steer {
		known[n] = true
	}

	rules, err := os.ReadFile(filepath.Join("..", "..", "contrib", "prometheus", "wanctl.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	exprs := ruleExprs(t, string(rules))
	if len(exprs) < 4 {
		t.Fatalf("%d expr lines in the rules", len(exprs))
	}
	dash, err := os.ReadFile(filepath.Join("..", "..", "contrib", "grafana", "wanctl.json"))
	if err != nil {
		t.Fatal(err)
	}
	dashExprs := dashboardQueries(t, dash)
	if len(dashExprs) < 10 {
		t.Fatalf("%d queries in the dashboard", len(dashExprs))
	}

	used := map[string]bool{}
	for file, list := range map[string][]string{"wanctl.rules.yml": exprs, "wanctl.json": dashExprs} {
		for _, e := range list {
			names := promqlMetricNames(e)
			if len(names) == 0 {
				t.Errorf("%s: no metric in %q", file, e)
			}
			for _, n := range names {
				used[n] = true
				if !known[n] {
					t.Errorf("%s: %q uses %s, which no wanctl registry has", file, e, n)
				}
			}
		}
		// Names in comments, annotations and descriptions too.
		b := rules
		if file == "wanctl.json" {
			b = dash
		}
		for _, n := range wanctlName.FindAllString(string(b), -1) {
			if !known[n] {
				t.Errorf("%s mentions %s, which no wanctl registry has", file, n)
			}
		}
	}
	// What the issue asked the rules to alert on.
	for _, n := range []string{"wanctl_controlling", "wanctl_router_reachable", "wanctl_steering_degraded", "wanctl_shaper_rate_floor_bits_per_second"} {
		if !strings.Contains(strings.Join(exprs, "\n"), n) {
			t.Errorf("no alert uses %s", n)
		}
	}
}

// wanctlName finds what looks like a wanctl metric name (with a histogram's
// suffixes) anywhere in a file.
var wanctlName = regexp.MustCompile(`\bwanctl_[a-z0-9_]+\b`)

// autorateMetricNames returns every name the daemon's registry exposes,
// with _bucket, _sum and _count for histograms and summaries.
func autorateMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	f, err := newDaemonFixture(t, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.d.Close()
	// Counter reads exist only with an executor that reads counters:
	// create the router's series as that daemon would.
	f.d.metrics.readObserver("edge")
	mfs, err := f.d.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		}
	}
	for _, n := range []string{"wanctl_controlling", "wanctl_router_reads_total", "process_cpu_seconds_total", "go_goroutines"} {
		if !names[n] {
			t.Fatalf("the registry lacks %s: the list of names is incomplete", n)
		}
	}
	return names
}

// steerMetricNames returns the metric names steer's textfile source
// declares (string literals "wanctl_steering_..."): the names are its
// contract, however the file is rendered.
func steerMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "steer", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	lit := regexp.MustCompile(`"(wanctl_steering_[a-z0-9_]+)"`)
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	if !names["wanctl_steering_degraded"] || !names["wanctl_steering_last_run_timestamp_seconds"] {
		t.Fatalf("steer's metric names not found in loops/steer (found %v)", names)
	}
	return names
}

// ruleExprs returns the rules file's expr: values. Each has to be on one
// line (no block scalars), so that this reading misses none.
func ruleExprs(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for i, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "expr:")
		if !ok || k != "" {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || v[0] == '|' || v[0] == '>' {
			t.Errorf("wanctl.rules.yml:%d: write expr on one line", i+1)
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, v)
	}
	return out
}

// dashboardQueries returns every PromQL string of the dashboard: panel
// targets' expr and template variables' queries.
func dashboardQueries(t *testing.T, b []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("wanctl.json: %v", err)
	}
	var out []string
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k], k)
			}
		case []any:
			for _, e := range x {
				walk(e, key)
			}
		case string:
			if key == "expr" || (key == "query" && strings.HasPrefix(x, "label_values(")) {
				out = append(out, x)
			}
		}
	}
	walk(doc, "")
	return out
}

var (
	promqlString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlVariable = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	promqlLabelArg = regexp.MustCompile(`\blabel_values\(([^,()]*),[^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// promqlMetricNames returns the metric names an expression selects: the
// identifiers left once strings, label matchers, ranges, grouping label
// lists, dashboard variables, functions and keywords are taken out. A
// rough reading, enough for the expressions contrib/ holds.
func promqlMetricNames(e string) []string {
	e = promqlString.ReplaceAllString(e, `""`)
	e = promqlLabelArg.ReplaceAllString(e, "$1")
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlVariable.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, m := range promqlIdent.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") || promqlKeywords[strings.ToLower(m)] {
			continue // a function call or an operator
		}
		out = append(out, m)
	}
	return out
}

func TestPromQLMetricNames(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{`wanctl_controlling == 0`, "wanctl_controlling"},
		{`time() - wanctl_steering_last_run_timestamp_seconds > 300`, "wanctl_steering_last_run_timestamp_seconds"},
		{`sum by (wan, result) (rate(wanctl_router_writes_total{job=~"$job",wan=~"$wan"}[$__rate_interval]))`, "wanctl_router_writes_total"},
		{`histogram_quantile(0.99, sum by (le) (rate(wanctl_cycle_duration_seconds_bucket[5m])))`, "wanctl_cycle_duration_seconds_bucket"},
		{`a <= on (wan, direction) group_left (zone) b`, "a b"},
		{`label_values(wanctl_controlling{job=~"$job"}, wan)`, "wanctl_controlling"},
		{`(time() - x{job=~"$job"}) * (y == bool 0)`, "x y"},
		{`max by (wan, zone) (wanctl_zone{direction="up by (x)"}) > 0`, "wanctl_zone"},
	} {
		t.Run(c.expr, func(t *testing.T) {
			if got := strings.Join(promqlMetricNames(c.expr), " "); got != c.want {
				t.Fatalf("names %q, want %q", got, c.want)
			}
		})
	}
}
