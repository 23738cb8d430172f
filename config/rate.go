package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseRate parses a rate in bits/s: a plain number ("940000000") or a
// number with a k, M or G suffix (powers of 1000, decimals allowed: "37.5M").
// The result must be a whole, positive number of bits/s that fits an int64.
func ParseRate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty rate")
	}
	mult := 1.0
	switch t[len(t)-1] {
	case 'k', 'K':
		mult = 1e3
	case 'M':
		mult = 1e6
	case 'G':
		mult = 1e9
	}
	num := t
	if mult != 1 {
		num = t[:len(t)-1]
	}
	// Only plain decimal notation: no signs, exponents, hex, underscores, Inf, NaN.
	if num == "" || strings.Trim(num, "0123456789.") != "" || strings.Count(num, ".") > 1 || num == "." {
		return 0, fmt.Errorf("rate %q: want a number of bits/s, optionally with k, M or G (e.g. \"940M\", \"37.5M\", \"800k\")", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q: %w", s, err)
	}
	v := f * mult
	if v >= math.MaxInt64/2 {
		return 0, fmt.Errorf("rate %q is too large", s)
	}
	r := math.Round(v)
	if math.Abs(v-r) > 1e-6*math.Max(1, v) {
		return 0, fmt.Errorf("rate %q is not a whole number of bits/s", s)
	}
	return int64(r), nil
}

// FormatRate renders bits/s compactly and exactly: 940000000 -> "940M",
// 37500000 -> "37.5M", 800000 -> "800k", 1234 -> "1234".
func FormatRate(bps int64) string {
	for _, u := range []struct {
		div    int64
		suffix string
	}{{1_000_000_000, "G"}, {1_000_000, "M"}, {1_000, "k"}} {
		if bps >= u.div || -bps >= u.div {
			if bps%u.div == 0 {
				return strconv.FormatInt(bps/u.div, 10) + u.suffix
			}
			// Up to 3 decimals for M and G, only when exact.
			if u.div >= 1_000_000 && bps%(u.div/1000) == 0 {
				return strconv.FormatFloat(float64(bps)/float64(u.div), 'f', -1, 64) + u.suffix
			}
		}
	}
	return strconv.FormatInt(bps, 10)
}
