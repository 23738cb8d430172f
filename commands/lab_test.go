package commands

import (
	"strings"
	"testing"
)

// The lab itself runs in testbed's TestClosedLoop (root, namespaces);
// here, the mistakes it refuses before touching anything.
func TestLabErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown scenario", []string{"-scenario", "sunny"}, []string{`unknown scenario "sunny"`, "step-drop", "or all"}},
		{"short duration", []string{"-duration", "2s"}, []string{"-duration 2s", "10s"}},
		{"policy", []string{"-policy", "wanctl,magic"}, []string{`-policy "wanctl,magic"`, "oracle", "fixed"}},
		{"load", []string{"-load", "sideways"}, []string{`-load "sideways"`, "both, download or upload"}},
		{"rate", []string{"-download", "10G"}, []string{`-download "10G"`, "1M to 200M"}},
		{"trace and scenario", []string{"-trace", "x.csv", "-scenario", "lte"}, []string{"exclude each other"}},
		{"argument", []string{"extra"}, []string{"takes no arguments"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, nil, "", append([]string{"lab"}, tc.args...)...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}
