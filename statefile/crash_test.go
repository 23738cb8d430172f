package statefile

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writerEnv makes the test binary a child that writes the two contents of
// crashContents to the file named by it, alternately, forever, reporting
// each completed write on stdout (TestCrashLeavesOldOrNew).
const writerEnv = "WANCTL_STATEFILE_TEST_WRITER"

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		os.Exit(crashWriter(path))
	}
	os.Exit(m.Run())
}

// crashContents are two JSON documents big enough (half a megabyte) that
// a write takes a while, so that kills land inside writes too. They are
// marshalled beforehand: the child's time goes to the writes.
func crashContents() [2][]byte {
	var out [2][]byte
	for i := range out {
		out[i] = []byte(`{"v":"` + strings.Repeat(fmt.Sprint(i), 512<<10) + `"}`)
	}
	return out
}

// crashWriter alternates between WriteAtomic and Refresh: both must be
// crash-safe.
func crashWriter(path string) int {
	c := crashContents()
	for i := 0; ; i++ {
		write := WriteAtomic
		if i%3 == 2 {
			write = Refresh
		}
		if err := write(path, c[i%2], 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("wrote")
	}
}

// TestCrashLeavesOldOrNew SIGKILLs a process that keeps rewriting a file,
// after a random number of completed writes (the kill lands wherever the
// child then is): the file is always exactly one of the two contents, and
// the temporary files the kills left are removed by the next read once
// stale, leaving nothing behind.
func TestCrashLeavesOldOrNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wan.json")
	want := crashContents()
	seen, leftovers := [2]int{}, 0
	const iterations = 30
	for it := 0; it < iterations; it++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), writerEnv+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		out := bufio.NewReader(stdout)
		for n := 1 + rand.IntN(4); n > 0; n-- {
			if line, err := out.ReadString('\n'); err != nil || line != "wrote\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child: %q %v\n%s", line, err, stderr.String())
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		switch {
		case bytes.Equal(got, want[0]):
			seen[0]++
		case bytes.Equal(got, want[1]):
			seen[1]++
		default:
			t.Fatalf("iteration %d: the file is neither content (%d bytes)", it, len(got))
		}
		// Whatever temporary file the kill left is a crash's leftover
		// once old enough.
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-2 * staleAfter)
		for _, e := range ents {
			if e.Name() != "wan.json" {
				leftovers++
				if err := os.Chtimes(filepath.Join(dir, e.Name()), old, old); err != nil {
					t.Fatal(err)
				}
			}
		}
		var v map[string]string
		if found, err := ReadJSON(path, &v, nil); !found || err != nil || len(v["v"]) != 512<<10 {
			t.Fatalf("iteration %d: read: %v %v", it, found, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("iteration %d: left behind after the read: %v", it, ents)
		}
	}
	t.Logf("%d kills: old/new content %d/%d, %d temporary files left by them", iterations, seen[0], seen[1], leftovers)
}
