package demo

import (
	"context"
	"fmt"
	"io"
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
	out io.Writer

	runs, transitions, engaged, returned int
	state                                string
}

func newSteerer(cfg *config.Config, c *routeros.Client, clock *scaledClock, log *slog.Logger, primary *feed, out io.Writer) *steerer {
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
		out:   out,
		state: steer.StateName(cfg.Steering.Primary, false),
	}
}

// run is one timer firing. A failed run is printed and, like under
// systemd, simply retried two seconds later.
func (s *steerer) run(ctx context.Context) {
	res, err := steer.Run(ctx, s.cfg)
	s.runs++
	if err != nil {
		fmt.Fprintf(s.out, "       steer: %v\n", err)
		return
	}
	if t := res.Decision.Transition; t != nil {
		s.transitions++
		if res.State.Degraded() {
			s.engaged++
		} else {
			s.returned++
		}
		fmt.Fprintf(s.out, "       steer: %s -> %s (%s): %d steering rules %sd\n", t.From, t.To, t.Reason, len(res.Patched), res.Action)
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
