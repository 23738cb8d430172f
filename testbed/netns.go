package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

// nsPrefix starts every namespace a testbed creates: "wtb<pid>-<role>".
// The pid lets a later run recognise the namespaces of a run that died
// without cleaning up (SIGKILL, a crash) and delete them.
const nsPrefix = "wtb"

var staleName = regexp.MustCompile(`^` + nsPrefix + `([0-9]+)-[a-z0-9]+$`)

// netns is one named network namespace.
type netns struct{ name string }

func (n netns) path() string { return netnsDir + "/" + n.name }

// do runs fn on an OS thread that has joined the namespace and waits for
// it. Sockets opened in fn belong to the namespace for their whole life,
// whatever thread uses them later; a process started in fn starts in it.
// The thread is never handed back to the Go scheduler (the goroutine ends
// locked), so no other goroutine ever runs in a foreign namespace.
func (n netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := n.enter(); err != nil {
			errc <- err
			return
		}
		errc <- protect(fn)
	}()
	return <-errc
}

// enter moves the calling (locked) thread into the namespace.
func (n netns) enter() error {
	f, err := os.Open(n.path())
	if err != nil {
		return fmt.Errorf("netns %s: %w", n.name, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", n.name, err)
	}
	return nil
}

// protect runs fn, turning a panic into an error: a panic in a goroutine
// would end the process without the deferred namespace cleanup.
func protect(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			buf := make([]byte, 4096)
			buf = buf[:runtime.Stack(buf, false)]
			err = fmt.Errorf("testbed: panic: %v\n%s", r, buf)
		}
	}()
	return fn()
}

// command runs a command and returns its error with its output, naming
// the command.
func command(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// commandOutput runs a command and returns its standard output.
func commandOutput(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// addNetns creates a namespace with lo up.
func addNetns(ctx context.Context, name string) (netns, error) {
	if err := command(ctx, "ip", "netns", "add", name); err != nil {
		return netns{}, err
	}
	n := netns{name}
	if err := command(ctx, "ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return n, err
	}
	return n, nil
}

// delNetns deletes a namespace. Its interfaces go with it once the last
// socket in it is closed.
func delNetns(name string) error {
	// A fresh context: cleanup must happen after the run's was cancelled.
	return command(context.Background(), "ip", "netns", "del", name)
}

// CleanStale deletes the namespaces left by testbed runs whose process is
// gone, and returns their names. Namespaces of live processes (another
// run) are left alone.
func CleanStale() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("testbed: listing stale namespaces: %w", err)
	}
	var gone []string
	var errs []error
	for _, e := range entries {
		m := staleName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := delNetns(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, e.Name())
	}
	return gone, errors.Join(errs...)
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
