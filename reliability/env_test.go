//go:build reliability

package reliability

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wanctl/wanctl/apply"
	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// example is the configuration every scenario converges to: the shipped
// two-WAN example with steering, as an operator would apply it.
const example = "../examples/dual-wan-steering.hcl"

// clientTimeout is the router timeout of the suite's clients. Faults that
// hold a request until the client gives up cost this much each; it is far
// above what the emulator needs without latency, and than a reply takes
// on a machine busy with other tests (at 400 ms a loaded run lost reads).
const clientTimeout = time.Second

// managedMenus are the menus apply writes to; their contents are compared
// with a fault-free run's to find duplicates and orphans.
var managedMenus = []string{
	routeros.MenuQueueType, routeros.MenuQueueTree, routeros.MenuMangle, routeros.MenuAddressList,
	routeros.MenuRoutingTable, routeros.MenuRoutingRule, routeros.MenuRoute,
}

// router is an emulated router behind a handler that can arm a fault for
// the n-th write of one HTTP method: the emulator's own matching takes the
// next matching request, so a fault at a later position is injected just
// before that request reaches it.
type router struct {
	t   testing.TB
	emu *emulator.Emulator
	url string

	mu    sync.Mutex
	armed *trigger
	// intercept, when set, sees every request first; true means it
	// answered (or dropped) the request itself.
	intercept func(w http.ResponseWriter, req *http.Request) bool
}

type trigger struct {
	method string
	read   bool // count reads (GET, print) of method, not writes
	n      int  // 1-based position among the method's writes (reads)
	fault  emulator.Fault
	seen   int
}

