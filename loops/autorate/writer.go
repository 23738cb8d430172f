package autorate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

// Executor sets a queue's max-limit on a router. The real one is a
// RouterExecutor over the REST client; the simulator's applies the rate to
// its link model after a virtual latency.
type Executor interface {
	SetMaxLimit(ctx context.Context, queue string, bps int64) error
}

// QueueAPI is the part of *routeros.Client a RouterExecutor uses.
type QueueAPI interface {
	Query(ctx context.Context, menu string, q routeros.Query) ([]routeros.Object, error)
	Set(ctx context.Context, menu, id string, fields routeros.Object) (routeros.Object, error)
}

// RouterExecutor writes max-limit with PATCH /rest/queue/tree/<id>. The
// .id is looked up by name once (one filtered GET) and looked up again when
// the router answers 404 (the queue was recreated, e.g. by apply) or when
// the PATCH reply names another entry: ids are reused after a router reset
// or when another tool deletes and adds queues, and the cached id then
// points at a queue that is not ours.
type RouterExecutor struct {
	api         QueueAPI
	isNotFound  func(error) bool
	mu          sync.Mutex
	ids         map[string]string
	onMisdirect func(MisdirectedWrite)
}

// NewRouterExecutor returns an executor over api; isNotFound tells a 404
// (routeros.IsNotFound for the real client).
func NewRouterExecutor(api QueueAPI, isNotFound func(error) bool) *RouterExecutor {
	return &RouterExecutor{api: api, isNotFound: isNotFound, ids: map[string]string{}}
}

// MisdirectedWrite is a max-limit write the router applied to a queue-tree
// entry other than the configured queue, because the cached .id had been
// given to that entry. The entry's previous max-limit is not in the reply,
// so it cannot be put back: the operator has to.
type MisdirectedWrite struct {
	Queue    string // the configured queue the write was meant for
	ID       string // the .id the write went to
	Name     string // the name of the entry that took it ("" if the reply had none)
	Comment  string
	MaxLimit int64 // the rate written into it
}

// OnMisdirected sets the function told about every misdirected write
// (the daemon logs it and counts it). Call it before the first write.
func (e *RouterExecutor) OnMisdirected(f func(MisdirectedWrite)) {
	e.mu.Lock()
	e.onMisdirect = f
	e.mu.Unlock()
}

// ErrQueueMissing is wrapped when the router has no queue-tree entry of
// that name.
var ErrQueueMissing = errors.New("queue-tree entry not found on the router (run 'wanctl apply' to create it)")

// ErrMisdirected is wrapped when a write landed on another queue-tree
// entry even with a freshly looked-up .id (the router is being changed
// under the daemon right now).
var ErrMisdirected = errors.New("the router applied the write to another queue-tree entry")

func (e *RouterExecutor) resolve(ctx context.Context, queue string) (string, error) {
	objs, err := e.api.Query(ctx, routeros.MenuQueueTree, routeros.Query{Filter: map[string]string{"name": queue}})
	if err != nil {
		return "", fmt.Errorf("queue %q: look up id: %w", queue, err)
	}
	for _, o := range objs {
		if o["name"] == queue && o.ID() != "" {
			e.mu.Lock()
			e.ids[queue] = o.ID()
			e.mu.Unlock()
			return o.ID(), nil
		}
	}
	return "", fmt.Errorf("queue %q: %w", queue, ErrQueueMissing)
}

func (e *RouterExecutor) forget(queue string) {
	e.mu.Lock()
	delete(e.ids, queue)
	e.mu.Unlock()
}

// set PATCHes id and checks that the reply is the configured queue. A
// reply without a name (an empty body, which the client turns into just
// the .id) cannot be checked and is taken as ours: RouterOS always
// answers a PATCH with the whole object.
func (e *RouterExecutor) set(ctx context.Context, queue, id string, bps int64) (misdirected bool, err error) {
	reply, err := e.api.Set(ctx, routeros.MenuQueueTree, id, routeros.Object{"max-limit": strconv.FormatInt(bps, 10)})
	if err != nil {
		return false, err
	}
	name, named := reply["name"]
	if !named || name == queue {
		return false, nil
	}
	e.forget(queue)
	e.mu.Lock()
	f := e.onMisdirect
	e.mu.Unlock()
	if f != nil {
		f(MisdirectedWrite{Queue: queue, ID: id, Name: name, Comment: reply["comment"], MaxLimit: bps})
	}
	return true, nil
}

