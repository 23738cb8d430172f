package emulator

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

type table struct {
	m       *menu
	rows    []routeros.Object // in evaluation order, each with its ".id"
	next    uint64            // next ".id" number
	nextDyn uint64            // next ".id" of built-in and dynamic objects, counting down
	autoSeq int               // generated names (queue1, queue2, ...)
	expires map[string]time.Time
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

// validate checks written fields against the menu and returns them
// normalised. A field to unset (the REST form {"!field": ""}, only on set)
// comes back as unsetFlag.
func (e *Emulator) validate(t *table, in map[string]string, set bool) (map[string]string, *apiError) {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(in))
	for _, k := range keys {
		if name, ok := strings.CutPrefix(k, "!"); ok {
			if _, writable := t.m.fields[name]; !set || !writable || t.m.readOnly[name] {
				return nil, unknownParam(k)
			}
			if slices.Contains(t.m.required, name) {
				return nil, badRequest("missing value(s) of argument(s) %s", name)
			}
			out[name] = unsetFlag
			continue
		}
		f, ok := t.m.fields[k]
		if !ok || t.m.readOnly[k] {
			return nil, unknownParam(k)
		}
		if in[k] == unsetFlag {
			out[k] = unsetFlag
			continue
		}
		if in[k] == "" && t.m.emptyOK != nil && !t.m.emptyOK[k] && f.kind != kFlag {
			return nil, invalidValue(k)
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
	vals, err := e.validate(t, in, false)
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
	vals, err := e.validate(t, in, true)
	if err != nil {
		return err
	}
	var defs routeros.Object
	if t.m.defaults != nil {
		defs = t.m.defaults(old)
	}
	n := make(routeros.Object, len(old)+len(vals))
	for k, v := range old {
		n[k] = v
	}
	for k, v := range vals {
		def, hasDef := defs[k]
		switch {
		case v == unsetFlag && hasDef:
			n[k] = def // unset restores the router's default
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

// ceilSecond rounds a remaining time up to whole seconds, so that a fresh
// entry shows its full timeout.
func ceilSecond(d time.Duration) time.Duration {
	if r := d % time.Second; r > 0 {
		d += time.Second - r
	}
	return d
}
