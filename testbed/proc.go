package testbed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is a child process started inside a namespace. It gets SIGKILL when
// the thread that started it ends (Pdeathsig): that thread stays with the
// process until it exits, so the child dies with the testbed however the
// testbed ends (a panic, SIGKILL), and never outlives it in a namespace
// nobody deletes.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // after done
	cpu  time.Duration
}

// startIn starts cmd in ns.
func startIn(ns netns, cmd *exec.Cmd) (*proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p := &proc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(p.done)
		runtime.LockOSThread() // never unlocked: the thread ends with the child
		if err := ns.enter(); err != nil {
			started <- err
			return
		}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("starting %s: %w", cmd.Path, err)
			return
		}
		started <- nil
		p.err = cmd.Wait()
		if st := cmd.ProcessState; st != nil {
			p.cpu = st.UserTime() + st.SystemTime()
		}
	}()
	if err := <-started; err != nil {
		<-p.done
		return nil, err
	}
	return p, nil
}

// stop sends SIGTERM, waits up to grace, then kills; it returns the
// process's error (nil for an exit after SIGTERM with status 0).
func (p *proc) stop(grace time.Duration) error {
	return p.wait(0, grace)
}

// wait gives the process exiting time to exit on its own, then stops it.
func (p *proc) wait(exiting, grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(exiting):
	}
	_ = p.cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return errors.Join(fmt.Errorf("%s did not stop within %v of SIGTERM: killed", p.cmd.Path, grace), p.err)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// selfExe returns how to run this program as wanctl.
func selfExe() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("testbed: locating this program: %w", err)
	}
	return []string{exe}, nil
}
