// Package testbed is `wanctl lab`: a second closed loop, built from real
// parts, to check what the simulator (whose link model is ours) says. In
// network namespaces it creates and deletes, a router namespace shapes
// with HTB at the max-limit the real `wanctl autorate` daemon writes to the
// RouterOS emulator, an ISP namespace's TBF plays a scenario's capacity
// behind a buffer of 300 ms, a user-space delay line gives the path its
// base RTT, real cubic TCP flows load it, and a UDP probe measures the
// added delay from packet timestamps. The scores are the simulator's.
// docs/testbed.md describes the set-up and its limits.
package testbed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wanctl/wanctl/sim"
)

// Policy is what sets the router's shaper.
type Policy string

// Policies.
const (
	// PolicyWanctl: the real daemon, through the emulator.
	PolicyWanctl Policy = "wanctl"
	// PolicyOracle: 95 % of the true capacity, set with the capacity.
	PolicyOracle Policy = "oracle"
	// PolicyFixed: the ceiling, never changed.
	PolicyFixed Policy = "fixed"
)

// Policies lists them in report order.
var Policies = []Policy{PolicyWanctl, PolicyOracle, PolicyFixed}

// OracleFactor is the oracle's rate as a share of the capacity (the
// simulator's).
const OracleFactor = 0.95

// Load selects the directions that get bulk flows in loaded phases.
type Load int

// Loads.
const (
	LoadBoth Load = iota
	LoadDownload
	LoadUpload
)

func (l Load) has(d sim.Dir) bool {
	return l == LoadBoth || (l == LoadDownload && d == sim.Download) || (l == LoadUpload && d == sim.Upload)
}

