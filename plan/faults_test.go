package plan_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/apply"
	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// routerEnv is the emulated router the configurations point at, read and
// written with the production client.
type routerEnv struct {
	t   *testing.T
	emu *emulator.Emulator
	url string
}

func newRouterEnv(t *testing.T) *routerEnv {
	emu, srv := testenv.Emulator(t, emulator.Config{Username: "wanctl", Password: "pw"})
	return &routerEnv{t: t, emu: emu, url: srv.URL}
}

func (e *routerEnv) config(o testenv.DualWAN) *config.Config {
	e.t.Helper()
	src := fmt.Sprintf("router \"edge\" {\n  url          = %q\n  username     = \"wanctl\"\n  password     = \"pw\"\n  host_address = \"192.168.88.10\"\n  allow_fasttrack = true\n}\n", e.url) +
		testenv.DualWANConfig(o)
	cfg, diags := config.Parse("test.hcl", []byte(src), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if cfg == nil {
		e.t.Fatalf("config does not parse: %v", diags)
	}
	return cfg
}

func (e *routerEnv) client() *routeros.Client {
	e.t.Helper()
	c, err := routeros.New(routeros.Config{Name: "edge", URL: e.url, Username: "wanctl", Password: routeros.Secret("pw")})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *routerEnv) plan(cfg *config.Config) (*plan.Plan, error) {
	c := e.client()
	return plan.Make(context.Background(), cfg, func(*config.Router) (plan.Reader, error) { return c, nil })
}

func (e *routerEnv) apply(p *plan.Plan) error {
	_, err := apply.Apply(context.Background(), p, map[string]apply.Client{"edge": e.client()}, io.Discard)
	return err
}

// converge plans and applies until the plan has no changes (at most twice).
func (e *routerEnv) converge(cfg *config.Config) {
	e.t.Helper()
	for i := 0; ; i++ {
		p, err := e.plan(cfg)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(p.Errors) > 0 {
			e.t.Fatalf("plan has errors: %s", describe(p))
		}
		if !p.HasChanges() {
			return
		}
		if i == 2 {
			e.t.Fatalf("no convergence after two applies: %s", describe(p))
		}
		if err := e.apply(p); err != nil {
			e.t.Fatal(err)
		}
	}
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

// A rename interrupted after the queue switched to the new type, before the
// old type's DELETE, leaves the old type unused: the next plan destroys it.
func TestInterruptedQueueTypeRename(t *testing.T) {
	e := newRouterEnv(t)
	e.converge(e.config(testenv.DualWAN{}))
	renamed := e.config(testenv.DualWAN{QueueType: "spectrum-dl-cake"})
	p, err := e.plan(renamed)
	if err != nil {
		t.Fatal(err)
	}
	e.emu.Inject(emulator.Fault{Kind: emulator.FaultServerError, Method: "DELETE", Path: routeros.MenuQueueType})
	if err := e.apply(p); err == nil {
		t.Fatalf("apply survived the failed DELETE: %s", describe(p))
	}
	p, err = e.plan(renamed)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 1 || p.Changes[0].Action != plan.Delete || p.Changes[0].Menu != routeros.MenuQueueType ||
		p.Changes[0].Name != "wanctl-spectrum-download" || strings.Contains(describe(p), "not used by any queue") {
		t.Fatalf("plan after the interrupted rename: %s; want the destroy of the old type", describe(p))
	}
	if err := e.apply(p); err != nil {
		t.Fatal(err)
	}
	e.converge(renamed)
	for _, q := range e.emu.Objects(routeros.MenuQueueType) {
		if q["name"] == "wanctl-spectrum-download" {
			t.Fatal("the old queue type is still there")
		}
	}
}

// A menu whose reply is not an array is an error, not an empty menu: read as
// empty, the next apply created every mangle rule again.
func TestOddMenuReplyIsNotEmpty(t *testing.T) {
	e := newRouterEnv(t)
	cfg := e.config(testenv.DualWAN{})
	e.converge(cfg)
	before := len(e.emu.Objects(routeros.MenuMangle))
	for _, name := range []string{"empty", "null", "object", "error"} {
		t.Run(name, func(t *testing.T) {
			f, err := emulator.ParseFaults("body:" + name + "@GET/" + routeros.MenuMangle)
			if err != nil {
				t.Fatal(err)
			}
			e.emu.Inject(f[0])
			p, err := e.plan(cfg)
			if err == nil {
				t.Fatalf("plan from a %s mangle reply: %s", name, describe(p))
			}
			if !strings.Contains(err.Error(), "ip/firewall/mangle") || !strings.Contains(err.Error(), "JSON array") {
				t.Errorf("error does not name the menu and the problem: %v", err)
			}
		})
	}
	e.converge(cfg)
	if after := len(e.emu.Objects(routeros.MenuMangle)); after != before {
		t.Fatalf("%d mangle rules, had %d", after, before)
	}
}
