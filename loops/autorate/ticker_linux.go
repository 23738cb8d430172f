package autorate

import (
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf [8]byte // the number of expirations since the last read
		read := func(fd uintptr) bool {
			_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			return errno != unix.EAGAIN
		}
		for {
			if err := rc.Read(read); err != nil {
				return // closed by stop
			}
			// Expirations missed while the process was not scheduled
			// are not made up for (as a time.Ticker).
			fire(time.Now())
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.Close() // wakes the reader: rc.Read fails
			<-done
		})
	}, nil
}