// Options configure a run. Scenario is required; zero fields take the
// defaults listed.
type Options struct {
	// Scenario is what is played; its Nominal capacities are the ISP's
	// nominal rates (the TBF buffer is sized at them).
	Scenario *sim.Scenario
	Policy   Policy // wanctl
	// Ceiling is the shaper's ceiling per direction: the daemon's
	// configured ceiling and the fixed policy's rate. Default
	// sim.CeilingShare (90 %) of the nominal, as simulate assumes.
	Ceiling [2]int64
	Buffer  time.Duration // the ISP buffer at nominal capacity: 300ms
	BaseRTT time.Duration // the delay line's round trip: 20ms
	Flows   int           // bulk TCP flows per loaded direction: 4
	Load    Load          // both directions
	// Timestamps: the daemon measures with ICMP timestamp requests
	// (measurement.timestamps), whose one-way delays the reflectors'
	// kernels stamp.
	Timestamps bool
	// ProbeInterval is the probe's period: 10ms.
	ProbeInterval time.Duration
	// Warmup is the time between the daemon controlling and the
	// scenario's start, for its baselines: 2s.
	Warmup time.Duration
	// TargetBloat is the recovery threshold: 15ms, the daemon's default.
	TargetBloat time.Duration
	// Exe runs wanctl (the daemon, and `lab bridge`, the delay line):
	// the command and leading arguments; nil: this executable. Env is
	// added to their environment.
	Exe []string
	Env []string
	// LogDir keeps the daemon's and the delay line's logs and the
	// generated configuration; "": a temporary directory, removed.
	LogDir string
	// Logf reports progress; nil: silent.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() error {
	if o.Scenario == nil {
		return errors.New("testbed: no scenario")
	}
	if err := o.Scenario.Validate(); err != nil {
		return err
	}
	if o.Policy == "" {
		o.Policy = PolicyWanctl
	}
	if !slices.Contains(Policies, o.Policy) {
		return fmt.Errorf("testbed: policy %q: want wanctl, oracle or fixed", o.Policy)
	}
	for d := range 2 {
		if o.Ceiling[d] == 0 {
			o.Ceiling[d] = int64(sim.CeilingShare * o.Scenario.Nominal[d])
		}
		if o.Ceiling[d] < 100_000 || o.Ceiling[d] > 1_000_000_000 {
			return fmt.Errorf("testbed: %s ceiling %d bits/s: want 100k..1G", sim.Dir(d), o.Ceiling[d])
		}
	}
	def := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Buffer, 300*time.Millisecond)
	def(&o.BaseRTT, 20*time.Millisecond)
	def(&o.ProbeInterval, 10*time.Millisecond)
	def(&o.Warmup, 2*time.Second)
	def(&o.TargetBloat, 15*time.Millisecond)
	if o.Flows == 0 {
		o.Flows = 4
	}
	if o.Flows < 1 || o.Flows > 64 {
		return fmt.Errorf("testbed: %d flows per direction: want 1..64", o.Flows)
	}
	if o.Buffer < 10*time.Millisecond || o.Buffer > 5*time.Second || o.BaseRTT < 0 || o.BaseRTT > 2*time.Second {
		return fmt.Errorf("testbed: buffer %v (want 10ms..5s) or base RTT %v (want 0..2s) out of range", o.Buffer, o.BaseRTT)
	}
	if o.ProbeInterval < time.Millisecond {
		return fmt.Errorf("testbed: probe interval %v: want >= 1ms", o.ProbeInterval)
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// Result is one run.
type Result struct {
	Scenario string        `json:"scenario"`
	Seed     int64         `json:"seed"`
	Policy   Policy        `json:"policy"`
	Duration time.Duration `json:"-"`
	Dirs     [2]DirResult  `json:"dirs"` // download, upload
	// Probe counts.
	ProbesSent int `json:"probes_sent"`
	// RateEvents are the max-limits the hook gave the router's shaper
	// (wanctl only); MaxApply the longest time that took.
	RateEvents []RateEvent `json:"-"`
	MaxApplyMS float64     `json:"max_apply_ms"`
	// FinalMaxLimit is the emulator's max-limit per direction when the
	// daemon stopped, FinalHTB the router shaper's rate the kernel had
	// then (wanctl only).
	FinalMaxLimit [2]int64 `json:"final_max_limit_bps"`
	FinalHTB      [2]int64 `json:"final_htb_bps"`
	// FinalCounterBytes is the queue's bytes counter as the emulator last
	// showed it to the daemon, FinalHTBBytes the kernel shaper's when the
	// daemon stopped (wanctl only): the daemon's load signal reads the
	// real traffic.
	FinalCounterBytes [2]int64     `json:"final_counter_bytes"`
	FinalHTBBytes     [2]int64     `json:"final_htb_bytes"`
	Bridge            *BridgeStats `json:"bridge,omitempty"`
	CPU               CPUStats     `json:"cpu"`
	// VethDrops counts packets dropped by the veths (outside the
	// shapers); SoftnetDrops the kernel's input backlog drops (all
	// namespaces, the whole machine).
	VethDrops    uint64  `json:"veth_drops"`
	SoftnetDrops uint64  `json:"softnet_drops"`
	WallS        float64 `json:"wall_s"`
}

// DirResult is one direction of a run.
type DirResult struct {
	Scores Scores `json:"scores"`
	Writes int    `json:"writes"`
	Events int    `json:"events"` // recovery events
	// BaseDelayMS is the idle link's one-way delay the added delay is
	// measured from.
	BaseDelayMS float64 `json:"base_delay_ms"`
	// ProbeLost counts probes lost in this direction; ProbeDiscarded
	// those whose send time was not trustworthy.
	ProbeLost      int `json:"probe_lost"`
	ProbeDiscarded int `json:"probe_discarded"`
	// MaxISPQueueMS is the largest ISP queue in time while loaded, from
	// the TBF's backlog (sampled every 50 ms).
	MaxISPQueueMS float64 `json:"max_isp_queue_ms"`
	// GoodputBps is what the TCP sinks read per second while loaded.
	GoodputBps float64 `json:"goodput_bps"`
	// Drops at the ISP's buffer and in the router's queues.
	ISPDrops    uint32 `json:"isp_drops"`
	RouterDrops uint32 `json:"router_drops"`
	// Samples are the probe's added delays (send order).
	Samples []delaySample `json:"-"`
}

// RateEvent is one max-limit given to the router's shaper.
type RateEvent struct {
	At   time.Duration // since the scenario's start
	Dir  sim.Dir
	Bps  int64
	Took time.Duration
}

// CPUStats describe the machine during the scenario.
type CPUStats struct {
	Cores int `json:"cores"`
	// BusyPct and SoftirqPct are of all cores; LabPct, DaemonPct and
	// BridgePct of one core.
	BusyPct    float64 `json:"busy_pct"`
	SoftirqPct float64 `json:"softirq_pct"`
	LabPct     float64 `json:"lab_pct"`
	DaemonPct  float64 `json:"daemon_pct"`
	BridgePct  float64 `json:"bridge_pct"`
}

// tick is the driver's period: capacity changes, load phases, counters.
const tick = 10 * time.Millisecond

// Run plays opt.Scenario once under opt.Policy. It needs root (network
// namespaces, tc, raw sockets) and deletes everything it created, also
// when ctx is cancelled.
func Run(ctx context.Context, opt Options) (res *Result, err error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	wall := time.Now()
	sc := opt.Scenario
	if opt.Exe == nil {
		if opt.Exe, err = selfExe(); err != nil {
			return nil, err
		}
	}
	dir := opt.LogDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wanctl-lab-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logPath := func(name string) string {
		return filepath.Join(dir, fmt.Sprintf("%s-%s-%s", sc.Name, opt.Policy, name))
	}

	start := [2]int64{opt.Ceiling[0], opt.Ceiling[1]}
	if opt.Policy == PolicyOracle {
		for d := range 2 {
			start[d] = int64(OracleFactor * sc.Capacity[d].At(0))
		}
	}
	opt.Logf("building the namespaces")
	topo, err := buildTopology(ctx, start, sc.Nominal, opt.Buffer)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, topo.close()) }()

	// The delay line.
	bl, err := os.Create(logPath("bridge.log"))
	if err != nil {
		return nil, err
	}
	defer bl.Close()
	line, err := startBridge(topo, opt, bl)
	if err != nil {
		return nil, err
	}
	defer func() {
		if line != nil {
			_, lerr := line.finish()
			err = errors.Join(err, lerr)
		}
	}()

	// The router and the daemon.
	var rt *router
	var daemon *proc
	if opt.Policy == PolicyWanctl {
		if rt, err = startRouter(topo, topo.ns["lan"], opt.Ceiling); err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, rt.close()) }()
		var cfgPath string
		if cfgPath, err = rt.provision(ctx, dir, opt.Ceiling, opt.Timestamps); err != nil {
			return nil, err
		}
		rt.setFollow(true)
		var dl *os.File
		if dl, err = os.Create(logPath("daemon.log")); err != nil {
			return nil, err
		}
		defer dl.Close()
		opt.Logf("starting wanctl autorate")
		if daemon, err = rt.startDaemon(ctx, opt.Exe, opt.Env, cfgPath, dl); err != nil {
			return nil, fmt.Errorf("%w (log: %s)", err, dl.Name())
		}
		defer func() {
			if daemon != nil {
				if derr := daemon.stop(5 * time.Second); derr != nil {
					err = errors.Join(err, fmt.Errorf("the daemon: %w (log: %s)", derr, dl.Name()))
				}
			}
		}()
	}

	maxProbes := int((sc.Duration+opt.Warmup+5*time.Second)/opt.ProbeInterval) + 16
	pr, err := startProbe(topo.ns["lan"], topo.ns["srv"], opt.ProbeInterval, maxProbes)
	if err != nil {
		return nil, err
	}
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); pr.run(probeCtx) }()
	probeStopped := false
	endProbe := func() error {
		if probeStopped {
			return nil
		}
		probeStopped = true
		stopProbe()
		<-probeDone
		return pr.close()
	}
	defer func() { err = errors.Join(err, endProbe()) }()

	ld, err := startLoad(topo.ns["lan"], topo.ns["srv"], opt.Flows)
	if err != nil {
		return nil, err
	}
	loadStopped := false
	defer func() {
		if !loadStopped {
			err = errors.Join(err, ld.close())
		}
	}()

	warm := opt.Warmup
	if opt.Policy != PolicyWanctl {
		warm = min(warm, time.Second)
	}
	opt.Logf("warming up for %v", warm)
	if !sleepCtx(ctx, warm) {
		return nil, ctx.Err()
	}

	t0 := time.Now()
	if err := line.scenario(BridgeScenario{Start: t0.UnixNano(), RTTShift: sc.RTTShift, ICMPLoss: sc.ICMPLoss}); err != nil {
		return nil, err
	}
	cpu0 := readCPU()
	softnet0 := softnetDrops()
	opt.Logf("playing %s (%v) under %s", sc.Name, sc.Duration, opt.Policy)
	dr, err := drive(ctx, t0, opt, topo, ld)
	if err != nil {
		return nil, err
	}
	cpu1 := readCPU()
	elapsed := time.Since(t0)

	// Wind down: the probe's sender, the load, the probes still queued
	// (they are late, not lost), the daemon, the delay line.
	stopProbe()
	<-probeDone
	loadStopped = true
	lerr := ld.close()
	pr.drain(3 * time.Second)
	if err := endProbe(); err != nil {
		return nil, errors.Join(err, lerr)
	}
	var daemonCPU time.Duration
	if daemon != nil {
		derr := daemon.stop(5 * time.Second)
		daemonCPU = daemon.cpu
		daemon = nil
		if derr != nil {
			return nil, fmt.Errorf("the daemon: %w (log: %s)", derr, logPath("daemon.log"))
		}
	}
	bs, berr := line.finish()
	bridgeCPU := line.p.cpu
	line = nil
	if berr != nil {
		return nil, berr
	}

	res = &Result{Scenario: sc.Name, Seed: sc.Seed, Policy: opt.Policy, Duration: sc.Duration, Bridge: bs}
	res.CPU = cpuStats(cpu0, cpu1, elapsed)
	res.CPU.DaemonPct = 100 * daemonCPU.Seconds() / (elapsed + opt.Warmup).Seconds()
	res.CPU.BridgePct = 100 * bridgeCPU.Seconds() / time.Since(wall).Seconds()
	res.SoftnetDrops = softnetDrops() - softnet0
	res.VethDrops = topo.vethDrops(context.Background())
	if lerr != nil {
		opt.Logf("load generator: %v", lerr)
	}

	var writes [2]int
	if rt != nil {
		writes = rt.writes(t0)
		for d := range sim.Dir(2) {
			res.FinalMaxLimit[d], _ = rt.emu.QueueMaxLimit(rt.queues[d])
			if res.FinalHTB[d], err = topo.htbRate(d); err != nil {
				return nil, err
			}
			res.FinalCounterBytes[d] = rt.counterBytes(d)
			ks, err := topo.shaperStats(d)
			if err != nil {
				return nil, err
			}
			res.FinalHTBBytes[d] = int64(ks.Bytes)
		}
		rt.mu.Lock()
		for _, e := range rt.events {
			res.RateEvents = append(res.RateEvents, RateEvent{At: e.At.Sub(t0), Dir: e.Dir, Bps: e.Bps, Took: e.Took})
			res.MaxApplyMS = max(res.MaxApplyMS, float64(e.Took)/float64(time.Millisecond))
		}
		rt.mu.Unlock()
	}
	samples := pr.result()
	res.ProbesSent = len(samples)
	for d := range sim.Dir(2) {
		dd := &res.Dirs[d]
		dd.Samples, dd.BaseDelayMS, dd.ProbeLost, dd.ProbeDiscarded = addedDelays(sc, d, samples, t0)
		dd.Writes = writes[d]
		dd.Events = len(sim.RecoveryEvents(sc, d))
		dd.Scores = score(sc, d, dd.Samples, dr.delivered[d], dr.capacity[d], writes[d], opt.TargetBloat)
		dd.MaxISPQueueMS = dr.maxQueue[d]
		if dr.loadedS[d] > 0 {
			dd.GoodputBps = dr.goodput[d] / dr.loadedS[d]
		}
		dd.ISPDrops, dd.RouterDrops = dr.ispDrops[d], dr.routerDrops[d]
	}
	res.WallS = time.Since(wall).Seconds()
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// driven is what the driver measured.
type driven struct {
	delivered, capacity [2]float64 // bits through the ISP link and its capacity, loaded phases
	goodput, loadedS    [2]float64 // bits the sinks read, and seconds, loaded phases
	maxQueue            [2]float64 // ms
	ispDrops            [2]uint32
	routerDrops         [2]uint32
}