// SetMaxLimit implements Executor.
func (e *RouterExecutor) SetMaxLimit(ctx context.Context, queue string, bps int64) error {
	e.mu.Lock()
	id := e.ids[queue]
	e.mu.Unlock()
	var err error
	if id == "" {
		if id, err = e.resolve(ctx, queue); err != nil {
			return err
		}
	}
	misdirected, err := e.set(ctx, queue, id, bps)
	retry := misdirected || (err != nil && e.isNotFound != nil && e.isNotFound(err))
	if retry {
		// Once, with the id the router has for the name now: a second
		// miss means the router is changing under us; the writer's
		// backoff paces the next attempt.
		e.forget(queue)
		if id, err = e.resolve(ctx, queue); err != nil {
			return err
		}
		if misdirected, err = e.set(ctx, queue, id, bps); err == nil && misdirected {
			err = fmt.Errorf("%w (.id %s)", ErrMisdirected, id)
		}
	}
	if err != nil {
		return fmt.Errorf("queue %q: set max-limit %d: %w", queue, bps, err)
	}
	return nil
}

// WriterConfig tunes a Writer. Zero values get defaults.
type WriterConfig struct {
	Logger *slog.Logger
	// Now stamps successful writes (the daemon's clock); default time.Now.
	Now func() time.Time
	// Timeout bounds one request (default 5 s; the client has its own).
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the exponential retry delay after a
	// failed request (defaults 100 ms and 5 s).
	BackoffMin, BackoffMax time.Duration
	// Observe, when set, is called after every write with its queue,
	// outcome and duration (metrics).
	Observe func(queue string, err error, d time.Duration)
	// ObserveRead, when set, is called after every counter read (one
	// request for all the router's WANs) with its outcome and duration
	// (metrics).
	ObserveRead func(err error, d time.Duration)
	// ObserveDrift, when set, is called with the queue whenever a read
	// finds its max-limit changed behind the writer's back (metrics).
	ObserveDrift func(queue string)
}

// Writer sends desired max-limits to one router from its own goroutine
// (Run): for each queue only the newest desired rate is kept (latest wins),
// at most one request is in flight, and Set never blocks the caller.
// Decreases go before increases when several queues wait. When no write
// waits, it reads the queue counters its LoadReaders ask for.
type Writer struct {
	router string
	exec   Executor
	reader CounterReader // nil: the executor cannot read counters
	o      WriterConfig
	wake   chan struct{}

	mu       sync.Mutex
	slots    []*Slot
	next     int // round-robin start
	readers  []*LoadReader
	readLast time.Time // when the last read was asked for (zero: none yet)
	readDue  bool      // a read is requested and not started
	reading  bool      // a read is in flight
	failures int
	lastOK   time.Time
	lastErr  string
	lastErrT time.Time
	// changed is when reachability last changed: the first request of
	// the current run of successes or failures (zero: no request yet).
	changed time.Time
	// lastReply is the last request of any kind (write or read) the
	// router answered; unanswered is when the first request after it
	// started (zero: none is waiting or has failed since). Reads go out
	// once a second even when no rate changes, so a router that went
	// away shows here within RouterUnreachableAfter.
	lastReply   time.Time
	unanswered  time.Time
	lastReadErr string
}

// RouterUnreachableAfter is how long the router may leave every request
// (counter reads, writes) unanswered before it counts as unreachable:
// three reads in a row, so that one lost or slow read on a loaded machine
// does not flip /health, and a router that went away shows within a few
// seconds even when no rate changes. A failed write makes it unreachable
// at once, as before: a rate the controller wants is not on the router.
const RouterUnreachableAfter = 3 * LoadReadInterval

// Slot is one queue's latest-wins mailbox in a Writer.
type Slot struct {
	w         *Writer
	queue     string
	want      int64 // newest desired rate
	pending   bool  // want not yet written
	sending   bool  // a write of this queue is in flight
	written   int64 // last rate the router accepted
	writtenAt time.Time
	lastErr   string
	// tried is the rate of the latest failed write since the last
	// success (0: none): a write that failed may have been applied all
	// the same (a reply lost after the router acted), so a read finding
	// it is our own write, not someone else's change.
	tried int64
	drift driftState
}

