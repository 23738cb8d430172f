package routeros

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "yes": true, "YES": true, " true ": true, "false": false, "no": false, "No": false} {
		got, err := ParseBool(in)
		if err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1", "0", "on", "y", "truee"} {
		if _, err := ParseBool(in); err == nil {
			t.Errorf("ParseBool(%q): no error", in)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "10000000": 10_000_000, "10M": 10_000_000, "10m": 10_000_000, "940M": 940_000_000,
		"37.5M": 37_500_000, "512k": 512_000, "512K": 512_000, "1G": 1_000_000_000, "2.5g": 2_500_000_000,
		".5M": 500_000, "10.": 10, " 8M ": 8_000_000, "1.000k": 1000, "9223372036854775807": math.MaxInt64,
		"9223372036.854775807G": math.MaxInt64,
	} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", ".", "-1", "+5", "1e6", "10Mbps", "1.5", "0x10", "1.2.3M", "9223372036854775808", "9300000000G", "10 M", "∞"} {
		if v, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %d: no error", in, v)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"100ms": 100 * time.Millisecond, "1m30s": 90 * time.Second, "1d2h3m": 26*time.Hour + 3*time.Minute,
		"00:05:00": 5 * time.Minute, "1w": 7 * 24 * time.Hour, "1w2d03:04:05": 9*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second,
		"30": 30 * time.Second, "0s": 0, "5s": 5 * time.Second, "1.5s": 1500 * time.Millisecond, "250us": 250 * time.Microsecond,
		"10:00": 10 * time.Minute, "01:02:03.5": time.Hour + 2*time.Minute + 3500*time.Millisecond, "1d00:00:00": 24 * time.Hour,
		"1h1ms": time.Hour + time.Millisecond, "3ns": 3, "23h59m59s": 24*time.Hour - time.Second,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ms", "1x", "1:2:3:4", "::", "-1s", "1d:", "never", "1.2.3s", "99999999999999999999s", "200000w", "1s2", ":30"} {
		if v, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %s: no error", in, v)
		}
	}
}

func TestObjectHelpers(t *testing.T) {
	o := Object{".id": "*1", "disabled": "yes", "fib": "", "passthrough": "false", "max-limit": "10M",
		"priority": "8", "cake-rtt": "100ms", "bad": "x"}
	if o.ID() != "*1" {
		t.Fatal("ID")
	}
	if v, ok := o.Bool("disabled"); !v || !ok {
		t.Error("Bool(disabled)")
	}
	if v, ok := o.Bool("passthrough"); v || !ok {
		t.Error("Bool(passthrough)")
	}
	if _, ok := o.Bool("missing"); ok {
		t.Error("Bool(missing) ok")
	}
	if _, ok := o.Bool("bad"); ok {
		t.Error("Bool(bad) ok")
	}
	if !o.Flag("fib") || o.Flag("missing") || o.Flag("passthrough") || !o.Flag("bad") {
		t.Error("Flag")
	}
	if v, err := o.Rate("max-limit"); err != nil || v != 10_000_000 {
		t.Error("Rate", v, err)
	}
	if v, err := o.Int("priority"); err != nil || v != 8 {
		t.Error("Int", v, err)
	}
	if v, err := o.Duration("cake-rtt"); err != nil || v != 100*time.Millisecond {
		t.Error("Duration", v, err)
	}
	for _, f := range []func(string) error{
		func(k string) error { _, err := o.Rate(k); return err },
		func(k string) error { _, err := o.Int(k); return err },
		func(k string) error { _, err := o.Duration(k); return err },
	} {
		if err := f("missing"); err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("missing key: %v", err)
		}
		if err := f("bad"); err == nil || !strings.Contains(err.Error(), "bad") {
			t.Errorf("bad value: %v", err)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"0", "10M", "37.5M", "9223372036854775807", "1.5", ".5k", "1e3", "G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseRate(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseRate(%q) = %d < 0", s, v)
		}
		// A plain number parses to itself.
		if allDigits(strings.TrimSpace(s)) && strings.TrimLeft(strings.TrimSpace(s), "0") != "" {
			if got := strings.TrimLeft(strings.TrimSpace(s), "0"); got != itoa(v) {
				t.Fatalf("ParseRate(%q) = %d", s, v)
			}
		}
	})
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"100ms", "1m30s", "1d2h3m", "00:05:00", "1w", "1w2d03:04:05", "30", "1.5s", "::", "1d:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %s < 0", s, d)
		}
	})
}

func FuzzParseBool(f *testing.F) {
	for _, s := range []string{"true", "yes", "no", "false", "", "TRUE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseBool(s)
		if err != nil {
			return
		}
		w := strings.ToLower(strings.TrimSpace(s))
		if v != (w == "true" || w == "yes") {
			t.Fatalf("ParseBool(%q) = %v", s, v)
		}
	})
}

var _ = reflect.DeepEqual
