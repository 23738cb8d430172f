package ping

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// StreamConfig configures a Stream.
type StreamConfig struct {
	Targets       []netip.Addr     // reflectors, pinged round-robin
	Rate          float64          // echo requests per second, all targets together (ping_rate)
	Timeout       time.Duration    // a request unanswered this long is a timeout (default 1s)
	Fallback      []netip.AddrPort // tcp_fallback targets
	BlackoutAfter time.Duration    // no ICMP reply from any target for this long -> TCP-connect RTT to Fallback (default 1s)

	// FallbackRate is the number of TCP connects per second, all fallback
	// targets together, during a blackout (default: Rate, at most 5).
	// At most one connect per target is in flight.
	FallbackRate float64
	// Buffer is the number of replies kept for Drain (default 256); on
	// overflow the oldest is dropped and counted in Stats.Dropped.
	Buffer int
	// Timestamps: ask IPv4 targets with ICMP timestamp requests instead
	// of echo requests, for one-way delays (Reply.Stamped, Up, Hold).
	// Needs a Pinger opened with Config.Timestamps. IPv6 targets get echo
	// requests (ICMPv6 has no timestamp message).
	//
	// A target that ignores timestamp requests falls back to echo
	// (TargetStats.Echo, logged once at Warn): until it answers its first
	// timestamp request, every other request to it is an echo request; a
	// timed-out timestamp request counts as ignored only if an echo
	// request sent after it was answered, and after 20 ignored ones the
	// target gets echo requests for the rest of the stream. So a
	// reflector that drops type 13 is found out within about 40 of its
	// requests (its ignored ones count in Timeouts), one that is merely
	// unreachable (the link down at start) is not, and one that has
	// answered a timestamp request once stays on timestamps whatever
	// happens later (a blackout is no reason to switch).
	Timestamps bool
	// ExternalPacing: the stream has no timer of its own; its owner calls
	// Tick regularly (the autorate loop: every control cycle), which sends
	// the requests due by then at Rate — one per Tick at 20/s every 50 ms,
	// several when Rate is higher, none on some Ticks when it is lower —,
	// expires the overdue ones and paces the TCP fallback. The process then
	// wakes up once per cycle for both. Tick never waits: a request the
	// socket cannot take at once counts as a send error. Replies are still
	// read and timestamped by the socket's reader as they arrive.
	ExternalPacing bool
}

// TargetStats are cumulative counts for one ICMP target. Every sent request
// ends as exactly one of Replies, Timeouts or SendErrors, or is still in
// flight.
type TargetStats struct {
	Target     netip.Addr
	Sent       uint64
	Replies    uint64
	Timeouts   uint64
	SendErrors uint64 // the write failed (no route, ...)
	Stamped    uint64 // of Replies, those with one-way delays (Reply.Stamped)
	// Echo: the stream asked for timestamps, but this IPv4 target ignored
	// them and gets echo requests for the rest of the stream
	// (StreamConfig.Timestamps). False for IPv6 targets, which never get
	// timestamp requests.
	Echo bool
}

// FallbackStats are cumulative counts for one TCP fallback target.
type FallbackStats struct {
	Target   netip.AddrPort
	Attempts uint64
	Replies  uint64 // connected or refused: either proves the path
	Failures uint64 // timed out or unreachable
}

// Stats are a Stream's (or a Burst's) cumulative counters.
type Stats struct {
	Targets  []TargetStats   // in the order of StreamConfig.Targets
	Fallback []FallbackStats // in the order of StreamConfig.Fallback
	Blackout bool            // no ICMP reply for BlackoutAfter (Burst: no reply at all)
	Dropped  uint64          // replies dropped because Drain was not called often enough
}

// Target returns the counts for one target.
func (s Stats) Target(a netip.Addr) (TargetStats, bool) {
	for _, t := range s.Targets {
		if t.Target == a.Unmap() {
			return t, true
		}
	}
	return TargetStats{}, false
}

// Pending is a request of a Stream still waiting for its reply:
// neither answered nor timed out. A request outstanding for a time a proves
// that its round trip takes at least a (or that it was lost).
type Pending struct {
	Target netip.Addr
	Sent   time.Time // monotonic clock, as Reply.At
}

// pendingEcho is one of the stream's requests in flight.
type pendingEcho struct {
	sent time.Time
	seq  uint16
	tag  int
	ts   bool // a timestamp request
	done bool // answered, timed out or unsent
}

// tsIgnoredLimit is the number of timestamp requests a target must have
// ignored, with none answered, before it falls back to echo.
const tsIgnoredLimit = 20