// drive plays the scenario from t0: the ISP's capacity (and the oracle's
// rate), the load phases, and the counters.
func drive(ctx context.Context, t0 time.Time, opt Options, topo *topology, ld *load) (*driven, error) {
	sc := opt.Scenario
	var out driven
	var cur [2]float64
	for d := range 2 {
		cur[d] = sc.Nominal[d]
	}
	var loaded [2]bool
	var bytesAt, sinkAt [2]float64
	var ispDrops0 [2]uint32
	for d := range sim.Dir(2) {
		st, err := topo.tbfStats(d)
		if err != nil {
			return nil, err
		}
		ispDrops0[d] = st.Drops
	}
	tk := time.NewTicker(tick)
	defer tk.Stop()
	last := time.Duration(0)
	n := 0
	for {
		t := time.Since(t0)
		if t >= sc.Duration {
			break
		}
		dt := (t - last).Seconds()
		last = t
		for d := range sim.Dir(2) {
			if c := sc.Capacity[d].At(t); c != cur[d] && (sc.Capacity[d].Step || math.Abs(c-cur[d]) > 0.002*cur[d]) {
				if err := topo.setTBF(d, int64(c)); err != nil {
					return nil, err
				}
				if opt.Policy == PolicyOracle {
					if err := topo.setHTB(d, int64(OracleFactor*c)); err != nil {
						return nil, err
					}
				}
				cur[d] = c
			}
			if loaded[d] {
				out.capacity[d] += cur[d] * dt
				out.loadedS[d] += dt
			}
			want := inSpans(sc.Loaded[d], t)
			if want == loaded[d] {
				continue
			}
			st, err := topo.tbfStats(d)
			if err != nil {
				return nil, err
			}
			sink := float64(ld.delivered[d].Load()) * 8
			if want {
				bytesAt[d], sinkAt[d] = float64(st.Bytes)*8, sink
				if opt.Load.has(d) {
					if err := ld.start(ctx, d); err != nil {
						return nil, err
					}
				}
			} else {
				ld.stop(d)
				out.delivered[d] += float64(st.Bytes)*8 - bytesAt[d]
				out.goodput[d] += sink - sinkAt[d]
			}
			loaded[d] = want
		}
		if n%5 == 0 { // every 50 ms: the ISP queue
			for d := range sim.Dir(2) {
				if !loaded[d] {
					continue
				}
				st, err := topo.tbfStats(d)
				if err != nil {
					return nil, err
				}
				out.maxQueue[d] = max(out.maxQueue[d], float64(st.Backlog)*8/cur[d]*1e3)
			}
		}
		n++
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tk.C:
		}
	}
	for d := range sim.Dir(2) {
		st, err := topo.tbfStats(d)
		if err != nil {
			return nil, err
		}
		if loaded[d] {
			out.delivered[d] += float64(st.Bytes)*8 - bytesAt[d]
			out.goodput[d] += float64(ld.delivered[d].Load())*8 - sinkAt[d]
			ld.stop(d)
		}
		out.ispDrops[d] = st.Drops - ispDrops0[d]
		ks, err := topo.shaperStats(d)
		if err != nil {
			return nil, err
		}
		out.routerDrops[d] = ks.Drops
	}
	return &out, nil
}

