// Package plan computes what wanctl owns on a RouterOS router (the desired
// state of a configuration), reads what the router holds (one GET per menu),
// diffs the two into a list of changes, and renders that plan for humans
// (Terraform-like text) and machines (versioned JSON, also the saved-plan
// file that `wanctl apply PLANFILE` executes).
//
// Ownership: every object wanctl creates carries the comment
// Marker(address); queue types (RouterOS has no comment there) are owned by
// name and through the marked queue-tree entry using them. Only owned
// objects (and adopted ones, with adopt_existing) are ever changed.
package plan

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/routeros"
)

// FormatVersion is the version of the JSON plan document (docs/plan-json.md).
// It changes only when a field changes meaning or disappears.
const FormatVersion = 1

// Action is what a change does.
type Action string

// Actions. Replace destroys an object and creates its replacement (a field
// that cannot be changed in place); Move only repositions a mangle rule.
const (
	Create  Action = "create"
	Update  Action = "update"
	Delete  Action = "delete"
	Replace Action = "replace"
	Move    Action = "move"
)

// Ref names another object: a managed one by address, or any by .id.
type Ref struct {
	Address string `json:"address,omitempty"`
	ID      string `json:"id,omitempty"`
	// Label describes the object for humans.
	Label string `json:"label,omitempty"`
}

// Change is one step of a plan.
type Change struct {
	Router  string `json:"router"`
	Address string `json:"address"`
	Menu    string `json:"menu"`
	Action  Action `json:"action"`
	// ID is the existing object's .id (update, delete, move; replace: the
	// object being replaced). Empty for create.
	ID string `json:"id,omitempty"`
	// Name labels the object in output (its name, list+address, ...).
	Name string `json:"name,omitempty"`
	// Before are the existing object's managed fields as the router holds
	// them (null for create); After the managed fields after the change
	// (null for delete). Absent fields are absent.
	Before routeros.Object `json:"before"`
	After  routeros.Object `json:"after"`
	// ChangedFields are the fields an update or replace changes (sorted).
	ChangedFields []string `json:"changed_fields"`
	// ReplaceFields are the changed fields that force a replacement.
	ReplaceFields []string `json:"replace_fields,omitempty"`
	// Adopt: an existing unmarked object is taken over (adopt_existing).
	Adopt bool `json:"adopt,omitempty"`
	// Moved: an update that also repositions the rule (Move changes always do).
	Moved bool `json:"moved,omitempty"`
	// PlaceBefore positions a created or moved mangle rule: before that
	// object, or at the end of the menu when null.
	PlaceBefore *Ref `json:"place_before,omitempty"`
}

// Severity of a diagnostic.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is a plan error (nothing is applied) or warning.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Router   string   `json:"router,omitempty"`
	Address  string   `json:"address,omitempty"`
	Summary  string   `json:"summary"`
	// Detail says why it matters and how to fix it.
	Detail string `json:"detail,omitempty"`
}

// Diagnostics is a list of diagnostics.
type Diagnostics []Diagnostic

// errorf adds an error; summary and detail are formats consuming args in
// that order.
func (d *Diagnostics) errorf(address, summary, detail string, args ...any) {
	d.add(SeverityError, address, summary, detail, args...)
}

func (d *Diagnostics) warnf(address, summary, detail string, args ...any) {
	d.add(SeverityWarning, address, summary, detail, args...)
}

func (d *Diagnostics) add(sev Severity, address, summary, detail string, args ...any) {
	s := fmt.Sprintf(summary+"\x00"+detail, args...)
	sum, det, _ := strings.Cut(s, "\x00")
	*d = append(*d, Diagnostic{Severity: sev, Address: address, Summary: sum, Detail: det})
}

// RouterPlan is what a plan knows about one router.
type RouterPlan struct {
	Name string `json:"name"`
	// URL is the REST base without credentials.
	URL string `json:"url"`
	// MenusRead are the menus read (one GET each), in order.
	MenusRead []string `json:"menus_read"`
	// ReadFilters narrow the reads of big menus (address lists, routes) to
	// what wanctl can own; re-reading a saved plan uses them again.
	ReadFilters map[string]ReadFilter `json:"read_filters,omitempty"`
	// Fingerprint hashes the normalised objects of every menu read (without
	// counters and runtime-owned fields): a saved plan is applied only while
	// the router still matches it.
	Fingerprint string `json:"fingerprint"`
}

// Summary counts a plan's changes like Terraform: a replace is one add and
// one destroy, a move is a change.
type Summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

// Plan is the result of comparing a configuration with its routers.
type Plan struct {
	FormatVersion int           `json:"format_version"`
	Routers       []*RouterPlan `json:"routers"`
	Changes       []*Change     `json:"changes"`
	Summary       Summary       `json:"summary"`
	Warnings      Diagnostics   `json:"warnings"`
	Errors        Diagnostics   `json:"errors"`
}

// HasChanges reports whether applying the plan would do anything.
func (p *Plan) HasChanges() bool { return len(p.Changes) > 0 }

// Reader reads menus: whole (List) or narrowed by a RouterOS API query
// (Print); routeros.Client does either with one request.
type Reader interface {
	List(ctx context.Context, menu string) ([]routeros.Object, error)
	Print(ctx context.Context, menu string, query []string) ([]routeros.Object, error)
}

