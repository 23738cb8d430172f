package autorate

import (
	"net"
	"net/http"
	"sync"
)

// connLimit is a listener serving at most max connections at once. At the
// limit a new connection takes the place of the one idle the longest
// (between keep-alive requests): an idle HTTP connection may be closed at
// any time, and clients reconnect. A connection not past its first request
// yet is not idle: closing it could lose a request sent but not read yet,
// and the server's header timeout bounds one that sends nothing. Only
// while no connection is idle does a new one wait for one to close or
// turn idle. Waiting alone (netutil.LimitListener) let 64 idle
// keep-alive connections keep /health unanswered for the idle timeout
// (30 s), and a flood of them for minutes.
type connLimit struct {
	net.Listener
	max int

	mu      sync.Mutex
	conns   map[*limitedConn]struct{}
	turns   uint64        // counts turns to idle: orders connections by how long they have been idle
	changed chan struct{} // closed, and replaced, when a connection closes or turns idle
	done    chan struct{} // closed by Close: a waiting Accept gives up
	closed  sync.Once
}

func newConnLimit(ln net.Listener, max int) *connLimit {
	return &connLimit{Listener: ln, max: max, conns: map[*limitedConn]struct{}{},
		changed: make(chan struct{}), done: make(chan struct{})}
}

type limitedConn struct {
	net.Conn
	l     *connLimit
	idle  bool   // guarded by l.mu
	since uint64 // l.turns when it last turned idle; guarded by l.mu
	once  sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.signal()
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// signal wakes a waiting Accept; l.mu is held.
func (l *connLimit) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		l.mu.Lock()
		if len(l.conns) < l.max {
			lc := &limitedConn{Conn: c, l: l}
			l.conns[lc] = struct{}{}
			l.mu.Unlock()
			return lc, nil
		}
		var victim *limitedConn
		for o := range l.conns {
			if o.idle && (victim == nil || o.since < victim.since) {
				victim = o
			}
		}
		wait := l.changed
		l.mu.Unlock()
		if victim != nil {
			victim.Close()
			continue
		}
		select {
		case <-wait:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

func (l *connLimit) Close() error {
	l.closed.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// connState is the server's ConnState hook: it tells the limit which
// connections are between requests.
func (l *connLimit) connState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateActive:
		lc.idle = false
	case http.StateIdle:
		l.turns++
		lc.idle, lc.since = true, l.turns
		l.signal()
	}
}
