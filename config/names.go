package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/agext/levenshtein"
	hcl "github.com/hashicorp/hcl/v2"
)

// nameRE is what wanctl accepts for anything that becomes a RouterOS object
// name or refers to one: short, no spaces, no quoting needed anywhere.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,63}$`)

const maxNameLen = 63

// checkName validates a RouterOS name; what says which one ("queue",
// "interface", ...).
func (d *decoder) checkName(name, what string, rng hcl.Range) bool {
	if nameRE.MatchString(name) {
		return true
	}
	why := "use 1 to 63 letters, digits, '_', '.', ':' or '-'"
	switch {
	case name == "":
		why = "it is empty; " + why
	case len(name) > maxNameLen:
		why = fmt.Sprintf("it is %d characters long; %s", len(name), why)
	default:
		why = "it contains characters RouterOS names here cannot have; " + why
	}
	d.errorf(rng, "Invalid "+what+" name", "%q is not a valid %s name: %s.", name, what, why)
	return false
}

// suggest returns the candidate closest to s (edit distance below 3, or a
// case-insensitive match), or "".
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if strings.EqualFold(s, c) {
			return c
		}
		if dist := levenshtein.Distance(s, c, nil); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

// didYouMean formats a suggestion for a Detail, or "".
func didYouMean(s string, candidates []string) string {
	if c := suggest(s, candidates); c != "" {
		return fmt.Sprintf(" Did you mean %q?", c)
	}
	return ""
}

func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// enum checks s against the allowed values (exact spelling, as RouterOS
// takes them).
func (d *decoder) enum(a *hcl.Attribute, s string, allowed []string) bool {
	for _, v := range allowed {
		if s == v {
			return true
		}
	}
	d.errorf(a.Expr.Range(), "Invalid "+a.Name,
		"%q is not a valid %s.%s Valid values: %s.", s, a.Name, didYouMean(s, allowed), quoteList(allowed))
	return false
}

// RouterOS CAKE enumerations (ROUTEROS.md).
var (
	cakeDiffserv  = []string{"diffserv3", "diffserv4", "diffserv8", "besteffort", "precedence"}
	cakeFlowmodes = []string{"flowblind", "srchost", "dsthost", "hosts", "flows", "dual-srchost", "dual-dsthost", "triple-isolate"}
	cakeAckFilter = []string{"none", "filter", "aggressive"}
	cakeATM       = []string{"none", "atm", "ptm"}
	// "convervative" is RouterOS's own spelling of tc-cake's "conservative";
	// the correct English spelling is accepted too and translated.
	cakeOverheadSchemes = []string{
		"raw", "convervative", "ipoa-vcmux", "ipoa-llcsnap", "bridged-vcmux", "bridged-llcsnap",
		"pppoa-vcmux", "pppoa-llc", "pppoe-vcmux", "pppoe-llcsnap", "pppoe-ptm", "bridged-ptm",
		"via-ethernet", "ethernet", "ether-vlan", "docsis",
	}
)

// dscpNames maps DSCP code point names to their values.
var dscpNames = map[string]int{
	"cs0": 0, "cs1": 8, "cs2": 16, "cs3": 24, "cs4": 32, "cs5": 40, "cs6": 48, "cs7": 56,
	"af11": 10, "af12": 12, "af13": 14,
	"af21": 18, "af22": 20, "af23": 22,
	"af31": 26, "af32": 28, "af33": 30,
	"af41": 34, "af42": 36, "af43": 38,
	"ef": 46, "va": 44, "le": 1,
}

func dscpNameList() []string {
	names := make([]string, 0, len(dscpNames))
	for n := range dscpNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ipProtocols are the protocol names RouterOS's firewall accepts.
var ipProtocols = []string{
	"dccp", "ddp", "egp", "encap", "etherip", "ggp", "gre", "hmp", "icmp", "icmpv6", "idpr-cmtp",
	"igmp", "ipencap", "ipip", "ipsec-ah", "ipsec-esp", "ipv6-encap", "ipv6-frag", "ipv6-nonxt",
	"ipv6-opts", "ipv6-route", "iso-tp4", "l2tp", "ospf", "pim", "pup", "rdp", "rspf", "rsvp",
	"sctp", "st", "tcp", "udp", "udp-lite", "vmtp", "vrrp", "xns-idp", "xtp",
}

// portProtocols have ports; RouterOS rejects src-port/dst-port otherwise.
// Numbers: tcp 6, udp 17, dccp 33, sctp 132, udp-lite 136.
var portProtocols = map[string]bool{
	"tcp": true, "udp": true, "sctp": true, "udp-lite": true, "dccp": true,
	"6": true, "17": true, "33": true, "132": true, "136": true,
}

// parsePortList checks a RouterOS port list: "n", "a-b", comma-separated,
// 0..65535, a <= b. It returns the list without spaces.
func parsePortList(s string) (string, error) {
	s = strings.ReplaceAll(s, " ", "")
	if s == "" {
		return "", fmt.Errorf("empty port list")
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parsePort(lo)
		if err != nil {
			return "", err
		}
		if isRange {
			b, err := parsePort(hi)
			if err != nil {
				return "", err
			}
			if a > b {
				return "", fmt.Errorf("range %q goes backwards (write %d-%d)", part, b, a)
			}
		}
	}
	return s, nil
}

func parsePort(s string) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" || len(s) > 5 {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	n, _ := strconv.Atoi(s)
	if n > 65535 {
		return 0, fmt.Errorf("port %d is above 65535", n)
	}
	return n, nil
}

// parseIPv4Target checks an IPv4 address or prefix for a steering matcher or
// address list. A prefix must be canonical (no host bits), since RouterOS
// would store it masked and plan would see a difference forever.
func parseIPv4Target(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return "", fmt.Errorf("%q is not an IPv4 prefix (like \"192.168.88.0/24\")", s)
		}
		if p.Masked() != p {
			return "", fmt.Errorf("prefix %q has host bits set; write %q", s, p.Masked().String())
		}
		return p.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return "", fmt.Errorf("%q is not an IPv4 address or prefix (like \"192.168.88.50\" or \"10.0.0.0/8\"); steering is IPv4 only in this version", s)
	}
	return a.String(), nil
}
