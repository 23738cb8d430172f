package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/wanctl/wanctl/routeros"
)

// match pairs a desired object with the router object it becomes.
type match struct {
	idx   int  // index in the actual menu
	adopt bool // unmarked object taken over
}

type differ struct {
	d       *Desired
	act     Actual
	claimed map[string]map[int]bool // menu -> claimed actual indexes
	matches map[string]match        // address -> match
	replace map[string]int          // queue-type address -> index of the type it replaces
	wanted  map[string]bool         // desired addresses
	diags   Diagnostics
	// ownedTypes reports a left-over queue type wanctl owns (destroyed);
	// typeAddr names it after the wanctl queue that used it.
	ownedTypes func(i int) bool
	typeAddr   map[string]string
}

// Diff compares a router's desired state with what it holds. It only ever
// plans changes to objects wanctl owns (marked, or queue types used by a
// marked queue), or adopts unmarked ones when the router block allows it.
// The changes come in display order: per managed menu in apply order,
// creates/updates/replaces/moves in declaration order, then the destroys.
func Diff(d *Desired, act Actual) ([]*Change, Diagnostics) {
	df := &differ{
		d: d, act: act,
		claimed: map[string]map[int]bool{},
		matches: map[string]match{},
		replace: map[string]int{},
		wanted:  map[string]bool{},
	}
	for _, m := range ManagedMenus {
		df.claimed[m] = map[int]bool{}
	}
	for _, o := range d.Objects {
		df.wanted[o.Address] = true
	}
	df.claimByMarker()
	df.claimByKey()
	df.claimQueueTypes()
	changes := df.changes()
	return changes, df.diags
}

func (df *differ) claim(o *Object, idx int, adopt bool) {
	df.claimed[o.Menu][idx] = true
	df.matches[o.Address] = match{idx: idx, adopt: adopt}
}

// claimByMarker pairs desired objects with router objects carrying their
// marker. With duplicates, the one with the wanted name wins; the others
// are destroyed.
func (df *differ) claimByMarker() {
	for _, o := range df.d.Objects {
		if o.Menu == routeros.MenuQueueType {
			continue
		}
		best := -1
		for i, a := range df.act[o.Menu] {
			if df.claimed[o.Menu][i] || builtinOrDynamic(a) || a["comment"] != Marker(o.Address) {
				continue
			}
			if best < 0 || (o.Fields["name"] != "" && a["name"] == o.Fields["name"] && df.act[o.Menu][best]["name"] != o.Fields["name"]) {
				best = i
			}
		}
		if best >= 0 {
			df.claim(o, best, false)
		}
	}
}

// claimByKey handles desired objects without a marked counterpart whose
// identity (name, list+address, ...) is already taken on the router.
func (df *differ) claimByKey() {
	for _, o := range df.d.Objects {
		if o.Menu == routeros.MenuQueueType {
			continue
		}
		if m, ok := df.matches[o.Address]; ok {
			df.checkRenameCollision(o, m.idx)
			continue
		}
		if o.Key == "" {
			continue
		}
		for i, a := range df.act[o.Menu] {
			if df.claimed[o.Menu][i] || keyOf(o.Menu, a) != o.Key {
				continue
			}
			if builtinOrDynamic(a) {
				df.diags.errorf(o.Address, "%s %q on the router is built in or dynamic",
					"%s would need that identity, but wanctl never changes built-in or dynamic objects. Choose another name in the configuration.",
					menuTitle(o.Menu), o.Label(), o.Address)
				break
			}
			if addr, marked := AddressOf(a["comment"]); marked {
				if !df.wanted[addr] {
					// Ours under an address no longer declared (a renamed WAN):
					// take it over instead of destroying and re-creating it.
					df.claim(o, i, false)
				}
				// Otherwise it belongs to another declared object: that one
				// claimed it by marker already; creating ours fails loudly.
				break
			}
			if df.d.Router.AdoptExisting {
				df.claim(o, i, true)
			} else {
				df.conflict(o, a)
			}
			break
		}
	}
}

