// Package emulator is an in-memory RouterOS v7 REST API: the menus wanctl
// uses, with the router's value normalisation, validation, error replies and
// one-request-at-a-time processing, plus hooks for tests and the simulator
// (queue statistics, recorded requests, injected faults).
//
// An *Emulator is an http.Handler: serve it with httptest.NewServer, or
// http.Serve on a listener (wanctl emulator).
package emulator

import (
	"sync"
	"sync/atomic"
	"time"
)

// Config configures an Emulator.
type Config struct {
	// Username and Password are the only accepted Basic auth credentials.
	// An empty Username disables authentication.
	Username, Password string
	// Latency is added to every request while it holds the router (requests
	// are processed one at a time, so latency also queues them).
	Latency time.Duration
	// Now is the clock for uptime, creation times, address-list timeouts
	// and the counters of queues with an offered load (SetQueueLoad); nil
	// is time.Now.
	Now func() time.Time
	// OnRequest, when set, is called after each request with its record
	// (for logging). It must not call back into the emulator's handler.
	OnRequest func(Request)
	// CAKEDropped makes CAKE queue trees report the `dropped` set by
	// SetQueueStats. By default it stays 0 on them, as a public report
	// (RB5009, RouterOS 7.23) has it on the router whether CAKE drops or
	// not; other queue kinds always report it.
	CAKEDropped bool
}

// Request is the record of one request the emulator received.
type Request struct {
	Method string
	Path   string // URL path, e.g. "/rest/queue/tree/*1"
	Query  string // raw query string
	Body   string // request body
	// Status is the reply's status; 0 when the connection was dropped (a
	// fault) or the client went away before the reply.
	Status   int
	Start    time.Time     // arrival
	Duration time.Duration // arrival to reply (includes waiting for earlier requests)
}

// QueueStats are a queue-tree entry's read-only statistics.
type QueueStats struct {
	Bytes, Packets, Dropped    int64 // cumulative counters
	QueuedPackets, QueuedBytes int64 // instantaneous
	Rate, PacketRate           int64 // bits/s and packets/s
}

// maxRequests bounds the request log; the oldest half is dropped beyond it.
const maxRequests = 100_000

// maxBody bounds a request body.
const maxBody = 1 << 20

// Emulator is an in-memory RouterOS REST API. It is safe for concurrent
// use; HTTP requests are processed one at a time, like the router does.
type Emulator struct {
	cfg     Config
	started time.Time

	serveMu sync.Mutex // held for the whole processing of one request

	mu       sync.Mutex // guards everything below
	latency  time.Duration
	tables   map[string]*table
	faults   []*pendingFault
	requests []Request
	loads    map[string]*queueLoad // by queue-tree name (SetQueueLoad)
	deadGW   map[string]bool       // gateways whose routes are inactive (SetRouteInactive)

	inflight atomic.Int32
	maxConc  atomic.Int32

	schema *Schema // the request fields the router accepts (SchemaVersion)

	padOnce sync.Once // FaultBigReply's compressed padding
	padGz   []byte
}

// New returns an emulator holding a default-configuration router (see the
// package documentation in docs/emulator.md for its objects).
func New(c Config) *Emulator {
	e := &Emulator{cfg: c, latency: c.Latency, tables: map[string]*table{}, schema: mustEnforcedSchema()}
	e.started = e.now()
	for _, m := range allMenus() {
		e.tables[m.path] = &table{m: m, next: 1, nextDyn: 0xFFFFFFFF, expires: map[string]time.Time{}}
	}
	e.seed()
	return e
}

func (e *Emulator) now() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return time.Now()
}
