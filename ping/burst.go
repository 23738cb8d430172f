package ping

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Burst sends count rounds of echo requests, one round every interval, each
// round one request to every target, and waits until every request is
// answered or timed out: it returns at the latest (count-1)*interval +
// timeout after it started (plus socket setup), earlier when all replies are
// in. Replies are in arrival order. Stats.Blackout is true when no target
// answered at all. A send error (no route) is counted, not returned; the
// error is for bad arguments, sockets that cannot be opened, and ctx ending
// early (the replies so far are returned with it).
//
// steer uses a short burst (<= 500 ms); calibrate one over -duration.
func (p *Pinger) Burst(ctx context.Context, targets []netip.Addr, count int, interval time.Duration, timeout time.Duration) ([]Reply, Stats, error) {
	return p.burst(ctx, targets, count, interval, timeout, false)
}

// BurstTimestamps is Burst with ICMP timestamp requests to the IPv4
// targets (IPv6 ones get echo requests: ICMPv6 has no timestamp message),
// for the one-way delays of their replies (Reply.Stamped, Up, Hold;
// TargetStats.Stamped). It needs a Pinger opened with Config.Timestamps.
//
// Unlike a Stream it never falls back to echo: an IPv4 target that ignores
// timestamp requests shows as one without replies, so that calibrate can
// tell the user before the daemon quietly pings it with echo.
func (p *Pinger) BurstTimestamps(ctx context.Context, targets []netip.Addr, count int, interval time.Duration, timeout time.Duration) ([]Reply, Stats, error) {
	if !p.cfg.Timestamps {
		return nil, Stats{}, errors.New("ping: the burst asks for ICMP timestamps, but the pinger was opened without Config.Timestamps (its IPv4 socket may not be able to send them)")
	}
	return p.burst(ctx, targets, count, interval, timeout, true)
}

// burst is Burst (ts false) and BurstTimestamps.
func (p *Pinger) burst(ctx context.Context, targets []netip.Addr, count int, interval time.Duration, timeout time.Duration, ts bool) ([]Reply, Stats, error) {
	targets, err := checkTargets(targets)
	if err != nil {
		return nil, Stats{}, err
	}
	if count < 1 {
		return nil, Stats{}, fmt.Errorf("ping: burst count %d: send at least one round", count)
	}
	if count > 1 && interval <= 0 {
		return nil, Stats{}, fmt.Errorf("ping: burst interval %v: must be positive when count > 1", interval)
	}
	if timeout <= 0 {
		return nil, Stats{}, fmt.Errorf("ping: burst timeout %v: must be positive", timeout)
	}
	b := &burst{
		replies: make([]Reply, 0, count*len(targets)),
		stats:   make([]TargetStats, len(targets)),
		wake:    make(chan struct{}, 1),
	}
	socks := make([]*socket, len(targets))
	var uniq []*socket
	for i, t := range targets {
		s, err := p.socketFor(t)
		if err != nil {
			return nil, Stats{}, err
		}
		socks[i] = s
		b.stats[i].Target = t
		if !containsSocket(uniq, s) {
			uniq = append(uniq, s)
		}
	}
	defer func() {
		// Whatever is still pending (ctx ended early) is not ours to
		// count any more.
		for _, s := range uniq {
			s.dm.forget(b, nil)
		}
	}()

	var expBuf []expiredReq
	expire := func() {
		now := time.Now()
		for _, s := range uniq {
			expBuf = s.dm.expire(now, expBuf[:0])
			reportExpired(expBuf)
		}
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var lastSend time.Time
	for round := 0; round < count; round++ {
		if round > 0 {
			timer.Reset(interval)
			select {
			case <-ctx.Done():
				return b.result(ctx.Err())
			case <-timer.C:
			}
			expire()
		}
		for i, t := range targets {
			b.mu.Lock()
			b.stats[i].Sent++
			b.outstanding++
			b.mu.Unlock()
			if _, err := socks[i].send(t, b, i, timeout, true, ts && t.Is4()); err != nil {
				b.mu.Lock()
				b.stats[i].SendErrors++
				b.outstanding--
				b.mu.Unlock()
				p.log.Debug("ping: burst send failed", "target", t, "err", err)
			}
		}
		lastSend = time.Now()
	}

	// Wait for the last replies: until none is outstanding or the last
	// request's deadline passed.
	deadline := lastSend.Add(timeout)
	for {
		b.mu.Lock()
		done := b.outstanding == 0
		b.mu.Unlock()
		if done {
			return b.result(nil)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			if !timer.Stop() {
				<-timer.C
			}
			return b.result(ctx.Err())
		case <-b.wake:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
		}
	}
	// Every request is now past its deadline: collect them as timeouts.
	expire()
	return b.result(nil)
}

// burst collects one Burst's replies.
type burst struct {
	mu          sync.Mutex
	replies     []Reply
	stats       []TargetStats
	outstanding int
	wake        chan struct{}
}

func (b *burst) deliver(r Reply, tag int) {
	b.mu.Lock()
	b.replies = append(b.replies, r)
	b.stats[tag].Replies++
	if r.Stamped {
		b.stats[tag].Stamped++
	}
	b.outstanding--
	b.mu.Unlock()
	b.signal()
}

func (b *burst) expired(_ netip.Addr, _ uint16, tag int) {
	b.mu.Lock()
	b.stats[tag].Timeouts++
	b.outstanding--
	b.mu.Unlock()
	b.signal()
}

func (b *burst) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *burst) result(err error) ([]Reply, Stats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Stats{Targets: append([]TargetStats(nil), b.stats...)}
	var replies uint64
	for _, t := range st.Targets {
		replies += t.Replies
	}
	st.Blackout = replies == 0
	out := append([]Reply(nil), b.replies...)
	// Each socket's reader delivers on its own: order by receive time.
	slices.SortStableFunc(out, func(x, y Reply) int { return x.At.Compare(y.At) })
	if err != nil {
		err = fmt.Errorf("ping: burst interrupted: %w", err)
	}
	return out, st, err
}