// addedDelays turns the probe's timestamps into d's added delays: the
// one-way delay minus the idle link's (the median of the samples before
// the first load; the minimum when there are too few).
func addedDelays(sc *sim.Scenario, d sim.Dir, samples []probeSample, t0 time.Time) (out []delaySample, base float64, lost, discarded int) {
	firstLoad := sc.Duration
	for dd := range 2 {
		if len(sc.Loaded[dd]) > 0 {
			firstLoad = min(firstLoad, sc.Loaded[dd][0].Start)
		}
	}
	type raw struct {
		at time.Duration
		ms float64
	}
	var rs []raw
	for _, s := range samples {
		var from, to int64
		var bad bool
		if d == sim.Upload {
			from, to, bad = s.sent, s.recvd, s.badUp
		} else {
			from, to, bad = s.echoed, s.back, s.badDown
		}
		switch {
		case from == 0:
			if d == sim.Download && s.sent != 0 && s.recvd == 0 {
				continue // lost on the way up: no download sample to lose
			}
			if s.sent != 0 {
				lost++
			}
			continue
		case to == 0:
			lost++
			continue
		case bad:
			discarded++
			continue
		}
		rs = append(rs, raw{at: time.Duration(from - t0.UnixNano()), ms: float64(to-from) / 1e6})
	}
	var idle []float64
	minMS := 0.0
	for i, r := range rs {
		if r.at < firstLoad {
			idle = append(idle, r.ms)
		}
		if i == 0 || r.ms < minMS {
			minMS = r.ms
		}
	}
	base = minMS
	if len(idle) >= 20 {
		slices.Sort(idle)
		base = idle[len(idle)/2]
	}
	for _, r := range rs {
		if r.at >= 0 && r.at < sc.Duration {
			out = append(out, delaySample{At: r.at, Delay: r.ms - base})
		}
	}
	slices.SortFunc(out, func(a, b delaySample) int { return int(a.At - b.At) })
	return out, base, lost, discarded
}

