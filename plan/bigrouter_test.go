package plan

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// replyMeter serves an emulator and counts the reply bytes per menu, so a
// test sees what a read cost whatever request shape it took.
type replyMeter struct {
	emu *emulator.Emulator
	mu  sync.Mutex
	n   map[string]int
}

type countingWriter struct {
	http.ResponseWriter
	n int
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += n
	return n, err
}

func (m *replyMeter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &countingWriter{ResponseWriter: w}
	m.emu.ServeHTTP(cw, r)
	menu := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/rest/"), "/print")
	m.mu.Lock()
	m.n[menu] += cw.n
	m.mu.Unlock()
}

func (m *replyMeter) bytes(menu string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[menu]
}

func (m *replyMeter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n = map[string]int{}
}

// hugeRouter is an emulated router holding n foreign address-list entries
// (a blocklist) and n foreign routes in main and in a BGP-fed table.
func hugeRouter(tb testing.TB, n int) (*emulator.Emulator, *replyMeter, *config.Config) {
	tb.Helper()
	emu := emulator.New(emulator.Config{Username: "wanctl", Password: "pw"})
	meter := &replyMeter{emu: emu, n: map[string]int{}}
	srv := httptest.NewServer(meter)
	tb.Cleanup(srv.Close)
	if _, err := emu.AddObject(routeros.MenuRoutingTable, routeros.Object{"name": "bgp", "fib": ""}); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < n; i++ {
		a, b, c := i>>16&0xff, i>>8&0xff, i&0xff
		if _, err := emu.AddObject(routeros.MenuAddressList, routeros.Object{"list": "blocklist",
			"address": fmt.Sprintf("100.%d.%d.%d", 64+a, b, c)}); err != nil {
			tb.Fatal(err)
		}
		table := "main"
		if i%2 == 1 {
			table = "bgp"
		}
		if _, err := emu.AddObject(routeros.MenuRoute, routeros.Object{"dst-address": fmt.Sprintf("%d.%d.%d.0/24", 11+a, b, c),
			"gateway": "192.0.2.1", "routing-table": table}); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := parseConfig(tb, goldenConfig)
	cfg.Routers[0].URL = srv.URL
	cfg.Routers[0].Password = "pw"
	// wanctl's own routes and entries, as after an apply, so that the
	// filtered reads return something.
	for _, o := range DesiredState(cfg)[0].Objects {
		if o.Menu != routeros.MenuRoute && o.Menu != routeros.MenuAddressList && o.Menu != routeros.MenuRoutingTable {
			continue
		}
		f := routeros.Object{}
		for k, v := range o.Fields {
			if v != "" {
				f[k] = v
			}
		}
		if _, err := emu.AddObject(o.Menu, f); err != nil {
			tb.Fatal(err)
		}
	}
	return emu, meter, cfg
}

func connectClient(r *config.Router) (Reader, error) { return routeros.New(r.ClientConfig()) }

// TestPlanReadsOnlyWhatWanctlCanOwn plans against a router with thousands
// of foreign address-list entries and routes: the replies for those menus
// must hold wanctl's objects only, and what wanctl left behind (a removed
// WAN's table and route, a removed steering rule's list) is still read and
// deleted.
func TestPlanReadsOnlyWhatWanctlCanOwn(t *testing.T) {
	const foreign = 5000
	emu, meter, cfg := hugeRouter(t, foreign)
	add := func(menu string, o routeros.Object) {
		t.Helper()
		if _, err := emu.AddObject(menu, o); err != nil {
			t.Fatal(err)
		}
	}
	add(routeros.MenuRoutingTable, routeros.Object{"name": "wanctl-gone", "fib": "", "comment": Marker(RoutingTableAddress("gone"))})
	add(routeros.MenuRoute, routeros.Object{"dst-address": "0.0.0.0/0", "gateway": "192.0.2.9", "routing-table": "wanctl-gone",
		"comment": Marker(RouteAddress("gone"))})
	add(routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "mark-connection", "new-connection-mark": SteerConnectionMark,
		"src-address-list": "old-office", "comment": Marker(SteerRuleAddress("gone"))})
	add(routeros.MenuAddressList, routeros.Object{"list": "old-office", "address": "192.168.77.0/24",
		"comment": Marker(AddressListAddress("old-office", "192.168.77.0/24"))})

	p, err := Make(context.Background(), cfg, connectClient)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Errors) > 0 {
		t.Fatalf("plan errors: %v", p.Errors)
	}
	// Each of wanctl's objects is a few hundred bytes; one foreign object
	// more per menu would not break this, a whole menu of 5,000 would.
	for _, m := range []string{routeros.MenuAddressList, routeros.MenuRoute} {
		if b := meter.bytes(m); b == 0 || b > 8<<10 {
			t.Errorf("/%s: %d reply bytes, want wanctl's objects only (0 < bytes <= 8 KiB)", m, b)
		}
	}
	deleted := map[string]bool{}
	for _, c := range p.Changes {
		if c.Action == Delete {
			deleted[c.Address] = true
		}
		if c.Action == Create && c.Menu == routeros.MenuAddressList && c.After["list"] != NotSteeredList &&
			c.After["list"] != "work-laptops" {
			t.Errorf("unexpected address-list create %s", c.Address)
		}
	}
	for _, a := range []string{RoutingTableAddress("gone"), RouteAddress("gone"), SteerRuleAddress("gone"),
		AddressListAddress("old-office", "192.168.77.0/24")} {
		if !deleted[a] {
			t.Errorf("%s left behind: plan does not delete it", a)
		}
	}
	// A saved plan is re-read with its filters: the same objects, the same
	// fingerprint; read whole, the foreign routes would make it stale.
	rp := p.Routers[0]
	cl, err := connectClient(cfg.Routers[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		filters map[string]ReadFilter
		same    bool
	}{
		{"saved filters", rp.ReadFilters, true},
		{"no filters", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act, _, err := ReadActual(context.Background(), cl, rp.MenusRead, tc.filters)
			if err != nil {
				t.Fatal(err)
			}
			if same := Fingerprint(act) == rp.Fingerprint; same != tc.same {
				t.Errorf("re-read fingerprint matches the plan's: %v, want %v", same, tc.same)
			}
		})
	}
	f := rp.ReadFilters
	if got := f[routeros.MenuRoute].Values; strings.Join(got, ",") != "wanctl-att,wanctl-gone,wanctl-spectrum" {
		t.Errorf("route filter %v", got)
	}
	if got := f[routeros.MenuAddressList].Values; !strings.Contains(strings.Join(got, ","), "old-office") {
		t.Errorf("address-list filter %v lacks the list of a marked rule", got)
	}
}

