package autorate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

// LoadReadInterval is how often the daemon reads the queue counters of a
// router's WANs while every one of them is calm (and the simulator models
// it): one GET a second for all the router's WANs. LoadReadIntervalBusy is
// the cadence while one of them is not (Controller.LoadBusy): a capacity
// estimate from the counters is as old as their window, and a drop's queue
// grows while it waits. Why these two: docs/autorate.md, "Load".
const (
	LoadReadInterval     = time.Second
	LoadReadIntervalBusy = 250 * time.Millisecond
)

// loadReadTimeout bounds one counter read. A reply later than this would
// be a calm interval late (four busy ones), and while a read is in flight no write can be
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
	// Err is this queue's problem (missing, unreadable) in a read that
	// worked for the others.
	Err error
}

// CounterReader is implemented by executors that can read queue counters
// (RouterExecutor): the Writer then reads them between writes.
type CounterReader interface {
	// ReadCounters reads the counters of the named queues with one
	// request; the result is in the order of queues. An error is the
	// request's; a queue's own problem is in its QueueCounters.Err.
	ReadCounters(ctx context.Context, queues []string) ([]QueueCounters, error)
}

// loadProplist are the fields a counter read asks for.
var loadProplist = []string{"name", "bytes", "max-limit"}

// ReadCounters implements CounterReader with one GET of the queue tree
// narrowed to name, bytes and max-limit. A GET filter is an AND of
// equalities (ROUTEROS.md), so it cannot select several names: the whole
// tree comes back, a few dozen bytes per queue, and the queues are picked
// from it.
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
			out[i].Err = fmt.Errorf("queue %q: %w", q, ErrQueueMissing)
			continue
		}
		b, err := strconv.ParseUint(o["bytes"], 10, 64)
		if err != nil {
			out[i].Err = fmt.Errorf("queue %q: bytes %q: %w", q, o["bytes"], err)
			continue
		}
		ml, err := routeros.ParseRate(o["max-limit"])
		if err != nil {
			out[i].Err = fmt.Errorf("queue %q: max-limit %q: %w", q, o["max-limit"], err)
			continue
		}
		out[i] = QueueCounters{Bytes: b, MaxLimit: ml}
	}
	return out, nil
}

