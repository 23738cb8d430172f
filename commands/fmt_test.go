package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const unformatted = "router \"edge\" {\nurl = \"https://192.168.88.1\"\n    username=\"wanctl\"\n}\n"
const formatted = "router \"edge\" {\n  url      = \"https://192.168.88.1\"\n  username = \"wanctl\"\n}\n"

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFmtCheck(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.hcl", unformatted, 0o640)
	good := writeFile(t, dir, "good.hcl", formatted, 0o644)

	code, out, errOut := run(t, nil, "", "fmt", "-check", bad, good)
	if code != 3 || out != bad+"\n" || !strings.Contains(errOut, "1 file is not formatted") {
		t.Errorf("-check: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if readFile(t, bad) != unformatted {
		t.Error("-check changed the file")
	}
	if code, out, _ := run(t, nil, "", "fmt", "-check", good); code != 0 || out != "" {
		t.Errorf("-check on a formatted file: exit %d %q", code, out)
	}
	// The examples are formatted.
	if code, out, _ := run(t, nil, "", "fmt", "-check", "../examples"); code != 0 {
		t.Errorf("examples not formatted: %s", out)
	}
}

func TestFmtInPlace(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.hcl", unformatted, 0o640)
	good := writeFile(t, dir, "good.hcl", formatted, 0o644)
	writeFile(t, dir, "notes.txt", "not hcl {", 0o644)

	code, out, errOut := run(t, nil, "", "fmt", dir) // a directory: its *.hcl files
	if code != 0 || out != bad+"\n" || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := readFile(t, bad); got != formatted {
		t.Errorf("rewritten:\n%s", got)
	}
	if st, _ := os.Stat(bad); st.Mode().Perm() != 0o640 {
		t.Errorf("mode changed to %04o", st.Mode().Perm())
	}
	if readFile(t, good) != formatted {
		t.Error("formatted file changed")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if code, out, _ := run(t, nil, "", "fmt", "-check", bad); code != 0 || out != "" {
		t.Errorf("not idempotent: %d %q", code, out)
	}
}

func TestFmtStdin(t *testing.T) {
	code, out, errOut := run(t, nil, unformatted, "fmt", "-")
	if code != 0 || out != formatted || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = run(t, nil, unformatted, "fmt", "-check", "-")
	if code != 3 || out != "" {
		t.Errorf("-check stdin: exit %d, stdout %q", code, out)
	}
	if code, _, _ := run(t, nil, formatted, "fmt", "-check", "-"); code != 0 {
		t.Errorf("-check formatted stdin: exit %d", code)
	}
}

// With no argument fmt works on the configuration file as validate finds it,
// whatever standard input is (a CI step runs with stdin not a terminal).
func TestFmtNoArgumentIsConfigFile(t *testing.T) {
	for name, stdin := range map[string]string{"empty stdin": "", "formatted stdin": formatted} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ugly := writeFile(t, dir, "ugly.hcl", unformatted, 0o640)
			other := writeFile(t, dir, "other.hcl", unformatted, 0o640)
			env := map[string]string{"WANCTL_CONFIG": ugly}

			code, out, errOut := run(t, env, stdin, "fmt", "-check")
			if code != 3 || out != ugly+"\n" || !strings.Contains(errOut, "1 file is not formatted") {
				t.Errorf("$WANCTL_CONFIG: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			code, out, _ = run(t, env, stdin, "fmt", "-check", "-config", other)
			if code != 3 || out != other+"\n" {
				t.Errorf("-config: exit %d, stdout %q", code, out)
			}
			code, out, _ = run(t, env, stdin, "fmt")
			if code != 0 || out != ugly+"\n" || readFile(t, ugly) != formatted {
				t.Errorf("in place: exit %d, stdout %q, file %q", code, out, readFile(t, ugly))
			}
			if code, _, _ := run(t, env, stdin, "fmt", "-check"); code != 0 {
				t.Errorf("after formatting: exit %d", code)
			}
		})
	}
}

func TestFmtSyntaxError(t *testing.T) {
	dir := t.TempDir()
	src := "router \"edge\" {\n  url = = \"x\"\n}\n"
	p := writeFile(t, dir, "broken.hcl", src, 0o644)
	code, out, errOut := run(t, nil, "", "fmt", p)
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, p+":2:9") || !strings.Contains(errOut, `url = = "x"`) {
		t.Errorf("stderr lacks position or snippet:\n%s", errOut)
	}
	if readFile(t, p) != src {
		t.Error("broken file rewritten")
	}
	if code, _, errOut := run(t, nil, "", "fmt", filepath.Join(dir, "missing.hcl")); code != 1 || !strings.Contains(errOut, "missing.hcl") {
		t.Errorf("missing file: exit %d %s", code, errOut)
	}
	if code, _, errOut := run(t, nil, "x = = 1\n", "fmt", "-"); code != 1 || !strings.Contains(errOut, "<stdin>:1:5") {
		t.Errorf("broken stdin: exit %d %s", code, errOut)
	}
}
