package config

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// maxFuzzInput bounds FuzzDecode's inputs: about twenty times the largest
// testdata file.
const maxFuzzInput = 64 << 10

// FuzzDecode: Parse never panics, returns a Config exactly when there are
// no errors, renders its diagnostics, and a Config it returns keeps the
// promises later packages rely on without re-validating.
func FuzzDecode(f *testing.F) {
	var seeds []string
	for _, g := range []string{"testdata/*.hcl", "testdata/invalid/*.hcl", "testdata/warnings/*.hcl", "../examples/*.hcl"} {
		m, _ := filepath.Glob(g)
		seeds = append(seeds, m...)
	}
	if len(seeds) < 30 {
		f.Fatalf("only %d seeds", len(seeds))
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Never touch the real file system from fuzzed file() / ca_file paths.
	readFile := func(p string) ([]byte, error) {
		switch filepath.Base(p) {
		case "router-password":
			return []byte("pw\n"), nil
		case "ca.pem":
			return []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), nil
		}
		return nil, fs.ErrNotExist
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		// The mutator grows inputs without bound, and an exec costs in
		// proportion to its input: past a few times the size of a real
		// configuration, inputs only slow the fuzzer down (larger ones,
		// up to MaxFileSize and beyond, have their own tests).
		if len(src) > maxFuzzInput {
			return
		}
		cfg, d := Parse("fuzz.hcl", src, Options{FileMode: 0o644, LookupEnv: lookupTestEnv, ReadFile: readFile})
		if d == nil {
			t.Fatal("nil diagnostics")
		}
		if d.HasErrors() != (cfg == nil) {
			t.Fatalf("HasErrors %v but config nil %v", d.HasErrors(), cfg == nil)
		}
		for _, color := range []bool{false, true} {
			if err := d.WriteText(io.Discard, color); err != nil {
				t.Fatal(err)
			}
		}
		b, err := d.JSON()
		if err != nil || !json.Valid(b) {
			t.Fatalf("JSON: %v %s", err, b)
		}
		_ = d.Error()
		if cfg != nil {
			if err := checkInvariants(cfg); err != nil {
				t.Fatalf("valid config breaks an invariant: %v\n%s", err, src)
			}
		}
	})
}

