// Package routeros is a client for the RouterOS v7 REST API (one request in
// flight per router, typed errors, tolerant parsing). Its subpackage emulator
// is a faithful in-memory RouterOS for tests, the simulator and the demo.
package routeros

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Menus wanctl uses, as REST paths below /rest (no leading or trailing slash).
const (
	MenuQueueType       = "queue/type"
	MenuQueueTree       = "queue/tree"
	MenuQueueSimple     = "queue/simple"
	MenuMangle          = "ip/firewall/mangle"
	MenuMangle6         = "ipv6/firewall/mangle"
	MenuFilter          = "ip/firewall/filter"
	MenuFilter6         = "ipv6/firewall/filter"
	MenuNAT             = "ip/firewall/nat"
	MenuAddressList     = "ip/firewall/address-list"
	MenuRoutingTable    = "routing/table"
	MenuRoutingRule     = "routing/rule"
	MenuRoute           = "ip/route"
	MenuInterface       = "interface"
	MenuInterfaceList   = "interface/list"
	MenuInterfaceMember = "interface/list/member"
	MenuResource        = "system/resource"
)

// isSingleton reports whether a menu holds one object without an .id, which
// a GET returns as an object rather than an array (system/resource). Only
// for these is an object a menu's reply.
func isSingleton(menu string) bool {
	switch strings.Trim(menu, "/") {
	case MenuResource, "system/identity", "system/clock", "system/routerboard",
		"ip/dns", "ip/settings", "ipv6/settings", "ip/cloud":
		return true
	}
	return false
}

// Object is one RouterOS object as the REST API returns it: every value is a
// string, absent keys are absent (an empty comment is never ""), flags are ""
// when set. It is also the field set for writes.
type Object map[string]string

// ID returns the object's ".id" ("" when the reply had none).
func (o Object) ID() string { return o[".id"] }

// Query narrows a list request: Filter is an AND of equalities
// (GET /rest/<menu>?k=v&...), Proplist names the fields to return
// (".proplist"; the reply may or may not include ".id").
type Query struct {
	Filter   map[string]string
	Proplist []string
}

// Bool reads a RouterOS boolean ("true"/"yes" or "false"/"no"). ok is false
// when the key is absent or the value is not a boolean.
func (o Object) Bool(k string) (v, ok bool) {
	s, present := o[k]
	if !present {
		return false, false
	}
	b, err := ParseBool(s)
	if err != nil {
		return false, false
	}
	return b, true
}

// Flag reads a RouterOS flag property: set when present ("" is how the
// router writes a set flag). A present "false"/"no" is read as unset too, so
// a flag written back as a boolean still reads right.
func (o Object) Flag(k string) bool {
	s, present := o[k]
	if !present {
		return false
	}
	if b, err := ParseBool(s); err == nil {
		return b
	}
	return true
}

// Rate reads a rate in bits/s ("10000000", "10M"; "0" is unlimited).
func (o Object) Rate(k string) (int64, error) {
	s, ok := o[k]
	if !ok {
		return 0, fmt.Errorf("no %s in the object", k)
	}
	v, err := ParseRate(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", k, err)
	}
	return v, nil
}

// Int reads a whole number (counters, priorities, distances).
func (o Object) Int(k string) (int64, error) {
	s, ok := o[k]
	if !ok {
		return 0, fmt.Errorf("no %s in the object", k)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a whole number", k, s)
	}
	return v, nil
}

// Duration reads a RouterOS duration ("100ms", "1m30s", "1d2h3m", "00:05:00").
func (o Object) Duration(k string) (time.Duration, error) {
	s, ok := o[k]
	if !ok {
		return 0, fmt.Errorf("no %s in the object", k)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", k, err)
	}
	return v, nil
}

// ParseBool parses a RouterOS boolean: "true"/"yes" and "false"/"no" (any case).
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes":
		return true, nil
	case "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (want true/yes or false/no)", s)
}

