package config

import "time"

// The values an attribute left out of the configuration gets (DESIGN.md's
// example configuration, docs/config.md's tables). They are kept here
// rather than inline in the decoder so that the decoder and the tests of
// other packages read the same value and a default changes in one place
// (plus the docs' tables, which people read). Composite defaults are
// functions, not variables: a package-level variable could be changed by
// any importer and would then change every later decode.

// Router block.
const (
	DefaultRouterTimeout = 2 * time.Second
	// DefaultLANInterfaceList is the interface list RouterOS's default
	// configuration puts the LAN ports in.
	DefaultLANInterfaceList = "LAN"
)

// Daemon block.
const (
	DefaultStateDir = "/var/lib/wanctl"
	DefaultLockDir  = "/run/wanctl"
	DefaultInterval = 50 * time.Millisecond
	// DefaultListen keeps /metrics and /health on this machine.
	DefaultListen = "127.0.0.1:9101"
)

// DefaultPingRate is the measurement block's echo requests per second,
// all reflectors together.
const DefaultPingRate = 20

// Download and upload blocks.
const (
	// DefaultDownloadParent lets one queue tree serve every WAN, each
	// WAN's download traffic marked by its in-interface. Upload has no
	// parent setting: it is always the WAN's interface.
	DefaultDownloadParent   = "global"
	DefaultFactorDown       = 0.90
	DefaultFactorDownYellow = 0.96
)

// DefaultStepUp is 2 % of the ceiling, in whole kbit/s and at least
// 1 kbit/s.
func DefaultStepUp(ceiling int64) int64 { return max(1000, ceiling/50/1000*1000) }

// Default floors in percent of the ceiling. The decoder clamps each
// between the floors that are given, so that the order red <= soft_red <=
// yellow <= green still holds.
const (
	DefaultRedFloorPercent     = 20
	DefaultSoftRedFloorPercent = 30
	DefaultYellowFloorPercent  = 35
	DefaultGreenFloorPercent   = 75
)

// DefaultCake is a direction's CAKE queue type when its cake block leaves
// everything out. Upload filters pure ACKs: on an asymmetric link they
// would take much of the narrow upload.
//
// nat is on for upload only. RouterOS queues run after connection
// tracking, so CAKE's nat finds the packet's own conntrack entry and takes
// the tuple of the packet's direction: for upload the original one (the
// LAN host before masquerade: right), for download the reply one, whose
// destination is the router's WAN address, so every LAN host would share
// one host's fair share. A download packet at global or on a LAN interface
// is already de-NATed and carries the real host (docs/config.md, "cake").
func DefaultCake(dir string) Cake {
	c := Cake{
		Diffserv:       "diffserv4",
		Flowmode:       "triple-isolate",
		NAT:            true,
		Wash:           false,
		AckFilter:      "none",
		RTT:            100 * time.Millisecond,
		OverheadScheme: []string{},
	}
	if dir == Upload {
		c.AckFilter = "filter"
	} else {
		c.NAT = false
	}
	return c
}

// DefaultThresholds is a WAN's thresholds block when it is left out.
func DefaultThresholds() Thresholds {
	return Thresholds{
		TargetBloat:              15 * time.Millisecond,
		Refractory:               300 * time.Millisecond,
		WarnBloat:                45 * time.Millisecond,
		HardRedBloat:             80 * time.Millisecond,
		BaselineTimeConstant:     60 * time.Second,
		LoadTimeConstant:         50 * time.Millisecond,
		BaselineUpdateThreshold:  3 * time.Millisecond,
		BaselineRiseTimeConstant: 300 * time.Second,
		GreenRequired:            5,
		DwellCycles:              3,
		Deadband:                 3 * time.Millisecond,
	}
}

// DefaultRouterWrites is a WAN's router_writes block when it is left out.
// The write budget, 40 a minute with a burst of 20 per queue, is the
// lowest the simulator's matrix and quality tests show at no cost (30 a
// minute already slows the climb back after a drop; 10 loses a fifth of
// the runs meeting the bar): BENCHMARKS.md, "Write budget".
func DefaultRouterWrites() RouterWrites {
	return RouterWrites{MinChange: 0.02, IncreaseInterval: time.Second, WritesPerMinute: 40, Burst: 20}
}

// DefaultSteerThresholds is the steering block's thresholds block when it
// is left out.
func DefaultSteerThresholds() SteerThresholds {
	return SteerThresholds{
		RTTYellow:    15 * time.Millisecond,
		RTTRed:       15 * time.Millisecond,
		RTTEWMAAlpha: 0.3,
		MinDropsRed:  1,
		QueueYellow:  10,
		QueueRed:     50,
		RedSamples:   2,
		GreenSamples: 15,
		StateMaxAge:  5 * time.Second,
	}
}