// BenchmarkPlanHugeRouter plans the golden configuration against an
// emulated router holding 100,000 foreign address-list entries and 100,000
// foreign routes (half in main, half in a "bgp" table), 20 ms per request.
// "whole-menus" is what one GET of each of the two menus costs, the way
// plan read them before it filtered. WANCTL_HUGE_N changes the size.
//
//	go test ./plan -run '^$' -bench PlanHugeRouter -benchtime 5x
func BenchmarkPlanHugeRouter(b *testing.B) {
	n := 100_000
	if s := envInt(b, "WANCTL_HUGE_N"); s > 0 {
		n = s
	}
	emu, meter, cfg := hugeRouter(b, n)
	emu.SetLatency(20 * time.Millisecond)
	// The emulator walks and copies every row to answer a filtered print
	// (about a second per 10^5 rows on a loaded machine): the router's
	// 60 s cap, not the 2 s default, so the figure is the read's cost.
	cfg.Routers[0].Timeout = time.Minute
	b.Run("plan", func(b *testing.B) {
		meter.reset()
		emu.ClearRequests()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p, err := Make(context.Background(), cfg, connectClient)
			if err != nil {
				b.Fatal(err)
			}
			if len(p.Changes) == 0 {
				b.Fatal("no changes planned")
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(len(emu.Requests()))/float64(b.N), "requests/op")
		b.ReportMetric(float64(meter.bytes(routeros.MenuAddressList)+meter.bytes(routeros.MenuRoute))/float64(b.N), "big-menu-bytes/op")
	})
	// The two big menus alone, read the way plan does (one print with an
	// OR query each) and the alternatives: the whole menus (as before),
	// the whole menus narrowed to the fields that tell ownership
	// (.proplist, filtered client-side), and one GET per owned list or
	// table (a GET's equalities cannot OR).
	filters := DesiredState(cfg)[0].Filters
	for _, alt := range []struct {
		name string
		read func(cl *routeros.Client, menu string) error
	}{
		{"print-or", func(cl *routeros.Client, m string) error {
			_, err := cl.Print(context.Background(), m, filters[m].Query())
			return err
		}},
		{"whole-menus", func(cl *routeros.Client, m string) error {
			_, err := cl.List(context.Background(), m)
			return err
		}},
		{"proplist", func(cl *routeros.Client, m string) error {
			_, err := cl.Query(context.Background(), m, routeros.Query{Proplist: []string{".id", filters[m].Field, "comment"}})
			return err
		}},
		{"get-per-value", func(cl *routeros.Client, m string) error {
			for _, v := range filters[m].Values {
				if _, err := cl.Query(context.Background(), m, routeros.Query{Filter: map[string]string{filters[m].Field: v}}); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		b.Run(alt.name, func(b *testing.B) {
			cl, err := routeros.New(cfg.Routers[0].ClientConfig())
			if err != nil {
				b.Fatal(err)
			}
			meter.reset()
			emu.ClearRequests()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, m := range []string{routeros.MenuAddressList, routeros.MenuRoute} {
					if err := alt.read(cl, m); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(emu.Requests()))/float64(b.N), "requests/op")
			b.ReportMetric(float64(meter.bytes(routeros.MenuAddressList)+meter.bytes(routeros.MenuRoute))/float64(b.N), "big-menu-bytes/op")
		})
	}
}

func envInt(tb testing.TB, name string) int {
	tb.Helper()
	var n int
	if s, ok := os.LookupEnv(name); ok {
		if _, err := fmt.Sscan(s, &n); err != nil {
			tb.Fatalf("%s=%q: %v", name, s, err)
		}
	}
	return n
}
