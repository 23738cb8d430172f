package emulator

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

// apiError is a RouterOS error reply.
type apiError struct {
	status int
	detail string
}

func badRequest(format string, a ...any) *apiError {
	return &apiError{status: 400, detail: fmt.Sprintf(format, a...)}
}

func unknownParam(name string) *apiError { return badRequest("unknown parameter %s", name) }
func noMatch(name string) *apiError      { return badRequest("input does not match any value of %s", name) }
func invalidValue(name string) *apiError { return badRequest("invalid value for argument %s", name) }
func outOfRange(name string, min, max int64) *apiError {
	return badRequest("value of %s out of range (%d..%d)", name, min, max)
}

// fieldKind is how a writable field's value is checked and normalised.
type fieldKind int

const (
	kString   fieldKind = iota // any text
	kRate                      // bits/s, k/M/G suffixes; stored as a whole number
	kBool                      // yes/no/true/false; stored "true"/"false"
	kInt                       // whole number in min..max
	kFloat                     // decimal in fmin..fmax
	kEnum                      // one of enum ("!" prefix when neg)
	kEnumList                  // comma list of enum values ("!" prefix when neg)
	kDuration                  // RouterOS duration; stored in RouterOS form ("100ms", "1m30s")
	kFlag                      // present = set: stored "" when set, removed when unset
	kAddr                      // address, prefix or range of the menu's family ("!" when neg)
	kListAddr                  // address-list entry: address, prefix, range or DNS name
	kPorts                     // port list "80,443,1000-2000" ("!" when neg)
	kProtocol                  // protocol name or number 0..255 ("!" when neg)
	kRef                       // name of an object in menu ref, or one of extra ("!" when neg)
)

type field struct {
	kind       fieldKind
	min, max   int64
	fmin, fmax float64
	enum       []string
	neg        bool
	ref        string   // kRef: the menu whose names are valid
	extra      []string // kRef: names valid besides the menu's
	v6         bool     // kAddr: IPv6 instead of IPv4
	anyFamily  bool     // kAddr: IPv4 or IPv6
}

func str() field                         { return field{kind: kString} }
func rate() field                        { return field{kind: kRate} }
func boolean() field                     { return field{kind: kBool} }
func integer(min, max int64) field       { return field{kind: kInt, min: min, max: max} }
func enum(values ...string) field        { return field{kind: kEnum, enum: values} }
func negEnumList(values ...string) field { return field{kind: kEnumList, enum: values, neg: true} }
func duration() field                    { return field{kind: kDuration} }
func ref(menu string, extra ...string) field {
	return field{kind: kRef, ref: menu, extra: extra, neg: true}
}

var protocols = []string{
	"tcp", "udp", "icmp", "icmpv6", "igmp", "gre", "esp", "ah", "ipip", "ipsec-ah", "ipsec-esp",
	"ipv6-encap", "ipv6-frag", "ipv6-nonxt", "ipv6-opts", "ipv6-route", "l2tp", "ospf", "pim",
	"rsvp", "sctp", "udp-lite", "dccp", "vrrp", "encap", "etherip", "ggp", "hmp", "idpr-cmtp",
	"iso-tp4", "rdp", "xns-idp", "xtp", "ddp", "rspf", "st", "vmtp", "pup",
}

// portProtocols are the protocols whose rules may match ports.
var portProtocols = map[string]bool{"tcp": true, "udp": true, "udp-lite": true, "dccp": true, "sctp": true, "6": true, "17": true, "33": true, "132": true, "136": true}

