package plan

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/routeros"
)

// How a field's values compare. RouterOS reads values back in its own form
// ("10M" -> "10000000", "yes" -> "true"), so desired and actual values are
// compared after normalising both.
type fieldKind int

const (
	kString   fieldKind = iota
	kBool               // "yes"/"true"/"no"/"false"
	kRate               // "940M" == "940000000"
	kInt                // "+18" == "18"
	kDuration           // "100ms" == "00:00:00.1"
	kSet                // comma list, order-insensitive
	kPrefix             // "10.1.2.3/32" == "10.1.2.3", optional leading "!"
	kFlag               // present ("" or true) vs absent
)

var fieldKinds = map[string]fieldKind{
	"cake-nat": kBool, "cake-wash": kBool, "passthrough": kBool, "disabled": kBool,
	"cake-bandwidth": kRate, "max-limit": kRate,
	"cake-overhead": kInt, "cake-mpu": kInt, "dscp": kInt,
	"cake-rtt":             kDuration,
	"cake-overhead-scheme": kSet, "dst-port": kSet, "src-port": kSet, "connection-state": kSet,
	"src-address": kPrefix, "dst-address": kPrefix, "address": kPrefix,
	"fib": kFlag,
}

// defaults are the values RouterOS assumes for a field that is absent.
var defaults = map[string]map[string]string{
	routeros.MenuQueueType: {
		"cake-bandwidth": "0", "cake-diffserv": "diffserv3", "cake-flowmode": "triple-isolate",
		"cake-nat": "false", "cake-wash": "false", "cake-ack-filter": "none", "cake-overhead": "0",
		"cake-mpu": "0", "cake-rtt": "100ms", "cake-atm": "none",
	},
	routeros.MenuQueueTree:    {"max-limit": "0", "disabled": "false"},
	routeros.MenuMangle:       {"passthrough": "true", "disabled": "false"},
	routeros.MenuMangle6:      {"passthrough": "true", "disabled": "false"},
	routeros.MenuRoute:        {"disabled": "false", "routing-table": "main", "check-gateway": "none"},
	routeros.MenuRoutingRule:  {"disabled": "false"},
	routeros.MenuAddressList:  {"disabled": "false"},
	routeros.MenuRoutingTable: {"disabled": "false", "fib": "false"},
}

// normValue returns the canonical form of a field's value in a menu; present
// is false when the object has no such key (then the RouterOS default
// applies).
func normValue(menu, field, v string, present bool) string {
	k := fieldKinds[field]
	if !present {
		if k == kFlag {
			return "false"
		}
		if d, ok := defaults[menu][field]; ok {
			v = d
		} else {
			return ""
		}
	}
	v = strings.TrimSpace(v)
	switch k {
	case kBool:
		switch strings.ToLower(v) {
		case "yes", "true":
			return "true"
		case "no", "false":
			return "false"
		}
	case kFlag:
		switch strings.ToLower(v) {
		case "no", "false":
			return "false"
		}
		return "true"
	case kRate:
		if r, err := config.ParseRate(v); err == nil {
			return strconv.FormatInt(r, 10)
		}
		if v == "0" {
			return "0"
		}
	case kInt:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return strconv.FormatInt(n, 10)
		}
	case kDuration:
		if d, ok := parseROSDuration(v); ok {
			return d.String()
		}
	case kSet:
		if v == "" {
			return ""
		}
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	case kPrefix:
		return normPrefix(v)
	}
	return v
}

// normPrefix canonicalises an address or prefix: host prefixes are written as
// the bare address, other prefixes masked. Anything else (ranges, names) is
// kept as is.
func normPrefix(v string) string {
	neg := ""
	if strings.HasPrefix(v, "!") {
		neg, v = "!", v[1:]
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		p = p.Masked()
		if p.IsSingleIP() {
			return neg + p.Addr().String()
		}
		return neg + p.String()
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return neg + a.String()
	}
	return neg + v
}

// parseROSDuration reads RouterOS time values: Go-like "100ms", "1m30s",
// RouterOS "1d2h3m4s", "1w", and clock form "00:00:00.1" / "1d00:00:05".
func parseROSDuration(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, true
	}
	var total time.Duration
	rest := s
	// Day and week units that Go does not know.
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		if i := strings.Index(rest, u.suffix); i > 0 {
			n, err := strconv.Atoi(rest[:i])
			if err != nil {
				return 0, false
			}
			total += time.Duration(n) * u.d
			rest = rest[i+1:]
		}
	}
	if rest == "" {
		return total, true
	}
	if strings.Contains(rest, ":") {
		parts := strings.Split(rest, ":")
		if len(parts) != 3 {
			return 0, false
		}
		h, err1 := strconv.Atoi(parts[0])
		m, err2 := strconv.Atoi(parts[1])
		sec, err3 := strconv.ParseFloat(parts[2], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return 0, false
		}
		return total + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
			time.Duration(sec*float64(time.Second)+0.5), true
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, false
	}
	return total + d, true
}

// sameValue compares a desired value with an object's field.
func sameValue(menu, field, desired string, actual routeros.Object) bool {
	av, present := actual[field]
	return normValue(menu, field, desired, true) == normValue(menu, field, av, present)
}

// isTrue reads a RouterOS boolean/flag field.
func isTrue(o routeros.Object, field string) bool {
	v, ok := o[field]
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "false", "no":
		return false
	}
	return true
}

// builtinOrDynamic reports objects wanctl never touches.
func builtinOrDynamic(o routeros.Object) bool {
	return isTrue(o, "dynamic") || isTrue(o, "default") || isTrue(o, "builtin")
}

// Matches reports whether the router object holds every one of fields
// (values compared normalised, "" = absent).
func Matches(menu string, fields, o routeros.Object) bool {
	for k, v := range fields {
		if !sameValue(menu, k, v, o) {
			return false
		}
	}
	return true
}

// emptyValue are the fields for which "" is a value the router stores (the
// schema types them "string value"): a PATCH may empty them. Any other field
// a PATCH must remove is sent in RouterOS's REST unset form {"!field": ""}:
// the router refuses "" for a typed matcher (an address list, a mark, a
// port) or keeps the old value.
var emptyValue = map[string]bool{"comment": true, "log-prefix": true}

// IsFlag reports a flag property (fib): any written value sets it, "false"
// and "no" included, so a flag is only ever written as "" (set) or unset.
func IsFlag(field string) bool { return fieldKinds[field] == kFlag }

// WireFields turns the fields of a create (set=false) or an update
// (set=true), "" meaning absent as in Object.Fields, into what the router
// must be sent: a flag wanted "true" becomes
// "" and one wanted "false" is left out of a create and unset by an update;
// a field an update empties is unset ({"!field": ""}) unless "" is a value
// for it.
func WireFields(fields routeros.Object, set bool) routeros.Object {
	out := make(routeros.Object, len(fields))
	for k, v := range fields {
		switch {
		case IsFlag(k) && v != "" && normValue("", k, v, true) == "true":
			out[k] = ""
		case IsFlag(k) || v == "" && !emptyValue[k]:
			if set {
				out["!"+k] = ""
			}
		default:
			out[k] = v
		}
	}
	return out
}
