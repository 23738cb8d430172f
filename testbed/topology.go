package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wanctl/wanctl/sim"
)

// The testbed's network: five namespaces in a chain.
//
//	lan (10.71.1.2)  the daemon, the load generator's LAN end, the probe's
//	   | veth        client; the emulated RouterOS REST API on its loopback
//	rtr              the router: HTB toward the ISP (upload) and toward the
//	   | veth        LAN (download), rates = the emulator's max-limit
//	isp              the ISP: TBF toward the internet (upload) and toward
//	   | veth        the customer (download), rates = the scenario's
//	net              capacity, buffer = 300 ms at nominal
//	   | veth        no addresses: a user-space delay line (bridge.go)
//	srv (10.71.3.2)  copies frames between its two veths after the base
//	                 one-way delay; the servers: TCP ends, probe echo,
//	                 reflectors 10.71.4.1-4 (the kernel answers)
//
// Every veth has gso_max_segs 1, so the shapers see (and the delay line
// receives) one frame per TCP segment, not 64 KB super-packets.
const (
	lanAddr    = "10.71.1.2"
	rtrLanAddr = "10.71.1.1"
	rtrIspAddr = "10.71.2.1"
	ispCpeAddr = "10.71.2.2"
	ispUpAddr  = "10.71.3.1"
	srvAddr    = "10.71.3.2"

	// Interface names (each namespace has its own name space).
	lanIf     = "rtr0" // lan -> rtr
	rtrLanIf  = "lan0" // rtr -> lan: download HTB
	rtrIspIf  = "isp0" // rtr -> isp: upload HTB
	ispCpeIf  = "cpe0" // isp -> rtr: download TBF
	ispUpIf   = "up0"  // isp -> net: upload TBF
	netIspIf  = "isp0" // net, toward isp
	netSrvIf  = "srv0" // net, toward srv
	srvNetIf  = "eth0" // srv -> net
	frameMTU  = 1500
	ethHeader = 14

	// frameBytes is a full frame as the shapers count it (the Ethernet
	// header and the IP packet).
	frameBytes = frameMTU + ethHeader
)

// reflectorAddrs are the daemon's reflectors, on srv's loopback.
var reflectorAddrs = []string{"10.71.4.1", "10.71.4.2", "10.71.4.3", "10.71.4.4"}

// HTB classes on the router's two shaped interfaces: 1:1 at max-limit,
// under it 1:10 (priority) for small packets — pings, the probe, pure
// ACKs, which CAKE's flow isolation would serve ahead of the bulk flows —
// and 1:20 for everything else, a byte FIFO of routerQueue at the ceiling
// (CAKE's AQM would keep the bulk queue short; a bounded FIFO is the
// nearest the kernel here has: no fq_codel, no CAKE).
var (
	htbRoot   = handle(1, 1)
	htbSparse = handle(1, 0x10) // tc writes minors in hex: "1:10"
	htbBulk   = handle(1, 0x20)
)

// routerQueue sizes the router's bulk FIFO in time at the ceiling.
const routerQueue = 20 * time.Millisecond

var roles = []string{"lan", "rtr", "isp", "net", "srv"}

// topology is a built network.
type topology struct {
	ns       map[string]netns
	rtr, isp *tcConn
	// Interface indexes of the shaped interfaces, by direction.
	htbIf, tbfIf [2]int32
	tbfLimit     [2]uint32
	created      []string
}

var topoSeq atomic.Int32