// driftState is a queue whose max-limit a read found different from the
// last write (a hand edit, another tool, a router reset).
type driftState struct {
	// episode: a drift was found and no read has matched the last write
	// since; it is logged once per episode.
	episode bool
	found   int64 // the max-limit the read found
	// due is when a re-assert fell due (zero: none waiting for the
	// write budget); queued: it was handed to the writer.
	due    time.Time
	queued bool
}

// sameRate tells whether the router's max-limit found is the rate written,
// allowing for the router's rounding: RouterOS may keep fewer significant
// digits than it was sent, and a difference under 1% is below any
// min_change anyway. Unlimited (0) is never the same as a rate.
func sameRate(found, written int64) bool {
	if found == written {
		return true
	}
	if found <= 0 || written <= 0 {
		return false
	}
	d := found - written
	if d < 0 {
		d = -d
	}
	return d*100 <= written
}

// NewWriter returns a writer for the router named router.
func NewWriter(router string, exec Executor, o WriterConfig) *Writer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(5*time.Second, o.BackoffMin)
	}
	cr, _ := exec.(CounterReader)
	return &Writer{router: router, exec: exec, reader: cr, o: o, wake: make(chan struct{}, 1)}
}

// Router returns the router's name.
func (w *Writer) Router() string { return w.router }

// Queue returns the slot for queue, creating it on first use.
func (w *Writer) Queue(queue string) *Slot {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.slots {
		if s.queue == queue {
			return s
		}
	}
	s := &Slot{w: w, queue: queue}
	w.slots = append(w.slots, s)
	return s
}

