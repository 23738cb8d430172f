// Package demo is `wanctl demo`: the whole product against the built-in
// RouterOS emulator and the link simulator, with no router and no
// configuration. It wires the production pieces together — plan and apply
// against the emulator over HTTP, the autorate daemon with its real writer,
// and the steer one-shot every 2 s — and replaces only what cannot exist
// here: the router (the emulator) and the internet link (a simulated link
// whose capacity drops and recovers, answering the daemon's pings).
package demo

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wanctl/wanctl/apply"
	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/ping"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
	"github.com/wanctl/wanctl/sim"
)

//go:embed demo.hcl
var configTemplate string

// Config tunes a demo run. The zero value is the real thing.
type Config struct {
	Out    io.Writer    // timeline and summary; nil: os.Stdout
	Logger *slog.Logger // the daemon's and steer's logs; nil: discarded
	// Speed is virtual seconds per wall second (1: real time). Tests run
	// the same demo faster.
	Speed float64
	// Duration of the run (30s). The capacity drop is at 8/30 of it, the
	// recovery at 18/30.
	Duration time.Duration
	// Latency is the emulated router's time per REST request (20ms, about
	// what a small MikroTik takes).
	Latency time.Duration
	Seed    int64 // link simulator seed (1)
	// Dir holds the state and lock files; "" makes (and removes) a
	// temporary directory.
	Dir string
}

