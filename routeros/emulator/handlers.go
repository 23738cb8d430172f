package emulator

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/wanctl/wanctl/routeros"
)

// handle answers one request: status and JSON body (nil for 204).
func (e *Emulator) handle(r *http.Request, body []byte) (int, []byte) {
	if !e.authorized(r) {
		return http.StatusUnauthorized, errorBody(http.StatusUnauthorized, "")
	}
	path := strings.Trim(r.URL.Path, "/")
	if path != "rest" && !strings.HasPrefix(path, "rest/") {
		return http.StatusNotFound, errorBody(http.StatusNotFound, "")
	}
	segs := strings.Split(strings.TrimPrefix(strings.TrimPrefix(path, "rest"), "/"), "/")
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire()
	var t *table
	var rest []string
	for k := len(segs); k > 0; k-- {
		if x, ok := e.tables[strings.Join(segs[:k], "/")]; ok {
			t, rest = x, segs[k:]
			break
		}
	}
	if t == nil || len(rest) > 1 {
		return noSuchCommand(segs[len(segs)-1])
	}
	var st int
	var out any
	var err *apiError
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		var proplist []string
		if p := q.Get(".proplist"); p != "" {
			proplist = strings.Split(p, ",")
		}
		q.Del(".proplist")
		if len(rest) == 0 {
			st, out = http.StatusOK, e.list(t, func(o routeros.Object) bool { return matchFilter(q, o) }, proplist)
			if t.m.singleton {
				if objs := out.([]routeros.Object); len(objs) == 1 {
					out = objs[0]
				}
			}
			break
		}
		if t.m.singleton {
			return noSuchCommand(rest[0])
		}
		i := t.find(rest[0])
		if i < 0 {
			return http.StatusNotFound, errorBody(http.StatusNotFound, "")
		}
		st, out = http.StatusOK, project(e.render(t, t.rows[i]), proplist)
	case http.MethodPut:
		if len(rest) != 0 {
			return noSuchCommand(rest[0])
		}
		if !t.m.cmds["add"] {
			return notAcceptable("add")
		}
		in, perr := parseBody(body)
		if perr != nil {
			err = perr
			break
		}
		var o routeros.Object
		o, err = e.add(t, in.fields(), true)
		st, out = http.StatusOK, o
	case http.MethodPatch:
		if len(rest) == 0 {
			if t.m.singleton {
				return notAcceptable("set")
			}
			return noSuchCommand(segs[len(segs)-1])
		}
		if !t.m.cmds["set"] {
			return notAcceptable("set")
		}
		i := t.find(rest[0])
		if i < 0 {
			return http.StatusNotFound, errorBody(http.StatusNotFound, "")
		}
		in, perr := parseBody(body)
		if perr != nil {
			err = perr
			break
		}
		fields := in.fields()
		delete(fields, ".id")
		if err = e.update(t, i, fields); err == nil {
			st, out = http.StatusOK, e.render(t, t.rows[i])
		}
	case http.MethodDelete:
		if len(rest) == 0 {
			if t.m.singleton {
				return notAcceptable("remove")
			}
			return noSuchCommand(segs[len(segs)-1])
		}
		if !t.m.cmds["remove"] {
			return notAcceptable("remove")
		}
		i := t.find(rest[0])
		if i < 0 {
			return http.StatusNotFound, errorBody(http.StatusNotFound, "")
		}
		if err = e.remove(t, i); err == nil {
			return http.StatusNoContent, nil
		}
	case http.MethodPost:
		if len(rest) == 0 {
			return noSuchCommand(segs[len(segs)-1])
		}
		cmd := rest[0]
		if !t.m.cmds[cmd] {
			if knownCommands[cmd] {
				return notAcceptable(cmd)
			}
			return noSuchCommand(cmd)
		}
		in, perr := parseBody(body)
		if perr != nil {
			err = perr
			break
		}
		out, err = e.command(t, cmd, in)
		st = http.StatusOK
	default:
		return http.StatusBadRequest, errorBody(http.StatusBadRequest, "no such command or directory ("+strings.ToLower(r.Method)+")")
	}
	if err != nil {
		if err.status == http.StatusNotFound {
			return http.StatusNotFound, errorBody(http.StatusNotFound, "")
		}
		return err.status, errorBody(err.status, err.detail)
	}
	b, merr := json.Marshal(out)
	if merr != nil {
		return http.StatusInternalServerError, errorBody(http.StatusInternalServerError, merr.Error())
	}
	return st, b
}

