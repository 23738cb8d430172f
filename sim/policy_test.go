package sim

import (
	"slices"
	"time"
)

// testPolicy is a deliberately simple delay-based controller used only to
// exercise the Policy/Writer interface: per-reflector minimum RTT as the
// baseline, the median fresh delta as the signal, multiplicative decrease
// above target, additive increase after a few calm ticks, one write in
// flight per direction with latest-wins.
type testPolicy struct {
	ceiling  [2]int64
	target   time.Duration
	base     []time.Duration
	last     []time.Duration
	lastAt   []time.Time
	rate     [2]int64
	calm     int
	lastCut  time.Time
	inflight [2]bool
	pending  [2]int64
	ticks    int
	replies  int
	timeouts int
	// orderOK turns false if replies ever arrive out of receive order or
	// from the future.
	orderOK bool
	prevAt  time.Time
	deltas  []time.Duration
}

func newTestPolicy(ceiling [2]int64, reflectors int, target time.Duration) *testPolicy {
	return &testPolicy{
		ceiling: ceiling, target: target, rate: ceiling, orderOK: true,
		base: make([]time.Duration, reflectors), last: make([]time.Duration, reflectors),
		lastAt: make([]time.Time, reflectors), deltas: make([]time.Duration, 0, reflectors),
	}
}

func (p *testPolicy) Tick(in Input, w Writer) {
	now, replies := in.Now, in.Replies
	p.ticks++
	p.replies += len(replies)
	p.timeouts += len(in.TimedOut)
	for _, r := range replies {
		if r.At.Before(p.prevAt) || r.At.After(now) {
			p.orderOK = false
		}
		p.prevAt = r.At
		if p.base[r.Reflector] == 0 || r.RTT < p.base[r.Reflector] {
			p.base[r.Reflector] = r.RTT
		}
		p.last[r.Reflector] = r.RTT - p.base[r.Reflector]
		p.lastAt[r.Reflector] = r.At
	}
	p.deltas = p.deltas[:0]
	for i, at := range p.lastAt {
		if !at.IsZero() && now.Sub(at) < 500*time.Millisecond {
			p.deltas = append(p.deltas, p.last[i])
		}
	}
	var delta time.Duration
	switch {
	case len(replies) == 0 && len(in.TimedOut) > 0:
		delta = time.Hour // echoes time out: the queue is beyond the timeout
	case len(p.deltas) == 0:
		return // no signal: hold
	default:
		slices.Sort(p.deltas)
		delta = p.deltas[len(p.deltas)/2]
	}
	cut := now.Sub(p.lastCut) >= 300*time.Millisecond
	for d := range 2 {
		r := p.rate[d]
		switch {
		case delta > p.target:
			p.calm = 0
			if cut {
				r = max(r*85/100, p.ceiling[d]*3/10)
			}
		case delta < p.target/3:
			p.calm++
			if p.calm >= 5 {
				r = min(r+p.ceiling[d]/50, p.ceiling[d])
			}
		}
		if r != p.rate[d] {
			if r < p.rate[d] {
				p.lastCut = now
			}
			p.rate[d] = r
			p.write(Dir(d), r, w)
		}
	}
}

func (p *testPolicy) write(d Dir, bps int64, w Writer) {
	if p.inflight[d] {
		p.pending[d] = bps
		return
	}
	p.inflight[d] = true
	w.Submit(d, bps, func(error) {
		p.inflight[d] = false
		if next := p.pending[d]; next != 0 {
			p.pending[d] = 0
			p.write(d, next, w)
		}
	})
}