// LoadReader is one WAN's queue counters, read through its router's
// Writer, for the WAN's Loop (LoadSource). The loops' runner calls Poll
// after every cycle; a read of the router is due every LoadReadInterval,
// and the writer performs it when no write is waiting: writes always go
// first. One GET serves every WAN of the router (it returns the whole
// queue tree anyway). A read that fails is simply made again at the next
// interval, without backoff and without holding up writes.
type LoadReader struct {
	w      *Writer
	queues [2]string

	// guarded by w.mu
	polled   time.Time // the last Poll's time (zero: none)
	busy     bool      // the last Poll asked for the busy cadence
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

// Poll requests a read of the router when one is due at now: every
// LoadReadInterval, or LoadReadIntervalBusy after the last read while the
// loop of any WAN of the router is busy (busy: this WAN's, from
// Controller.LoadBusy). Called after each control cycle, so a read starts
// behind the writes the cycle decided, and as far as possible from the
// next cycle's. It never blocks. The WANs of a router share the read, and
// their loops tick together: it is asked for once every one of them has
// finished its cycle at or after the due time (behind all their writes),
// or, should one of them be stuck, at the next cycle of another.
func (r *LoadReader) Poll(now time.Time, busy bool) {
	w := r.w
	w.mu.Lock()
	r.busy = busy
	iv := LoadReadInterval
	for _, x := range w.readers {
		if x.busy {
			iv = LoadReadIntervalBusy
		}
	}
	var due time.Time
	if !w.readLast.IsZero() {
		due = w.readLast.Add(iv)
	}
	again := !r.polled.IsZero() && !r.polled.Before(due) // polled since it fell due: a later cycle
	r.polled = now
	if now.Before(due) {
		w.mu.Unlock()
		return
	}
	if !again {
		for _, x := range w.readers {
			if x.polled.IsZero() || x.polled.Before(due) {
				w.mu.Unlock()
				return // that WAN's cycle is not done yet
			}
		}
	}
	w.readLast = now
	// A read still waiting or in flight stands for this one: never more
	// than one at a time.
	request := !w.readDue && !w.reading
	w.readDue = w.readDue || request
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
	Counters [2]QueueCounters // as the newest successful read returned them
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

// pickRead marks a due read in flight and returns the queues to read
// (every reader's, in order), or nil when none is due.
func (w *Writer) pickRead() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.readDue || len(w.readers) == 0 {
		return nil
	}
	w.readDue, w.reading = false, true
	q := make([]string, 0, 2*len(w.readers))
	for _, r := range w.readers {
		q = append(q, r.queues[0], r.queues[1])
	}
	return q
}

// read performs a read of queues (pickRead's) and hands each reader its
// part. Its outcome touches neither the writes' backoff nor the router's
// write failures: the next read is simply due at the next interval.
func (w *Writer) read(ctx context.Context, queues []string) {
	w.attempt(w.o.Now())
	rctx, cancel := context.WithTimeout(ctx, min(w.o.Timeout, loadReadTimeout))
	start := time.Now()
	c, err := w.reader.ReadCounters(rctx, queues)
	dur := time.Since(start)
	cancel()
	if err == nil && len(c) != len(queues) {
		err = fmt.Errorf("read queue counters: %d results for %d queues", len(c), len(queues))
	}
	at := w.o.Now() // the reply's arrival
	w.mu.Lock()
	w.reading = false
	if ctx.Err() != nil {
		w.mu.Unlock()
		return
	}
	if err == nil {
		w.replied(at)
		w.lastReadErr = ""
	} else {
		w.lastReadErr = err.Error()
	}
	type outcome struct {
		r        *LoadReader
		err      error
		failures int // before this read
	}
	out := make([]outcome, 0, len(w.readers))
	var drifts []driftFound
	for i, r := range w.readers {
		o := outcome{r: r, err: err, failures: r.failures}
		if err == nil {
			o.err = errors.Join(c[2*i].Err, c[2*i+1].Err)
		}
		if o.err == nil {
			for d, q := range r.queues {
				r.counters[d] = c[2*i+d]
				r.last[d] = LoadReading{Bytes: c[2*i+d].Bytes, At: at}
				if s := w.slot(q); s != nil {
					if f, ok := s.checkDrift(c[2*i+d].MaxLimit, at); ok {
						drifts = append(drifts, f)
					}
				}
			}
			r.lastOK, r.failures, r.lastErr = at, 0, ""
		} else {
			r.failures++
			r.lastErr, r.lastErrT = o.err.Error(), at
		}
		out = append(out, o)
	}
	w.mu.Unlock()
	if w.o.ObserveRead != nil {
		w.o.ObserveRead(err, dur)
	}
	for _, f := range drifts {
		if w.o.ObserveDrift != nil {
			w.o.ObserveDrift(f.queue)
		}
		if f.log {
			w.o.Logger.Warn("queue max-limit on the router is not the rate last written (changed by hand, by another tool or by a router reset); writing it again",
				"router", w.router, "queue", f.queue, "found_max_limit", f.found, "max_limit", f.written, "last_written_at", f.writtenAt)
		}
	}
	for _, o := range out {
		queues := o.r.queues[0] + "," + o.r.queues[1]
		switch {
		case o.err != nil && o.failures == 0:
			w.o.Logger.Warn("router counter read failed; reading again at the next interval", "router", w.router, "queues", queues, "err", o.err)
		case o.err != nil:
			w.o.Logger.Debug("router counter read failed", "router", w.router, "queues", queues, "failures", o.failures+1, "err", o.err)
		case o.failures > 0:
			w.o.Logger.Info("router counter reads resumed", "router", w.router, "queues", queues, "after_failures", o.failures)
		}
	}
}

// slot returns the writer's slot of queue (nil: none); w.mu is held.
func (w *Writer) slot(queue string) *Slot {
	for _, s := range w.slots {
		if s.queue == queue {
			return s
		}
	}
	return nil
}

// driftFound is a drift a read found, to count and log outside w.mu.
type driftFound struct {
	queue          string
	found, written int64
	writtenAt      time.Time
	log            bool // the first of its episode
}

// checkDrift compares the max-limit a read found at at with the last
// write; w.mu is held. It reports a new drift (to count; log says whether
// it starts an episode). Reads and writes of a router are one at a time,
// so no write is in flight during the read; a write waiting (pending) is
// about to set the queue anyway, and a failed write the router applied
// after all is our own rate, written again without a report.
func (s *Slot) checkDrift(found int64, at time.Time) (driftFound, bool) {
	if s.written == 0 || s.pending || s.sending {
		return driftFound{}, false
	}
	if sameRate(found, s.written) {
		s.drift, s.tried = driftState{}, 0
		return driftFound{}, false
	}
	own := s.tried != 0 && sameRate(found, s.tried)
	s.tried = 0
	if !s.drift.due.IsZero() {
		return driftFound{}, false // already waiting for the write budget
	}
	s.drift.found, s.drift.due, s.drift.queued = found, at, false
	if own {
		return driftFound{}, false
	}
	f := driftFound{queue: s.queue, found: found, written: s.written, writtenAt: s.writtenAt, log: !s.drift.episode}
	s.drift.episode = true
	return f, true
}

// reassertDue returns when a re-assert of the slot's last written rate
// fell due (ok false: none is waiting).
func (s *Slot) reassertDue() (due time.Time, ok bool) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if s.drift.due.IsZero() || s.pending || s.sending {
		return time.Time{}, false
	}
	return s.drift.due, true
}

// reassert hands the writer the last written rate again, once the write
// budget allowed it (Daemon.reassert).
func (s *Slot) reassert() {
	w := s.w
	w.mu.Lock()
	if s.drift.due.IsZero() || s.pending || s.sending {
		w.mu.Unlock()
		return // a write of the controller's came first and settled it
	}
	s.want = s.written
	s.drift.due, s.drift.queued = time.Time{}, true
	s.pending = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}