func noSuchCommand(seg string) (int, []byte) {
	return http.StatusBadRequest, errorBody(http.StatusBadRequest, "no such command or directory ("+seg+")")
}

func notAcceptable(cmd string) (int, []byte) {
	return http.StatusNotAcceptable, errorBody(http.StatusNotAcceptable, "no such command or directory ("+cmd+")")
}

// body is a decoded JSON request body: each value as text, and as a list
// when it was a JSON array.
type body map[string]bodyValue

type bodyValue struct {
	s    string
	list []string
}

func (b body) fields() map[string]string {
	m := make(map[string]string, len(b))
	for k, v := range b {
		m[k] = v.s
	}
	return m
}

func parseBody(b []byte) (body, *apiError) {
	out := body{}
	if len(strings.TrimSpace(string(b))) == 0 {
		return out, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, badRequest("JSON parse error: %v", err)
	}
	for k, v := range raw {
		var val bodyValue
		t := strings.TrimSpace(string(v))
		switch {
		case t == "null":
		case strings.HasPrefix(t, `"`):
			if err := json.Unmarshal(v, &val.s); err != nil {
				return nil, invalidValue(k)
			}
		case strings.HasPrefix(t, "["):
			var items []json.RawMessage
			if err := json.Unmarshal(v, &items); err != nil {
				return nil, invalidValue(k)
			}
			for _, it := range items {
				var s string
				if json.Unmarshal(it, &s) != nil {
					st := strings.TrimSpace(string(it))
					if strings.HasPrefix(st, "{") || strings.HasPrefix(st, "[") {
						return nil, invalidValue(k)
					}
					s = st
				}
				val.list = append(val.list, s)
			}
			val.s = strings.Join(val.list, ",")
		case strings.HasPrefix(t, "{"):
			return nil, invalidValue(k)
		default: // numbers, true, false
			val.s = t
		}
		out[k] = val
	}
	return out, nil
}

// items returns the values of a list-or-comma-string argument.
func (v bodyValue) items() []string {
	if v.list != nil {
		return v.list
	}
	var out []string
	for _, s := range strings.Split(v.s, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (e *Emulator) command(t *table, cmd string, in body) (any, *apiError) {
	switch cmd {
	case "print":
		var proplist []string
		if p, ok := in[".proplist"]; ok {
			proplist = p.items()
		}
		var q []string
		if v, ok := in[".query"]; ok {
			q = v.items()
		}
		var qerr *apiError
		out := e.list(t, func(o routeros.Object) bool {
			ok, err := evalQuery(q, o)
			if err != nil && qerr == nil {
				qerr = err
			}
			return ok
		}, proplist)
		if qerr != nil {
			return nil, qerr
		}
		return out, nil
	case "add":
		o, err := e.add(t, in.fields(), true)
		if err != nil {
			return nil, err
		}
		return map[string]string{"ret": o[".id"]}, nil
	case "reset-counters-all":
		for _, o := range t.rows {
			for _, c := range t.m.counters {
				o[c] = "0"
			}
		}
		return []any{}, nil
	}
	idx, err := t.resolve(in)
	if err != nil {
		return nil, err
	}
	switch cmd {
	case "enable", "disable", "set", "comment", "unset":
		fields := in.fields()
		delete(fields, "numbers")
		delete(fields, ".id")
		switch cmd {
		case "enable":
			fields = map[string]string{"disabled": "false"}
		case "disable":
			fields = map[string]string{"disabled": "true"}
		case "comment":
			fields = map[string]string{"comment": fields["comment"]}
		case "unset":
			name := fields["value-name"]
			if _, ok := t.m.fields[name]; !ok || t.m.readOnly[name] {
				return nil, unknownParam(name)
			}
			def, hasDef := "", false
			if t.m.defaults != nil {
				def, hasDef = t.m.defaults(t.rows[idx[0]])[name]
			}
			if !hasDef {
				def = unsetFlag
			}
			fields = map[string]string{name: def}
		}
		for _, i := range idx {
			if err := e.update(t, i, fields); err != nil {
				return nil, err
			}
		}
	case "remove":
		// Highest index first so the others stay valid.
		sort.Sort(sort.Reverse(sort.IntSlice(idx)))
		for _, i := range idx {
			if err := e.remove(t, i); err != nil {
				return nil, err
			}
		}
	case "reset-counters":
		for _, i := range idx {
			for _, c := range t.m.counters {
				t.rows[i][c] = "0"
			}
		}
	case "move":
		return []any{}, e.move(t, idx, in)
	}
	return []any{}, nil
}
