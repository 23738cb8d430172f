package config

import (
	hcl "github.com/hashicorp/hcl/v2"
)

// The raw* structs are the HCL schema, decoded with gohcl. Every attribute
// is kept as a *hcl.Attribute so that decode.go evaluates it itself (with
// env() and file()), knows its exact range for diagnostics and can tell
// "absent" (default applies) from "present but invalid". Required
// attributes are checked in decode.go too, so that all messages read alike.
// Single blocks are slices for the same reason: a missing or repeated block
// gets our own message, pointing at the right place.
//
// docs_test.go walks these structs: every attribute must be documented in
// docs/config.md.

type rawFile struct {
	Routers  []*rawRouter   `hcl:"router,block"`
	Daemon   []*rawDaemon   `hcl:"daemon,block"`
	WANs     []*rawWAN      `hcl:"wan,block"`
	Steering []*rawSteering `hcl:"steering,block"`
}

type rawRouter struct {
	Name      string    `hcl:"name,label"`
	NameRange hcl.Range `hcl:"name,label_range"`
	DefRange  hcl.Range `hcl:",def_range"`

	URL              *hcl.Attribute `hcl:"url,optional"`
	Username         *hcl.Attribute `hcl:"username,optional"`
	Password         *hcl.Attribute `hcl:"password,optional"`
	CAFile           *hcl.Attribute `hcl:"ca_file,optional"`
	TLSSkipVerify    *hcl.Attribute `hcl:"tls_skip_verify,optional"`
	Timeout          *hcl.Attribute `hcl:"timeout,optional"`
	AdoptExisting    *hcl.Attribute `hcl:"adopt_existing,optional"`
	HostAddress      *hcl.Attribute `hcl:"host_address,optional"`
	LANInterfaceList *hcl.Attribute `hcl:"lan_interface_list,optional"`
	AllowFastTrack   *hcl.Attribute `hcl:"allow_fasttrack,optional"`
}

type rawDaemon struct {
	DefRange hcl.Range `hcl:",def_range"`

	StateDir *hcl.Attribute `hcl:"state_dir,optional"`
	LockDir  *hcl.Attribute `hcl:"lock_dir,optional"`
	Interval *hcl.Attribute `hcl:"interval,optional"`
	Listen   *hcl.Attribute `hcl:"listen,optional"`
}

type rawWAN struct {
	Name      string    `hcl:"name,label"`
	NameRange hcl.Range `hcl:"name,label_range"`
	DefRange  hcl.Range `hcl:",def_range"`

	Router    *hcl.Attribute `hcl:"router,optional"`
	Interface *hcl.Attribute `hcl:"interface,optional"`
	Gateway   *hcl.Attribute `hcl:"gateway,optional"`

	Measurement  []*rawMeasurement  `hcl:"measurement,block"`
	Download     []*rawDirection    `hcl:"download,block"`
	Upload       []*rawDirection    `hcl:"upload,block"`
	Thresholds   []*rawThresholds   `hcl:"thresholds,block"`
	RouterWrites []*rawRouterWrites `hcl:"router_writes,block"`
}

type rawMeasurement struct {
	DefRange hcl.Range `hcl:",def_range"`

	Reflectors  *hcl.Attribute `hcl:"reflectors,optional"`
	PingRate    *hcl.Attribute `hcl:"ping_rate,optional"`
	TCPFallback *hcl.Attribute `hcl:"tcp_fallback,optional"`
	Source      *hcl.Attribute `hcl:"source,optional"`
	PinRoutes   *hcl.Attribute `hcl:"pin_routes,optional"`
	Timestamps  *hcl.Attribute `hcl:"timestamps,optional"`
}

// rawDirection is both `download` and `upload`; `parent` and the soft_red
// floor are accepted by the schema and rejected for upload in decode.go,
// with a better message than "Unsupported argument".
type rawDirection struct {
	DefRange hcl.Range `hcl:",def_range"`

	Queue            *hcl.Attribute `hcl:"queue,optional"`
	QueueType        *hcl.Attribute `hcl:"queue_type,optional"`
	Parent           *hcl.Attribute `hcl:"parent,optional"`
	Ceiling          *hcl.Attribute `hcl:"ceiling,optional"`
	StepUp           *hcl.Attribute `hcl:"step_up,optional"`
	FactorDown       *hcl.Attribute `hcl:"factor_down,optional"`
	FactorDownYellow *hcl.Attribute `hcl:"factor_down_yellow,optional"`

	Floor []*rawFloor `hcl:"floor,block"`
	Cake  []*rawCake  `hcl:"cake,block"`
}

type rawFloor struct {
	DefRange hcl.Range `hcl:",def_range"`

	Green   *hcl.Attribute `hcl:"green,optional"`
	Yellow  *hcl.Attribute `hcl:"yellow,optional"`
	SoftRed *hcl.Attribute `hcl:"soft_red,optional"`
	Red     *hcl.Attribute `hcl:"red,optional"`
}