// Connector gives the Reader of a router block.
type Connector func(r *config.Router) (Reader, error)

// Actual is what a router holds: the objects of each menu read, in the
// router's order. A menu read with a ReadFilter holds only the objects the
// filter lets through.
type Actual map[string][]routeros.Object

// ReadFilter narrows the read of a menu that can be huge on a big router
// (10^5 address-list entries, a full BGP table) to the objects wanctl can
// own: those whose Field has one of Values. The read is one request, an OR
// of equalities (Reader.Print); no values reads nothing.
type ReadFilter struct {
	Field  string   `json:"field"`
	Values []string `json:"values"`
}

// Query is the RouterOS API query of the filter: "f=a", "f=b", "#|".
func (f ReadFilter) Query() []string {
	vals := sortedSet(f.Values)
	q := make([]string, 0, len(vals)+1)
	for _, v := range vals {
		q = append(q, f.Field+"="+v)
	}
	if len(vals) > 1 {
		q = append(q, "#"+strings.Repeat("|", len(vals)-1))
	}
	return q
}

// ReadActual reads each menu once. Menus without a filter are read first,
// in the order given; then the filtered ones, whose values are completed
// from what was read (extendFilters: a routing table or a list wanctl
// marked earlier stays readable after it left the configuration). It
// returns the filters as used, for RouterPlan.ReadFilters.
func ReadActual(ctx context.Context, rd Reader, menus []string, filters map[string]ReadFilter) (Actual, map[string]ReadFilter, error) {
	act := Actual{}
	for _, m := range menus {
		if _, done := act[m]; done {
			continue
		}
		if _, filtered := filters[m]; filtered {
			continue
		}
		objs, err := rd.List(ctx, m)
		if err != nil {
			return nil, nil, fmt.Errorf("read /%s: %w", m, err)
		}
		if objs == nil {
			objs = []routeros.Object{}
		}
		act[m] = objs
	}
	used := extendFilters(filters, act)
	for _, m := range menus {
		f, filtered := used[m]
		if _, done := act[m]; done || !filtered {
			continue
		}
		var objs []routeros.Object
		if len(f.Values) > 0 {
			var err error
			if objs, err = rd.Print(ctx, m, f.Query()); err != nil {
				return nil, nil, fmt.Errorf("read /%s where %s: %w", m, strings.Join(f.Query(), " "), err)
			}
		}
		if objs == nil {
			objs = []routeros.Object{}
		}
		act[m] = objs
	}
	if len(used) == 0 {
		used = nil
	}
	return act, used, nil
}

// Make plans the configuration against its routers: desired state, one read
// per menu, checks, diff. Router I/O failures are returned as the error;
// problems found in the state are Errors of the plan (then it has no changes).
func Make(ctx context.Context, cfg *config.Config, connect Connector) (*Plan, error) {
	p := &Plan{FormatVersion: FormatVersion}
	for _, d := range DesiredState(cfg) {
		rd, err := connect(d.Router)
		if err != nil {
			return nil, fmt.Errorf("router %q: %w", d.Router.Name, err)
		}
		act, used, err := ReadActual(ctx, rd, d.Read, d.Filters)
		if err != nil {
			return nil, fmt.Errorf("router %q: %w", d.Router.Name, err)
		}
		p.addRouter(d, act, used)
	}
	p.finish()
	return p, nil
}

// addRouter diffs one router's desired state with what it holds.
func (p *Plan) addRouter(d *Desired, act Actual, filters map[string]ReadFilter) {
	rp := &RouterPlan{Name: d.Router.Name, URL: RedactURL(d.Router.URL), MenusRead: d.Read, ReadFilters: filters, Fingerprint: Fingerprint(act)}
	p.Routers = append(p.Routers, rp)
	diags := append(Diagnostics(nil), d.Diags...)
	diags = append(diags, Check(d, act)...)
	changes, ddiags := Diff(d, act)
	diags = append(diags, ddiags...)
	for _, c := range changes {
		c.Router = d.Router.Name
		p.Changes = append(p.Changes, c)
	}
	for _, dg := range diags {
		dg.Router = d.Router.Name
		if dg.Severity == SeverityError {
			p.Errors = append(p.Errors, dg)
		} else {
			p.Warnings = append(p.Warnings, dg)
		}
	}
}

// finish drops the changes of a plan with errors and counts the rest.
func (p *Plan) finish() {
	if len(p.Errors) > 0 {
		p.Changes = nil
	}
	if p.Changes == nil {
		p.Changes = []*Change{}
	}
	if p.Warnings == nil {
		p.Warnings = Diagnostics{}
	}
	if p.Errors == nil {
		p.Errors = Diagnostics{}
	}
	p.Summary = Summary{}
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			p.Summary.Add++
		case Update, Move:
			p.Summary.Change++
		case Delete:
			p.Summary.Destroy++
		case Replace:
			p.Summary.Add++
			p.Summary.Destroy++
		}
	}
}

// RedactURL removes credentials from a URL.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		// Never echo what might hold credentials.
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return "(url with credentials)" + s[i:]
		}
		return s
	}
	if u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}