// tsTarget is one target's timestamp state (StreamConfig.Timestamps).
// Until the target answers a timestamp request (probation), its requests
// alternate between timestamp and echo, so that a timed-out timestamp
// request can be told apart from a path that answers nothing: it counts
// as ignored only when an echo request sent after it was answered.
type tsTarget struct {
	on       bool // timestamps asked for and the target is IPv4
	answered bool // answered a timestamp request: stays on timestamps
	echo     bool // fell back to echo
	tsLast   bool // probation: the previous request was a timestamp request
	ignored  int
	// Probation: the send time of the newest answered echo request, and
	// of the newest timed-out timestamp request not yet counted as
	// ignored (no echo request sent after it answered yet).
	echoSent, unconfirmed time.Time
}

func (t *tsTarget) probation() bool { return t.on && !t.answered && !t.echo }

// nextIsTimestamp says whether the next request to the target is a
// timestamp request, and advances the probation's alternation.
func (t *tsTarget) nextIsTimestamp() bool {
	switch {
	case !t.on || t.echo:
		return false
	case t.answered:
		return true
	}
	t.tsLast = !t.tsLast
	return t.tsLast
}

// settled notes the outcome of request e (answered or timed out) and
// reports whether the target has just fallen back to echo.
func (t *tsTarget) settled(e pendingEcho, answered bool) bool {
	if !t.probation() {
		return false
	}
	switch {
	case e.ts && answered:
		t.answered = true
		return false
	case e.ts: // timed out
		if t.echoSent.After(e.sent) {
			t.ignored++
		} else if e.sent.After(t.unconfirmed) {
			t.unconfirmed = e.sent
		}
	case answered: // an echo reply
		if e.sent.After(t.echoSent) {
			t.echoSent = e.sent
		}
		if !t.unconfirmed.IsZero() && e.sent.After(t.unconfirmed) {
			t.ignored++
			t.unconfirmed = time.Time{}
		}
	}
	if t.ignored >= tsIgnoredLimit {
		t.echo = true
		return true
	}
	return false
}

// Stream pings its targets at a fixed rate until Close and buffers the
// replies for Drain.
type Stream struct {
	p     *Pinger
	cfg   StreamConfig
	socks []*socket // per target
	uniq  []*socket // distinct sockets, for expiry
	src   netip.Addr

	mu       sync.Mutex
	ring     []Reply
	head, n  int
	dropped  uint64
	stats    []TargetStats
	ts       []tsTarget
	fb       []FallbackStats
	fbBusy   []bool
	lastICMP time.Time
	blackout bool
	tcpSeq   uint16
	// inflight is a ring of the requests sent, in send order; answered
	// and timed-out ones are marked done and dropped from its head.
	inflight      []pendingEcho
	inHead, inLen int

	stop      chan struct{}
	closeOnce sync.Once
	// tickMu serialises Tick (external pacing) with Close.
	tickMu   sync.Mutex
	closed   bool
	loopDone chan struct{}
	probes   sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc

	// Used by the sending goroutine only (external pacing: under tickMu).
	next     int
	period   time.Duration // between two requests: 1/Rate
	nextSend time.Time     // external pacing: when the next request is due
	lastTick time.Time     // external pacing: the previous Tick
	tickGap  time.Duration // external pacing: mean time between Ticks
	nextTCP  time.Time
	fbNext   int
	expBuf   []expiredReq
	lastErr  time.Time
}

// Stream starts pinging cfg.Targets at once. The sockets it needs are
// opened in the calling goroutine.
func (p *Pinger) Stream(cfg StreamConfig) (*Stream, error) {
	targets, err := checkTargets(cfg.Targets)
	if err != nil {
		return nil, err
	}
	cfg.Targets = targets
	if cfg.Rate <= 0 || cfg.Rate > 1000 {
		return nil, fmt.Errorf("ping: rate %g requests per second is out of range (0, 1000]; ping_rate is usually 20", cfg.Rate)
	}
	if cfg.Timeout < 0 || cfg.BlackoutAfter < 0 || cfg.FallbackRate < 0 || cfg.Buffer < 0 {
		return nil, errors.New("ping: timeout, blackout_after, fallback rate and buffer must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.BlackoutAfter == 0 {
		cfg.BlackoutAfter = time.Second
	}
	if cfg.FallbackRate == 0 {
		cfg.FallbackRate = min(cfg.Rate, 5)
	}
	if cfg.Buffer == 0 {
		cfg.Buffer = 256
	}
	if cfg.Timestamps && !p.cfg.Timestamps {
		return nil, errors.New("ping: the stream asks for ICMP timestamps, but the pinger was opened without Config.Timestamps (its IPv4 socket may not be able to send them)")
	}
	for _, f := range cfg.Fallback {
		if !f.IsValid() || f.Port() == 0 {
			return nil, fmt.Errorf("ping: TCP fallback target %s needs an address and a port, e.g. 1.1.1.1:443", f)
		}
	}
	cfg.Fallback = append([]netip.AddrPort(nil), cfg.Fallback...)

	s := &Stream{
		p:        p,
		cfg:      cfg,
		src:      p.cfg.Source,
		socks:    make([]*socket, len(targets)),
		ring:     make([]Reply, cfg.Buffer),
		stats:    make([]TargetStats, len(targets)),
		ts:       make([]tsTarget, len(targets)),
		fb:       make([]FallbackStats, len(cfg.Fallback)),
		fbBusy:   make([]bool, len(cfg.Fallback)),
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
		period:   time.Duration(float64(time.Second) / cfg.Rate),
		expBuf:   make([]expiredReq, 0, 64),
		// At most rate*timeout requests are in flight; a few more for
		// the expiry sweep running once per send.
		inflight: make([]pendingEcho, int(cfg.Rate*cfg.Timeout.Seconds())+8),
	}
	for i, t := range targets {
		sock, err := p.socketFor(t)
		if err != nil {
			return nil, err
		}
		s.socks[i] = sock
		s.stats[i].Target = t
		s.ts[i].on = cfg.Timestamps && t.Is4()
		if !containsSocket(s.uniq, sock) {
			s.uniq = append(s.uniq, sock)
		}
	}
	for i, f := range cfg.Fallback {
		s.fb[i].Target = f
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		s.cancel()
		return nil, ErrClosed
	}
	p.streams[s] = struct{}{}
	p.mu.Unlock()

	s.lastICMP = time.Now()
	if cfg.ExternalPacing {
		close(s.loopDone)
	} else {
		go s.loop()
	}
	return s, nil
}

func containsSocket(list []*socket, s *socket) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Drain appends the replies received since the last Drain to dst, oldest
// first (by At), and returns it. It never waits for I/O.
func (s *Stream) Drain(dst []Reply) []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.n > 0 {
		dst = append(dst, s.ring[s.head])
		s.head = (s.head + 1) % len(s.ring)
		s.n--
	}
	return dst
}

// PendingInto appends the stream's requests still waiting for their
// replies to dst, oldest first, and returns it: the loop's evidence that a
// round trip takes longer than the replies received so far show. It never
// waits for I/O and does not allocate once dst is large enough.
func (s *Stream) PendingInto(dst []Pending) []Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.inLen {
		e := &s.inflight[(s.inHead+k)%len(s.inflight)]
		if !e.done {
			dst = append(dst, Pending{Target: s.cfg.Targets[e.tag], Sent: e.sent})
		}
	}
	return dst
}

// registered implements registrar: the request is in flight from now on.
func (s *Stream) registered(seq uint16, sent time.Time, tag int, ts bool) {
	s.mu.Lock()
	if s.inLen == len(s.inflight) {
		// Full (cannot happen with the capacity Stream picks): forget
		// the oldest.
		s.inHead = (s.inHead + 1) % len(s.inflight)
		s.inLen--
	}
	s.inflight[(s.inHead+s.inLen)%len(s.inflight)] = pendingEcho{sent: sent, seq: seq, tag: tag, ts: ts}
	s.inLen++
	s.mu.Unlock()
}

// unregistered implements registrar: the write failed, the request was
// never in flight.
func (s *Stream) unregistered(seq uint16, tag int) {
	s.mu.Lock()
	s.settle(tag, seq)
	s.mu.Unlock()
}

// settle marks request (tag, seq) done, drops the done requests at the
// head of the ring and returns the request (false: not in the ring).
// Called with mu held.
func (s *Stream) settle(tag int, seq uint16) (pendingEcho, bool) {
	var found pendingEcho
	ok := false
	for k := range s.inLen {
		e := &s.inflight[(s.inHead+k)%len(s.inflight)]
		if !e.done && e.tag == tag && e.seq == seq {
			e.done = true
			found, ok = *e, true
			break
		}
	}
	for s.inLen > 0 && s.inflight[s.inHead].done {
		s.inHead = (s.inHead + 1) % len(s.inflight)
		s.inLen--
	}
	return found, ok
}

// Stats returns a copy of the cumulative counters.
func (s *Stream) Stats() Stats {
	var st Stats
	s.StatsInto(&st)
	return st
}

// StatsInto is Stats reusing dst's slices (no allocation once they are
// large enough), for callers that poll every cycle.
func (s *Stream) StatsInto(dst *Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dst.Targets = append(dst.Targets[:0], s.stats...)
	dst.Fallback = append(dst.Fallback[:0], s.fb...)
	dst.Blackout = s.blackout
	dst.Dropped = s.dropped
}

// Close stops sending, waits for TCP probes in flight and forgets the
// stream's pending requests. Replies not yet drained stay drainable.
func (s *Stream) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.loopDone
		s.tickMu.Lock()
		s.closed = true // no Tick sends after this
		s.tickMu.Unlock()
		s.cancel()
		s.probes.Wait()
		for _, sock := range s.uniq {
			s.expBuf = sock.dm.forget(s, s.expBuf[:0])
		}
		s.mu.Lock()
		s.inLen = 0 // forgotten: no longer waiting for anything
		s.mu.Unlock()
		s.p.mu.Lock()
		delete(s.p.streams, s)
		s.p.mu.Unlock()
	})
}

// maxCatchUp bounds how far behind its schedule an externally paced
// stream catches up: an owner that was stalled longer restarts the
// schedule instead of sending a burst of requests at once.
const maxCatchUp = 250 * time.Millisecond

// Tick (ExternalPacing only; a no-op otherwise and after Close) sends the
// requests due by now (monotonic clock, as time.Now), expires the overdue
// ones and, during an ICMP blackout, starts a TCP probe when one is due.
// It never waits for I/O. Call it from one goroutine.
//
// Requests are scheduled every 1/Rate from the first Tick on, and a
// request is sent by the first Tick at most a quarter of the (mean) time
// between Ticks before its slot. So timer jitter does not move a request whose
// slot falls on a Tick to the next one (at 20/s every 50 ms: exactly one
// per Tick, never none then two), nor one whose slot falls half-way
// between two Ticks (at 40/s: always two per Tick); other slots tolerate
// less jitter (at 30/s: ±4 ms of 50) before a request moves by one Tick.
func (s *Stream) Tick(now time.Time) {
	if !s.cfg.ExternalPacing {
		return
	}
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	if s.closed {
		return
	}
	s.expire(now)
	// The time between Ticks, smoothed so that one late Tick does not
	// move the next one's window; a stall does not count.
	if gap := now.Sub(s.lastTick); !s.lastTick.IsZero() && gap > 0 && gap <= maxCatchUp {
		if s.tickGap == 0 {
			s.tickGap = gap
		} else {
			s.tickGap += (gap - s.tickGap) / 8
		}
	}
	s.lastTick = now
	early := s.tickGap / 4
	if s.nextSend.IsZero() || now.Sub(s.nextSend) > maxCatchUp {
		s.nextSend = now
	}
	for due := now.Add(early); !s.nextSend.After(due); s.nextSend = s.nextSend.Add(s.period) {
		s.sendNext(now, false)
	}
	s.pace(now)
}

func (s *Stream) loop() {
	defer close(s.loopDone)
	t := time.NewTicker(s.period)
	defer t.Stop()
	s.tick(time.Now())
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.tick(time.Now())
		}
	}
}

// tick (self-paced) expires overdue requests, sends the next request and,
// during a blackout, starts a TCP probe when one is due.
func (s *Stream) tick(now time.Time) {
	s.expire(now)
	s.sendNext(now, true)
	s.pace(now)
}

// expire reports the stream's sockets' overdue requests to their owners.
func (s *Stream) expire(now time.Time) {
	for _, sock := range s.uniq {
		s.expBuf = sock.dm.expire(now, s.expBuf[:0])
		reportExpired(s.expBuf)
	}
}

// sendNext sends a request to the next target in turn; wait: whether to
// wait for a full socket buffer to drain.
func (s *Stream) sendNext(now time.Time, wait bool) {
	i := s.next
	s.next = (s.next + 1) % len(s.cfg.Targets)
	target := s.cfg.Targets[i]
	s.mu.Lock()
	s.stats[i].Sent++
	ts := s.ts[i].nextIsTimestamp()
	s.mu.Unlock()
	if _, err := s.socks[i].send(target, s, i, s.cfg.Timeout, wait, ts); err != nil {
		s.mu.Lock()
		s.stats[i].SendErrors++
		s.mu.Unlock()
		if now.Sub(s.lastErr) > 10*time.Second {
			s.lastErr = now
			s.p.log.Warn("ping: send failed", "target", target, "err", err)
		}
	}
}

