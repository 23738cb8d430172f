// Package hcl is wanctl's configuration language: schema, decoding,
// validation, diagnostics and the two functions env() and file().
//
// The result of a successful Load is a *Config whose values are typed
// (rates in bits/s as int64, durations as time.Duration), fully defaulted and
// validated: later packages consume it without re-checking.
package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/wanctl/wanctl/routeros"
)

// Config is a decoded, defaulted and validated wanctl configuration.
type Config struct {
	// Filename is the path the configuration was read from.
	Filename string
	Routers  []*Router
	Daemon   Daemon
	WANs     []*WAN
	// Steering is nil when the file has no steering block.
	Steering *Steering
}

// Router returns the router with that name, or nil.
func (c *Config) Router(name string) *Router {
	for _, r := range c.Routers {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// WAN returns the WAN with that name, or nil.
func (c *Config) WAN(name string) *WAN {
	for _, w := range c.WANs {
		if w.Name == name {
			return w
		}
	}
	return nil
}

// SelectWANs returns the named WANs in the order given, without repeats;
// no names selects every WAN. An unknown name is an error listing the
// declared ones (the names come from -wan flags).
func (c *Config) SelectWANs(names []string) ([]*WAN, error) {
	if len(names) == 0 {
		if len(c.WANs) == 0 {
			return nil, fmt.Errorf("%s declares no wan block", c.Filename)
		}
		return c.WANs, nil
	}
	var out []*WAN
	for _, n := range names {
		w := c.WAN(n)
		if w == nil {
			have := make([]string, 0, len(c.WANs))
			for _, x := range c.WANs {
				have = append(have, x.Name)
			}
			return nil, fmt.Errorf("-wan %q: no such wan in %s (declared: %s)", n, c.Filename, strings.Join(have, ", "))
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out, nil
}

// Secret is a credential that never prints itself (fmt, slog and JSON see
// "(sensitive)"; only Reveal returns the value). It is the REST client's
// type, so that a router block's password reaches the client as it is.
type Secret = routeros.Secret

// Router is a `router "<name>"` block. Timeout and LANInterfaceList
// default to DefaultRouterTimeout and DefaultLANInterfaceList.
type Router struct {
	Name string
	// URL is the REST base as configured, without the "/rest" suffix
	// (e.g. "https://192.168.88.1").
	URL           string
	Username      string
	Password      Secret
	CAFile        string // "" = system roots
	TLSSkipVerify bool
	Timeout       time.Duration
	AdoptExisting bool
	// HostAddress is this host's address as the router sees it; invalid
	// (zero) when not set.
	HostAddress      netip.Addr
	LANInterfaceList string
	AllowFastTrack   bool
	DeclRange        hcl.Range
}

// Daemon is the optional `daemon` block, fully defaulted (defaults.go).
type Daemon struct {
	StateDir string
	LockDir  string
	Interval time.Duration // >= 10ms
	Listen   string
}

// Direction names.
const (
	Download = "download"
	Upload   = "upload"
)

// WAN is a `wan "<name>"` block.
type WAN struct {
	Name      string
	Router    string // name of a declared router
	Interface string
	// Gateway is the next hop: an IP address, or an interface name (PPPoE,
	// LTE); "" when not set.
	Gateway      string
	Measurement  Measurement
	Download     Direction
	Upload       Direction
	Thresholds   Thresholds
	RouterWrites RouterWrites
	DeclRange    hcl.Range
}

// GatewayIP returns the gateway as an address when it is one.
func (w *WAN) GatewayIP() (netip.Addr, bool) {
	a, err := netip.ParseAddr(w.Gateway)
	return a, err == nil
}

// RoutingTable is the name of the WAN's routing table, "wanctl-<wan>".
func (w *WAN) RoutingTable() string { return "wanctl-" + w.Name }

// Directions returns download then upload.
func (w *WAN) Directions() []*Direction { return []*Direction{&w.Download, &w.Upload} }

// Measurement is a WAN's `measurement` block.
type Measurement struct {
	Reflectors []netip.Addr // at least one
	PingRate   int          // echo requests per second, all reflectors together; 1..100
	// TCPFallback are "host:port" targets for TCP-connect RTT during an ICMP
	// blackout; the host is an IP literal.
	TCPFallback []netip.AddrPort
	Source      netip.Addr // zero when unset
	PinRoutes   bool       // default: true when the WAN has a gateway
	// Timestamps: ICMP timestamp requests instead of echo to the IPv4
	// reflectors, whose one-way delays tell the directions' queues apart.
	Timestamps bool
}

// Direction is a WAN's `download` or `upload` block.
type Direction struct {
	Name string // Download or Upload
	// Queue is the queue-tree entry apply creates and autorate moves;
	// default "wanctl-<wan>-down" / "wanctl-<wan>-up".
	Queue string
	// QueueType is the CAKE queue type's name (RouterOS /queue/type has no
	// comment, so it is owned by name); default "wanctl-<wan>-<direction>".
	QueueType string
	// Parent of the queue-tree entry. Download: default "global"; upload:
	// always the WAN's interface.
	Parent           string
	Ceiling          int64 // bits/s, required
	StepUp           int64 // bits/s
	FactorDown       float64
	FactorDownYellow float64
	Floor            Floors
	Cake             Cake
}

// Floors are lower bounds for decreases, never targets.
// Red <= SoftRed <= Yellow <= Green <= Ceiling. Upload has no SoftRed (0).
type Floors struct {
	Green, Yellow, SoftRed, Red int64
}

// Cake is the RouterOS queue type (kind=cake) apply creates for a direction.
// Empty strings / zero values mean "the RouterOS default".
type Cake struct {
	Diffserv       string // diffserv3|diffserv4|diffserv8|besteffort|precedence
	Flowmode       string // flowblind|srchost|dsthost|hosts|flows|dual-srchost|dual-dsthost|triple-isolate
	NAT            bool
	Wash           bool
	AckFilter      string // none|filter|aggressive
	Overhead       int    // -64..256
	MPU            int
	RTT            time.Duration
	ATM            string   // none|atm|ptm
	OverheadScheme []string // e.g. ["docsis"], ["pppoe-ptm"]
}

// Thresholds is a WAN's `thresholds` block, fully defaulted
// (DefaultThresholds).
type Thresholds struct {
	TargetBloat              time.Duration
	Refractory               time.Duration
	WarnBloat                time.Duration
	HardRedBloat             time.Duration
	BaselineTimeConstant     time.Duration
	LoadTimeConstant         time.Duration
	BaselineUpdateThreshold  time.Duration
	BaselineRiseTimeConstant time.Duration
	GreenRequired            int
	DwellCycles              int
	Deadband                 time.Duration
}

// RouterWrites is a WAN's `router_writes` block, fully defaulted
// (DefaultRouterWrites).
type RouterWrites struct {
	MinChange        float64 // fraction of the rate
	IncreaseInterval time.Duration
	// The write budget, per queue: a bucket of Burst writes refilled at
	// WritesPerMinute. Increases wait for it; decreases are always
	// written (into debt, at most one burst).
	WritesPerMinute int
	Burst           int
}

// Steering is the optional `steering` block.
type Steering struct {
	Primary      string
	Alternate    string
	Rules        []*SteerRule
	AddressLists []*AddressList
	Thresholds   SteerThresholds
	// DryRun: `wanctl steer` assesses and records what it would switch
	// but never writes to the router.
	DryRun    bool
	DeclRange hcl.Range
}

// SteerRule is a `rule "<name>"` block: the matchers of one steering rule
// (mangle, chain prerouting, connection-state=new). Empty = not matched on.
type SteerRule struct {
	Name           string
	Protocol       string // "tcp", "udp", a number, ...
	DstPorts       string // RouterOS port list "3478-3481,5060"
	SrcPorts       string
	DstAddress     string // address or prefix
	SrcAddress     string
	SrcAddressList string
	DstAddressList string
	// DSCP values as numbers 0..63 (names like "ef" translated); one mangle
	// rule per value.
	DSCP      []int
	DeclRange hcl.Range
}

// AddressList is an `address_list "<name>"` block.
type AddressList struct {
	Name      string
	Addresses []string // addresses or prefixes
	DeclRange hcl.Range
}

// SteerThresholds is the steering `thresholds` block, fully defaulted
// (DefaultSteerThresholds).
type SteerThresholds struct {
	RTTYellow    time.Duration
	RTTRed       time.Duration
	RTTEWMAAlpha float64
	MinDropsRed  int64 // packets dropped since the previous run
	QueueYellow  int64 // packets queued
	QueueRed     int64 // packets queued
	RedSamples   int
	GreenSamples int
	StateMaxAge  time.Duration
}