// bridge is the running delay line.
type bridge struct {
	p      *proc
	stdin  io.WriteCloser
	out    *bufio.Reader
	stdout *os.File
	log    *os.File
}

// startBridge starts `wanctl lab bridge` in the net namespace.
func startBridge(topo *topology, opt Options, log *os.File) (*bridge, error) {
	args := append(append([]string(nil), opt.Exe[1:]...), "lab", "bridge")
	cmd := exec.Command(opt.Exe[0], args...)
	cmd.Env = append(os.Environ(), opt.Env...)
	cmd.Stderr = log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// Not cmd.StdoutPipe: Wait closes that as soon as the process exits,
	// and the statistics it wrote last could not be read any more.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	p, err := startIn(topo.ns["net"], cmd)
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, err
	}
	b := &bridge{p: p, stdin: stdin, out: bufio.NewReader(stdout), stdout: stdout, log: log}
	cfg, _ := json.Marshal(BridgeConfig{Up: netIspIf, Down: netSrvIf, Delay: opt.BaseRTT / 2, Seed: opt.Scenario.Seed})
	if _, err := stdin.Write(append(cfg, '\n')); err != nil {
		return nil, errors.Join(fmt.Errorf("delay line: %w", err), p.stop(time.Second))
	}
	ready := make(chan error, 1)
	go func() {
		l, err := b.out.ReadString('\n')
		if err == nil && strings.TrimSpace(l) != "ready" {
			err = fmt.Errorf("unexpected %q", l)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("not ready after 10 s")
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("delay line: %w", err), p.stop(time.Second))
	}
	return b, nil
}

