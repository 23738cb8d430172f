package autorate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

// LoadReadInterval is how often the daemon reads a WAN's queue counters
// (and the simulator models it): 2 reads per second, one GET each for both
// directions. Why 500 ms: docs/autorate.md, "Load".
const LoadReadInterval = 500 * time.Millisecond

// loadReadTimeout bounds one counter read. A reply later than this would
// be stale by two intervals, and while a read is in flight no write can be
// sent (one request at a time per router): a slow read is given up instead
// of holding back a decrease for the writer's full timeout.
const loadReadTimeout = time.Second

// QueueCounters is what one read returned for a queue-tree entry.
type QueueCounters struct {
	// Bytes the queue has passed since its counters were last reset.
	Bytes uint64
	// MaxLimit is the rate the router applies (bits/s, 0 = unlimited):
	// the drift check compares it with the last write.
	MaxLimit int64
}

// CounterReader is implemented by executors that can read queue counters
// (RouterExecutor): the Writer then reads them between writes.
type CounterReader interface {
	// ReadCounters reads the counters of the named queues with one
	// request; the result is in the order of queues.
	ReadCounters(ctx context.Context, queues []string) ([]QueueCounters, error)
}

// loadProplist are the fields a counter read asks for.
var loadProplist = []string{"name", "bytes", "max-limit"}

