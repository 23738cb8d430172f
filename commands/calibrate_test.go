package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/lockfile"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/ping"
)

// calibConfig is a one-WAN config pinging loopback reflectors; measurement
// holds more lines for its measurement block.
func calibConfig(t *testing.T, reflectors string, measurement ...string) (cfgPath, stateDir, lockDir string) {
	dir := t.TempDir()
	stateDir, lockDir = filepath.Join(dir, "state"), filepath.Join(dir, "run")
	src := fmt.Sprintf(`
router "edge" {
  url      = "http://127.0.0.1:1"
  username = "wanctl"
  password = env("WANCTL_TEST_UNSET_PASSWORD")
}

daemon {
  state_dir = %q
  lock_dir  = %q
}

wan "lo" {
  router    = "edge"
  interface = "ether1"

  measurement {
    reflectors = [%s]
    ping_rate  = 40
%s
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
`, stateDir, lockDir, reflectors, strings.Join(measurement, "\n"))
	cfgPath = filepath.Join(dir, "wanctl.hcl")
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, stateDir, lockDir
}

// TestCalibrateLoopback pings real loopback reflectors (no injected
// burst) and writes their baselines.
func TestCalibrateLoopback(t *testing.T) {
	cfg, stateDir, _ := calibConfig(t, `"127.0.0.1", "127.0.0.2"`)
	out, errb := &safeBuffer{}, &safeBuffer{}
	code := Run([]string{"wanctl", "calibrate", "-config", cfg, "-duration", "500ms"}, IO{Out: out, Err: errb, Getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	for _, want := range []string{"WAN lo: 2 reflectors, 500ms at 40 pings/s", "REFLECTOR", "127.0.0.1", "127.0.0.2", "Baselines written to", "(created)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	st, err := autorate.ReadState(autorate.StatePath(stateDir, "lo"))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Reflectors) != 2 || st.Reflectors[0].BaselineRTTMs <= 0 || st.Reflectors[0].BaselineRTTMs > 50 || st.CalibratedAt == nil || st.Writer != "calibrate" {
		t.Fatalf("state %+v", st)
	}
}

func TestCalibrateFlagsAndRefusals(t *testing.T) {
	cfg, stateDir, lockDir := calibConfig(t, `"192.0.2.1", "192.0.2.2", "192.0.2.3"`)
	now := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	var gotCount int
	var gotInterval time.Duration
	deps := &calibrateDeps{
		now: func() time.Time { return now },
		burst: func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error) {
			gotCount, gotInterval = count, interval
			var rs []ping.Reply
			var st ping.Stats
			for i, a := range w.Measurement.Reflectors {
				sent := uint64(count)
				n := count
				if i == 1 {
					n = count / 2 // 50 % loss
				}
				for k := range n {
					rs = append(rs, ping.Reply{Target: a, RTT: time.Duration(10+i) * time.Millisecond * time.Duration(1+k%2)})
				}
				st.Targets = append(st.Targets, ping.TargetStats{Target: a, Sent: sent, Replies: uint64(n)})
			}
			return rs, st, nil
		},
	}
	out, errb := &safeBuffer{}, &safeBuffer{}
	code := Run([]string{"wanctl", "calibrate", "-config", cfg, "-wan", "lo", "-duration", "3s"}, IO{Out: out, Err: errb, Getenv: func(string) string { return "" }, calibrate: deps})
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	// 3 reflectors at 40/s: one round every 75 ms, 40 rounds in 3 s.
	if gotCount != 40 || gotInterval != 75*time.Millisecond {
		t.Fatalf("burst count %d interval %v", gotCount, gotInterval)
	}
	if !strings.Contains(out.String(), "loss 50.0%") || !strings.Contains(out.String(), "1 reflector(s) flagged") {
		t.Fatalf("output:\n%s", out)
	}
	st, err := autorate.ReadState(autorate.StatePath(stateDir, "lo"))
	if err != nil || !st.CalibratedAt.Equal(now) || st.Reflectors[2].BaselineRTTMs != 12 || st.BaselineRTTMs != 11 {
		t.Fatalf("state %+v %v", st, err)
	}

	// A running daemon holds the lock: refused, naming it.
	lk, err := lockfile.TryLock(autorate.LockPath(lockDir, "lo"))
	if err != nil {
		t.Fatal(err)
	}
	errb = &safeBuffer{}
	code = Run([]string{"wanctl", "calibrate", "-config", cfg}, IO{Out: out, Err: errb, Getenv: func(string) string { return "" }, calibrate: deps})
	lk.Unlock()
	if code != 1 || !strings.Contains(errb.String(), "wanctl autorate is running") || !strings.Contains(errb.String(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("under a daemon: exit %d: %s", code, errb)
	}

	// Nobody answers: nothing written, exit 1.
	deps.burst = func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error) {
		st := ping.Stats{Blackout: true}
		for _, a := range w.Measurement.Reflectors {
			st.Targets = append(st.Targets, ping.TargetStats{Target: a, Sent: uint64(count)})
		}
		return nil, st, nil
	}
	out, errb = &safeBuffer{}, &safeBuffer{}
	code = Run([]string{"wanctl", "calibrate", "-config", cfg, "-duration", "1s"}, IO{Out: out, Err: errb, Getenv: func(string) string { return "" }, calibrate: deps})
	if code != 1 || !strings.Contains(out.String(), "No reflector answered: nothing written") {
		t.Fatalf("dead link: exit %d\n%s\n%s", code, out, errb)
	}
	for _, args := range [][]string{{"-duration", "1ms"}, {"-wan", "nope"}} {
		errb = &safeBuffer{}
		if code := Run(append([]string{"wanctl", "calibrate", "-config", cfg}, args...), IO{Out: out, Err: errb, Getenv: func(string) string { return "" }, calibrate: deps}); code != 1 {
			t.Fatalf("%v: exit %d", args, code)
		}
	}
}
