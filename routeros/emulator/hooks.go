package emulator

import (
	"fmt"
	"strconv"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

// SetQueueStats sets the statistics of the queue-tree entry with that name
// (the simulator's view of the shaper). Unknown names are ignored. With an
// offered load (SetQueueLoad) the counters go on growing from these values.
// A CAKE tree's `dropped` stays 0 unless Config.CAKEDropped.
func (e *Emulator) SetQueueStats(name string, s QueueStats) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.accrueLoads()
	t := e.tables[routeros.MenuQueueTree]
	if i := t.find(name); i >= 0 {
		o := t.rows[i]
		if !e.cfg.CAKEDropped && e.cakeTree(o) {
			s.Dropped = 0
		}
		for k, v := range map[string]int64{"bytes": s.Bytes, "packets": s.Packets, "dropped": s.Dropped,
			"queued-packets": s.QueuedPackets, "queued-bytes": s.QueuedBytes, "rate": s.Rate, "packet-rate": s.PacketRate} {
			o[k] = strconv.FormatInt(v, 10)
		}
	}
}

// cakeTree reports whether the queue-tree entry's queue type is of kind
// cake. The caller holds e.mu.
func (e *Emulator) cakeTree(o routeros.Object) bool {
	qt := e.findByName(routeros.MenuQueueType, o["queue"])
	return qt != nil && qt["kind"] == "cake"
}

// QueueMaxLimit returns the max-limit (bits/s, 0 = unlimited) of the
// queue-tree entry with that name; false when there is none.
func (e *Emulator) QueueMaxLimit(name string) (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tables[routeros.MenuQueueTree]
	i := t.find(name)
	if i < 0 {
		return 0, false
	}
	v, err := routeros.ParseRate(t.rows[i]["max-limit"])
	if err != nil {
		return 0, false
	}
	return v, true
}

// Requests returns the requests received so far (oldest first; the log
// keeps the latest 50,000 to 100,000).
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.requests...)
}

// ClearRequests empties the request log and resets MaxConcurrent.
func (e *Emulator) ClearRequests() {
	e.mu.Lock()
	e.requests = nil
	e.mu.Unlock()
	e.maxConc.Store(e.inflight.Load())
}

// MaxConcurrent is the largest number of requests the emulator has held at
// once (arrived and not yet answered) since New or ClearRequests. A client
// that keeps one request in flight keeps it at 1.
func (e *Emulator) MaxConcurrent() int { return int(e.maxConc.Load()) }

// SetLatency changes the per-request latency.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	e.latency = d
	e.mu.Unlock()
}

// Objects returns copies of a menu's objects in order, as GET shows them;
// nil for a menu the emulator does not have.
func (e *Emulator) Objects(menu string) []routeros.Object {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tables[menu]
	if t == nil {
		return nil
	}
	e.expire()
	e.accrueLoads()
	return e.list(t, func(routeros.Object) bool { return true }, nil)
}

// AddObject stores an object as given (no validation: tests may create any
// state, including read-only fields such as "dynamic"), after filling in the
// menu's defaults. A ".id" in o is used when free. Dynamic firewall rules go
// after the dynamic rules at the top; everything else at the end.
func (e *Emulator) AddObject(menu string, o routeros.Object) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tables[menu]
	if t == nil {
		return "", errorf("no menu %q", menu)
	}
	if t.m.singleton {
		return "", errorf("menu %q holds one object: use SetObject", menu)
	}
	e.accrueLoads()
	return e.insert(t, o)
}

func (e *Emulator) insert(t *table, in routeros.Object) (string, error) {
	o := make(routeros.Object, len(in))
	for k, v := range in {
		o[k] = v
	}
	if t.m.named {
		if o["name"] == "" {
			return "", errorf("%s: object without a name", t.m.path)
		}
		if e.findByName(t.m.path, o["name"]) != nil {
			return "", errorf("%s: already have such name %q", t.m.path, o["name"])
		}
	}
	if t.m.defaults != nil {
		for k, v := range t.m.defaults(o) {
			if _, ok := o[k]; !ok {
				o[k] = v
			}
		}
	}
	builtin := o["dynamic"] == "true" || o["default"] == "true" || o["builtin"] == "true"
	if t.m.singleton {
		delete(o, ".id")
	} else if id := o[".id"]; id != "" {
		if t.find(id) >= 0 {
			return "", errorf("%s: .id %s is taken", t.m.path, id)
		}
	} else if builtin {
		o[".id"] = t.allocDynID()
	} else {
		o[".id"] = t.allocID()
	}
	if o["comment"] == "" {
		delete(o, "comment")
	}
	if t.m.path == routeros.MenuAddressList {
		if _, ok := o["creation-time"]; !ok {
			o["creation-time"] = e.now().Format("2006-01-02 15:04:05")
		}
		if o["timeout"] != "" {
			e.setTimeout(t, o)
		}
	}
	pos := len(t.rows)
	if t.m.ordered && o["dynamic"] == "true" {
		pos = 0
		for pos < len(t.rows) && t.rows[pos]["dynamic"] == "true" {
			pos++
		}
	}
	t.rows = append(t.rows, nil)
	copy(t.rows[pos+1:], t.rows[pos:])
	t.rows[pos] = o
	return o[".id"], nil
}

// RemoveObject removes an object by .id (or name), built-in or not.
func (e *Emulator) RemoveObject(menu, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tables[menu]
	if t == nil {
		return errorf("no menu %q", menu)
	}
	i := t.find(id)
	if i < 0 {
		return errorf("%s: no object %s", menu, id)
	}
	e.accrueLoads()
	delete(t.expires, t.rows[i][".id"])
	t.rows = append(t.rows[:i], t.rows[i+1:]...)
	return nil
}

// SetObject sets fields of an object by .id (or name) as given, without
// validation; an empty comment removes the comment. For system/resource the
// id is ignored.
func (e *Emulator) SetObject(menu, id string, fields routeros.Object) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tables[menu]
	if t == nil {
		return errorf("no menu %q", menu)
	}
	i := 0
	if !t.m.singleton {
		i = t.find(id)
	}
	if i < 0 || i >= len(t.rows) {
		return errorf("%s: no object %s", menu, id)
	}
	e.accrueLoads()
	o := t.rows[i]
	for k, v := range fields {
		if k == ".id" {
			continue
		}
		if k == "comment" && v == "" {
			delete(o, k)
			continue
		}
		o[k] = v
	}
	if t.m.path == routeros.MenuAddressList {
		if _, ok := fields["timeout"]; ok {
			e.setTimeout(t, o)
		}
	}
	return nil
}

// errorf is the error of a hook.
func errorf(format string, a ...any) error { return fmt.Errorf("emulator: "+format, a...) }