func newRouter(t testing.TB) *router {
	t.Helper()
	r := &router{t: t, emu: emulator.New(emulator.Config{Username: "wanctl", Password: "pw"})}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	// defconf FastTracks; an operator turns that off before the first apply.
	for _, f := range r.emu.Objects(routeros.MenuFilter) {
		if f["action"] == "fasttrack-connection" {
			if err := r.emu.SetObject(routeros.MenuFilter, f.ID(), routeros.Object{"disabled": "true"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return r
}

// isWrite: what the emulator counts as a write (not GET, not a print).
func isWrite(method, path string) bool {
	return method != http.MethodGet && !(method == http.MethodPost && strings.HasSuffix(strings.TrimRight(path, "/"), "/print"))
}

func (r *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	if r.intercept != nil && r.intercept(w, req) {
		r.mu.Unlock()
		return
	}
	if tr := r.armed; tr != nil && req.Method == tr.method && isWrite(req.Method, req.URL.Path) != tr.read {
		tr.seen++
		if tr.seen == tr.n {
			r.emu.Inject(tr.fault)
			r.armed = nil
		}
	}
	r.mu.Unlock()
	r.emu.ServeHTTP(w, req)
}

// arm injects f (limited to method) at the n-th write of method from now.
func (r *router) arm(method string, n int, f emulator.Fault) {
	f.Method, f.Count = method, 1
	r.mu.Lock()
	r.armed = &trigger{method: method, n: n, fault: f}
	r.mu.Unlock()
}

// armRead injects f (limited to GET, its Count kept) at the n-th GET
// from now.
func (r *router) armRead(n int, f emulator.Fault) {
	f.Method = http.MethodGet
	r.mu.Lock()
	r.armed = &trigger{method: http.MethodGet, read: true, n: n, fault: f}
	r.mu.Unlock()
}

// fired reports whether the armed fault was injected (and disarms it).
func (r *router) fired() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := r.armed == nil
	r.armed = nil
	return ok
}

var urlLine = regexp.MustCompile(`(?m)^(\s*url\s*=\s*)"https://192\.168\.88\.1"`)

// config is the example with its router pointed at r, edited by the
// replacements (old, new pairs; each must occur), then extra appended.
func (r *router) config(extra string, edits ...string) *config.Config {
	r.t.Helper()
	src := r.configSource(extra, edits...)
	cfg, diags := config.Parse("wanctl.hcl", []byte(src), config.Options{
		LookupEnv: func(k string) (string, bool) { return "pw", k == "WANCTL_ROUTER_PASSWORD" },
	})
	if cfg == nil {
		var sb strings.Builder
		diags.WriteText(&sb, false)
		r.t.Fatalf("configuration does not parse:\n%s", sb.String())
	}
	return cfg
}

// configSource is the text config parses, for a wanctl run as a process.
func (r *router) configSource(extra string, edits ...string) string {
	r.t.Helper()
	b, err := os.ReadFile(example)
	if err != nil {
		r.t.Fatal(err)
	}
	src := urlLine.ReplaceAllString(string(b), fmt.Sprintf("${1}%q", r.url))
	if src == string(b) {
		r.t.Fatalf("%s: no url line to point at the emulator", example)
	}
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(src, edits[i]) {
			r.t.Fatalf("%s: no %q to edit", example, edits[i])
		}
		src = strings.Replace(src, edits[i], edits[i+1], 1)
	}
	return src + extra
}

func (r *router) client(cfg *config.Config) *routeros.Client {
	r.t.Helper()
	cc := cfg.Routers[0].ClientConfig()
	cc.Timeout = clientTimeout
	c, err := routeros.New(cc)
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

func (r *router) plan(cfg *config.Config) (*plan.Plan, error) {
	c := r.client(cfg)
	p, err := plan.Make(context.Background(), cfg, func(*config.Router) (plan.Reader, error) { return c, nil })
	if err == nil && len(p.Errors) > 0 {
		err = fmt.Errorf("plan has errors: %s", describe(p))
	}
	return p, err
}

func (r *router) apply(cfg *config.Config, p *plan.Plan) error {
	_, err := apply.Apply(context.Background(), p, map[string]apply.Client{cfg.Routers[0].Name: r.client(cfg)}, io.Discard)
	return err
}

// planApply plans and applies once; the plan's own failure is returned as is.
func (r *router) planApply(cfg *config.Config) error {
	p, err := r.plan(cfg)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if !p.HasChanges() {
		return nil
	}
	return r.apply(cfg, p)
}

// noChanges fails unless the plan renders "No changes.".
func (r *router) noChanges(cfg *config.Config) error {
	p, err := r.plan(cfg)
	if err != nil {
		return err
	}
	var sb strings.Builder
	if err := p.WriteText(&sb, false); err != nil {
		return err
	}
	if !strings.Contains(sb.String(), "No changes.") {
		return fmt.Errorf("plan after one more apply: %s", describe(p))
	}
	return nil
}

// inventory is every object of the managed menus, by menu, as sorted keys.
type inventory map[string][]string

func (r *router) inventory() inventory {
	inv := inventory{}
	for _, m := range managedMenus {
		var keys []string
		for _, o := range r.emu.Objects(m) {
			keys = append(keys, key(m, o))
		}
		sort.Strings(keys)
		inv[m] = keys
	}
	return inv
}

// key names an object the way its menu keeps it unique, or would if wanctl
// created it twice.
func key(menu string, o routeros.Object) string {
	switch menu {
	case routeros.MenuAddressList:
		return o["list"] + " " + o["address"]
	case routeros.MenuRoute:
		return o["dst-address"] + " " + o["routing-table"] + " " + o["gateway"]
	case routeros.MenuRoutingRule:
		return o["comment"] + " " + o["routing-mark"] + " " + o["table"]
	}
	if o["name"] != "" {
		return o["name"]
	}
	return o["comment"] + " " + o["chain"] + " " + o["action"]
}

// diff names what got duplicated or left behind relative to want.
func (got inventory) diff(want inventory) string {
	var out []string
	for _, m := range managedMenus {
		count := map[string]int{}
		for _, k := range want[m] {
			count[k]++
		}
		for _, k := range got[m] {
			count[k]--
		}
		for k, n := range count {
			switch {
			case n < 0:
				out = append(out, fmt.Sprintf("%s: %d extra %q (duplicate or orphan)", m, -n, k))
			case n > 0:
				out = append(out, fmt.Sprintf("%s: %d missing %q", m, n, k))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func describe(p *plan.Plan) string {
	var parts []string
	for _, c := range p.Changes {
		parts = append(parts, fmt.Sprintf("%s %s %q", c.Action, c.Address, c.Name))
	}
	for _, d := range p.Errors {
		parts = append(parts, "error: "+d.Summary)
	}
	for _, w := range p.Warnings {
		parts = append(parts, "warning: "+w.Summary)
	}
	return strings.Join(parts, "; ")
}

// writes returns the write requests since the last ClearRequests.
func (r *router) writes() []string {
	var out []string
	for _, q := range r.emu.Requests() {
		if isWrite(q.Method, q.Path) {
			out = append(out, q.Method+" "+q.Path)
		}
	}
	return out
}

// heapPeak runs f while sampling the heap, and returns the highest heap
// in use above what was in use before f.
func heapPeak(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > max {
				max = ms.HeapAlloc
			}
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	m := <-peak
	if m < base {
		return 0
	}
	return m - base
}
