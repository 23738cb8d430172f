package commands

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostileConfigs are configuration paths that once crashed, hung or
// exhausted validate, plan and fmt (issue 16): a FIFO (the read waited for a
// writer forever), /dev/zero and a symbolic link to it (out of memory), a
// file over the size limit and one nested 60,000 deep (a fatal stack
// overflow in HCL's parser). Each maps to what stderr must say.
func hostileConfigs(t *testing.T) map[string]string {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.hcl")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	huge := writeFile(t, dir, "huge.hcl", strings.Repeat("# padding\n", 110000), 0o600)
	deep := writeFile(t, dir, "deep.hcl", "x = "+strings.Repeat("[", 60000)+strings.Repeat("]", 60000)+"\n", 0o600)
	return map[string]string{
		fifo:        "not a regular file (a FIFO)",
		zero:        "not a regular file (a device)",
		"/dev/zero": "not a regular file (a device)",
		huge:        "larger than 1048576 bytes",
		deep:        "Nesting too deep",
	}
}

// runBounded is run, failing instead of hanging the test binary.
func runBounded(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := run(t, pwEnv, "", args...)
		done <- result{code, out, errOut}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.err
	case <-time.After(20 * time.Second):
		t.Fatalf("%v hangs", args)
		return 0, "", ""
	}
}

func TestHostileConfigFiles(t *testing.T) {
	for path, want := range hostileConfigs(t) {
		for _, args := range [][]string{
			{"validate", "-config", path},
			{"validate", "-json", "-config", path},
			{"plan", "-config", path},
			{"fmt", path},
		} {
			t.Run(filepath.Base(path)+" "+args[0], func(t *testing.T) {
				code, out, errOut := runBounded(t, args...)
				if code != 1 {
					t.Errorf("exit %d", code)
				}
				text := errOut + out
				if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
					t.Errorf("output lacks %q:\n%.3000s", want, text)
				}
				if want == "Nesting too deep" && args[1] != "-json" && !strings.Contains(text, path+":1:69") {
					t.Errorf("output lacks the position:\n%.3000s", text)
				}
			})
		}
	}
}

// TestPasswordNotPrinted: validate and plan never echo a password, however
// the configuration around it is broken.
func TestPasswordNotPrinted(t *testing.T) {
	dir := t.TempDir()
	for _, line := range []string{
		`url = "http://wanctl:Sup3rSecret@192.168.88.1"`,
		`password = "Sup3rSecret`,
		`pasword = "Sup3rSecret"`,
	} {
		p := writeFile(t, dir, "c.hcl", "router \"edge\" {\n  "+line+"\n}\n", 0o600)
		for _, args := range [][]string{{"validate", "-config", p}, {"validate", "-json", "-config", p}, {"plan", "-config", p}} {
			code, out, errOut := runBounded(t, args...)
			if code != 1 || strings.Contains(out+errOut, "Sup3rSecret") || !strings.Contains(out+errOut, "c.hcl") {
				t.Errorf("%s: %v: exit %d\n%s%s", line, args, code, out, errOut)
			}
		}
	}
}
