package config

import "testing"

// TestDefaultCakeNAT pins the nat default per direction: RouterOS queues
// see download packets after de-NAT with their conntrack entry attached,
// where CAKE's nat would key them on the WAN address (docs/config.md).
func TestDefaultCakeNAT(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		want bool
	}{
		{Download, false},
		{Upload, true},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			if got := DefaultCake(tc.dir).NAT; got != tc.want {
				t.Errorf("DefaultCake(%q).NAT = %v, want %v", tc.dir, got, tc.want)
			}
		})
	}
}