// Set hands the writer a new desired rate for the slot's queue, replacing
// any not yet sent. It never blocks.
func (s *Slot) Set(bps int64) {
	w := s.w
	w.mu.Lock()
	s.want = bps
	// A queued re-assert stays pending: the router does not have
	// s.written, whatever the controller asks for.
	s.pending = bps != s.written || s.drift.queued
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// SlotStatus is a queue's write state.
type SlotStatus struct {
	Queue     string
	Want      int64     // newest desired rate
	Pending   bool      // Want not yet on the router, or a write in flight
	Written   int64     // last rate the router accepted (0: none yet)
	WrittenAt time.Time // when (zero: never)
	LastError string    // the last failed write of this queue ("" after a success)
}

// Status returns the slot's state.
func (s *Slot) Status() SlotStatus {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	// A write in flight counts as pending even when Want went back to the
	// rate the router had before it: the router is about to change.
	return SlotStatus{Queue: s.queue, Want: s.want, Pending: s.pending || s.sending, Written: s.written, WrittenAt: s.writtenAt, LastError: s.lastErr}
}

// RouterStatus is the writer's view of its router.
type RouterStatus struct {
	Router string
	// Reachable is false while the latest write failed, or when no
	// request (read or write) was answered for RouterUnreachableAfter.
	Reachable bool
	// Failures counts consecutive failed writes.
	Failures    int
	LastSuccess time.Time
	LastError   string
	LastErrorAt time.Time
	// Since is when Reachable last changed (the first request of the
	// current streak); zero before the first request.
	Since time.Time
	// LastReply is the last request of any kind the router answered
	// (zero: none yet); Unanswered is when the first request after it
	// started (zero: none since).
	LastReply  time.Time
	Unanswered time.Time
	// LastReadError is the latest failed counter read's ("" after a
	// successful read).
	LastReadError string
}

// Silent tells whether no request was answered for
// RouterUnreachableAfter as of now.
func (s RouterStatus) Silent(now time.Time) bool {
	return !s.Unanswered.IsZero() && now.Sub(s.Unanswered) >= RouterUnreachableAfter
}

// Status returns the router's state as of the writer's clock.
func (w *Writer) Status() RouterStatus {
	now := w.o.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	rs := RouterStatus{
		Router: w.router, Reachable: w.failures == 0, Failures: w.failures,
		LastSuccess: w.lastOK, LastError: w.lastErr, LastErrorAt: w.lastErrT, Since: w.changed,
		LastReply: w.lastReply, Unanswered: w.unanswered, LastReadError: w.lastReadErr,
	}
	if rs.Silent(now) {
		rs.Reachable = false
		if w.failures == 0 {
			// It became unreachable by the clock, not at a request.
			rs.Since = w.unanswered.Add(RouterUnreachableAfter)
		}
	}
	return rs
}

// attempt notes a request starting at now.
func (w *Writer) attempt(now time.Time) {
	w.mu.Lock()
	if w.unanswered.IsZero() {
		w.unanswered = now
	}
	w.mu.Unlock()
}

// replied notes an answered request at now; w.mu is held.
func (w *Writer) replied(now time.Time) {
	if !w.unanswered.IsZero() && now.Sub(w.unanswered) >= RouterUnreachableAfter && w.failures == 0 {
		w.changed = now // reachable again after a silence
	}
	w.lastReply, w.unanswered = now, time.Time{}
}

// pick chooses the next pending slot: a decrease (or a first write) first,
// otherwise round-robin.
func (w *Writer) pick() (*Slot, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var pick *Slot
	n := len(w.slots)
	for i := range n {
		s := w.slots[(w.next+i)%n]
		if !s.pending {
			continue
		}
		if s.written == 0 || s.want < s.written {
			pick = s
			break
		}
		if pick == nil {
			pick = s
		}
	}
	if pick == nil {
		return nil, 0
	}
	for i, s := range w.slots {
		if s == pick {
			w.next = (i + 1) % n
		}
	}
	pick.sending = true
	return pick, pick.want
}

// Run sends pending rates, and reads counters when no rate is pending,
// until ctx ends.
func (w *Writer) Run(ctx context.Context) {
	backoff := time.Duration(0)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s, bps := w.pick()
		if s == nil {
			// Only now, with no write waiting: a read never goes before
			// a write, and one that fails never delays the next write
			// (no backoff for reads).
			if q := w.pickRead(); q != nil {
				w.read(ctx, q)
				if ctx.Err() != nil {
					return
				}
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
				continue
			}
		}
		w.attempt(w.o.Now())
		rctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
		start := time.Now()
		err := w.exec.SetMaxLimit(rctx, s.queue, bps)
		dur := time.Since(start)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if w.o.Observe != nil {
			w.o.Observe(s.queue, err, dur)
		}
		now := w.o.Now()
		w.mu.Lock()
		s.sending = false
		if w.changed.IsZero() || (err == nil) != (w.failures == 0) {
			w.changed = now
			if err != nil && !w.unanswered.IsZero() && now.Sub(w.unanswered) >= RouterUnreachableAfter {
				// Already unreachable by the silence, not from now.
				w.changed = w.unanswered.Add(RouterUnreachableAfter)
			}
		}
		if err == nil {
			w.replied(now)
			s.written = bps
			s.writtenAt = now
			s.lastErr, s.tried = "", 0
			// The router has what was last written: a re-assert waiting
			// or queued is done.
			s.drift.due, s.drift.queued = time.Time{}, false
			s.pending = s.want != bps
			if w.failures > 0 {
				w.o.Logger.Info("router writes resumed", "router", w.router, "queue", s.queue, "after_failures", w.failures)
			}
			w.failures = 0
			w.lastOK = now
		} else {
			s.lastErr, s.tried = err.Error(), bps
			w.failures++
			w.lastErr = err.Error()
			w.lastErrT = now
		}
		failures := w.failures
		w.mu.Unlock()
		if err == nil {
			backoff = 0
			w.o.Logger.Debug("router write", "router", w.router, "queue", s.queue, "max_limit", bps, "duration", dur)
			continue
		}
		if backoff == 0 {
			backoff = w.o.BackoffMin
		} else {
			backoff = min(2*backoff, w.o.BackoffMax)
		}
		lvl := slog.LevelWarn
		if failures > 1 {
			lvl = slog.LevelDebug // the first failure of a streak is enough at warn
		}
		w.o.Logger.Log(ctx, lvl, "router write failed; retrying", "router", w.router, "queue", s.queue, "max_limit", bps, "retry_in", backoff, "failures", failures, "err", err)
		timer.Reset(backoff)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}