func (o *Config) defaults() {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.Latency == 0 {
		o.Latency = 20 * time.Millisecond
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// Summary is what a demo run measured on the primary WAN while it was
// loaded.
type Summary struct {
	Primary             string
	Download, Upload    sim.Scores // wanctl on the primary
	FixedDownload       sim.Scores // the same link with a fixed shaper at the ceiling
	Writes              int        // max-limit PATCHes the daemon sent
	Requests            int        // every REST request the emulator served
	SteeringRuns        int
	SteeringTransitions int
	// SteeringEngaged and SteeringReturned count the transitions to
	// DEGRADED (rules enabled) and back to GOOD.
	SteeringEngaged, SteeringReturned int
	SteeringState                     string
	// EngagedAt and ReturnedAt are the run times of those transitions.
	EngagedAt, ReturnedAt []time.Duration
	// Cuts and Raises count the primary's shaper rate changes that reached
	// the router, per direction (sim.Download, sim.Upload).
	Cuts, Raises [2]int
	// PeakDelay is the primary's highest added delay per direction, seen
	// at PeakAt into the run.
	PeakDelay, PeakAt [2]time.Duration
	// Plot is the primary's run beside the oracle and a fixed shaper, as
	// `wanctl simulate` scores and draws it (sim.WriteSVG); nil when the
	// reference run failed.
	Plot *sim.Result
}

// wanRun is one WAN of the demo: its simulated link and the feed that
// carries the link's ping replies to the daemon.
type wanRun struct {
	w       *config.WAN
	link    *sim.Link
	feed    *feed
	elapsed time.Duration // virtual time simulated so far
	rate    [2]int64      // shaper rates copied into the link
	stats   [2]emulator.QueueStats
	outst   []sim.Outstanding
	sec     second // the timeline line being gathered

	cuts, raises      [2]int
	peakDelay, peakAt [2]time.Duration
}

// second is what one timeline line reports: the worst of that second, not
// the state at its end, which hides a delay spike that came and went
// between two lines (the p99 of the summary is made of such spikes).
type second struct {
	peak         [2]time.Duration // highest added delay, sampled every 10 ms
	zone         [2]autorate.Zone // the loop's worst zone
	cuts, raises [2]int           // rate changes written to the router
	// cycles: the loop ran in this second; signal: one of its cycles had
	// a delay signal (a single cycle without one is no news).
	cycles, signal bool
}

// Run plays the demo and prints its timeline and summary to o.Out.
func Run(ctx context.Context, o Config) (*Summary, error) {
	o.defaults()
	out := o.Out
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "wanctl-demo-")
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}

	// 1. The router: the emulator on a free loopback port.
	password, err := randomPassword()
	if err != nil {
		return nil, err
	}
	emu := emulator.New(emulator.Config{Username: "wanctl", Password: password, Latency: o.Latency})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "wanctl demo: a RouterOS emulator at %s/rest (%v per request), two simulated WANs.\n\n", url, o.Latency)
	if n := disableFastTrack(emu); n > 0 {
		fmt.Fprintln(out, "Disabled the emulated router's default FastTrack rule: FastTracked packets skip the")
		fmt.Fprintln(out, "queues, and 'wanctl plan' refuses to shape while it is on (see docs/plan-apply.md).")
		fmt.Fprintln(out)
	}

	// 2. The configuration, pointing at it.
	cfg, err := loadConfig(url, dir, password)
	if err != nil {
		return nil, err
	}
	rcfg := cfg.Routers[0]
	client, err := routeros.New(rcfg.ClientConfig())
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	// 3. wanctl apply -auto-approve.
	if err := provision(ctx, out, cfg, client); err != nil {
		return nil, err
	}
	emu.ClearRequests()

	// 4. The links and the daemon, on one clock.
	clock := newScaledClock(o.Speed)
	start := clock.Now()
	primary := cfg.WAN(cfg.Steering.Primary)
	var runs []*wanRun
	for _, w := range cfg.WANs {
		sc := scenarioFor(w, w == primary, o.Duration, o.Seed)
		link, err := sim.NewLink(sc, linkOptions(w, cfg))
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		runs = append(runs, &wanRun{w: w, link: link, feed: newFeed(w, start),
			rate: [2]int64{w.Download.Ceiling, w.Upload.Ceiling}})
	}
	dln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: listen on loopback: %w", err)
	}
	daemon, err := autorate.NewDaemon(autorate.DaemonConfig{
		Config: cfg,
		Logger: o.Logger,
		Clock:  clock,
		NewMeasurer: func(w *config.WAN) (autorate.Measurer, error) {
			for _, r := range runs {
				if r.w == w {
					return r.feed, nil
				}
			}
			return nil, fmt.Errorf("no simulated link for wan %q", w.Name)
		},
		NewExecutor: func(*config.Router) (autorate.Executor, error) {
			return autorate.NewRouterExecutor(client, routeros.IsNotFound), nil
		},
		Listener: dln,
	})
	if err != nil {
		dln.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	dctx, stopDaemon := context.WithCancel(ctx)
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- daemon.Run(dctx) }()
	stop := func() error {
		stopDaemon()
		return <-daemonDone
	}

	st := newSteerer(cfg, client, clock, o.Logger, runs[0].feed)
	fmt.Fprintf(out, "Running autorate (every %v) and steer (every 2 s) for %v: %s's capacity falls to 40%% at %v,\n",
		cfg.Daemon.Interval, o.Duration, primary.Name, dropAt(o.Duration))
	fmt.Fprintf(out, "below autorate's floor (%.1f%%) at %v, where only steering helps, and recovers at %v.\n",
		100*belowFloor, deepAt(o.Duration), recoverAt(o.Duration))
	fmt.Fprintf(out, "Health and metrics of the daemon: http://%s/health, /metrics\n\n", dln.Addr())
	fmt.Fprintf(out, "Each line is the worst of its second: peak added delay and worst zone; %s a shaper cut, %s a raise\n", arrowCut, arrowRaise)
	fmt.Fprintf(out, "(the rate shown is the one at the end of the second).\n\n")
	fmt.Fprintf(out, lineFormat, "", primary.Name+" download", primary.Name+" upload", "peak delay", "worst zone", runs[1].w.Name, "")
	fmt.Fprintf(out, lineFormat, "t", "cap / shaper", "cap / shaper", "down / up", "down/up", "zone", "steering")

	err = drive(ctx, clock, start, o, emu, runs, daemon, st, out)
	if derr := stop(); err == nil && derr != nil {
		err = fmt.Errorf("demo: autorate: %w", derr)
	}
	if err != nil {
		return nil, err
	}

	pr := runs[0]
	sum := &Summary{Primary: primary.Name, SteeringRuns: st.runs, SteeringTransitions: st.transitions, SteeringState: st.state,
		SteeringEngaged: st.engaged, SteeringReturned: st.returned, EngagedAt: st.engagedAt, ReturnedAt: st.returnedAt,
		Cuts: pr.cuts, Raises: pr.raises, PeakDelay: pr.peakDelay, PeakAt: pr.peakAt}
	res := pr.link.Finish()
	sum.Download, sum.Upload = res.Dirs[sim.Download].Scores, res.Dirs[sim.Upload].Scores
	// The references (oracle, fixed shaper) on the same scenario and seed;
	// the policy there does nothing and is replaced by the live run, so the
	// plot is the one `wanctl simulate -svg` draws.
	if ref, err := sim.Evaluate(scenarioFor(primary, true, o.Duration, o.Seed), linkOptions(primary, cfg), sim.PolicyFunc(func(sim.Input, sim.Writer) {})); err == nil {
		sum.FixedDownload = ref.Fixed.Dirs[sim.Download].Scores
		plot := *ref
		plot.Scenario = "wanctl demo: " + primary.Name
		plot.Wanctl = res
		sum.Plot = &plot
	}
	for _, rq := range emu.Requests() {
		sum.Requests++
		if rq.Method == http.MethodPatch && strings.Contains(rq.Path, "/queue/tree/") {
			sum.Writes++
		}
	}
	printSummary(out, sum, o.Duration)
	return sum, nil
}

