package steer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
)

// BenchmarkRun is one whole run in-process against the emulator (over
// HTTP on loopback) with a scripted RTT: "quiet" is the common run (2
// GETs), "reconcile" puts back a hand-enabled rule every time (2 GETs, a
// PATCH, a verifying GET). latency=20ms is a real router's per-request
// time.
func BenchmarkRun(b *testing.B) {
	for _, lat := range []time.Duration{0, 20 * time.Millisecond} {
		for _, mode := range []string{"quiet", "reconcile"} {
			b.Run("latency="+lat.String()+"/"+mode, func(b *testing.B) {
				e := newEnv(b, lat, "")
				e.fresh(autorate.Green, autorate.Green)
				e.queue(0, 0)
				d := e.deps()
				d.Log = nil
				rule := plan.SteeringRules(e.emu.Objects(routeros.MenuMangle))[0].ID()
				b.ReportAllocs()
				for b.Loop() {
					if mode == "reconcile" {
						b.StopTimer()
						if err := e.emu.SetObject(routeros.MenuMangle, rule, routeros.Object{"disabled": "false"}); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					r, err := Run(context.Background(), d)
					if err != nil {
						b.Fatal(err)
					}
					if (mode == "reconcile") != (r.Action == ActionReconcile) {
						b.Fatalf("%+v", r)
					}
				}
			})
		}
	}
}

// BenchmarkProcess runs the real binary (`go build` of the module) as
// `wanctl steer` b.N times, with its real ICMP burst to two loopback
// reflectors, and reports per run the wall time and the CPU time
// (user+system, getrusage of the child) — the cost the systemd timer pays
// every 2 s. The emulator serves in this process and is not counted.
func BenchmarkProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "wanctl")
	build := exec.Command("go", "build", "-o", bin, "github.com/wanctl/wanctl")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, lat := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run("latency="+lat.String(), func(b *testing.B) {
			e := newEnvReflectors(b, lat, "", "127.0.0.1", "127.0.0.2")
			e.queue(0, 0)
			var cpu, wall time.Duration
			runs := 0
			for b.Loop() {
				runs++
				b.StopTimer()
				e.now = time.Now()
				e.fresh(autorate.Green, autorate.Green)
				cmd := exec.Command(bin, "steer", "-config", e.path, "-log-level", "warn")
				cmd.Stderr = os.Stderr
				b.StartTimer()
				start := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			n := float64(runs)
			b.ReportMetric(float64(cpu.Microseconds())/1000/n, "cpu-ms/run")
			b.ReportMetric(float64(wall.Microseconds())/1000/n, "wall-ms/run")
		})
	}
}
