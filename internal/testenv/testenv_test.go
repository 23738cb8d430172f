package testenv_test

import (
	"bytes"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/internal/testenv"
	"github.com/wanctl/wanctl/routeros/emulator"
	"github.com/wanctl/wanctl/systemd"
)

const router = `router "edge" {
  url          = "http://127.0.0.1:1"
  username     = "wanctl"
  password     = "pw"
  host_address = "192.168.88.10"
}
`

// Every variant the tests use decodes to what its fields say and is laid
// out as wanctl fmt would (so tests that edit it by string replacement
// can rely on the layout).
func TestDualWANConfig(t *testing.T) {
	for _, tc := range []struct {
		name       string
		o          testenv.DualWAN
		reflectors []string
		queueType  string
		overhead   int
		rules      []string
		addresses  []string
		red, green int
	}{
		{"zero value", testenv.DualWAN{}, []string{"1.1.1.1", "8.8.8.8"}, "wanctl-spectrum-download", 18,
			[]string{"voip", "latency-sensitive", "work-vpn"}, []string{"192.168.88.50", "192.168.88.51"}, 2, 15},
		{"plan golden", testenv.DualWAN{Reflectors: []string{"1.1.1.1"}, QueueType: "spectrum-dl-cake",
			Rules: []string{"voip", "work-vpn"}, Addresses: []string{"192.168.88.50"}},
			[]string{"1.1.1.1"}, "spectrum-dl-cake", 18, []string{"voip", "work-vpn"}, []string{"192.168.88.50"}, 2, 15},
		{"steer", testenv.DualWAN{NoCake: true, Rules: []string{"voip", "latency-sensitive"},
			Thresholds: "    red_samples   = 3\n    green_samples = 4"},
			[]string{"1.1.1.1", "8.8.8.8"}, "wanctl-spectrum-download", 0, []string{"voip", "latency-sensitive"}, nil, 3, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := router + testenv.DualWANConfig(tc.o)
			cfg, diags := config.Parse("test.hcl", []byte(src), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
			if cfg == nil {
				var b bytes.Buffer
				_ = diags.WriteText(&b, false)
				t.Fatalf("does not parse:\n%s\n%s", b.String(), src)
			}
			if got := string(hclwrite.Format([]byte(src))); got != src {
				t.Errorf("not in canonical layout; wanctl fmt gives:\n%s", got)
			}
			sp, att := cfg.WAN("spectrum"), cfg.WAN("att")
			if sp == nil || att == nil || sp.Interface != "ether1" || att.Interface != "ether2" {
				t.Fatalf("WANs %+v", cfg.WANs)
			}
			var refl []string
			for _, a := range sp.Measurement.Reflectors {
				refl = append(refl, a.String())
			}
			if !slices.Equal(refl, tc.reflectors) || !slices.Equal(att.Measurement.Reflectors, []netip.Addr{netip.MustParseAddr("9.9.9.9")}) {
				t.Errorf("reflectors %v and %v", refl, att.Measurement.Reflectors)
			}
			if sp.Download.Ceiling != 940e6 || sp.Upload.Ceiling != 38e6 || att.Download.Ceiling != 300e6 || att.Upload.Ceiling != 100e6 {
				t.Errorf("ceilings %d/%d and %d/%d", sp.Download.Ceiling, sp.Upload.Ceiling, att.Download.Ceiling, att.Upload.Ceiling)
			}
			if sp.Download.QueueType != tc.queueType || sp.Download.Cake.Overhead != tc.overhead {
				t.Errorf("download queue type %q, overhead %d", sp.Download.QueueType, sp.Download.Cake.Overhead)
			}
			st := cfg.Steering
			if st == nil || st.Primary != "spectrum" || st.Alternate != "att" {
				t.Fatalf("steering %+v", st)
			}
			var rules []string
			for _, r := range st.Rules {
				rules = append(rules, r.Name)
			}
			var addrs []string
			for _, l := range st.AddressLists {
				addrs = append(addrs, l.Addresses...)
			}
			if !slices.Equal(rules, tc.rules) || !slices.Equal(addrs, tc.addresses) {
				t.Errorf("rules %v, addresses %v", rules, addrs)
			}
			if st.Thresholds.RedSamples != tc.red || st.Thresholds.GreenSamples != tc.green {
				t.Errorf("thresholds %+v", st.Thresholds)
			}
		})
	}
}