// drive advances the simulated links with the clock, carries rates from
// the emulator into the links and the links' queue statistics and ping
// replies back, prints a line per second and runs steer every 2 s.
func drive(ctx context.Context, clock *scaledClock, start time.Time, o Config, emu *emulator.Emulator,
	runs []*wanRun, daemon *autorate.Daemon, st *steerer, out io.Writer) error {
	tick := clock.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	nextLine, nextSteer := time.Second, 2*time.Second
	loops := daemon.Loops()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C():
		}
		vt := clock.Now().Sub(start)
		if vt > o.Duration {
			vt = o.Duration
		}
		for i, r := range runs {
			r.advance(vt, emu)
			if i < len(loops) {
				r.observe(loops[i].Status())
			}
		}
		// Steer before the line of the same second, so that the line shows
		// the transition it made.
		if vt >= nextSteer {
			st.run(ctx, vt)
			nextSteer += 2 * time.Second
		}
		if vt >= nextLine {
			printLine(out, vt, runs, st)
			nextLine += time.Second
		}
		if vt >= o.Duration {
			return nil
		}
	}
}

// advance simulates the link up to vt, hands its replies to the daemon,
// applies the rates the daemon wrote to the emulator, and publishes the
// shaper's statistics on the emulator for steer to read.
func (r *wanRun) advance(vt time.Duration, emu *emulator.Emulator) {
	for i, d := range r.w.Directions() {
		if ml, ok := emu.QueueMaxLimit(d.Queue); ok && ml > 0 && ml != r.rate[i] {
			if r.link.SetRate(sim.Dir(i), ml) == nil {
				if ml < r.rate[i] {
					r.sec.cuts[i]++
					r.cuts[i]++
				} else {
					r.sec.raises[i]++
					r.raises[i]++
				}
				r.rate[i] = ml
			}
		}
	}
	step := vt - r.elapsed
	if step < time.Millisecond {
		return
	}
	replies, _ := r.link.Advance(step)
	r.elapsed += step.Truncate(time.Millisecond)
	r.outst = r.link.Outstanding(r.outst[:0])
	r.feed.push(replies, r.outst)
	for i, d := range r.w.Directions() {
		s := r.link.Status(sim.Dir(i))
		r.stats[i] = cakeStats(r.stats[i], s, step)
		emu.SetQueueStats(d.Queue, r.stats[i])
		r.sec.peak[i] = max(r.sec.peak[i], s.AddedDelay)
		if s.AddedDelay > r.peakDelay[i] {
			r.peakDelay[i], r.peakAt[i] = s.AddedDelay, vt
		}
	}
}

// observe folds the loop's latest decision into the second's worst zone.
func (r *wanRun) observe(s autorate.LoopStatus) {
	if s.Cycles == 0 {
		return
	}
	r.sec.zone[0] = max(r.sec.zone[0], s.Decision.Download.Zone)
	r.sec.zone[1] = max(r.sec.zone[1], s.Decision.Upload.Zone)
	r.sec.cycles = true
	r.sec.signal = r.sec.signal || s.Decision.Signal
}

// cakeStats models the shaper's counters. In the simulator's fluid model
// the bulk traffic of a loaded phase always offers more than the shaper
// rate, so CAKE is dropping (about 1 packet in 1000 of a TCP bulk flow) and
// holds a standing queue of its 5 ms target; an idle link has neither.
func cakeStats(prev emulator.QueueStats, s sim.LinkStatus, dt time.Duration) emulator.QueueStats {
	const pktBits = 1500 * 8
	through := min(s.Rate, s.Capacity) // what the shaper passes on
	if !s.Loaded {
		through *= 0.01
	}
	bits := through * dt.Seconds()
	next := prev
	next.Bytes += int64(bits / 8)
	next.Packets += int64(bits / pktBits)
	next.Rate = int64(through)
	next.PacketRate = int64(through / pktBits)
	next.QueuedPackets, next.QueuedBytes = 0, 0
	if s.Loaded {
		next.Dropped += max(1, int64(bits/pktBits/1000))
		next.QueuedPackets = int64(0.005 * s.Rate / pktBits)
		next.QueuedBytes = next.QueuedPackets * 1500
	}
	return next
}