func (df *differ) conflict(o *Object, a routeros.Object) {
	df.diags.errorf(o.Address, "%s %q already exists and is not managed by wanctl",
		"%s needs it (router object %s). Rename it in the configuration or on the router, or set adopt_existing = true in router %q to take it over: plan then shows an update that adds the marker comment%s.",
		menuTitle(o.Menu), o.Label(), o.Address, a.ID(), df.d.Router.Name, markerNote(o.Menu))
}

func markerNote(menu string) string {
	if menu == routeros.MenuQueueType {
		return " (queue types have no comment: a queue type is owned through the wanctl queue using it)"
	}
	return ""
}

// checkRenameCollision: a managed object being renamed onto a name an
// unmarked object holds would fail at apply time: say so now.
func (df *differ) checkRenameCollision(o *Object, idx int) {
	if o.Key == "" || keyOf(o.Menu, df.act[o.Menu][idx]) == o.Key {
		return
	}
	for i, a := range df.act[o.Menu] {
		if i != idx && !df.claimed[o.Menu][i] && keyOf(o.Menu, a) == o.Key && !IsMarked(a) {
			df.conflict(o, a)
			return
		}
	}
}

// claimQueueTypes: a queue type has no comment. It is wanctl's when a
// wanctl queue-tree entry uses it; an unused one that already equals the
// wanted type is taken as ours too (an apply interrupted between creating
// the type and its queue leaves exactly that), and an unused CAKE type
// named wanctl-* that nothing wants is a left-over of ours.
func (df *differ) claimQueueTypes() {
	trees := df.act[routeros.MenuQueueTree]
	ownedTree := map[int]bool{}
	for i, t := range trees {
		if !builtinOrDynamic(t) && IsMarked(t) {
			ownedTree[i] = true
		}
	}
	for _, o := range df.d.Objects {
		if o.Menu == routeros.MenuQueueTree {
			if m, ok := df.matches[o.Address]; ok {
				ownedTree[m.idx] = true
			}
		}
	}
	usedByOwned, usedByOther, used := map[string]bool{}, map[string]bool{}, map[string]bool{}
	usedByMarked := map[string]bool{}
	df.typeAddr = map[string]string{}
	for i, t := range trees {
		q := t["queue"]
		used[q] = true
		if ownedTree[i] {
			usedByOwned[q] = true
			if IsMarked(t) {
				usedByMarked[q] = true
			}
			if a, ok := AddressOf(t["comment"]); ok && strings.HasSuffix(a, ".queue") {
				df.typeAddr[q] = a + "_type"
			}
		} else {
			usedByOther[q] = true
		}
	}
	wantedName := map[string]bool{}
	for _, o := range df.d.Objects {
		if o.Menu == routeros.MenuQueueType {
			wantedName[o.Fields["name"]] = true
		}
	}
	types := df.act[routeros.MenuQueueType]
	for _, o := range df.d.Objects {
		if o.Menu != routeros.MenuQueueType {
			continue
		}
		name := o.Fields["name"]
		idx := -1
		for i, a := range types {
			if a["name"] == name && !df.claimed[o.Menu][i] {
				idx = i
				break
			}
		}
		if idx >= 0 {
			a := types[idx]
			switch {
			case builtinOrDynamic(a):
				df.diags.errorf(o.Address, "queue type %q is built in",
					"%s would use that name, but built-in queue types cannot be changed. Choose another queue type name in the configuration.", name, o.Address)
			case usedByOwned[name] && !usedByOther[name]:
				// Used only by queues wanctl owns, or adopts in this plan.
				df.claim(o, idx, !usedByMarked[name])
			case !used[name] && len(changedFields(o, a)) == 0:
				df.claim(o, idx, false)
			case df.d.Router.AdoptExisting:
				df.claim(o, idx, true)
			default:
				df.conflict(o, a)
			}
			continue
		}
		// A renamed queue type: the wanctl queue using the old one switches
		// to the new one, so the old one is replaced.
		m, ok := df.matches[o.TreeAddress]
		if !ok {
			continue
		}
		old := trees[m.idx]["queue"]
		if old == "" || wantedName[old] || !usedByOwned[old] || usedByOther[old] {
			continue
		}
		for i, a := range types {
			if a["name"] == old && !df.claimed[o.Menu][i] && !builtinOrDynamic(a) {
				df.claimed[o.Menu][i] = true
				df.replace[o.Address] = i
				break
			}
		}
	}
	// Left-over types: destroy the ones only wanctl queues use, and the
	// unused CAKE types in wanctl's namespace (an apply interrupted between
	// switching a queue to a renamed type and deleting the old one, or
	// between deleting a queue and its type, leaves exactly that); point
	// out other unused ones that look like wanctl's.
	leftover := func(a routeros.Object) bool {
		return !used[a["name"]] && strings.HasPrefix(a["name"], "wanctl-") && a["kind"] == "cake"
	}
	for i, a := range types {
		name := a["name"]
		if df.claimed[routeros.MenuQueueType][i] || builtinOrDynamic(a) || wantedName[name] {
			continue
		}
		switch {
		case usedByOwned[name] && !usedByOther[name], leftover(a):
			// Destroyed (see changes).
		case !used[name] && strings.HasPrefix(name, "wanctl-"):
			df.diags.warnf("", "queue type %q is not used by any queue",
				"Its name is in wanctl's namespace, but wanctl only creates CAKE types and this one is of kind %q, so wanctl leaves it alone. If it is left over, remove it: /queue type remove [find name=%q]", name, a["kind"], name)
		}
	}
	df.ownedTypes = func(i int) bool {
		a := types[i]
		return !df.claimed[routeros.MenuQueueType][i] && !builtinOrDynamic(a) && !wantedName[a["name"]] &&
			(usedByOwned[a["name"]] && !usedByOther[a["name"]] || leftover(a))
	}
}