// normalize checks one written value and returns it as the router stores it.
func (e *Emulator) normalize(name string, f field, v string) (string, *apiError) {
	neg := ""
	if f.neg && strings.HasPrefix(v, "!") {
		neg, v = "!", v[1:]
	}
	switch f.kind {
	case kString:
		return neg + v, nil
	case kRate:
		r, err := routeros.ParseRate(v)
		if err != nil {
			return "", invalidValue(name)
		}
		return strconv.FormatInt(r, 10), nil
	case kBool:
		b, err := routeros.ParseBool(v)
		if err != nil {
			return "", noMatch(name)
		}
		return strconv.FormatBool(b), nil
	case kInt:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return "", invalidValue(name)
		}
		if n < f.min || n > f.max {
			return "", outOfRange(name, f.min, f.max)
		}
		return strconv.FormatInt(n, 10), nil
	case kFloat:
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || x != x {
			return "", invalidValue(name)
		}
		if x < f.fmin || x > f.fmax {
			return "", badRequest("value of %s out of range (%g..%g)", name, f.fmin, f.fmax)
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case kEnum:
		for _, a := range f.enum {
			if v == a {
				return neg + v, nil
			}
		}
		return "", noMatch(name)
	case kEnumList:
		if v == "" {
			return neg, nil
		}
		for _, p := range strings.Split(v, ",") {
			ok := false
			for _, a := range f.enum {
				ok = ok || p == a
			}
			if !ok {
				return "", noMatch(name)
			}
		}
		return neg + v, nil
	case kDuration:
		d, err := routeros.ParseDuration(v)
		if err != nil {
			return "", invalidValue(name)
		}
		return formatDuration(d), nil
	case kFlag:
		// Any value sets a flag, "false" and "no" included: only unset
		// ({"!fib": ""} or the unset command) clears it.
		return "", nil
	case kAddr:
		a, ok := normAddr(v, f.v6)
		if !ok && f.anyFamily {
			a, ok = normAddr(v, !f.v6)
		}
		if !ok {
			return "", invalidValue(name)
		}
		return neg + a, nil
	case kListAddr:
		if a, ok := normAddr(v, false); ok {
			return a, nil
		}
		if isHostName(v) {
			return v, nil
		}
		return "", invalidValue(name)
	case kPorts:
		if !validPorts(v) {
			return "", invalidValue(name)
		}
		return neg + v, nil
	case kProtocol:
		if n, err := strconv.Atoi(v); err == nil {
			if n < 0 || n > 255 {
				return "", outOfRange(name, 0, 255)
			}
			return neg + v, nil
		}
		for _, p := range protocols {
			if v == p {
				return neg + v, nil
			}
		}
		return "", noMatch(name)
	case kRef:
		for _, x := range f.extra {
			if v == x {
				return neg + v, nil
			}
		}
		if e.findByName(f.ref, v) == nil {
			return "", noMatch(name)
		}
		return neg + v, nil
	}
	return v, nil
}

// normAddr accepts an address, a prefix (host bits are cleared, /32 and
// /128 become plain addresses) or a range "a-b" of one family.
func normAddr(v string, v6 bool) (string, bool) {
	family := func(a netip.Addr) bool {
		if v6 {
			return a.Is6() && !a.Is4In6()
		}
		return a.Is4()
	}
	if lo, hi, ok := strings.Cut(v, "-"); ok {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil || !family(a) || !family(b) || b.Less(a) {
			return "", false
		}
		return a.String() + "-" + b.String(), true
	}
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil || !family(p.Addr()) || p.Addr().Zone() != "" {
			return "", false
		}
		p = p.Masked()
		if p.IsSingleIP() {
			return p.Addr().String(), true
		}
		return p.String(), true
	}
	a, err := netip.ParseAddr(v)
	if err != nil || !family(a) || a.Zone() != "" {
		return "", false
	}
	return a.String(), true
}

func isHostName(s string) bool {
	if s == "" || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func validPorts(s string) bool {
	if s == "" {
		return false
	}
	for _, p := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(p, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a > 65535 {
			return false
		}
		if isRange {
			b, err := strconv.Atoi(hi)
			if err != nil || b < a || b > 65535 {
				return false
			}
		}
	}
	return true
}

// formatDuration renders d the way RouterOS prints durations: "100ms",
// "1m30s", "1d2h3m", "1w2d", "0s".
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	units := []struct {
		d time.Duration
		s string
	}{{7 * 24 * time.Hour, "w"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}, {time.Nanosecond, "ns"}}
	for _, u := range units {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.s)
			d -= n * u.d
		}
	}
	return b.String()
}