// ParseRate parses a RouterOS rate in bits/s: a whole number ("10000000"),
// or a number with a k, M or G suffix (powers of 1000, decimals allowed:
// "10M", "37.5M"). "0" means unlimited and parses as 0.
func ParseRate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty rate")
	}
	var mult int64 = 1
	switch t[len(t)-1] {
	case 'k', 'K':
		mult = 1_000
	case 'm', 'M':
		mult = 1_000_000
	case 'g', 'G':
		mult = 1_000_000_000
	}
	num := t
	if mult != 1 {
		num = t[:len(t)-1]
	}
	whole, frac, _ := strings.Cut(num, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("rate %q: want bits/s as a whole number, optionally with k, M or G (e.g. \"10M\")", s)
	}
	var v int64
	for _, c := range whole {
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("rate %q is too large", s)
		}
		v = v*10 + d
	}
	if v > math.MaxInt64/mult {
		return 0, fmt.Errorf("rate %q is too large", s)
	}
	v *= mult
	// The fraction must come out whole once multiplied: "37.5M" yes, "1.5" no.
	scale := mult
	for _, c := range frac {
		scale /= 10
		d := int64(c - '0')
		if scale == 0 {
			if d != 0 {
				return 0, fmt.Errorf("rate %q is not a whole number of bits/s", s)
			}
			continue
		}
		if v > math.MaxInt64-d*scale {
			return 0, fmt.Errorf("rate %q is too large", s)
		}
		v += d * scale
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// durationUnits are RouterOS's duration suffixes, longest first so "ms" is
// not read as minutes followed by garbage.
var durationUnits = []struct {
	suffix string
	d      time.Duration
}{
	{"ns", time.Nanosecond}, {"us", time.Microsecond}, {"µs", time.Microsecond},
	{"ms", time.Millisecond}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour},
	{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second},
}

// ParseDuration parses a RouterOS duration: unit sequences ("100ms", "1m30s",
// "1d2h3m", "1w"), clock form with optional leading weeks/days ("00:05:00",
// "1d02:00:00", "05:00" = mm:ss), or a bare number of seconds ("30").
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("duration %q: want e.g. \"100ms\", \"1m30s\", \"1d2h\" or \"00:05:00\"", s)
	}
	if t == "" {
		return bad()
	}
	if allDigits(t) {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("duration %q is too large", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	add := func(d time.Duration) bool {
		if d < 0 || total > math.MaxInt64-d {
			return false
		}
		total += d
		return true
	}
	rest := t
	clock := ""
	if i := strings.IndexByte(t, ':'); i >= 0 {
		// The clock part starts after the last unit letter before the colon.
		j := i
		for j > 0 && (t[j-1] >= '0' && t[j-1] <= '9') {
			j--
		}
		rest, clock = t[:j], t[j:]
	}
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		num := rest[:i]
		if num == "" || num == "." || strings.Count(num, ".") > 1 {
			return bad()
		}
		rest = rest[i:]
		var unit time.Duration
		for _, u := range durationUnits {
			if strings.HasPrefix(rest, u.suffix) {
				unit = u.d
				rest = rest[len(u.suffix):]
				break
			}
		}
		if unit == 0 {
			return bad()
		}
		d, ok := scaleDuration(num, unit)
		if !ok || !add(d) {
			return 0, fmt.Errorf("duration %q is too large", s)
		}
	}
	if clock != "" {
		parts := strings.Split(clock, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return bad()
		}
		units := []time.Duration{time.Minute, time.Second}
		if len(parts) == 3 {
			units = []time.Duration{time.Hour, time.Minute, time.Second}
		}
		for k, p := range parts {
			if p == "" || (k < len(parts)-1 && !allDigits(p)) {
				return bad()
			}
			d, ok := scaleDuration(p, units[k])
			if !ok {
				return bad()
			}
			if !add(d) {
				return 0, fmt.Errorf("duration %q is too large", s)
			}
		}
	}
	return total, nil
}

// scaleDuration returns num (decimal digits with at most one '.') times unit,
// false on syntax error or overflow.
func scaleDuration(num string, unit time.Duration) (time.Duration, bool) {
	whole, frac, _ := strings.Cut(num, ".")
	if !allDigits(whole) || !allDigits(frac) || strings.Contains(frac, ".") || whole == "" && frac == "" {
		return 0, false
	}
	var v int64
	for _, c := range whole {
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if v > math.MaxInt64/int64(unit) {
		return 0, false
	}
	v *= int64(unit)
	scale := int64(unit)
	for _, c := range frac {
		scale /= 10
		if scale == 0 {
			break // below a nanosecond
		}
		d := int64(c - '0')
		if v > math.MaxInt64-d*scale {
			return 0, false
		}
		v += d * scale
	}
	return time.Duration(v), true
}