// maxLimitDrift: max-limit belongs to autorate, which keeps it within
// (0, ceiling]. Outside that range it is drift, and the queue gets its
// ceiling: "0" (unlimited) means nothing shapes, and a rate above a
// lowered ceiling would shape above what the configuration allows.
func maxLimitDrift(v string, present bool, ceiling string) bool {
	cur, err1 := strconv.ParseInt(normValue(routeros.MenuQueueTree, "max-limit", v, present), 10, 64)
	ceil, err2 := strconv.ParseInt(ceiling, 10, 64)
	if err1 != nil || err2 != nil {
		return err1 != nil // unreadable: set it
	}
	return cur <= 0 || cur > ceil
}

// clearable are the fields a PATCH can empty ("" is a value for them).
var clearable = map[string]bool{
	"comment": true, "packet-mark": true, "cake-overhead-scheme": true, "src-address-list": true,
	"dst-address-list": true, "connection-mark": true,
}

// needsUnset lists the changed fields that must become absent but cannot be
// emptied with a PATCH (RouterOS needs its separate unset command there).
func needsUnset(o *Object, a routeros.Object, changed []string) []string {
	var out []string
	for _, k := range changed {
		if v, managed := o.Fields[k]; managed && v == "" && !clearable[k] {
			if _, present := a[k]; present {
				out = append(out, k)
			}
		}
	}
	return out
}