// Markers of a shaper rate change within a second: cut, raise, both.
const (
	arrowCut   = "↓"
	arrowRaise = "↑"
	arrowBoth  = "↕"
)

const lineFormat = "%5s  %-14s  %-14s  %-15s  %-19s  %-8s  %s\n"

// printLine prints the second that ends at vt and starts the next one,
// followed by what steer reported in it.
func printLine(out io.Writer, vt time.Duration, runs []*wanRun, st *steerer) {
	p := runs[0]
	down, up := p.link.Status(sim.Download), p.link.Status(sim.Upload)
	zone := p.sec.zone[0].String() + "/" + p.sec.zone[1].String()
	if p.sec.cycles && !p.sec.signal {
		// No delay signal all second: the loop holds its rates and its
		// zone is the last one measured, not news.
		zone = "no signal"
	}
	alt := "-"
	if len(runs) > 1 {
		alt = max(runs[1].sec.zone[0], runs[1].sec.zone[1]).String()
	}
	steering := st.state
	if st.mark != "" {
		steering += "  <- " + st.mark
	}
	fmt.Fprintf(out, lineFormat, fmt.Sprintf("%ds", int(vt.Round(time.Second)/time.Second)),
		capShaper(down, p.sec, sim.Download), capShaper(up, p.sec, sim.Upload),
		"+"+ms(p.sec.peak[0])+" / +"+ms(p.sec.peak[1]), zone, alt, steering)
	for _, m := range st.pending {
		fmt.Fprintln(out, "       "+m)
	}
	st.pending, st.mark = st.pending[:0], ""
	for _, r := range runs {
		r.sec = second{}
	}
}

func capShaper(s sim.LinkStatus, sec second, d sim.Dir) string {
	mark := " "
	switch c, r := sec.cuts[d] > 0, sec.raises[d] > 0; {
	case c && r:
		mark = arrowBoth
	case c:
		mark = arrowCut
	case r:
		mark = arrowRaise
	}
	return fmt.Sprintf("%5s / %s%s", config.FormatRate(autorate.RoundRate(int64(s.Capacity))), mark,
		config.FormatRate(autorate.RoundRate(int64(s.Rate))))
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0fms", float64(d)/1e6)
}

func printSummary(out io.Writer, s *Summary, dur time.Duration) {
	fmt.Fprintf(out, "\nSummary for %s while loaded (%v):\n", s.Primary, dur)
	for _, d := range []struct {
		name string
		sc   sim.Scores
		dir  sim.Dir
	}{{"download", s.Download, sim.Download}, {"upload  ", s.Upload, sim.Upload}} {
		fmt.Fprintf(out, "  %s: utilisation %.0f%%, added delay p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, peak %s at %v\n",
			d.name, 100*d.sc.Utilisation, d.sc.AddedDelayMS.P50, d.sc.AddedDelayMS.P95, d.sc.AddedDelayMS.P99,
			ms(s.PeakDelay[d.dir]), s.PeakAt[d.dir].Round(time.Second))
	}
	fmt.Fprintf(out, "  without wanctl (a fixed shaper at the ceiling) the download p99 would have been %.0f ms\n", s.FixedDownload.AddedDelayMS.P99)
	fmt.Fprintf(out, "  autorate: download %d cuts, %d raises; upload %d cuts, %d raises (%d max-limit writes, %d REST requests in all)\n",
		s.Cuts[sim.Download], s.Raises[sim.Download], s.Cuts[sim.Upload], s.Raises[sim.Upload], s.Writes, s.Requests)
	fmt.Fprintf(out, "  steering: %d runs, engaged at %s, returned at %s, now %s\n", s.SteeringRuns, times(s.EngagedAt), times(s.ReturnedAt), s.SteeringState)
	if s.SteeringTransitions == 0 {
		fmt.Fprintf(out, "    (steering engages only when %s stays RED for red_samples runs in a row: a high RTT while\n", s.Primary)
		fmt.Fprintln(out, "     the shaper drops, queues deeply or sits at autorate's floor; nothing here was bad enough)")
	}
	fmt.Fprintf(out, "  The delay peaks come before a cut takes hold (capacity fell at %v) and while %s sits below\n", dropAt(dur), s.Primary)
	fmt.Fprintf(out, "  autorate's floor (%v to %v), where only steering moves traffic away.\n", deepAt(dur), recoverAt(dur))
	fmt.Fprintln(out, "\nNext: README.md (install on a real router), docs/config.md, `wanctl simulate -scenario all`, `wanctl demo -svg demo.svg`.")
}