func (b *bridge) scenario(s BridgeScenario) error {
	j, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := b.stdin.Write(append(j, '\n')); err != nil {
		return fmt.Errorf("delay line: %w", err)
	}
	return nil
}

// finish ends the delay line and returns its counters.
func (b *bridge) finish() (*BridgeStats, error) {
	b.stdin.Close()
	defer b.stdout.Close()
	var st BridgeStats
	l, rerr := b.out.ReadString('\n')
	perr := b.p.wait(2*time.Second, 3*time.Second)
	if perr != nil {
		perr = fmt.Errorf("delay line: %w%s", perr, tail(b.log))
	}
	if rerr != nil {
		return nil, errors.Join(fmt.Errorf("delay line: no statistics: %w", rerr), perr)
	}
	if err := json.Unmarshal([]byte(l), &st); err != nil {
		return nil, errors.Join(fmt.Errorf("delay line: statistics: %w", err), perr)
	}
	return &st, perr
}

// tail returns the end of a log file, for an error message.
func tail(f *os.File) string {
	b, err := os.ReadFile(f.Name())
	if err != nil || len(b) == 0 {
		return ""
	}
	return "; its log ends: " + strings.TrimSpace(string(b[max(0, len(b)-500):]))
}

// cpuSample is /proc/stat's first line and this process's CPU time.
type cpuSample struct {
	total, idle, softirq uint64 // jiffies
	self                 time.Duration
	cores                int
}

func readCPU() cpuSample {
	var s cpuSample
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 0 && strings.HasPrefix(f[0], "cpu") && f[0] != "cpu" {
				s.cores++
			}
			if len(f) < 8 || f[0] != "cpu" {
				continue
			}
			for i, v := range f[1:] {
				var n uint64
				fmt.Sscan(v, &n)
				s.total += n
				switch i {
				case 3, 4: // idle, iowait
					s.idle += n
				case 6:
					s.softirq = n
				}
			}
		}
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

func cpuStats(a, b cpuSample, elapsed time.Duration) CPUStats {
	c := CPUStats{Cores: b.cores}
	if dt := float64(b.total - a.total); dt > 0 {
		c.BusyPct = 100 * (1 - float64(b.idle-a.idle)/dt)
		c.SoftirqPct = 100 * float64(b.softirq-a.softirq) / dt
	}
	c.LabPct = 100 * (b.self - a.self).Seconds() / elapsed.Seconds()
	return c
}

// softnetDrops sums the kernel's per-CPU input backlog drops.
func softnetDrops() uint64 {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	var n uint64
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 {
			var v uint64
			fmt.Sscanf(f[1], "%x", &v)
			n += v
		}
	}
	return n
}

// vethDrops sums the drop counters of every interface of the testbed.
func (t *topology) vethDrops(ctx context.Context) uint64 {
	var n uint64
	for _, r := range roles {
		out, err := commandOutput(ctx, "ip", "-n", t.ns[r].name, "-s", "-j", "link", "show")
		if err != nil {
			continue
		}
		var links []struct {
			Stats64 struct {
				RX struct{ Dropped uint64 } `json:"rx"`
				TX struct{ Dropped uint64 } `json:"tx"`
			} `json:"stats64"`
		}
		if json.Unmarshal(out, &links) == nil {
			for _, l := range links {
				n += l.Stats64.RX.Dropped + l.Stats64.TX.Dropped
			}
		}
	}
	return n
}
