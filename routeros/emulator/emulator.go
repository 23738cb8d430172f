// Package emulator is an in-memory RouterOS v7 REST API: the menus wanctl
// uses, with the router's value normalisation, validation, error replies and
// one-request-at-a-time processing, plus hooks for tests and the simulator
// (queue statistics, recorded requests, injected faults).
//
// An *Emulator is an http.Handler: serve it with httptest.NewServer, or
// http.Serve on a listener (wanctl emulator).
package emulator

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

// Options configure an Emulator.
type Options struct {
	// Username and Password are the only accepted Basic auth credentials.
	// An empty Username disables authentication.
	Username, Password string
	// Latency is added to every request while it holds the router (requests
	// are processed one at a time, so latency also queues them).
	Latency time.Duration
	// Now is the clock for uptime, creation times and address-list
	// timeouts; nil is time.Now.
	Now func() time.Time
	// OnRequest, when set, is called after each request with its record
	// (for logging). It must not call back into the emulator's handler.
	OnRequest func(Request)
}

// Request is the record of one request the emulator received.
type Request struct {
	Method string
	Path   string // URL path, e.g. "/rest/queue/tree/*1"
	Query  string // raw query string
	Body   string // request body
	// Status is the reply's status; 0 when the connection was dropped (a
	// fault) or the client went away before the reply.
	Status   int
	Start    time.Time     // arrival
	Duration time.Duration // arrival to reply (includes waiting for earlier requests)
}

// QueueStats are a queue-tree entry's read-only statistics.
type QueueStats struct {
	Bytes, Packets, Dropped    int64 // cumulative counters
	QueuedPackets, QueuedBytes int64 // instantaneous
	Rate, PacketRate           int64 // bits/s and packets/s
}

// maxRequests bounds the request log; the oldest half is dropped beyond it.
const maxRequests = 100_000

// maxBody bounds a request body.
const maxBody = 1 << 20

// Emulator is an in-memory RouterOS REST API. It is safe for concurrent
// use; HTTP requests are processed one at a time, like the router does.
type Emulator struct {
	opts    Options
	started time.Time

	serveMu sync.Mutex // held for the whole processing of one request

	mu       sync.Mutex // guards everything below
	latency  time.Duration
	tables   map[string]*table
	faults   []*pendingFault
	requests []Request

	inflight atomic.Int32
	maxConc  atomic.Int32
}

type table struct {
	m       *menu
	rows    []routeros.Object // in evaluation order, each with its ".id"
	next    uint64            // next ".id" number
	nextDyn uint64            // next ".id" of built-in and dynamic objects, counting down
	autoSeq int               // generated names (queue1, queue2, ...)
	expires map[string]time.Time
}

// New returns an emulator holding a default-configuration router (see the
// package documentation in docs/emulator.md for its objects).
func New(o Options) *Emulator {
	e := &Emulator{opts: o, latency: o.Latency, tables: map[string]*table{}}
	e.started = e.now()
	for _, m := range allMenus() {
		e.tables[m.path] = &table{m: m, next: 1, nextDyn: 0xFFFFFFFF, expires: map[string]time.Time{}}
	}
	e.seed()
	return e
}

func (e *Emulator) now() time.Time {
	if e.opts.Now != nil {
		return e.opts.Now()
	}
	return time.Now()
}