type rawCake struct {
	DefRange hcl.Range `hcl:",def_range"`

	Diffserv       *hcl.Attribute `hcl:"diffserv,optional"`
	Flowmode       *hcl.Attribute `hcl:"flowmode,optional"`
	NAT            *hcl.Attribute `hcl:"nat,optional"`
	Wash           *hcl.Attribute `hcl:"wash,optional"`
	AckFilter      *hcl.Attribute `hcl:"ack_filter,optional"`
	Overhead       *hcl.Attribute `hcl:"overhead,optional"`
	MPU            *hcl.Attribute `hcl:"mpu,optional"`
	RTT            *hcl.Attribute `hcl:"rtt,optional"`
	ATM            *hcl.Attribute `hcl:"atm,optional"`
	OverheadScheme *hcl.Attribute `hcl:"overhead_scheme,optional"`
}

type rawThresholds struct {
	DefRange hcl.Range `hcl:",def_range"`

	TargetBloat              *hcl.Attribute `hcl:"target_bloat,optional"`
	Refractory               *hcl.Attribute `hcl:"refractory,optional"`
	WarnBloat                *hcl.Attribute `hcl:"warn_bloat,optional"`
	HardRedBloat             *hcl.Attribute `hcl:"hard_red_bloat,optional"`
	BaselineTimeConstant     *hcl.Attribute `hcl:"baseline_time_constant,optional"`
	LoadTimeConstant         *hcl.Attribute `hcl:"load_time_constant,optional"`
	BaselineUpdateThreshold  *hcl.Attribute `hcl:"baseline_update_threshold,optional"`
	BaselineRiseTimeConstant *hcl.Attribute `hcl:"baseline_rise_time_constant,optional"`
	GreenRequired            *hcl.Attribute `hcl:"green_required,optional"`
	DwellCycles              *hcl.Attribute `hcl:"dwell_cycles,optional"`
	Deadband                 *hcl.Attribute `hcl:"deadband,optional"`
}

type rawRouterWrites struct {
	DefRange hcl.Range `hcl:",def_range"`

	MinChange        *hcl.Attribute `hcl:"min_change,optional"`
	IncreaseInterval *hcl.Attribute `hcl:"increase_interval,optional"`
	WritesPerMinute  *hcl.Attribute `hcl:"writes_per_minute,optional"`
	Burst            *hcl.Attribute `hcl:"burst,optional"`
	// MaxPerMinute is writes_per_minute's name before the write budget
	// was a token bucket: still read, with a warning.
	MaxPerMinute *hcl.Attribute `hcl:"max_per_minute,optional"`
}

type rawSteering struct {
	DefRange hcl.Range `hcl:",def_range"`

	Primary   *hcl.Attribute `hcl:"primary,optional"`
	Alternate *hcl.Attribute `hcl:"alternate,optional"`
	DryRun    *hcl.Attribute `hcl:"dry_run,optional"`

	Rules        []*rawRule            `hcl:"rule,block"`
	AddressLists []*rawAddressList     `hcl:"address_list,block"`
	Thresholds   []*rawSteerThresholds `hcl:"thresholds,block"`
}

type rawRule struct {
	Name      string    `hcl:"name,label"`
	NameRange hcl.Range `hcl:"name,label_range"`
	DefRange  hcl.Range `hcl:",def_range"`

	Protocol       *hcl.Attribute `hcl:"protocol,optional"`
	DstPorts       *hcl.Attribute `hcl:"dst_ports,optional"`
	SrcPorts       *hcl.Attribute `hcl:"src_ports,optional"`
	DstAddress     *hcl.Attribute `hcl:"dst_address,optional"`
	SrcAddress     *hcl.Attribute `hcl:"src_address,optional"`
	SrcAddressList *hcl.Attribute `hcl:"src_address_list,optional"`
	DstAddressList *hcl.Attribute `hcl:"dst_address_list,optional"`
	DSCP           *hcl.Attribute `hcl:"dscp,optional"`
}

type rawAddressList struct {
	Name      string    `hcl:"name,label"`
	NameRange hcl.Range `hcl:"name,label_range"`
	DefRange  hcl.Range `hcl:",def_range"`

	Addresses *hcl.Attribute `hcl:"addresses,optional"`
}

type rawSteerThresholds struct {
	DefRange hcl.Range `hcl:",def_range"`

	RTTYellow    *hcl.Attribute `hcl:"rtt_yellow,optional"`
	RTTRed       *hcl.Attribute `hcl:"rtt_red,optional"`
	RTTEWMAAlpha *hcl.Attribute `hcl:"rtt_ewma_alpha,optional"`
	MinDropsRed  *hcl.Attribute `hcl:"min_drops_red,optional"`
	QueueYellow  *hcl.Attribute `hcl:"queue_yellow,optional"`
	QueueRed     *hcl.Attribute `hcl:"queue_red,optional"`
	RedSamples   *hcl.Attribute `hcl:"red_samples,optional"`
	GreenSamples *hcl.Attribute `hcl:"green_samples,optional"`
	StateMaxAge  *hcl.Attribute `hcl:"state_max_age,optional"`
}
