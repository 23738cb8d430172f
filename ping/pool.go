package ping

import (
	"errors"
	"net/netip"
	"sync"
)

// Pool holds one Pinger per source address: a Pinger's sockets are bound
// to its source, and WANs measuring from the same source share them (one
// socket and one reader per address family, docs/measurement.md).
type Pool struct {
	cfg Config

	mu       sync.Mutex
	bySource map[netip.Addr]*Pinger
	pingers  []*Pinger // in opening order, for Close
	closed   bool
}

// NewPool returns an empty Pool whose Pingers are opened with cfg and the
// source given to Get (cfg.Source is ignored).
func NewPool(cfg Config) *Pool {
	return &Pool{cfg: cfg, bySource: make(map[netip.Addr]*Pinger)}
}

// Get returns the Pinger for source (zero = any), opening it on first use.
// A failed Open is not remembered: the next Get tries again. Get is safe
// for concurrent use.
func (p *Pool) Get(source netip.Addr) (*Pinger, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if pg := p.bySource[source]; pg != nil {
		return pg, nil
	}
	cfg := p.cfg
	cfg.Source = source
	pg, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	p.bySource[source] = pg
	p.pingers = append(p.pingers, pg)
	return pg, nil
}

// Close closes every Pinger of the Pool; later Gets fail with ErrClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for _, pg := range p.pingers {
		errs = append(errs, pg.Close())
	}
	return errors.Join(errs...)
}