// buildTopology creates the namespaces, links, addresses, routes and
// shapers. ceiling is each direction's HTB rate to start with, nominal the
// scenario's nominal capacity (the TBF starts there and its buffer holds
// buffer at that rate). On error, what was created is deleted.
func buildTopology(ctx context.Context, ceiling [2]int64, nominal [2]float64, buffer time.Duration) (t *topology, err error) {
	t = &topology{ns: map[string]netns{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, t.close())
			t = nil
		}
	}()
	if _, err := CleanStale(); err != nil {
		return nil, err
	}
	run := topoSeq.Add(1)
	for _, r := range roles {
		name := fmt.Sprintf("%s%d-%s%d", nsPrefix, os.Getpid(), r, run)
		ns, err := addNetns(ctx, name)
		if ns.name != "" {
			t.created = append(t.created, name)
		}
		if err != nil {
			return t, err
		}
		t.ns[r] = ns
		// No IPv6: its neighbour discovery and router solicitations would
		// only add noise to the shaped links.
		if err := t.sysctl(r, "net.ipv6.conf.all.disable_ipv6", "1", "net.ipv6.conf.default.disable_ipv6", "1"); err != nil {
			return t, err
		}
	}
	type link struct{ a, ai, b, bi string }
	for _, l := range []link{
		{"lan", lanIf, "rtr", rtrLanIf},
		{"rtr", rtrIspIf, "isp", ispCpeIf},
		{"isp", ispUpIf, "net", netIspIf},
		{"net", netSrvIf, "srv", srvNetIf},
	} {
		if err := command(ctx, "ip", "-n", t.ns[l.a].name, "link", "add", l.ai, "type", "veth", "peer", "name", l.bi, "netns", t.ns[l.b].name); err != nil {
			return t, err
		}
		for _, e := range [][2]string{{l.a, l.ai}, {l.b, l.bi}} {
			if err := command(ctx, "ip", "-n", t.ns[e[0]].name, "link", "set", e[1], "gso_max_segs", "1", "up"); err != nil {
				return t, err
			}
		}
	}
	steps := [][]string{
		{"lan", "addr", "add", lanAddr + "/24", "dev", lanIf},
		{"lan", "route", "add", "default", "via", rtrLanAddr},
		{"rtr", "addr", "add", rtrLanAddr + "/24", "dev", rtrLanIf},
		{"rtr", "addr", "add", rtrIspAddr + "/24", "dev", rtrIspIf},
		{"rtr", "route", "add", "default", "via", ispCpeAddr},
		{"isp", "addr", "add", ispCpeAddr + "/24", "dev", ispCpeIf},
		{"isp", "addr", "add", ispUpAddr + "/24", "dev", ispUpIf},
		{"isp", "route", "add", "10.71.1.0/24", "via", rtrIspAddr},
		{"isp", "route", "add", "default", "via", srvAddr},
		{"srv", "addr", "add", srvAddr + "/24", "dev", srvNetIf},
		{"srv", "route", "add", "10.71.0.0/16", "via", ispUpAddr},
	}
	for _, a := range reflectorAddrs {
		steps = append(steps, []string{"srv", "addr", "add", a + "/32", "dev", "lo"})
	}
	for _, s := range steps {
		if err := command(ctx, "ip", append([]string{"-n", t.ns[s[0]].name}, s[1:]...)...); err != nil {
			return t, err
		}
	}
	for _, r := range []string{"rtr", "isp"} {
		if err := t.sysctl(r, "net.ipv4.ip_forward", "1"); err != nil {
			return t, err
		}
	}
	// The TCP ends keep no metrics between flows. (Their congestion
	// control is set per socket: a namespace other than the first may
	// only default to the "allowed" algorithms.)
	for _, r := range []string{"lan", "srv"} {
		if err := t.sysctl(r, "net.ipv4.tcp_no_metrics_save", "1"); err != nil {
			return t, err
		}
	}
	if t.rtr, err = openTC(t.ns["rtr"]); err != nil {
		return t, err
	}
	if t.isp, err = openTC(t.ns["isp"]); err != nil {
		return t, err
	}
	for d, dev := range [2]string{rtrLanIf, rtrIspIf} {
		if err := t.addHTB(ctx, sim.Dir(d), dev, ceiling[d]); err != nil {
			return t, err
		}
	}
	for d, dev := range [2]string{ispCpeIf, ispUpIf} {
		if err := t.addTBF(ctx, sim.Dir(d), dev, int64(nominal[d]), buffer); err != nil {
			return t, err
		}
	}
	return t, nil
}

// sysctl sets key=value pairs inside a namespace (/proc/sys/net is the
// opening thread's namespace's).
func (t *topology) sysctl(role string, kv ...string) error {
	return t.ns[role].do(func() error {
		for i := 0; i+1 < len(kv); i += 2 {
			p := "/proc/sys/" + strings.ReplaceAll(kv[i], ".", "/")
			if err := os.WriteFile(p, []byte(kv[i+1]), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s in %s: %w", kv[i], kv[i+1], t.ns[role].name, err)
			}
		}
		return nil
	})
}

func rateArg(bps int64) string { return strconv.FormatInt(bps, 10) + "bit" }

