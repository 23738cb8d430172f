package autorate

import (
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// startTimerfd calls fire every d from a Linux timerfd, waited for through
// the runtime's network poller, until the returned stop (which waits for
// the last fire to return).
//
// A time.Ticker in an otherwise idle process costs three OS thread
// wake-ups per tick: the thread that runs the timer, and the runtime's
// sysmon thread, which sleeps until the next runtime timer is due and then
// polls once more before it sleeps again. A timerfd is no runtime timer:
// the thread waiting in the poller wakes up once, when it expires, and
// sysmon sleeps on. The timerfd is read with a raw system call (it is
// non-blocking), which does not wake sysmon either, as the runtime's
// system call bookkeeping would.
func startTimerfd(d time.Duration, fire func(time.Time)) (stop func(), err error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	ts := unix.NsecToTimespec(int64(d))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "timerfd") // non-blocking: registered with the poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	done, closing := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var buf [8]byte // the number of expirations since the last read
		var rerr error
		read := func(fd uintptr) bool {
			_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			var ready bool
			ready, rerr = timerfdRead(errno)
			return ready
		}
		for {
			err := rc.Read(read)
			if err == nil {
				err = rerr
			}
			if err != nil {
				select {
				case <-closing:
					return // closed by stop
				default:
				}
				// The timerfd failed under us: the loops must go on
				// ticking, on the runtime's timer.
				stopFallback := goTimer(d, fire)
				<-closing
				stopFallback()
				return
			}
			// Expirations missed while the process was not scheduled
			// are not made up for (as a time.Ticker).
			fire(time.Now())
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(closing)
			f.Close() // wakes the reader: rc.Read fails
			<-done
		})
	}, nil
}

// timerfdRead classifies the result of one read of the timerfd: ready
// (stop waiting) with err nil is a tick; not ready means wait for the
// poller again (EAGAIN: nothing yet, EINTR: interrupted); any other errno
// is an error that ends the timerfd.
func timerfdRead(errno unix.Errno) (ready bool, err error) {
	switch errno {
	case 0:
		return true, nil
	case unix.EAGAIN, unix.EINTR:
		return false, nil
	default:
		return true, fmt.Errorf("timerfd read: %w", errno)
	}
}