func TestDualWANConfigUnknownRule(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `"gaming"`) {
			t.Fatalf("recovered %v, want a panic naming the rule", r)
		}
	}()
	testenv.DualWANConfig(testenv.DualWAN{Rules: []string{"voip", "gaming"}})
}

func TestEmulatorServesUntilTheTestEnds(t *testing.T) {
	var url string
	t.Run("server", func(t *testing.T) {
		emu, srv := testenv.Emulator(t, emulator.Config{Username: "u", Password: "p"})
		url = srv.URL
		req, _ := http.NewRequest(http.MethodGet, url+"/rest/system/resource", nil)
		req.SetBasicAuth("u", "p")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(emu.Requests()) != 1 {
			t.Fatalf("status %d, %d requests recorded", resp.StatusCode, len(emu.Requests()))
		}
	})
	if resp, err := http.Get(url + "/rest/system/resource"); err == nil {
		resp.Body.Close()
		t.Fatalf("the server still answers after its test ended: %d", resp.StatusCode)
	}
}

// Datagrams from systemd's notifier are recorded as sent, and WaitFor
// returns as soon as they are in.
func TestNotifierSocket(t *testing.T) {
	n := testenv.NewNotifier(t)
	sd := systemd.NewNotifier(func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return n.Socket
		}
		return ""
	})
	defer sd.Close()
	for _, send := range []func() error{sd.Ready, func() error { return sd.Status("a\nb") }, sd.Watchdog, sd.Reloading, sd.Ready, sd.Stopping} {
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}
	n.WaitFor(t, "STOPPING=1", func() bool { return n.Count("STOPPING=1") == 1 })
	msgs := n.Messages()
	if len(msgs) != 6 || msgs[0] != "READY=1" || msgs[1] != "STATUS=a; b" || msgs[2] != "WATCHDOG=1" ||
		!strings.HasPrefix(msgs[3], "RELOADING=1\nMONOTONIC_USEC=") || msgs[5] != "STOPPING=1" {
		t.Fatalf("messages %q", msgs)
	}
	if n.Count("READY=1") != 2 || n.Last("STATUS=") != "STATUS=a; b" || n.Last("NOPE") != "" {
		t.Fatalf("Count/Last over %q", msgs)
	}
}

// In-process, the methods record what they stand for, also when disabled.
func TestNotifierInProcess(t *testing.T) {
	n := testenv.NewNotifier(t)
	if !n.Enabled() {
		t.Fatal("a new notifier is disabled")
	}
	if d, ok := n.WatchdogInterval(); ok {
		t.Fatalf("watchdog %v without WatchdogPeriod", d)
	}
	n.WatchdogPeriod = 500 * time.Millisecond
	if d, ok := n.WatchdogInterval(); !ok || d != 500*time.Millisecond {
		t.Fatalf("watchdog %v, %v", d, ok)
	}
	n.Disabled = true
	if n.Enabled() {
		t.Fatal("Disabled notifier reports Enabled")
	}
	for _, send := range []func() error{n.Ready, n.Reloading, n.Watchdog, func() error { return n.Status("x\ny") }, n.Stopping} {
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"READY=1", "RELOADING=1", "WATCHDOG=1", "STATUS=x\ny", "STOPPING=1"}
	if got := n.Messages(); !slices.Equal(got, want) {
		t.Fatalf("messages %q, want %q", got, want)
	}
}

// WaitFor wakes up for a message that arrives while it waits.
func TestNotifierWaitForWakesUp(t *testing.T) {
	n := testenv.NewNotifier(t)
	go func() { _ = n.Ready() }()
	n.WaitFor(t, "READY=1", func() bool { return n.Count("READY=1") == 1 })
}
