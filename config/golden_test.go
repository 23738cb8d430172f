package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	hcl "github.com/hashicorp/hcl/v2"
)

// clearRanges zeroes the DeclRange fields, which golden values do not spell
// out (TestGoldenRanges checks them).
func clearRanges(c *Config) {
	for _, r := range c.Routers {
		r.DeclRange = hcl.Range{}
	}
	for _, w := range c.WANs {
		w.DeclRange = hcl.Range{}
	}
	if s := c.Steering; s != nil {
		s.DeclRange = hcl.Range{}
		for _, r := range s.Rules {
			r.DeclRange = hcl.Range{}
		}
		for _, l := range s.AddressLists {
			l.DeclRange = hcl.Range{}
		}
	}
}

func TestGolden(t *testing.T) {
	const path = "testdata/golden.hcl"
	cfg, diags, _ := parseTestdata(t, path)
	if diags.HasErrors() {
		t.Fatalf("golden.hcl: %s", diags.Error())
	}
	wantWarn := []string{`Address list "managed-elsewhere" is not declared here`}
	// A checkout leaves the password file readable by others (git does
	// not keep 0600): then it is rightly warned about.
	if st, err := os.Stat("testdata/secrets/router-password"); err == nil && st.Mode().Perm()&0o044 != 0 {
		wantWarn = append([]string{"Password file readable by other users"}, wantWarn...)
	}
	w := diags.Warnings()
	if len(w) != len(wantWarn) {
		t.Errorf("warnings = %s, want %q", diags.Error(), wantWarn)
	}
	for i := range min(len(w), len(wantWarn)) {
		if w[i].Summary != wantWarn[i] {
			t.Errorf("warning %d = %q, want %q", i, w[i].Summary, wantWarn[i])
		}
	}
	clearRanges(cfg)
	ms := time.Millisecond
	want := &Config{
		Filename: path,
		Routers: []*Router{{
			Name:             "edge",
			URL:              "https://192.168.88.1",
			Username:         "wanctl",
			Password:         "s3cret pass",
			Timeout:          DefaultRouterTimeout,
			HostAddress:      netip.MustParseAddr("192.168.88.10"),
			LANInterfaceList: DefaultLANInterfaceList,
		}, {
			Name:             "lab",
			URL:              "http://127.0.0.1:8080",
			Username:         "admin",
			Password:         "test-password-suffix",
			Timeout:          500 * ms,
			AdoptExisting:    true,
			LANInterfaceList: "LAN-lab",
			AllowFastTrack:   true,
		}},
		Daemon: Daemon{
			StateDir: filepath.Join("testdata", "state"),
			LockDir:  "/run/wanctl-test",
			Interval: 20 * ms,
			Listen:   "[::1]:9200",
		},
		WANs: []*WAN{{
			Name:      "cable",
			Router:    "edge",
			Interface: "ether1",
			Gateway:   "100.64.0.1",
			Measurement: Measurement{
				Reflectors: []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("8.8.8.8")},
				PingRate:   DefaultPingRate,
				PinRoutes:  true,
			},
			Download: Direction{
				Name: Download, Queue: "wanctl-cable-down", QueueType: "wanctl-cable-download",
				Parent:  DefaultDownloadParent,
				Ceiling: 940_000_000, StepUp: 18_800_000,
				FactorDown: DefaultFactorDown, FactorDownYellow: DefaultFactorDownYellow,
				Floor: Floors{Green: 705_000_000, Yellow: 329_000_000, SoftRed: 282_000_000, Red: 188_000_000},
				Cake:  DefaultCake(Download),
			},
			Upload: Direction{
				Name: Upload, Queue: "wanctl-cable-up", QueueType: "wanctl-cable-upload", Parent: "ether1",
				Ceiling: 38_000_000, StepUp: 760_000,
				FactorDown: DefaultFactorDown, FactorDownYellow: DefaultFactorDownYellow,
				// red given above the yellow default: yellow is raised to it.
				Floor: Floors{Green: 28_500_000, Yellow: 25_000_000, Red: 25_000_000},
				Cake:  DefaultCake(Upload),
			},
			Thresholds:   DefaultThresholds(),
			RouterWrites: DefaultRouterWrites(),
		}, {
			Name:      "dsl",
			Router:    "edge",
			Interface: "pppoe-out1",
			Gateway:   "pppoe-out1",
			Measurement: Measurement{
				Reflectors: []netip.Addr{netip.MustParseAddr("9.9.9.9")},
				PingRate:   10,
				TCPFallback: []netip.AddrPort{
					netip.MustParseAddrPort("9.9.9.9:443"), netip.MustParseAddrPort("[2620:fe::fe]:443"),
				},
				Source:     netip.MustParseAddr("192.168.88.10"),
				PinRoutes:  false,
				Timestamps: true,
			},
			Download: Direction{
				Name: Download, Queue: "dsl-in", QueueType: "cake-dsl-in", Parent: "bridge",
				Ceiling: 15_500_000, StepUp: 250_000, FactorDown: 0.8, FactorDownYellow: 0.95,
				// yellow given below the soft_red and red defaults: they are lowered to it.
				Floor: Floors{Green: 11_625_000, Yellow: 2_000_000, SoftRed: 2_000_000, Red: 2_000_000},
				Cake: Cake{Diffserv: "besteffort", Flowmode: "dual-dsthost", NAT: false, Wash: true,
					AckFilter: "aggressive", Overhead: -4, MPU: 68, RTT: 50 * ms, ATM: "ptm",
					OverheadScheme: []string{"convervative", "pppoe-ptm"}},
			},
			Upload: Direction{
				Name: Upload, Queue: "dsl-out", QueueType: "wanctl-dsl-upload", Parent: "pppoe-out1",
				Ceiling: 1_000_000, StepUp: 20_000,
				FactorDown: DefaultFactorDown, FactorDownYellow: DefaultFactorDownYellow,
				// green given below the yellow default: yellow is lowered to it.
				Floor: Floors{Green: 300_000, Yellow: 300_000, Red: 200_000},
				Cake: Cake{Diffserv: "diffserv4", Flowmode: "triple-isolate", NAT: true, AckFilter: "none",
					RTT: 100 * ms, OverheadScheme: []string{}},
			},
			Thresholds: Thresholds{
				TargetBloat: 20 * ms, Refractory: 500 * ms, WarnBloat: 60 * ms, HardRedBloat: 60 * ms,
				BaselineTimeConstant: 30 * time.Second, LoadTimeConstant: 100 * ms,
				BaselineUpdateThreshold: 2 * ms, BaselineRiseTimeConstant: 10 * time.Minute,
				GreenRequired: 10, DwellCycles: 1, Deadband: 0,
			},
			RouterWrites: RouterWrites{MinChange: 0, IncreaseInterval: 0, WritesPerMinute: 600, Burst: 30},
		}},
		Steering: &Steering{
			Primary:   "cable",
			Alternate: "dsl",
			Rules: []*SteerRule{
				{Name: "voip", Protocol: "udp-lite", DstPorts: "5060,3478-3481"},
				{Name: "marked", DSCP: []int{46, 34, 8, 0}},
				{Name: "office", Protocol: "6", SrcPorts: "1024", DstAddress: "10.0.0.0/8",
					SrcAddress: "192.168.88.0/24", SrcAddressList: "work"},
				{Name: "external", DstAddressList: "managed-elsewhere"},
			},
			AddressLists: []*AddressList{
				{Name: "work", Addresses: []string{"192.168.88.50", "192.168.89.0/24"}},
				{Name: "wanctl-not-steered", Addresses: []string{"203.0.113.0/24"}},
			},
			Thresholds: SteerThresholds{
				RTTYellow: 10 * ms, RTTRed: 25 * ms, RTTEWMAAlpha: 1, MinDropsRed: 0,
				QueueYellow: 20, QueueRed: 20, RedSamples: 3, GreenSamples: 30, StateMaxAge: 10 * time.Second,
			},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		for i := range want.WANs {
			if i < len(cfg.WANs) && !reflect.DeepEqual(cfg.WANs[i], want.WANs[i]) {
				t.Errorf("WAN %d:\n got %+v\nwant %+v", i, *cfg.WANs[i], *want.WANs[i])
			}
		}
		for i := range want.Routers {
			if i < len(cfg.Routers) && !reflect.DeepEqual(cfg.Routers[i], want.Routers[i]) {
				t.Errorf("router %d:\n got %#v\nwant %#v", i, *cfg.Routers[i], *want.Routers[i])
			}
		}
		if !reflect.DeepEqual(cfg.Daemon, want.Daemon) {
			t.Errorf("daemon:\n got %+v\nwant %+v", cfg.Daemon, want.Daemon)
		}
		if !reflect.DeepEqual(cfg.Steering, want.Steering) {
			t.Errorf("steering:\n got %+v\nwant %+v", *cfg.Steering, *want.Steering)
			for i, r := range cfg.Steering.Rules {
				t.Logf("rule %d: %+v", i, *r)
			}
		}
		t.Fatal("golden.hcl decoded differently")
	}
}

// TestGoldenRanges: declaration ranges point at the block headers.
func TestGoldenRanges(t *testing.T) {
	cfg, diags, _ := parseTestdata(t, "testdata/golden.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, c := range []struct {
		name string
		rng  hcl.Range
		line int
	}{
		{"router edge", cfg.Routers[0].DeclRange, 3},
		{"wan cable", cfg.WAN("cable").DeclRange, 27},
		{"steering", cfg.Steering.DeclRange, 125},
		{"rule voip", cfg.Steering.Rules[0].DeclRange, 129},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.rng.Filename != "testdata/golden.hcl" || c.rng.Start.Line != c.line {
				t.Errorf("range %s, want line %d", c.rng, c.line)
			}
		})
	}
}
