//go:build reliability

package reliability

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The built wanctl, for what only a process shows: a kill -9, a signal, a
// file read at startup, its peak RSS. Built once per test binary.
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func wanctlBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		if buildDir, err = os.MkdirTemp("", "wanctl-reliability-"); err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(buildDir, "wanctl")
		cmd := exec.Command(goBin, "build", "-o", builtBin, "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("building wanctl: %v", buildErr)
	}
	return builtBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }
