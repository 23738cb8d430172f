package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/loops/steer"
	"github.com/wanctl/wanctl/routeros"
)

// steerer runs the steer one-shot as the systemd timer would, in-process:
// the real driver (lock, state files, one GET of the queue and of the
// mangle rules, PATCHes on a transition) against the emulator. Only its RTT
// burst is replaced: the primary link's freshest replies stand for it.
type steerer struct {
	cfg steer.Config

	runs, transitions, engaged, returned int
	state                                string
	engagedAt, returnedAt                []time.Duration
	// pending are the reports of runs since the last timeline line, which
	// prints them under itself; mark is "engaged" or "returned" when a run
	// since then made that transition.
	pending []string
	mark    string
}

func newSteerer(cfg *config.Config, c *routeros.Client, clock *scaledClock, log *slog.Logger, primary *feed) *steerer {
	return &steerer{
		cfg: steer.Config{
			Config: cfg,
			Router: c,
			Now:    clock.Now,
			Log:    log,
			RTT: steer.RTTFunc(func(context.Context, *config.WAN) ([]steer.Sample, error) {
				return primary.latest(clock.Now().Add(-500 * time.Millisecond)), nil
			}),
		},
		state: steer.StateName(cfg.Steering.Primary, false),
	}
}

// run is one timer firing. A failed run is printed and, like under
// systemd, simply retried two seconds later.
func (s *steerer) run(ctx context.Context, vt time.Duration) {
	res, err := steer.Run(ctx, s.cfg)
	s.runs++
	if err != nil {
		s.pending = append(s.pending, fmt.Sprintf("steer: %v", err))
		return
	}
	if t := res.Decision.Transition; t != nil {
		s.transitions++
		if res.State.Degraded() {
			s.engaged++
			s.engagedAt = append(s.engagedAt, vt)
			s.mark = "engaged"
		} else {
			s.returned++
			s.returnedAt = append(s.returnedAt, vt)
			s.mark = "returned"
		}
		s.pending = append(s.pending, fmt.Sprintf("steer: %s -> %s (%s): %d steering rules %sd", t.From, t.To, t.Reason, len(res.Patched), res.Action))
	}
	s.state = res.State.State
}

// latest returns the freshest reply of every reflector heard since since,
// as the steer burst would have measured them.
func (f *feed) latest(since time.Time) []steer.Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []steer.Sample
	for _, t := range f.targets {
		if r, ok := f.last[t]; ok && !r.At.Before(since) {
			out = append(out, steer.Sample{Source: t.String(), RTT: r.RTT})
		}
	}
	return out
}

// remember keeps the freshest ICMP reply per reflector (f.mu held).
func (f *feed) remember(t netip.Addr, rtt time.Duration, at time.Time) {
	if f.last == nil {
		f.last = map[netip.Addr]lastReply{}
	}
	f.last[t] = lastReply{RTT: rtt, At: at}
}

type lastReply struct {
	RTT time.Duration
	At  time.Time
}
