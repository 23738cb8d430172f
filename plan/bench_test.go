package plan

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// BenchmarkPlanBusyRouter plans the golden configuration against an
// emulated router holding 2,000 unrelated objects (1,000 mangle rules and
// 1,000 address-list entries) with 20 ms per request, like a real router's
// serialised REST API. It reports the requests per plan.
//
//	go test ./plan -run '^$' -bench PlanBusyRouter -benchtime 5x
func BenchmarkPlanBusyRouter(b *testing.B) {
	emu, srv := testenv.Emulator(b, emulator.Config{Username: "wanctl", Password: "pw"})
	for i := 0; i < 1000; i++ {
		if _, err := emu.AddObject(routeros.MenuMangle, routeros.Object{"chain": "forward", "action": "accept",
			"src-address": fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), "comment": fmt.Sprintf("user rule %d", i)}); err != nil {
			b.Fatal(err)
		}
		if _, err := emu.AddObject(routeros.MenuAddressList, routeros.Object{"list": "blocklist",
			"address": fmt.Sprintf("198.%d.%d.1", 18+i/256, i%256)}); err != nil {
			b.Fatal(err)
		}
	}
	emu.SetLatency(20 * time.Millisecond)
	cfg := parseConfig(b, goldenConfig)
	cfg.Routers[0].URL = srv.URL
	cfg.Routers[0].Password = "pw"
	connect := func(r *config.Router) (Reader, error) { return routeros.New(r.ClientConfig()) }
	emu.ClearRequests()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := Make(context.Background(), cfg, connect)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Changes) == 0 {
			b.Fatal("no changes planned")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(emu.Requests()))/float64(b.N), "requests/op")
}

// BenchmarkDiff is the pure part of a plan (checks, diff, fingerprint) over
// the same 2,000 unrelated objects plus wanctl's own.
//
//	go test ./plan -run '^$' -bench Diff -benchmem
func BenchmarkDiff(b *testing.B) {
	d := desiredFor(b, goldenConfig)
	f := newFixture()
	f.defconf()
	f.applied(d)
	for i := 0; i < 1000; i++ {
		f.add(routeros.MenuMangle, routeros.Object{"chain": "forward", "action": "accept", "src-address": fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)})
		f.add(routeros.MenuAddressList, routeros.Object{"list": "blocklist", "address": fmt.Sprintf("198.%d.%d.1", 18+i/256, i%256)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := &Plan{FormatVersion: FormatVersion}
		p.addRouter(d, f.act, nil)
		p.finish()
	}
}