// pace declares an ICMP blackout when no reply came for BlackoutAfter and,
// during one, starts a TCP probe when one is due.
func (s *Stream) pace(now time.Time) {
	s.mu.Lock()
	if !s.blackout && now.Sub(s.lastICMP) >= s.cfg.BlackoutAfter {
		s.blackout = true
		s.p.log.Warn("ping: ICMP blackout, no reflector answers", "for", now.Sub(s.lastICMP).Round(time.Millisecond), "tcp_fallback", len(s.cfg.Fallback) > 0)
	}
	blackout := s.blackout
	s.mu.Unlock()
	if blackout && len(s.cfg.Fallback) > 0 && !now.Before(s.nextTCP) {
		s.nextTCP = now.Add(time.Duration(float64(time.Second) / s.cfg.FallbackRate))
		s.startProbe()
	}
}

// startProbe connects to the next fallback target that has no connect in
// flight.
func (s *Stream) startProbe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range s.fb {
		i := s.fbNext
		s.fbNext = (s.fbNext + 1) % len(s.fb)
		if s.fbBusy[i] {
			continue
		}
		s.fbBusy[i] = true
		s.fb[i].Attempts++
		s.probes.Add(1)
		go s.probe(i, s.fb[i].Target)
		return
	}
}

func (s *Stream) probe(i int, target netip.AddrPort) {
	defer s.probes.Done()
	rtt, err := s.p.dialTCP(s.ctx, s.src, target, s.cfg.Timeout)
	at := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fbBusy[i] = false
	if err != nil {
		s.fb[i].Failures++
		if s.ctx.Err() == nil {
			s.p.log.Debug("ping: TCP fallback failed", "target", target, "err", err)
		}
		return
	}
	s.fb[i].Replies++
	s.tcpSeq++
	s.push(Reply{Target: target.Addr(), Seq: s.tcpSeq, RTT: rtt, At: at, TCP: true})
}

// push buffers r, dropping the oldest reply when full. Called with mu held.
func (s *Stream) push(r Reply) {
	if s.n == len(s.ring) {
		s.head = (s.head + 1) % len(s.ring)
		s.n--
		s.dropped++
	}
	// The reader goroutines of the IPv4 and IPv6 sockets timestamp and
	// deliver independently: a reply can come in after one read later.
	// Keep the undrained replies in receive-time order (almost always the
	// new one goes last at once).
	i := s.n
	s.n++
	for ; i > 0; i-- {
		prev := &s.ring[(s.head+i-1)%len(s.ring)]
		if !prev.At.After(r.At) {
			break
		}
		s.ring[(s.head+i)%len(s.ring)] = *prev
	}
	s.ring[(s.head+i)%len(s.ring)] = r
}

// deliver implements sink (called by a socket's reader goroutine).
func (s *Stream) deliver(r Reply, tag int) {
	s.mu.Lock()
	s.stats[tag].Replies++
	if r.Stamped {
		s.stats[tag].Stamped++
	}
	fellBack := false
	if e, ok := s.settle(tag, r.Seq); ok {
		fellBack = s.noteTimestamps(tag, e, true)
	}
	s.push(r)
	if r.At.After(s.lastICMP) {
		s.lastICMP = r.At
	}
	wasBlackout := s.blackout
	s.blackout = false
	s.mu.Unlock()
	if wasBlackout {
		s.p.log.Info("ping: ICMP replies are back", "target", r.Target)
	}
	if fellBack {
		s.warnFallback(tag)
	}
}

// expired implements sink.
func (s *Stream) expired(_ netip.Addr, seq uint16, tag int) {
	s.mu.Lock()
	s.stats[tag].Timeouts++
	fellBack := false
	if e, ok := s.settle(tag, seq); ok {
		fellBack = s.noteTimestamps(tag, e, false)
	}
	s.mu.Unlock()
	if fellBack {
		s.warnFallback(tag)
	}
}

// noteTimestamps feeds request e's outcome to the target's timestamp
// state and reports whether the target has just fallen back to echo.
// Called with mu held.
func (s *Stream) noteTimestamps(tag int, e pendingEcho, answered bool) bool {
	t := &s.ts[tag]
	if !t.on {
		return false
	}
	if !t.settled(e, answered) {
		return false
	}
	s.stats[tag].Echo = true
	return true
}

func (s *Stream) warnFallback(tag int) {
	s.p.log.Warn("ping: reflector ignores ICMP timestamp requests but answers echo; pinging it with echo requests from now on (no one-way delays from it)",
		"target", s.cfg.Targets[tag], "ignored", tsIgnoredLimit)
}
