package steer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// writerEnv makes the test binary a child that saves two alternating
// states to the file named by it, forever (TestStateFileSurvivesKill).
const writerEnv = "WANCTL_STEER_TEST_WRITER"

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		os.Exit(stateWriter(path))
	}
	os.Exit(m.Run())
}

// killStates are the two contents the child alternates between: big
// enough (a full history) that a write takes a while.
func killStates() [2]State {
	var out [2]State
	for i := range out {
		s := NewState("spectrum")
		s.TransitionsTotal = int64(i + 1)
		s.LastRun = time.Date(2025, 6, 1, 12, 0, i, 0, time.UTC)
		for j := 0; j < HistoryLimit; j++ {
			s.History = append(s.History, Transition{Time: s.LastRun, From: "SPECTRUM_GOOD", To: "SPECTRUM_DEGRADED",
				Reason: fmt.Sprintf("variant %d transition %d: primary spectrum RED for 2 consecutive runs: rtt delta ewma 31.0ms, 12 drops, 140 queued", i, j)})
		}
		out[i] = s
	}
	return out
}

func stateWriter(path string) int {
	st := killStates()
	for i := 0; ; i++ {
		if err := SaveState(path, st[i%2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if i == 0 {
			fmt.Println("ready")
		}
	}
}

// TestStateFileSurvivesKill SIGKILLs a process that keeps saving the state
// at random moments: the file is always exactly the old or the new
// content, never a mix, and LoadState reads it.
func TestStateFileSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFileName)
	var want [2][]byte
	for i, s := range killStates() {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want[i] = append(b, '\n')
	}
	seen := [2]int{}
	const iterations = 60
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
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %q %v\n%s", line, err, stderr.String())
		}
		// A random kill point, not a wait for a condition.
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
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
			t.Fatalf("iteration %d: the state file is neither version (%d bytes):\n%.300s", it, len(got), got)
		}
		if st, err := LoadState(path); err != nil || len(st.History) != HistoryLimit {
			t.Fatalf("iteration %d: LoadState: %v", it, err)
		}
	}
	t.Logf("%d kills: old/new content %d/%d", iterations, seen[0], seen[1])
}