// ServeHTTP processes one REST request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := e.inflight.Add(1)
	defer e.inflight.Add(-1)
	for {
		m := e.maxConc.Load()
		if n <= m || e.maxConc.CompareAndSwap(m, n) {
			break
		}
	}
	start := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))

	e.serveMu.Lock()
	defer e.serveMu.Unlock()
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Start: start}
	recorded := false
	recordNow := func() {
		if !recorded {
			recorded = true
			rec.Duration = time.Since(start)
			e.record(rec)
		}
	}
	defer recordNow()

	ctx := r.Context()
	e.mu.Lock()
	lat := e.latency
	e.mu.Unlock()
	if !sleep(ctx, lat) {
		return
	}
	write := r.Method != http.MethodGet && !(r.Method == http.MethodPost && strings.HasSuffix(strings.TrimRight(r.URL.Path, "/"), "/print"))
	f := e.takeFault(r.Method, r.URL.Path, write)
	if f != nil {
		switch f.Kind {
		case FaultServerError:
			st := f.Status
			if st < 500 || st > 599 {
				st = http.StatusInternalServerError
			}
			rec.Status = reply(w, st, errorBody(st, f.Detail))
			return
		case FaultDrop:
			// Recorded before the connection closes: the client sees the
			// close at once and may look at the log right after.
			recordNow()
			drop(w)
			return
		case FaultHang:
			if f.Duration <= 0 {
				// Until the client gives up, or the router's hard cap.
				if !sleep(ctx, 60*time.Second) {
					return
				}
				rec.Status = reply(w, http.StatusBadRequest, errorBody(http.StatusBadRequest, "Session closed"))
				return
			}
			if !sleep(ctx, f.Duration) {
				return
			}
		}
	}
	status, out := e.handle(r, body)
	if f != nil && f.Kind == FaultBadRequestApplied && status < 300 {
		detail := f.Detail
		if detail == "" {
			detail = "Session closed"
		}
		status, out = http.StatusBadRequest, errorBody(http.StatusBadRequest, detail)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="RouterOS"`)
	}
	rec.Status = reply(w, status, out)
}

func reply(w http.ResponseWriter, status int, body []byte) int {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return status
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status
}

// drop closes the connection without a reply.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// sleep waits d, false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func errorBody(status int, detail string) []byte {
	m := map[string]any{"error": status, "message": http.StatusText(status)}
	if detail != "" {
		m["detail"] = detail
	}
	b, _ := json.Marshal(m)
	return b
}

func (e *Emulator) record(rec Request) {
	e.mu.Lock()
	if len(e.requests) >= maxRequests {
		e.requests = append(e.requests[:0], e.requests[maxRequests/2:]...)
	}
	e.requests = append(e.requests, rec)
	cb := e.opts.OnRequest
	e.mu.Unlock()
	if cb != nil {
		cb(rec)
	}
}

func (e *Emulator) authorized(r *http.Request) bool {
	if e.opts.Username == "" {
		return true
	}
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(e.opts.Username)) == 1
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(e.opts.Password)) == 1
	return uok && pok
}

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

// find returns the index of the object with that .id (or name), -1 if none.
func (t *table) find(key string) int {
	for i, o := range t.rows {
		if o[".id"] == key {
			return i
		}
	}
	if t.m.named {
		for i, o := range t.rows {
			if o["name"] == key {
				return i
			}
		}
	}
	return -1
}

func (t *table) allocID() string {
	id := "*" + strings.ToUpper(strconv.FormatUint(t.next, 16))
	t.next++
	return id
}

func (t *table) allocDynID() string {
	id := "*" + strings.ToUpper(strconv.FormatUint(t.nextDyn, 16))
	t.nextDyn--
	return id
}

func (e *Emulator) findByName(menu, name string) routeros.Object {
	t := e.tables[menu]
	if t == nil || name == "" {
		return nil
	}
	for _, o := range t.rows {
		if o["name"] == name {
			return o
		}
	}
	return nil
}

// expire removes address-list entries whose timeout ran out.
func (e *Emulator) expire() {
	t := e.tables[routeros.MenuAddressList]
	if len(t.expires) == 0 {
		return
	}
	now := e.now()
	kept := t.rows[:0]
	for _, o := range t.rows {
		if x, ok := t.expires[o[".id"]]; ok && !now.Before(x) {
			delete(t.expires, o[".id"])
			continue
		}
		kept = append(kept, o)
	}
	clear(t.rows[len(kept):])
	t.rows = kept
}

// render returns the object as a reply shows it (a copy).
func (e *Emulator) render(t *table, o routeros.Object) routeros.Object {
	c := make(routeros.Object, len(o)+1)
	for k, v := range o {
		c[k] = v
	}
	if x, ok := t.expires[o[".id"]]; ok {
		c["timeout"] = formatDuration(ceilSecond(x.Sub(e.now())))
	}
	if t.m.render != nil {
		c = t.m.render(e, c)
	}
	return c
}

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
		r := e.render(t, o)
		if match(r) {
			out = append(out, project(r, proplist))
		}
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
	a, err1 := routeros.ParseBool(have)
	b, err2 := routeros.ParseBool(want)
	return err1 == nil && err2 == nil && a == b
}

// validate checks written fields against the menu and returns them
// normalised. An unset flag comes back as unsetFlag.
func (e *Emulator) validate(t *table, in map[string]string) (map[string]string, *apiError) {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(in))
	for _, k := range keys {
		f, ok := t.m.fields[k]
		if !ok || t.m.readOnly[k] {
			return nil, unknownParam(k)
		}
		if in[k] == unsetFlag {
			out[k] = unsetFlag
			continue
		}
		v, err := e.normalize(k, f, in[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

const unsetFlag = "\x00unset"

func (e *Emulator) add(t *table, in map[string]string, placeOK bool) (routeros.Object, *apiError) {
	place, hasPlace := in["place-before"]
	if hasPlace {
		if !placeOK || !t.m.ordered {
			return nil, unknownParam("place-before")
		}
		delete(in, "place-before")
	}
	vals, err := e.validate(t, in)
	if err != nil {
		return nil, err
	}
	o := routeros.Object{}
	for k, v := range vals {
		if v == unsetFlag || k == "comment" && v == "" {
			continue
		}
		o[k] = v
	}
	if t.m.named && o["name"] == "" && t.m.autoName != "" {
		for {
			t.autoSeq++
			n := t.m.autoName + strconv.Itoa(t.autoSeq)
			if e.findByName(t.m.path, n) == nil {
				o["name"] = n
				break
			}
		}
	}
	for _, k := range t.m.required {
		if o[k] == "" {
			return nil, badRequest("missing value(s) of argument(s) %s", k)
		}
	}
	if t.m.defaults != nil {
		for k, v := range t.m.defaults(o) {
			if _, ok := o[k]; !ok {
				o[k] = v
			}
		}
	}
	if err := e.checkObject(t, o, ""); err != nil {
		return nil, err
	}
	pos := len(t.rows)
	if hasPlace {
		i := t.find(place)
		if i < 0 {
			return nil, badRequest("no such item (place-before)")
		}
		if t.rows[i]["dynamic"] == "true" {
			return nil, badRequest("failure: cannot place before dynamic entry")
		}
		pos = i
	}
	id := t.allocID()
	o[".id"] = id
	if t.m.path == routeros.MenuAddressList {
		o["creation-time"] = e.now().Format("2006-01-02 15:04:05")
		e.setTimeout(t, o)
	}
	t.rows = append(t.rows, nil)
	copy(t.rows[pos+1:], t.rows[pos:])
	t.rows[pos] = o
	return e.render(t, o), nil
}

// setTimeout tracks an address-list entry's timeout: an entry with one is
// dynamic and disappears when it runs out.
func (e *Emulator) setTimeout(t *table, o routeros.Object) {
	d, err := routeros.ParseDuration(o["timeout"])
	if o["timeout"] == "" || err != nil || d <= 0 {
		delete(o, "timeout")
		delete(t.expires, o[".id"])
		o["dynamic"] = "false"
		return
	}
	t.expires[o[".id"]] = e.now().Add(d)
	o["dynamic"] = "true"
}

// checkObject runs the checks shared by add and set: unique names and the
// menu's own rules.
func (e *Emulator) checkObject(t *table, o routeros.Object, self string) *apiError {
	if t.m.named {
		for _, x := range t.rows {
			if x[".id"] != self && x["name"] == o["name"] {
				return badRequest("failure: already have such name")
			}
		}
	}
	if t.m.check != nil {
		return t.m.check(e, o, self)
	}
	return nil
}

func (e *Emulator) update(t *table, i int, in map[string]string) *apiError {
	old := t.rows[i]
	if t.m.protected != nil {
		if what := t.m.protected(old); what != "" {
			return badRequest("failure: %s cannot be changed", what)
		}
	}
	if _, ok := in["place-before"]; ok {
		return unknownParam("place-before")
	}
	vals, err := e.validate(t, in)
	if err != nil {
		return err
	}
	n := make(routeros.Object, len(old)+len(vals))
	for k, v := range old {
		n[k] = v
	}
	for k, v := range vals {
		switch {
		case v == unsetFlag, k == "comment" && v == "":
			delete(n, k)
		default:
			n[k] = v
		}
	}
	if t.m.path == routeros.MenuQueueType && n["kind"] != old["kind"] {
		for k, v := range kindDefaults[n["kind"]] {
			if _, ok := n[k]; !ok {
				n[k] = v
			}
		}
	}
	if t.m.named && n["name"] == "" {
		return badRequest("missing value(s) of argument(s) name")
	}
	if err := e.checkObject(t, n, old[".id"]); err != nil {
		return err
	}
	if t.m.named && n["name"] != old["name"] {
		e.renameRefs(t.m.path, old["name"], n["name"])
	}
	if t.m.path == routeros.MenuAddressList {
		if _, ok := vals["timeout"]; ok {
			e.setTimeout(t, n)
		} else if x, ok := t.expires[old[".id"]]; ok {
			n["timeout"] = formatDuration(ceilSecond(x.Sub(e.now())))
		}
	}
	t.rows[i] = n
	return nil
}

// renameRefs follows a rename through every field that names the object
// (RouterOS refers to objects internally, so references survive a rename).
func (e *Emulator) renameRefs(menu, oldName, newName string) {
	for _, r := range references {
		if r.target != menu {
			continue
		}
		for _, o := range e.tables[r.menu].rows {
			if v, ok := o[r.field]; ok && r.refName(v) == oldName {
				o[r.field] = r.rename(v, newName)
			}
		}
	}
}

// usedBy names an object that refers to o, "" when none does.
func (e *Emulator) usedBy(menu string, o routeros.Object) string {
	name := o["name"]
	if name == "" {
		return ""
	}
	for _, r := range references {
		if r.target != menu {
			continue
		}
		for _, x := range e.tables[r.menu].rows {
			if v, ok := x[r.field]; ok && r.refName(v) == name {
				label := x[".id"]
				if n := x["name"]; n != "" {
					label = n
				} else if c := x["comment"]; c != "" {
					label += " (" + c + ")"
				}
				return r.menu + " " + label
			}
		}
	}
	return ""
}

func (e *Emulator) remove(t *table, i int) *apiError {
	o := t.rows[i]
	if t.m.protected != nil {
		if what := t.m.protected(o); what != "" {
			return badRequest("failure: %s cannot be removed", what)
		}
	}
	if by := e.usedBy(t.m.path, o); by != "" {
		return badRequest("failure: %s is in use by %s", o["name"], by)
	}
	delete(t.expires, o[".id"])
	t.rows = append(t.rows[:i], t.rows[i+1:]...)
	return nil
}

// resolve maps a command's numbers (ids or names) to row indices.
func (t *table) resolve(in body) ([]int, *apiError) {
	v, ok := in["numbers"]
	if !ok {
		v, ok = in[".id"]
	}
	if !ok {
		return nil, badRequest("missing value(s) of argument(s) numbers")
	}
	var idx []int
	for _, key := range v.items() {
		i := t.find(key)
		if i < 0 {
			return nil, badRequest("no such item")
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil, badRequest("missing value(s) of argument(s) numbers")
	}
	return idx, nil
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

// move places the rows idx (in that order) right before destination, or at
// the end without one.
func (e *Emulator) move(t *table, idx []int, in body) *apiError {
	moving := map[int]bool{}
	for _, i := range idx {
		if t.rows[i]["dynamic"] == "true" {
			return badRequest("failure: cannot move dynamic entry")
		}
		moving[i] = true
	}
	dest := -1
	if d, ok := in["destination"]; ok && d.s != "" {
		dest = t.find(d.s)
		if dest < 0 {
			return badRequest("no such item (destination)")
		}
		if t.rows[dest]["dynamic"] == "true" {
			return badRequest("failure: cannot move before dynamic entry")
		}
		// Moving before one of the moved rows: before the first row after
		// it that stays put.
		for dest < len(t.rows) && moving[dest] {
			dest++
		}
		if dest == len(t.rows) {
			dest = -1
		}
	}
	var rest, moved []routeros.Object
	var anchor routeros.Object
	if dest >= 0 {
		anchor = t.rows[dest]
	}
	for i, o := range t.rows {
		if !moving[i] {
			rest = append(rest, o)
		}
	}
	seen := map[int]bool{}
	for _, i := range idx {
		if !seen[i] {
			seen[i] = true
			moved = append(moved, t.rows[i])
		}
	}
	pos := len(rest)
	for i, o := range rest {
		if anchor != nil && o[".id"] == anchor[".id"] {
			pos = i
		}
	}
	rows := make([]routeros.Object, 0, len(t.rows))
	rows = append(rows, rest[:pos]...)
	rows = append(rows, moved...)
	rows = append(rows, rest[pos:]...)
	t.rows = rows
	return nil
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

// errorf is the error of a hook.
func errorf(format string, a ...any) error { return fmt.Errorf("emulator: "+format, a...) }

// ceilSecond rounds a remaining time up to whole seconds, so that a fresh
// entry shows its full timeout.
func ceilSecond(d time.Duration) time.Duration {
	if r := d % time.Second; r > 0 {
		d += time.Second - r
	}
	return d
}