// changedFields lists the managed fields whose values differ (sorted).
func changedFields(o *Object, a routeros.Object) []string {
	var out []string
	for k, v := range o.Fields {
		if !sameValue(o.Menu, k, v, a) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func menuTitle(menu string) string {
	switch menu {
	case routeros.MenuQueueType:
		return "queue type"
	case routeros.MenuQueueTree:
		return "queue"
	case routeros.MenuRoutingTable:
		return "routing table"
	case routeros.MenuRoute:
		return "route"
	case routeros.MenuRoutingRule:
		return "routing rule"
	case routeros.MenuAddressList:
		return "address-list entry"
	}
	return "/" + menu + " rule"
}

// changes turns the matches into the plan's changes.
func (df *differ) changes() []*Change {
	var out []*Change
	byAddr := map[string]*Change{}
	for _, o := range df.d.Objects {
		var c *Change
		if i, ok := df.replace[o.Address]; ok {
			old := df.act[o.Menu][i]
			c = &Change{
				Address: o.Address, Menu: o.Menu, Action: Replace, ID: old.ID(), Name: o.Label(),
				Before: managedOf(o, old), After: createFields(o),
				ChangedFields: changedFields(o, old), ReplaceFields: []string{"name"},
			}
		} else if m, ok := df.matches[o.Address]; ok {
			a := df.act[o.Menu][m.idx]
			changed := changedFields(o, a)
			after := nonEmpty(o.Fields)
			if o.Menu == routeros.MenuQueueTree && maxLimitDrift(a["max-limit"], hasKey(a, "max-limit"), o.CreateOnly["max-limit"]) {
				changed = append(changed, "max-limit")
				sort.Strings(changed)
				after["max-limit"] = o.CreateOnly["max-limit"]
			}
			c = &Change{
				Address: o.Address, Menu: o.Menu, Action: Update, ID: a.ID(), Name: o.Label(),
				Before: managedOf(o, a), After: after, ChangedFields: changed, Adopt: m.adopt,
			}
			if unset := needsUnset(o, a, changed); len(unset) > 0 {
				// PATCH cannot remove a field: create the new object, then
				// destroy the old one.
				c.Action, c.ReplaceFields, c.After = Replace, unset, createFields(o)
			}
		} else {
			c = &Change{Address: o.Address, Menu: o.Menu, Action: Create, Name: o.Label(), After: createFields(o), ChangedFields: []string{}}
		}
		byAddr[o.Address] = c
		out = append(out, c)
	}
	for _, menu := range []string{routeros.MenuMangle, routeros.MenuMangle6} {
		out = df.order(menu, out, byAddr)
	}
	// Drop no-ops.
	keep := out[:0]
	for _, c := range out {
		if c.Action == Update && len(c.ChangedFields) == 0 && !c.Moved {
			continue
		}
		if c.ChangedFields == nil {
			c.ChangedFields = []string{}
		}
		keep = append(keep, c)
	}
	out = keep
	// Destroys, in reverse apply order.
	for mi := len(ManagedMenus) - 1; mi >= 0; mi-- {
		menu := ManagedMenus[mi]
		for i, a := range df.act[menu] {
			if !df.destroyable(menu, i, a) {
				continue
			}
			addr, _ := AddressOf(a["comment"])
			if menu == routeros.MenuQueueType {
				addr = df.typeAddr[a["name"]]
				if addr == "" {
					addr = "queue_type." + a["name"]
				}
			}
			out = append(out, &Change{
				Address: addr, Menu: menu, Action: Delete, ID: a.ID(), Name: label(menu, a),
				Before: shownFields(menu, a), ChangedFields: []string{},
			})
		}
	}
	return out
}

func (df *differ) destroyable(menu string, i int, a routeros.Object) bool {
	if df.claimed[menu][i] || builtinOrDynamic(a) {
		return false
	}
	if menu == routeros.MenuQueueType {
		return df.ownedTypes(i)
	}
	return IsMarked(a)
}

// order makes the managed rules of a mangle menu contiguous at the top of
// chain prerouting, in declaration order: creates are placed before their
// successor, rules out of order are moved (as few as possible: those off the
// longest already-ordered run).
func (df *differ) order(menu string, out []*Change, byAddr map[string]*Change) []*Change {
	var seq []*Object
	for _, o := range df.d.Objects {
		if o.Menu == menu {
			seq = append(seq, o)
		}
	}
	rules := df.act[menu]
	// The first rule of the chain that is not ours: ours go before it.
	anchor := -1
	for i, a := range rules {
		if df.claimed[menu][i] || builtinOrDynamic(a) || IsMarked(a) || a["chain"] != "prerouting" {
			continue
		}
		anchor = i
		break
	}
	// Positions of the kept rules, in declaration order.
	type kept struct{ seq, pos int }
	var ks []kept
	for si, o := range seq {
		if m, ok := df.matches[o.Address]; ok && byAddr[o.Address].Action == Update {
			if anchor < 0 || m.idx < anchor {
				ks = append(ks, kept{si, m.idx})
			}
		}
	}
	// Longest increasing run of positions stays; ties prefer later rules.
	stay := map[int]bool{}
	n := len(ks)
	best, prev := make([]int, n), make([]int, n)
	end := -1
	for i := 0; i < n; i++ {
		best[i], prev[i] = 1, -1
		for j := 0; j < i; j++ {
			if ks[j].pos < ks[i].pos && best[j]+1 > best[i] {
				best[i], prev[i] = best[j]+1, j
			}
		}
		if end < 0 || best[i] >= best[end] {
			end = i
		}
	}
	for i := end; i >= 0; i = prev[i] {
		stay[ks[i].seq] = true
	}
	for si, o := range seq {
		var succ *Ref
		if si+1 < len(seq) {
			next := seq[si+1]
			succ = &Ref{Address: next.Address, Label: next.Address}
			if nc := byAddr[next.Address]; nc.Action == Update {
				// Existing and staying: apply can name it by id.
				succ.ID = nc.ID
			}
		} else if anchor >= 0 {
			a := rules[anchor]
			succ = &Ref{ID: a.ID(), Label: fmt.Sprintf("%s (the first rule of chain prerouting not managed by wanctl%s)", a.ID(), commentNote(a))}
		}
		c := byAddr[o.Address]
		switch {
		case c.Action == Create, c.Action == Replace:
			c.PlaceBefore = succ
		case c.Action == Update && !stay[si]:
			c.Moved = true
			c.PlaceBefore = succ
			if len(c.ChangedFields) == 0 {
				c.Action = Move
			}
		}
	}
	return out
}

func commentNote(a routeros.Object) string {
	if c := a["comment"]; c != "" {
		return fmt.Sprintf(", comment %q", c)
	}
	return ""
}

// managedOf returns the router object's values of the managed fields (and
// create-only ones), as the router holds them.
func managedOf(o *Object, a routeros.Object) routeros.Object {
	out := routeros.Object{}
	for k := range o.Fields {
		if v, ok := a[k]; ok {
			out[k] = v
		}
	}
	for k := range o.CreateOnly {
		if v, ok := a[k]; ok {
			out[k] = v
		}
	}
	return out
}

// createFields are the fields sent when creating the object.
func createFields(o *Object) routeros.Object {
	f := nonEmpty(o.Fields)
	for k, v := range o.CreateOnly {
		f[k] = v
	}
	return f
}

func nonEmpty(f routeros.Object) routeros.Object {
	out := routeros.Object{}
	for k, v := range f {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func hasKey(o routeros.Object, k string) bool {
	_, ok := o[k]
	return ok
}

// counters are read-only statistics and state, never part of a comparison.
var counters = map[string]bool{
	"bytes": true, "packets": true, "dropped": true, "rate": true, "packet-rate": true,
	"queued-packets": true, "queued-bytes": true, "borrows": true, "lends": true, "pcq-queues": true,
	"active": true, "inactive": true, "immediate-gw": true, "creation-time": true, "running": true,
	"link-downs": true, "last-link-up-time": true, "last-link-down-time": true, "gateway-status": true,
	"hw-offloaded": true, "ecmp": true, "invalid": true, "timeout": true, "uptime": true, "cpu-load": true,
	"free-memory": true,
}

func isCounter(k string) bool {
	return counters[k] || strings.HasPrefix(k, "rx-") || strings.HasPrefix(k, "tx-") || strings.HasPrefix(k, "fp-")
}

// menuFields are the fields wanctl manages per menu: what a destroy shows.
var menuFields = map[string][]string{
	routeros.MenuRoutingTable: {"name", "fib", "comment", "disabled"},
	routeros.MenuRoute:        {"dst-address", "gateway", "routing-table", "check-gateway", "comment", "disabled"},
	routeros.MenuRoutingRule:  {"src-address", "dst-address", "action", "table", "comment", "disabled"},
	routeros.MenuQueueTree:    {"name", "parent", "queue", "packet-mark", "max-limit", "comment", "disabled"},
	routeros.MenuAddressList:  {"list", "address", "comment", "disabled"},
	routeros.MenuMangle:       mangleFields,
	routeros.MenuMangle6:      mangleFields,
}

// shownFields are the fields of a destroyed object worth showing: the
// managed ones (for queue types: name, kind and the CAKE settings), set.
func shownFields(menu string, a routeros.Object) routeros.Object {
	out := routeros.Object{}
	for k, v := range a {
		if v == "" {
			continue
		}
		if menu == routeros.MenuQueueType {
			if k == "name" || k == "kind" || strings.HasPrefix(k, "cake-") {
				out[k] = v
			}
			continue
		}
		for _, f := range menuFields[menu] {
			if f == k {
				out[k] = v
			}
		}
	}
	return out
}
