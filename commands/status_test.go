package commands

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/loops/steer"
)

func statusConfig(t *testing.T, listen string) (cfgPath, stateDir string) {
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	wan := func(name, iface, refl string) string {
		return fmt.Sprintf(`
wan %q {
  router    = "edge"
  interface = %q

  measurement {
    reflectors = [%q]
  }

  download {
    ceiling = "940M"
  }

  upload {
    ceiling = "38M"
  }
}
`, name, iface, refl)
	}
	src := fmt.Sprintf(`
router "edge" {
  url      = "http://127.0.0.1:1"
  username = "wanctl"
  password = env("WANCTL_TEST_UNSET_PASSWORD")
}

daemon {
  state_dir = %q
  listen    = %q
}
`, stateDir, listen) + wan("spectrum", "ether1", "1.1.1.1") + wan("att", "ether2", "9.9.9.9")
	cfgPath = filepath.Join(dir, "wanctl.hcl")
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, stateDir
}

func freeTCPAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func runStatus(t *testing.T, cfg string, args ...string) (int, string, string) {
	out, errb := &safeBuffer{}, &safeBuffer{}
	code := Run(append([]string{"wanctl", "status", "-config", cfg}, args...), IO{Out: out, Err: errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

func TestStatusFromDaemon(t *testing.T) {
	age := 1.5
	h := autorate.Health{Status: "degraded", WANs: []autorate.WANHealth{{
		WAN: "spectrum", Controlling: false, DegradedReasons: []string{"router edge: 3 writes failed in a row: boom"}, Signal: true,
		Download:      autorate.DirHealth{Zone: "YELLOW", Rate: 902400000, LastWrittenRate: 940000000, LastWriteAgeS: &age},
		Upload:        autorate.DirHealth{Zone: "GREEN", Rate: 38000000, LastWrittenRate: 38000000},
		BaselineRTTMs: 12.25, DeltaMs: 16.5, ReflectorsAlive: 1, ReflectorsTotal: 1,
		Router: autorate.RouterHealth{Name: "edge", Reachable: false},
	}}}
	srv := httptest.NewServer(autorate.HealthHandler(func() autorate.Health { return h }))
	defer srv.Close()
	cfg, stateDir := statusConfig(t, strings.TrimPrefix(srv.URL, "http://"))
	// att is not run by this daemon: its state file is shown.
	st := autorate.State{Version: 1, WAN: "att", Timestamp: time.Now().Add(-30 * time.Second), Signal: true,
		Download: autorate.DirectionState{Zone: autorate.Red, Rate: 200e6, LastWrittenRate: 200e6}, BaselineRTTMs: 8, LoadedDeltaMs: 90}
	if err := autorate.WriteState(autorate.StatePath(stateDir, "att"), &st); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stateDir, "steering.json"), []byte(`{"state":"SPECTRUM_DEGRADED","streak":3}`), 0o600)

	code, out, errb := runStatus(t, cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	for _, want := range []string{
		"Source: autorate daemon at " + srv.URL + "/health (degraded)",
		"spectrum  YELLOW 902.4M (router 940M)  GREEN 38M",
		"12.2ms", "16.5ms", "1/1", "UNREACHABLE", "1.5s ago",
		"att       RED 200M", "state file, 30.", "(stale: autorate not running?)",
		"spectrum degraded: router edge: 3 writes failed in a row: boom",
		"Steering: SPECTRUM_DEGRADED (" + filepath.Join(stateDir, "steering.json"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runStatus(t, cfg, "-json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
		t.Fatalf("json %v: %s", err, out)
	}
	if doc.FormatVersion != 1 || doc.Source != "daemon" || doc.WANs[0].Source != "daemon" || doc.WANs[1].Source != "state_file" || *doc.WANs[0].RouterReachable ||
		doc.WANs[1].Download.Rate != 200e6 || doc.Steering.State != "SPECTRUM_DEGRADED" || *doc.WANs[1].StateAgeS < 29 {
		t.Fatalf("doc %+v", doc)
	}
}

func TestStatusFallsBackToStateFiles(t *testing.T) {
	cfg, stateDir := statusConfig(t, freeTCPAddr(t))
	code, out, errb := runStatus(t, cfg)
	if code != 2 || !strings.Contains(errb, "autorate is not running") || !strings.Contains(errb, "not reachable") {
		t.Fatalf("nothing at all: exit %d\n%s\n%s", code, out, errb)
	}
	st := autorate.State{Version: 1, WAN: "spectrum", Timestamp: time.Now().Add(-time.Second), Signal: true,
		Download: autorate.DirectionState{Zone: autorate.Green, Rate: 940e6}, Upload: autorate.DirectionState{Zone: autorate.Green, Rate: 38e6}, BaselineRTTMs: 10}
	autorate.WriteState(autorate.StatePath(stateDir, "spectrum"), &st)
	code, out, _ = runStatus(t, cfg)
	if code != 0 || !strings.Contains(out, "Source: state files (the daemon is not reachable") ||
		!strings.Contains(out, "spectrum  GREEN 940M") || !strings.Contains(out, "att       -") || strings.Contains(out, "stale") {
		t.Fatalf("state only: exit %d\n%s", code, out)
	}
}

// status reads steering.json as the steer package writes it, and only
// reads it: a corrupt file is reported, not moved aside (as steer would).
func TestStatusSteeringFile(t *testing.T) {
	for _, c := range []struct {
		name, content, want string
	}{
		{"steer's state", "", "Steering: SPECTRUM_DEGRADED ("},
		{"corrupt", `{"state":`, ": unreadable: unexpected end of JSON input"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, stateDir := statusConfig(t, freeTCPAddr(t))
			sp := filepath.Join(stateDir, steer.StateFileName)
			content := []byte(c.content)
			if c.content == "" {
				st := steer.NewState("spectrum")
				st.State = steer.StateName("spectrum", true)
				content, _ = json.Marshal(st)
			}
			if err := os.MkdirAll(stateDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(sp, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, out, _ := runStatus(t, cfg)
			if !strings.Contains(out, c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, out)
			}
			if _, err := os.Stat(sp); err != nil {
				t.Errorf("status touched %s: %v", sp, err)
			}
		})
	}
}

// TestStatusNotRunning: the daemon down and every state file stale (or
// missing) is exit 2 for a monitoring check, with the
// status printed all the same; one fresh state file is exit 0.
func TestStatusNotRunning(t *testing.T) {
	write := func(t *testing.T, stateDir, wan string, age time.Duration) {
		ts := time.Now().Add(-age)
		st := autorate.State{Version: 1, WAN: wan, Timestamp: ts, Writer: "autorate", Signal: true,
			Download: autorate.DirectionState{Zone: autorate.Green, Rate: 940e6}, BaselineRTTMs: 10}
		p := autorate.StatePath(stateDir, wan)
		if err := autorate.WriteState(p, &st); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, ts, ts); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		files func(t *testing.T, stateDir string)
		code  int
	}{
		{"no state files", func(*testing.T, string) {}, 2},
		{"all stale", func(t *testing.T, d string) {
			write(t, d, "spectrum", time.Minute)
			write(t, d, "att", time.Hour)
		}, 2},
		{"one stale, one missing", func(t *testing.T, d string) { write(t, d, "spectrum", 10*time.Second) }, 2},
		{"one fresh", func(t *testing.T, d string) {
			write(t, d, "spectrum", time.Minute)
			write(t, d, "att", time.Second)
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, stateDir := statusConfig(t, freeTCPAddr(t))
			if err := os.MkdirAll(stateDir, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.files(t, stateDir)
			code, out, errb := runStatus(t, cfg)
			if code != tc.code || !strings.Contains(out, "Source: state files") {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, out, errb)
			}
			if tc.code != 0 && !strings.Contains(errb, "autorate is not running") {
				t.Errorf("stderr: %s", errb)
			}
			code, out, _ = runStatus(t, cfg, "-json")
			var doc statusDoc
			if err := json.Unmarshal([]byte(out), &doc); err != nil || code != tc.code || doc.FormatVersion != 1 {
				t.Fatalf("-json: exit %d, %v\n%s", code, err, out)
			}
		})
	}
}
