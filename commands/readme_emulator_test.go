package commands

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the lines of the first ```sh block after heading in
// ../README.md.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	text = text[i:]
	start := strings.Index(text, "```sh\n")
	if start < 0 {
		t.Fatalf("README.md %q has no sh block", heading)
	}
	text = text[start+len("```sh\n"):]
	end := strings.Index(text, "```")
	if end < 0 {
		t.Fatalf("README.md %q: unterminated code block", heading)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(text[:end]))
	for sc.Scan() {
		line := sc.Text()
		if k := strings.Index(line, " #"); k >= 0 {
			line = line[:k]
		}
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// The README's emulator steps, run as written: the in-process command line
// stands in for the built ./wanctl, on a free loopback port instead of
// 8080. Every other step must succeed (exit 0); a step the test cannot run
// fails it, so the README cannot grow a step nobody runs.
func TestReadmeEmulatorSteps(t *testing.T) {
	lines := readmeBlock(t, "## Trying it without a router")
	t.Chdir(t.TempDir()) // the steps' relative paths
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if len(lines) == 0 || lines[0] != "go build -o wanctl ." {
		t.Fatalf("README steps do not start with the build: %q", lines)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emuDone := make(chan error, 1)
	emuStarted := false
	var emuOut, emuErr lockedBuffer
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		switch {
		case fields[0] == "export" && len(fields) == 2 && strings.Contains(fields[1], "="):
			k, v, _ := strings.Cut(fields[1], "=")
			env[k] = v
		case fields[0] == "./wanctl" && len(fields) > 1 && fields[1] == "emulator":
			args := append([]string{"wanctl"}, fields[1:]...)
			args = append(args, "-listen", "127.0.0.1:0", "-latency", "0s")
			go func() {
				emuDone <- newApp(IO{In: strings.NewReader(""), Out: &emuOut, Err: &emuErr, Getenv: getenv}).RunContext(ctx, args)
			}()
			waitFor(t, &emuOut, regexp.MustCompile(`(Stop with Ctrl-C)`))
			emuStarted = true
		case fields[0] == "./wanctl":
			if !emuStarted {
				t.Fatalf("README step %q comes before the emulator runs", line)
			}
			r := runEnv(t, env, fields[1:]...)
			if r.code != 0 {
				t.Fatalf("README step %q: exit %d\nstdout:\n%s\nstderr:\n%s\nemulator:\n%s", line, r.code, r.out, r.err, emuOut.String())
			}
		default:
			t.Fatalf("README step %q: this test does not know how to run it", line)
		}
	}
	if !emuStarted {
		t.Fatal("README steps never start the emulator")
	}
	cancel()
	select {
	case err := <-emuDone:
		if err != nil {
			t.Fatalf("emulator: %v\n%s", err, emuErr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("emulator did not stop")
	}
}