// times lists run times as "12s, 20s", or "never".
func times(ts []time.Duration) string {
	if len(ts) == 0 {
		return "never"
	}
	var b []string
	for _, t := range ts {
		b = append(b, t.Round(time.Second).String())
	}
	return strings.Join(b, ", ")
}

func dropAt(d time.Duration) time.Duration    { return d * 8 / 30 }
func deepAt(d time.Duration) time.Duration    { return d * 10 / 30 }
func recoverAt(d time.Duration) time.Duration { return d * 16 / 30 }

// belowFloor is the primary's capacity, as a share of nominal, in the
// demo's worst phase: just under autorate's RED floor (20 % of the 90 %
// ceiling, 18 % of nominal), so that the delay grows slowly while autorate
// can cut no further. That is the case steering is for.
const belowFloor = 0.175

// scenarioFor is the link a WAN of the demo runs on: the primary's
// capacity falls to 40 % (autorate copes), then just below autorate's
// floor (steering engages), and recovers (steering returns); the alternate
// is steady. Both are loaded after the first second (someone starts a big
// download and an upload).
func scenarioFor(w *config.WAN, primary bool, d time.Duration, seed int64) *sim.Scenario {
	nom := [2]float64{float64(w.Download.Ceiling) / 0.9, float64(w.Upload.Ceiling) / 0.9}
	sc := &sim.Scenario{
		Name:     "demo-" + w.Name,
		Seed:     seed,
		Duration: d,
		Nominal:  nom,
		RTTShift: sim.Const(0),
		ICMPLoss: sim.Const(0),
	}
	load := []sim.Span{{Start: time.Second, End: d}}
	for i := range 2 {
		sc.Loaded[i] = load
		sc.Capacity[i] = sim.Const(nom[i])
		if primary {
			sc.Capacity[i] = sim.Profile{Step: true, Points: []sim.Point{
				{At: 0, V: nom[i]}, {At: dropAt(d), V: 0.4 * nom[i]}, {At: deepAt(d), V: belowFloor * nom[i]}, {At: recoverAt(d), V: nom[i]},
			}}
		}
	}
	return sc
}

func linkOptions(w *config.WAN, cfg *config.Config) sim.Options {
	o := sim.OptionsFromWAN(w, cfg.Daemon.Interval)
	// The tour's short run shows a fixed shaper's bloat at once only under
	// saturating load: elastic flows take longer to fill the ISP buffer.
	o.Load = sim.LoadSaturating
	return o
}

func loadConfig(url, dir, password string) (*config.Config, error) {
	src := strings.NewReplacer("{{URL}}", url, "{{DIR}}", filepath.ToSlash(dir)).Replace(configTemplate)
	cfg, diags := config.Parse("demo.hcl", []byte(src), config.Options{
		FileMode: 0o600,
		LookupEnv: func(k string) (string, bool) {
			if k == "WANCTL_DEMO_PASSWORD" {
				return password, true
			}
			return "", false
		},
	})
	if diags.HasErrors() {
		return nil, fmt.Errorf("demo: built-in configuration: %s", diags.Error())
	}
	return cfg, nil
}

// provision is `wanctl apply -auto-approve` against the emulator.
func provision(ctx context.Context, out io.Writer, cfg *config.Config, client *routeros.Client) error {
	p, err := plan.Make(ctx, cfg, func(*config.Router) (plan.Reader, error) { return client, nil })
	if err != nil {
		return fmt.Errorf("demo: plan: %w", err)
	}
	if len(p.Errors) > 0 {
		var b strings.Builder
		plan.WriteDiagnostics(&b, p.Errors, false)
		return fmt.Errorf("demo: plan: %s", b.String())
	}
	fmt.Fprintf(out, "$ wanctl apply -auto-approve\nPlan: %d to add, %d to change, %d to destroy.\n", p.Summary.Add, p.Summary.Change, p.Summary.Destroy)
	res, err := apply.Apply(ctx, p, map[string]apply.Client{cfg.Routers[0].Name: client}, io.Discard)
	if err != nil {
		return fmt.Errorf("demo: apply: %w", err)
	}
	fmt.Fprintf(out, "Apply complete! Resources: %d added, %d changed, %d destroyed.\n", res.Added, res.Changed, res.Destroyed)
	fmt.Fprintln(out, "(queue types and trees per WAN direction, packet marks, routing tables, routes, pinned reflector")
	fmt.Fprintln(out, " routes, address lists and the steering rules — created disabled, steer toggles them)")
	fmt.Fprintln(out)
	return nil
}

