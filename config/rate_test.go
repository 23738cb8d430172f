package config

import "testing"

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"940M", 940_000_000, false},
		{"940000000", 940_000_000, false},
		{"37.5M", 37_500_000, false},
		{"800k", 800_000, false},
		{"800K", 800_000, false},
		{"1G", 1_000_000_000, false},
		{"1.25G", 1_250_000_000, false},
		{" 10M ", 10_000_000, false},
		{"0", 0, false},
		{"", 0, true},
		{"M", 0, true},
		{"-5M", 0, true},
		{"1e6", 0, true},
		{"10Mbit", 0, true},
		{"1.5", 0, true},
		{"0.0001k", 0, true},
		{"1..2M", 0, true},
		{"99999999999999999999G", 0, true},
		{"NaN", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if tc.bad {
				if err == nil {
					t.Errorf("ParseRate(%q) = %d, want error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseRate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestFormatRate(t *testing.T) {
	for in, want := range map[int64]string{
		940_000_000:   "940M",
		37_500_000:    "37.5M",
		800_000:       "800k",
		1_000_000_000: "1G",
		1234:          "1234",
		1_234_567:     "1234567",
		0:             "0",
	} {
		if got := FormatRate(in); got != want {
			t.Errorf("FormatRate(%d) = %q, want %q", in, got, want)
		}
		if back, err := ParseRate(FormatRate(in)); err != nil || back != in {
			t.Errorf("round trip %d -> %q -> %d, %v", in, FormatRate(in), back, err)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"940M", "37.5M", "800k", "1", "1.5G", "0.001k", "9e9", ""} {
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
		if back, err := ParseRate(FormatRate(v)); err != nil || back != v {
			t.Fatalf("round trip %q -> %d -> %q -> %d, %v", s, v, FormatRate(v), back, err)
		}
	})
}