// addHTB builds the router's shaper on dev for direction d at rate bps.
func (t *topology) addHTB(ctx context.Context, d sim.Dir, dev string, bps int64) error {
	ns := t.ns["rtr"].name
	bulkLimit := max(uint64(float64(bps)/8*routerQueue.Seconds()), 10*frameBytes)
	cmds := [][]string{
		{"qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "20"},
		{"class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", rateArg(bps), "ceil", rateArg(bps)},
		{"class", "add", "dev", dev, "parent", "1:1", "classid", "1:10", "htb", "rate", rateArg(bps - bps/100), "ceil", rateArg(bps), "prio", "0", "quantum", strconv.Itoa(frameBytes)},
		{"class", "add", "dev", dev, "parent", "1:1", "classid", "1:20", "htb", "rate", rateArg(bps / 100), "ceil", rateArg(bps), "prio", "1", "quantum", strconv.Itoa(frameBytes)},
		{"qdisc", "add", "dev", dev, "parent", "1:10", "handle", "10:", "pfifo", "limit", "1000"},
		{"qdisc", "add", "dev", dev, "parent", "1:20", "handle", "20:", "bfifo", "limit", strconv.FormatUint(bulkLimit, 10)},
		// ICMP and UDP (pings, the probe), and TCP packets under 128 bytes
		// (pure ACKs): the priority class.
		{"filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "protocol", "1", "0xff", "flowid", "1:10"},
		{"filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "2", "u32", "match", "ip", "protocol", "17", "0xff", "flowid", "1:10"},
		{"filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "3", "u32", "match", "ip", "protocol", "6", "0xff", "match", "u16", "0x0000", "0xff80", "at", "2", "flowid", "1:10"},
	}
	for _, c := range cmds {
		if err := command(ctx, "tc", append([]string{"-n", ns}, c...)...); err != nil {
			return err
		}
	}
	idx, err := ifindex(t.ns["rtr"], dev)
	if err != nil {
		return err
	}
	t.htbIf[d] = int32(idx)
	// Once through netlink, so that the classes have exactly the burst and
	// quantum every later change gives them.
	return t.setHTB(d, bps)
}

// setHTB sets direction d's router shaper to bps.
func (t *topology) setHTB(d sim.Dir, bps int64) error {
	ifi := t.htbIf[d]
	// The priority class's rate is (nearly) the whole rate, so it never
	// borrows and HTB always serves it first: small packets pass the bulk
	// queue whatever their volume (the ACKs of a fast download are a few
	// percent of a slow upload). The bulk class has a token rate and
	// borrows the rest from 1:1, which both charge: together they stay
	// within max-limit.
	bulk := max(bps/100, 8*8*frameBytes)
	for _, c := range []struct {
		cl         htbClass
		rate, ceil int64
	}{
		{htbClass{ifindex: ifi, parent: handle(1, 0), handle: htbRoot}, bps, bps},
		{htbClass{ifindex: ifi, parent: htbRoot, handle: htbSparse, prio: 0, quantum: frameBytes}, max(bps-bulk, bulk), bps},
		{htbClass{ifindex: ifi, parent: htbRoot, handle: htbBulk, prio: 1, quantum: frameBytes}, bulk, bps},
	} {
		if err := t.rtr.setHTB(c.cl, c.rate, c.ceil); err != nil {
			return fmt.Errorf("router %s shaper: %w", d, err)
		}
	}
	return nil
}

// htbRate reads direction d's router shaper rate back from the kernel.
func (t *topology) htbRate(d sim.Dir) (int64, error) { return t.rtr.classRate(t.htbIf[d], htbRoot) }

// addTBF builds the ISP's bottleneck on dev for direction d: rate bps, a
// buffer holding buffer at that rate.
func (t *topology) addTBF(ctx context.Context, d sim.Dir, dev string, bps int64, buffer time.Duration) error {
	limit := uint32(float64(bps) / 8 * buffer.Seconds())
	burst := burstBytes(uint64(bps / 8))
	if err := command(ctx, "tc", "-n", t.ns["isp"].name, "qdisc", "add", "dev", dev, "root", "handle", "1:", "tbf",
		"rate", rateArg(bps), "burst", strconv.FormatUint(burst, 10), "limit", strconv.FormatUint(uint64(limit), 10)); err != nil {
		return err
	}
	idx, err := ifindex(t.ns["isp"], dev)
	if err != nil {
		return err
	}
	t.tbfIf[d], t.tbfLimit[d] = int32(idx), limit
	return nil
}

// setTBF sets direction d's ISP capacity to bps; the buffer keeps its size
// in bytes, so at a lower rate it holds more time, as the simulator's.
func (t *topology) setTBF(d sim.Dir, bps int64) error {
	if err := t.isp.setTBF(t.tbfIf[d], bps, t.tbfLimit[d]); err != nil {
		return fmt.Errorf("ISP %s link: %w", d, err)
	}
	return nil
}

// tbfStats reads direction d's ISP link counters.
func (t *topology) tbfStats(d sim.Dir) (qdiscStats, error) {
	qs, err := t.isp.qdiscs(t.tbfIf[d])
	if err != nil {
		return qdiscStats{}, err
	}
	for _, q := range qs {
		if q.Kind == "tbf" && q.Parent == tcHRoot {
			return q, nil
		}
	}
	return qdiscStats{}, fmt.Errorf("ISP %s link: no tbf qdisc", d)
}

// shaperStats are a router shaper's counters: the HTB root qdisc's bytes
// and packets (what the shaper let through) and its leaves' drops and
// backlog (its queues').
type shaperStats struct {
	Bytes          uint64
	Packets        uint32
	Drops, Backlog uint32
}

// shaperStats reads direction d's router shaper counters.
func (t *topology) shaperStats(d sim.Dir) (shaperStats, error) {
	qs, err := t.rtr.qdiscs(t.htbIf[d])
	if err != nil {
		return shaperStats{}, err
	}
	var st shaperStats
	for _, q := range qs {
		if q.Kind == "htb" {
			st.Bytes, st.Packets = q.Bytes, q.Packets
			continue
		}
		st.Drops += q.Drops
		st.Backlog += q.Backlog
	}
	return st, nil
}

// close deletes everything; sockets still open keep a namespace alive
// until they close, but its name is gone.
func (t *topology) close() error {
	var errs []error
	for _, c := range []*tcConn{t.rtr, t.isp} {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(t.created) - 1; i >= 0; i-- {
		if err := delNetns(t.created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	t.created = nil
	return errors.Join(errs...)
}
