package emulator

import (
	"strconv"
	"strings"

	"github.com/wanctl/wanctl/routeros"
)

func project(o routeros.Object, proplist []string) routeros.Object {
	if len(proplist) == 0 {
		return o
	}
	p := make(routeros.Object, len(proplist))
	for _, k := range proplist {
		if v, ok := o[k]; ok {
			p[k] = v
		}
	}
	return p
}

func (e *Emulator) list(t *table, match func(routeros.Object) bool, proplist []string) []routeros.Object {
	out := []routeros.Object{}
	for _, o := range t.rows {
		r := o
		if t.m.render != nil || len(t.expires) > 0 {
			r = e.render(t, o)
		}
		if !match(r) {
			continue
		}
		if len(proplist) == 0 && t.m.render == nil && len(t.expires) == 0 {
			// The reply must not alias the stored row.
			r = e.render(t, o)
		}
		out = append(out, project(r, proplist))
	}
	return out
}

// matchFilter is a GET filter: an AND of equalities. Booleans match either
// spelling ("yes" finds "true").
func matchFilter(q map[string][]string, o routeros.Object) bool {
	for k, vs := range q {
		for _, v := range vs {
			if !valueEqual(o[k], v) {
				return false
			}
		}
	}
	return true
}

func valueEqual(have, want string) bool {
	if have == want {
		return true
	}
	// A print over 10^5 rows compares every one: skip ParseBool's error
	// (an allocation) when the values cannot both be booleans.
	if len(have) > 5 || len(want) > 5 {
		return false
	}
	a, err1 := routeros.ParseBool(have)
	b, err2 := routeros.ParseBool(want)
	return err1 == nil && err2 == nil && a == b
}

// evalQuery evaluates a RouterOS API query (".query" of print): words
// "k=v", "k" (has k), "-k" (lacks k), "k<v", "k>v" push a result; "#ops"
// combines the stack ('|' or, '&' and, '!' not, '.' dup). The stack's
// results are ANDed.
func evalQuery(q []string, o routeros.Object) (bool, *apiError) {
	var st []bool
	pop := func() (bool, bool) {
		if len(st) == 0 {
			return false, false
		}
		v := st[len(st)-1]
		st = st[:len(st)-1]
		return v, true
	}
	for _, w := range q {
		switch {
		case strings.HasPrefix(w, "#"):
			for _, op := range w[1:] {
				a, ok := pop()
				if !ok {
					return false, badRequest("invalid query: %s", w)
				}
				switch op {
				case '!':
					st = append(st, !a)
				case '.':
					st = append(st, a, a)
				case '|', '&':
					b, ok := pop()
					if !ok {
						return false, badRequest("invalid query: %s", w)
					}
					if op == '|' {
						st = append(st, a || b)
					} else {
						st = append(st, a && b)
					}
				default:
					return false, badRequest("invalid query: %s", w)
				}
			}
		case strings.HasPrefix(w, "-"):
			_, has := o[w[1:]]
			st = append(st, !has)
		case strings.ContainsAny(w, "=<>"):
			i := strings.IndexAny(w, "=<>")
			k, op, v := w[:i], w[i], w[i+1:]
			have, has := o[k]
			switch op {
			case '=':
				st = append(st, has && valueEqual(have, v) || !has && v == "")
			default:
				st = append(st, has && less(have, v) == (op == '<') && have != v)
			}
		default:
			_, has := o[w]
			st = append(st, has)
		}
	}
	for _, v := range st {
		if !v {
			return false, nil
		}
	}
	return true, nil
}

func less(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if err1 == nil && err2 == nil {
		return x < y
	}
	return a < b
}