// ReadCounters implements CounterReader with one GET of the queue tree
// narrowed to name, bytes and max-limit. A GET filter is an AND of
// equalities (ROUTEROS.md), so it cannot select two names: the whole tree
// comes back, a few dozen bytes per queue, and the queues are picked from
// it.
func (e *RouterExecutor) ReadCounters(ctx context.Context, queues []string) ([]QueueCounters, error) {
	objs, err := e.api.Query(ctx, routeros.MenuQueueTree, routeros.Query{Proplist: loadProplist})
	if err != nil {
		return nil, fmt.Errorf("read queue counters: %w", err)
	}
	out := make([]QueueCounters, len(queues))
	for i, q := range queues {
		var o routeros.Object
		for _, x := range objs {
			if x["name"] == q {
				o = x
				break
			}
		}
		if o == nil {
			return nil, fmt.Errorf("queue %q: %w", q, ErrQueueMissing)
		}
		b, err := strconv.ParseUint(o["bytes"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("queue %q: bytes %q: %w", q, o["bytes"], err)
		}
		ml, err := routeros.ParseRate(o["max-limit"])
		if err != nil {
			return nil, fmt.Errorf("queue %q: max-limit %q: %w", q, o["max-limit"], err)
		}
		out[i] = QueueCounters{Bytes: b, MaxLimit: ml}
	}
	return out, nil
}

// LoadReader reads one WAN's queue counters through its router's Writer
// and hands the readings to the WAN's Loop (LoadSource). The loop's
// runner calls Poll after every cycle; a read is due every
// LoadReadInterval, and the writer performs it when no write is waiting:
// writes always go first, and a read that fails is simply made again at
// the next interval, without backoff and without holding up writes.
type LoadReader struct {
	w      *Writer
	queues [2]string

	// guarded by w.mu
	next     time.Time // the next read is due at the first Poll from then
	due      bool      // a read is requested and not started
	reading  bool      // a read is in flight
	last     [2]LoadReading
	counters [2]QueueCounters
	lastOK   time.Time
	failures int // consecutive
	lastErr  string
	lastErrT time.Time
}

// Load returns a reader of the download and upload queues' counters on
// this writer's router, or nil when its executor cannot read counters.
func (w *Writer) Load(download, upload string) *LoadReader {
	if w.reader == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	r := &LoadReader{w: w, queues: [2]string{download, upload}}
	w.readers = append(w.readers, r)
	return r
}

// Load implements LoadSource: the newest readings, download then upload.
func (r *LoadReader) Load() [2]LoadReading {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	return r.last
}

// Poll requests a read when one is due at now. Called after each control
// cycle, so a read starts behind the writes the cycle decided, and as far
// as possible from the next cycle's. It never blocks.
func (r *LoadReader) Poll(now time.Time) {
	w := r.w
	w.mu.Lock()
	if r.next.IsZero() {
		// The WANs of one router read in turn, spread over the interval
		// (2 WANs: 250 ms apart): their loops tick together, and two reads
		// after one cycle would keep the router busy into the next.
		for i, x := range w.readers {
			if x == r && i > 0 {
				r.next = now.Add(LoadReadInterval * time.Duration(i) / time.Duration(len(w.readers)))
			}
		}
	}
	if now.Before(r.next) {
		w.mu.Unlock()
		return
	}
	if r.next.IsZero() || now.Sub(r.next) >= LoadReadInterval {
		r.next = now.Add(LoadReadInterval) // first poll, or fell behind: restart the grid
	} else {
		r.next = r.next.Add(LoadReadInterval)
	}
	// A read still waiting or in flight stands for this one: never more
	// than one per WAN.
	request := !r.due && !r.reading
	r.due = r.due || request
	w.mu.Unlock()
	if request {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// LoadReadStatus is a WAN's counter reads.
type LoadReadStatus struct {
	Queues   [2]string
	Readings [2]LoadReading   // the newest (zero At: none yet)
	Counters [2]QueueCounters // as the newest read returned them
	LastRead time.Time        // the last successful read (zero: none)
	// Failures counts consecutive failed reads; LastError is the latest
	// failure's ("" after a success).
	Failures    int
	LastError   string
	LastErrorAt time.Time
}

// Status returns the reader's state.
func (r *LoadReader) Status() LoadReadStatus {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	return LoadReadStatus{Queues: r.queues, Readings: r.last, Counters: r.counters, LastRead: r.lastOK,
		Failures: r.failures, LastError: r.lastErr, LastErrorAt: r.lastErrT}
}

// pickRead chooses a reader whose read is due, in turn, and marks it in
// flight.
func (w *Writer) pickRead() *LoadReader {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.readers)
	for i := range n {
		r := w.readers[(w.nextRead+i)%n]
		if r.due {
			w.nextRead = (w.nextRead + i + 1) % n
			r.due, r.reading = false, true
			return r
		}
	}
	return nil
}

// read performs r's read. Its outcome touches neither the writes' backoff
// nor the router's write failures: the next read is simply due at the
// next interval.
func (w *Writer) read(ctx context.Context, r *LoadReader) {
	rctx, cancel := context.WithTimeout(ctx, min(w.o.Timeout, loadReadTimeout))
	start := time.Now()
	c, err := w.reader.ReadCounters(rctx, r.queues[:])
	dur := time.Since(start)
	cancel()
	if err == nil && len(c) != len(r.queues) {
		err = fmt.Errorf("read queue counters: %d results for %d queues", len(c), len(r.queues))
	}
	at := w.o.Now() // the reply's arrival
	w.mu.Lock()
	r.reading = false
	if ctx.Err() != nil {
		w.mu.Unlock()
		return
	}
	failures := r.failures
	if err == nil {
		for i := range r.queues {
			r.counters[i] = c[i]
			r.last[i] = LoadReading{Bytes: c[i].Bytes, At: at}
		}
		r.lastOK, r.failures, r.lastErr = at, 0, ""
	} else {
		r.failures++
		r.lastErr, r.lastErrT = err.Error(), at
	}
	w.mu.Unlock()
	if w.o.ObserveRead != nil {
		w.o.ObserveRead(r, err, dur)
	}
	switch {
	case err != nil && failures == 0:
		w.o.Logger.Warn("router counter read failed; reading again at the next interval", "router", w.router,
			"queues", r.queues[0]+","+r.queues[1], "err", err)
	case err != nil:
		w.o.Logger.Debug("router counter read failed", "router", w.router, "queues", r.queues[0]+","+r.queues[1], "failures", failures+1, "err", err)
	case failures > 0:
		w.o.Logger.Info("router counter reads resumed", "router", w.router, "queues", r.queues[0]+","+r.queues[1], "after_failures", failures)
	}
}
