package routeros

import "testing"

func TestReplaceToken(t *testing.T) {
	for _, tc := range []struct{ s, want string }{
		{"wanctl", "X"},
		{"user wanctl:wanctl@host", "user X:X@host"},
		{"GET queue/tree?name=wanctl-cable-down", "GET queue/tree?name=wanctl-cable-down"},
		{"pw=wanctl&x=1", "pw=X&x=1"},
		{"wanctlwanctl", "wanctlwanctl"},
		{"a wanctl.b", "a wanctl.b"},
		{`"wanctl"`, `"X"`},
		{"", ""},
	} {
		t.Run(tc.s, func(t *testing.T) {
			if got := replaceToken(tc.s, "wanctl", "X"); got != tc.want {
				t.Errorf("replaceToken(%q) = %q, want %q", tc.s, got, tc.want)
			}
		})
	}
}
