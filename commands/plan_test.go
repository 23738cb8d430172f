package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// testPassword must never appear in any output or file.
const testPassword = "s3cret-Rtr-pw"

// routerEnv is an emulated router plus a directory for configs and plans.
type routerEnv struct {
	t   *testing.T
	emu *emulator.Emulator
	srv *httptest.Server
	dir string
}

func newRouterEnv(t *testing.T) *routerEnv {
	t.Helper()
	emu, srv := testenv.Emulator(t, emulator.Config{Username: "wanctl", Password: testPassword})
	e := &routerEnv{t: t, emu: emu, srv: srv, dir: t.TempDir()}
	// defconf FastTracks; most tests are about other things.
	e.setFastTrack(false)
	return e
}

// setFastTrack enables or disables defconf's FastTrack rule.
func (e *routerEnv) setFastTrack(enabled bool) {
	e.t.Helper()
	for _, f := range e.emu.Objects(routeros.MenuFilter) {
		if f["action"] == "fasttrack-connection" {
			if err := e.emu.SetObject(routeros.MenuFilter, f.ID(), routeros.Object{"disabled": fmt.Sprint(!enabled)}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

const routerBlock = `router "edge" {
  url          = %q
  username     = "wanctl"
  password     = %q
  host_address = "192.168.88.10"
%s}
`

// dualWAN is the configuration most tests use: two WANs with gateways and
// pinned reflectors, steering with every kind of rule.
var dualWAN = testenv.DualWANConfig(testenv.DualWAN{})

// config writes a configuration (router block + body) and returns its path.
func (e *routerEnv) config(routerExtra, body string) string {
	e.t.Helper()
	src := fmt.Sprintf(routerBlock, e.srv.URL, testPassword, routerExtra) + body
	p := filepath.Join(e.dir, "wanctl.hcl")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// run runs wanctl with stdin in (nil: empty) and checks that the password
// never shows up.
func (e *routerEnv) run(in io.Reader, args ...string) result {
	e.t.Helper()
	if in == nil {
		in = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code := Run(append([]string{"wanctl"}, args...), IO{In: in, Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
	r := result{code, out.String(), errb.String()}
	if strings.Contains(r.out, testPassword) || strings.Contains(r.err, testPassword) {
		e.t.Fatalf("the router password appears in the output:\n%s\n%s", r.out, r.err)
	}
	return r
}

func (e *routerEnv) mustRun(in io.Reader, want int, args ...string) result {
	e.t.Helper()
	r := e.run(in, args...)
	if r.code != want {
		e.t.Fatalf("wanctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.out, r.err)
	}
	return r
}

// planJSON runs plan -json and decodes it.
func (e *routerEnv) planJSON(cfg string) *plan.Plan {
	e.t.Helper()
	r := e.run(nil, "plan", "-config", cfg, "-json")
	var p plan.Plan
	if err := json.Unmarshal([]byte(r.out), &p); err != nil {
		e.t.Fatalf("plan -json: %v\n%s\n%s", err, r.out, r.err)
	}
	return &p
}

// A router that cannot be read still gives -json users a document to
// parse, with the error in it (plan: errors; apply: plan.errors and error).
func TestJSONWhenTheRouterCannotBeRead(t *testing.T) {
	cfg := writePath(t, filepath.Join(t.TempDir(), "w.hcl"), `
router "edge" {
  url      = "http://127.0.0.1:1"
  username = "wanctl"
  password = env("P")
}
wan "spectrum" {
  interface = "ether1"
  measurement {
    reflectors = ["127.0.0.1"]
  }
  download {
    ceiling = "100M"
  }
  upload {
    ceiling = "10M"
  }
}
`, 0o600)
	env := map[string]string{"P": testPassword}
	r := runEnv(t, env, "plan", "-config", cfg, "-json")
	var p plan.Plan
	if err := json.Unmarshal([]byte(r.out), &p); err != nil || r.code != 1 {
		t.Fatalf("plan -json: exit %d, %v:\n%s", r.code, err, r.out)
	}
	if len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Summary, "connection refused") || len(p.Changes) != 0 {
		t.Fatalf("plan document %+v", p)
	}
	r = runEnv(t, env, "apply", "-config", cfg, "-json", "-auto-approve")
	var a struct {
		Plan  plan.Plan `json:"plan"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.out), &a); err != nil || r.code != 1 {
		t.Fatalf("apply -json: exit %d, %v:\n%s", r.code, err, r.out)
	}
	if a.Error == nil || !strings.Contains(a.Error.Message, "connection refused") || len(a.Plan.Errors) != 1 {
		t.Fatalf("apply document %+v", a)
	}
	if strings.Contains(r.out+r.err, testPassword) {
		t.Fatal("password in the output")
	}
}