// checkInvariants is what a decoded Config promises.
func checkInvariants(c *Config) error {
	if len(c.Routers) == 0 || len(c.WANs) == 0 {
		return fmt.Errorf("no router or no wan")
	}
	for _, r := range c.Routers {
		if r.URL == "" || r.Username == "" || r.Password == "" || r.Timeout <= 0 || !nameRE.MatchString(r.LANInterfaceList) {
			return fmt.Errorf("router %q incomplete: %+v", r.Name, *r)
		}
	}
	if c.Daemon.Interval < 10e6 || c.Daemon.StateDir == "" || c.Daemon.LockDir == "" || c.Daemon.Listen == "" {
		return fmt.Errorf("daemon %+v", c.Daemon)
	}
	queues := map[string]bool{}
	for _, w := range c.WANs {
		if c.Router(w.Router) == nil {
			return fmt.Errorf("wan %q: router %q unknown", w.Name, w.Router)
		}
		if !nameRE.MatchString(w.Interface) || !nameRE.MatchString(w.RoutingTable()) {
			return fmt.Errorf("wan %q: names %q %q", w.Name, w.Interface, w.RoutingTable())
		}
		m := w.Measurement
		if len(m.Reflectors) == 0 || m.PingRate < 1 || m.PingRate > 100 {
			return fmt.Errorf("wan %q measurement %+v", w.Name, m)
		}
		if m.PinRoutes && (w.Gateway == "" || !c.Router(w.Router).HostAddress.IsValid()) {
			return fmt.Errorf("wan %q pins routes without gateway or host_address", w.Name)
		}
		for _, dir := range w.Directions() {
			f := dir.Floor
			if dir.Ceiling <= 0 || dir.StepUp <= 0 || dir.StepUp > dir.Ceiling {
				return fmt.Errorf("wan %q %s: ceiling %d step %d", w.Name, dir.Name, dir.Ceiling, dir.StepUp)
			}
			if f.Red <= 0 || f.Red > f.Yellow || f.Yellow > f.Green || f.Green > dir.Ceiling {
				return fmt.Errorf("wan %q %s floors %+v", w.Name, dir.Name, f)
			}
			if dir.Name == Download && (f.SoftRed < f.Red || f.SoftRed > f.Yellow) {
				return fmt.Errorf("wan %q download soft_red %+v", w.Name, f)
			}
			if dir.Name == Upload && (f.SoftRed != 0 || dir.Parent != w.Interface) {
				return fmt.Errorf("wan %q upload %+v", w.Name, *dir)
			}
			if dir.FactorDown <= 0 || dir.FactorDown > 1 || dir.FactorDownYellow <= 0 || dir.FactorDownYellow > 1 {
				return fmt.Errorf("wan %q %s factors", w.Name, dir.Name)
			}
			if queues[dir.Queue] || queues["type:"+dir.QueueType] || !nameRE.MatchString(dir.Queue) || !nameRE.MatchString(dir.QueueType) {
				return fmt.Errorf("wan %q %s queue %q / %q", w.Name, dir.Name, dir.Queue, dir.QueueType)
			}
			queues[dir.Queue], queues["type:"+dir.QueueType] = true, true
			if dir.Cake.RTT <= 0 || dir.Cake.Overhead < -64 || dir.Cake.Overhead > 256 || dir.Cake.MPU < 0 || dir.Cake.MPU > 256 {
				return fmt.Errorf("wan %q %s cake %+v", w.Name, dir.Name, dir.Cake)
			}
		}
		t := w.Thresholds
		if !(t.TargetBloat < t.WarnBloat && t.WarnBloat <= t.HardRedBloat) || t.Deadband < 0 || t.Deadband >= t.TargetBloat ||
			t.GreenRequired < 1 || t.DwellCycles < 1 {
			return fmt.Errorf("wan %q thresholds %+v", w.Name, t)
		}
		rw := w.RouterWrites
		if rw.MinChange < 0 || rw.MinChange >= 1 || rw.IncreaseInterval < 0 || rw.WritesPerMinute < 1 || rw.Burst < 1 {
			return fmt.Errorf("wan %q router_writes %+v", w.Name, rw)
		}
	}
	if s := c.Steering; s != nil {
		p, a := c.WAN(s.Primary), c.WAN(s.Alternate)
		if p == nil || a == nil || p == a || a.Gateway == "" || p.Router != a.Router || len(s.Rules) == 0 {
			return fmt.Errorf("steering %+v", *s)
		}
		for _, r := range s.Rules {
			for _, v := range r.DSCP {
				if v < 0 || v > 63 {
					return fmt.Errorf("rule %q dscp %d", r.Name, v)
				}
			}
			if (r.DstPorts != "" || r.SrcPorts != "") && !portProtocols[r.Protocol] {
				return fmt.Errorf("rule %q ports without port protocol", r.Name)
			}
		}
		st := s.Thresholds
		if st.RTTEWMAAlpha <= 0 || st.RTTEWMAAlpha > 1 || st.QueueYellow > st.QueueRed || st.RedSamples < 1 || st.GreenSamples < 1 || st.StateMaxAge <= 0 {
			return fmt.Errorf("steering thresholds %+v", st)
		}
	}
	return nil
}

// TestSeedsKeepInvariants: the valid seeds satisfy checkInvariants, so the
// fuzz property is not vacuous.
func TestSeedsKeepInvariants(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.hcl")
	files = append(files, "testdata/golden.hcl", "testdata/warnings/insecure.hcl")
	for _, f := range files {
		cfg, d, _ := parseTestdata(t, f)
		if cfg == nil {
			t.Fatalf("%s: %s", f, d.Error())
		}
		if err := checkInvariants(cfg); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