// disableFastTrack turns off the defconf FastTrack rules, as a user would
// before installing wanctl; it returns how many it disabled.
func disableFastTrack(emu *emulator.Emulator) int {
	n := 0
	for _, o := range emu.Objects(routeros.MenuFilter) {
		if o["action"] == "fasttrack-connection" && o["disabled"] != "true" && o["dynamic"] != "true" {
			if emu.SetObject(routeros.MenuFilter, o.ID(), routeros.Object{"disabled": "true"}) == nil {
				n++
			}
		}
	}
	return n
}

func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// feed carries one WAN's simulated ping replies to the daemon's loop, as
// a *ping.Stream would: Drain never blocks.
type feed struct {
	targets  []netip.Addr
	fallback []netip.Addr
	base     time.Time // the clock's time at the link's virtual zero

	mu      sync.Mutex
	buf     []ping.Reply
	pending []ping.Pending
	seq     uint16
	last    map[netip.Addr]lastReply
}

func newFeed(w *config.WAN, base time.Time) *feed {
	f := &feed{targets: w.Measurement.Reflectors, base: base}
	for _, ap := range w.Measurement.TCPFallback {
		f.fallback = append(f.fallback, ap.Addr())
	}
	return f
}

func (f *feed) push(rs []sim.Reply, outst []sim.Outstanding) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = f.pending[:0]
	for _, o := range outst {
		if o.Reflector < len(f.targets) {
			f.pending = append(f.pending, ping.Pending{Target: f.targets[o.Reflector], Sent: f.base.Add(o.Sent.Sub(sim.Epoch))})
		}
	}
	for _, r := range rs {
		var t netip.Addr
		switch {
		case r.TCP && r.Reflector < len(f.fallback):
			t = f.fallback[r.Reflector]
		case !r.TCP && r.Reflector < len(f.targets):
			t = f.targets[r.Reflector]
		default:
			continue
		}
		f.seq++
		at := f.base.Add(r.At.Sub(sim.Epoch))
		f.buf = append(f.buf, ping.Reply{Target: t, Seq: f.seq, RTT: r.RTT, At: at, TCP: r.TCP})
		if !r.TCP {
			f.remember(t, r.RTT, at)
		}
	}
}

// Drain implements autorate.Measurer.
func (f *feed) Drain(dst []ping.Reply) []ping.Reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	dst = append(dst, f.buf...)
	f.buf = f.buf[:0]
	return dst
}

// PendingInto implements autorate.PendingSource: the echoes in flight, as
// the pinger's pending table has them.
func (f *feed) PendingInto(dst []ping.Pending) []ping.Pending {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append(dst, f.pending...)
}

// scaledClock runs Speed times faster than the wall clock (1: it is the
// wall clock, so state files carry real timestamps).
type scaledClock struct {
	speed float64
	wall  time.Time
}

func newScaledClock(speed float64) *scaledClock { return &scaledClock{speed: speed, wall: time.Now()} }

func (c *scaledClock) Now() time.Time {
	if c.speed == 1 {
		return time.Now()
	}
	return c.wall.Add(time.Duration(float64(time.Since(c.wall)) * c.speed))
}

func (c *scaledClock) NewTicker(d time.Duration) autorate.Ticker {
	t := &scaledTicker{t: time.NewTicker(max(time.Duration(float64(d)/c.speed), time.Millisecond)), c: c,
		ch: make(chan time.Time, 1), done: make(chan struct{})}
	go t.forward()
	return t
}

type scaledTicker struct {
	t    *time.Ticker
	c    *scaledClock
	ch   chan time.Time
	done chan struct{}
	once sync.Once
}

func (t *scaledTicker) forward() {
	for {
		select {
		case <-t.done:
			return
		case <-t.t.C:
			select {
			case t.ch <- t.c.Now():
			default: // a slow receiver misses ticks, like time.Ticker
			}
		}
	}
}

func (t *scaledTicker) C() <-chan time.Time { return t.ch }
func (t *scaledTicker) Stop() {
	t.once.Do(func() {
		t.t.Stop()
		close(t.done)
	})
}
