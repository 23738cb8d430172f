package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
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
	e.accrueLoads()
	rt := route{last: segs[len(segs)-1]}
	for k := len(segs); k > 0; k-- {
		if x, ok := e.tables[strings.Join(segs[:k], "/")]; ok {
			rt.t, rt.rest = x, segs[k:]
			break
		}
	}
	if rt.t == nil || len(rt.rest) > 1 {
		return noSuchCommand(rt.last)
	}
	if st, out, refused := e.schemaRefusal(r.Method, r.URL.Path, body); refused {
		return st, out
	}
	switch r.Method {
	case http.MethodGet:
		return e.handleGet(rt, r.URL.Query())
	case http.MethodPut:
		return e.handlePut(rt, body)
	case http.MethodPatch:
		return e.handlePatch(rt, body)
	case http.MethodDelete:
		return e.handleDelete(rt)
	case http.MethodPost:
		return e.handlePost(rt, body)
	}
	return http.StatusBadRequest, errorBody(http.StatusBadRequest, "no such command or directory ("+strings.ToLower(r.Method)+")")
}

// route is where a request's path leads: a menu's table and what follows
// the menu (nothing, or one segment: an .id, a name or a command).
type route struct {
	t    *table
	rest []string
	last string // the path's last segment, which "no such command" names
}

// handleGet reads a menu (filtered by the query's equalities) or one
// object; ".proplist" narrows the fields.
func (e *Emulator) handleGet(rt route, q url.Values) (int, []byte) {
	t, rest := rt.t, rt.rest
	var proplist []string
	if p := q.Get(".proplist"); p != "" {
		proplist = strings.Split(p, ",")
	}
	q.Del(".proplist")
	if len(rest) == 0 {
		objs := e.list(t, func(o routeros.Object) bool { return matchFilter(q, o) }, proplist)
		if t.m.singleton && len(objs) == 1 {
			return answerOK(objs[0])
		}
		return answerOK(objs)
	}
	if t.m.singleton {
		return noSuchCommand(rest[0])
	}
	i := t.find(rest[0])
	if i < 0 {
		return http.StatusNotFound, errorBody(http.StatusNotFound, "")
	}
	return answerOK(project(e.render(t, t.rows[i]), proplist))
}

// handlePut adds an object to a menu.
func (e *Emulator) handlePut(rt route, body []byte) (int, []byte) {
	t, rest := rt.t, rt.rest
	if len(rest) != 0 {
		return noSuchCommand(rest[0])
	}
	if !t.m.cmds["add"] {
		return notAcceptable("add")
	}
	in, err := parseBody(body)
	if err != nil {
		return answerError(err)
	}
	o, err := e.add(t, in.fields(), true)
	if err != nil {
		return answerError(err)
	}
	return answerOK(o)
}

// target is the object a PATCH or DELETE addresses, the menu's command cmd
// (set or remove): its row, or -1 and the reply to send instead.
func (rt route) target(cmd string) (int, int, []byte) {
	t := rt.t
	if len(rt.rest) == 0 {
		if t.m.singleton {
			st, b := notAcceptable(cmd)
			return -1, st, b
		}
		st, b := noSuchCommand(rt.last)
		return -1, st, b
	}
	if !t.m.cmds[cmd] {
		st, b := notAcceptable(cmd)
		return -1, st, b
	}
	i := t.find(rt.rest[0])
	if i < 0 {
		return -1, http.StatusNotFound, errorBody(http.StatusNotFound, "")
	}
	return i, 0, nil
}

// handlePatch sets fields of one object and answers the whole object.
func (e *Emulator) handlePatch(rt route, body []byte) (int, []byte) {
	t := rt.t
	i, st, out := rt.target("set")
	if i < 0 {
		return st, out
	}
	in, err := parseBody(body)
	if err != nil {
		return answerError(err)
	}
	fields := in.fields()
	delete(fields, ".id")
	if err := e.update(t, i, fields); err != nil {
		return answerError(err)
	}
	return answerOK(e.render(t, t.rows[i]))
}

// handleDelete removes one object.
func (e *Emulator) handleDelete(rt route) (int, []byte) {
	i, st, out := rt.target("remove")
	if i < 0 {
		return st, out
	}
	if err := e.remove(rt.t, i); err != nil {
		return answerError(err)
	}
	return http.StatusNoContent, nil
}

// handlePost runs a menu's command (POST <menu>/<command>).
func (e *Emulator) handlePost(rt route, body []byte) (int, []byte) {
	t, rest := rt.t, rt.rest
	if len(rest) == 0 {
		return noSuchCommand(rt.last)
	}
	cmd := rest[0]
	if !t.m.cmds[cmd] {
		if knownCommands[cmd] {
			return notAcceptable(cmd)
		}
		return noSuchCommand(cmd)
	}
	in, err := parseBody(body)
	if err != nil {
		return answerError(err)
	}
	out, err := e.command(t, cmd, in)
	if err != nil {
		return answerError(err)
	}
	return answerOK(out)
}

// answerOK is a 200 reply with out as its JSON body.
func answerOK(out any) (int, []byte) {
	b, err := json.Marshal(out)
	if err != nil {
		return http.StatusInternalServerError, errorBody(http.StatusInternalServerError, err.Error())
	}
	return http.StatusOK, b
}

// answerError is the reply to a refused request.
func answerError(err *apiError) (int, []byte) {
	if err.status == http.StatusNotFound {
		return http.StatusNotFound, errorBody(http.StatusNotFound, "")
	}
	return err.status, errorBody(err.status, err.detail)
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
