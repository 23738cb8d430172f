// Package apply executes a plan against its routers in dependency order:
// creates and updates by menu (routing tables, routes, routing rules, queue
// types, queue trees, address lists, mangle, IPv6 mangle), then destroys in
// the reverse order. It stops at the first failure, after re-reading the
// object when the router answered 400 (a 400 is not always atomic), so that
// what it reports as done is what the router holds.
package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
)

// Client is what apply needs of a router (routeros.Client has it).
type Client interface {
	List(ctx context.Context, menu string) ([]routeros.Object, error)
	Print(ctx context.Context, menu string, query []string) ([]routeros.Object, error)
	Get(ctx context.Context, menu, id string) (routeros.Object, error)
	Add(ctx context.Context, menu string, fields routeros.Object) (routeros.Object, error)
	Set(ctx context.Context, menu, id string, fields routeros.Object) (routeros.Object, error)
	Remove(ctx context.Context, menu, id string) error
	Move(ctx context.Context, menu string, ids []string, destination string) error
}

// Op is one router operation of a step.
type Op string

// Operations. A replace is two steps: OpCreate of the new object in the
// create phase and OpDelete of the old one in the destroy phase.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpMove   Op = "move"
	OpDelete Op = "delete"
)

// Step is one operation on one object.
type Step struct {
	Change *plan.Change
	Op     Op
}

// Steps orders a plan's changes into operations. Per router: for each
// managed menu in plan.ManagedMenus order, updates, then creates (and the
// create half of replaces) — for mangle menus the creates and moves run from
// the last rule to the first, so that every rule is placed before a
// successor that is already where it belongs; then the destroys (and the
// destroy half of replaces) with the menus in reverse order.
func Steps(p *plan.Plan) []Step {
	var routers []string
	seen := map[string]bool{}
	for _, c := range p.Changes {
		if !seen[c.Router] {
			seen[c.Router] = true
			routers = append(routers, c.Router)
		}
	}
	var steps []Step
	for _, r := range routers {
		for _, menu := range plan.ManagedMenus {
			cs := changesOf(p, r, menu)
			for _, c := range cs {
				if c.Action == plan.Update {
					steps = append(steps, Step{c, OpUpdate})
				}
			}
			if menu == routeros.MenuMangle || menu == routeros.MenuMangle6 {
				for i := len(cs) - 1; i >= 0; i-- {
					c := cs[i]
					switch {
					case c.Action == plan.Create || c.Action == plan.Replace:
						steps = append(steps, Step{c, OpCreate})
					case c.Action == plan.Move || c.Moved:
						steps = append(steps, Step{c, OpMove})
					}
				}
				continue
			}
			for _, c := range cs {
				if c.Action == plan.Create || c.Action == plan.Replace {
					steps = append(steps, Step{c, OpCreate})
				}
			}
		}
		for i := len(plan.ManagedMenus) - 1; i >= 0; i-- {
			for _, c := range changesOf(p, r, plan.ManagedMenus[i]) {
				if c.Action == plan.Delete || c.Action == plan.Replace {
					steps = append(steps, Step{c, OpDelete})
				}
			}
		}
	}
	return steps
}

func changesOf(p *plan.Plan, router, menu string) []*plan.Change {
	var out []*plan.Change
	for _, c := range p.Changes {
		if c.Router == router && c.Menu == menu {
			out = append(out, c)
		}
	}
	return out
}

// Result counts what was done, like the plan summary.
type Result struct {
	Added     int `json:"added"`
	Changed   int `json:"changed"`
	Destroyed int `json:"destroyed"`
	// Warnings are what reading back the result found (a WAN's route that
	// is not active).
	Warnings plan.Diagnostics `json:"warnings,omitempty"`
}

// Error is the first failure of an apply: which object, which operation,
// the router's error, and what had been done before.
type Error struct {
	Step Step
	Err  error
	Done Result
}

func (e *Error) Error() string {
	c := e.Step.Change
	return fmt.Sprintf("%s (/%s %q): %s failed: %v", c.Address, c.Menu, c.Name, verb(e.Step.Op), e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func verb(op Op) string {
	switch op {
	case OpCreate:
		return "create"
	case OpUpdate:
		return "update"
	case OpMove:
		return "move"
	}
	return "destroy"
}

// Apply executes the plan's changes, writing one progress line per step
// start and end to out ("wan.x.download.queue: Creating...", "...: Creation
// complete (id *1A)"). clients has one Client per router name in the plan.
// On failure it returns an *Error; the Result counts what was done anyway.
func Apply(ctx context.Context, p *plan.Plan, clients map[string]Client, out io.Writer) (Result, error) {
	return ApplyWith(ctx, p, clients, out, Options{})
}

// Options adjust an apply.
type Options struct {
	// Stop, once it is closed, makes the apply end before its next step
	// with an *Interrupted: the request in flight completes, so that every
	// object is either done or untouched. Cancelling the context instead
	// abandons the request in flight. Nil: never.
	Stop <-chan struct{}
}

// ApplyWith is Apply with options. Stopped or cancelled, it returns an
// *Interrupted.
func ApplyWith(ctx context.Context, p *plan.Plan, clients map[string]Client, out io.Writer, opt Options) (Result, error) {
	a := &applier{clients: clients, out: out, created: map[string]string{}}
	steps := Steps(p)
	for i, s := range steps {
		select {
		case <-opt.Stop:
			return a.res, &Interrupted{Done: a.res, Left: steps[i:]}
		default:
		}
		if ctx.Err() != nil {
			return a.res, &Interrupted{Done: a.res, Left: steps[i:], Cancelled: true}
		}
		if err := a.step(ctx, s); err != nil {
			if ctx.Err() != nil {
				return a.res, &Interrupted{Done: a.res, Abandoned: &steps[i], Left: steps[i+1:], Cancelled: true}
			}
			return a.res, &Error{Step: s, Err: err, Done: a.res}
		}
	}
	a.readBack(ctx, p)
	return a.res, nil
}

// Interrupted is the end of an apply stopped before it was done (by
// Options.Stop or its context).
type Interrupted struct {
	Done Result
	// Abandoned is the step whose request was in flight when the context
	// was cancelled: the router may or may not have applied it.
	Abandoned *Step
	// Left are the steps not attempted.
	Left []Step
	// Cancelled: the context ended it (rather than Stop).
	Cancelled bool
}

func (e *Interrupted) Error() string {
	if e.Abandoned != nil {
		c := e.Abandoned.Change
		return fmt.Sprintf("apply stopped at once during %s (/%s %q: %s, outcome unknown); %d more %s not attempted",
			c.Address, c.Menu, c.Name, verb(e.Abandoned.Op), len(e.Left), plural(len(e.Left)))
	}
	return fmt.Sprintf("apply interrupted; %d %s not attempted", len(e.Left), plural(len(e.Left)))
}

func plural(n int) string {
	if n == 1 {
		return "step"
	}
	return "steps"
}

// readBack reads /ip/route once per router whose WAN routes were written
// and warns about those the router does not hold active (a gateway that
// does not resolve; one that stops answering pings shows up at the next
// plan). A failed read is a warning too: the apply itself succeeded.
func (a *applier) readBack(ctx context.Context, p *plan.Plan) {
	byRouter := map[string][]*plan.Change{}
	var routers []string
	for _, c := range p.Changes {
		if c.Menu != routeros.MenuRoute || c.Action == plan.Delete || !strings.HasSuffix(c.Address, ".route") {
			continue
		}
		if byRouter[c.Router] == nil {
			routers = append(routers, c.Router)
		}
		byRouter[c.Router] = append(byRouter[c.Router], c)
	}
	for _, r := range routers {
		// Only the tables written: a router with full BGP tables would
		// send its whole /ip/route.
		var tables []string
		for _, c := range byRouter[r] {
			tables = append(tables, c.After["routing-table"])
		}
		f := plan.ReadFilter{Field: "routing-table", Values: tables}
		routes, err := a.clients[r].Print(ctx, routeros.MenuRoute, f.Query())
		if err != nil {
			a.warn(plan.Diagnostic{Severity: plan.SeverityWarning, Router: r, Summary: "could not read the routes back to check that they are active",
				Detail: fmt.Sprintf("%v. Run 'wanctl plan': it reports a WAN route that is not active.", err)})
			continue
		}
		for _, c := range byRouter[r] {
			for _, x := range routes {
				if x["comment"] != c.After["comment"] {
					continue
				}
				if dg, bad := plan.InactiveRoute(c.Address, x); bad {
					dg.Router = r
					a.warn(dg)
				}
			}
		}
	}
}

func (a *applier) warn(d plan.Diagnostic) {
	a.res.Warnings = append(a.res.Warnings, d)
	fmt.Fprintf(a.out, "\nWarning: %s\n\n  %s\n", d.Summary, d.Detail)
}

type applier struct {
	clients map[string]Client
	out     io.Writer
	// created maps router+address to the .id of objects created so far
	// (successors of later-placed mangle rules).
	created map[string]string
	res     Result
}

func (a *applier) step(ctx context.Context, s Step) error {
	c := s.Change
	cl := a.clients[c.Router]
	if cl == nil {
		return fmt.Errorf("no client for router %q", c.Router)
	}
	switch s.Op {
	case OpCreate:
		fmt.Fprintf(a.out, "%s: Creating...\n", c.Address)
		id, note, err := a.create(ctx, cl, c)
		if err != nil {
			return err
		}
		a.created[c.Router+"\x00"+c.Address] = id
		a.res.Added++
		fmt.Fprintf(a.out, "%s: Creation complete (id %s)%s\n", c.Address, id, note)
	case OpUpdate:
		fmt.Fprintf(a.out, "%s: Modifying... (id %s)\n", c.Address, c.ID)
		note, err := a.update(ctx, cl, c)
		if err != nil {
			return err
		}
		a.res.Changed++
		fmt.Fprintf(a.out, "%s: Modifications complete (id %s)%s\n", c.Address, c.ID, note)
	case OpMove:
		fmt.Fprintf(a.out, "%s: Moving... (id %s)\n", c.Address, c.ID)
		note, err := a.move(ctx, cl, c)
		if err != nil {
			return err
		}
		if c.Action == plan.Move {
			a.res.Changed++
		}
		fmt.Fprintf(a.out, "%s: Move complete (id %s)%s\n", c.Address, c.ID, note)
	case OpDelete:
		fmt.Fprintf(a.out, "%s: Destroying... (id %s)\n", c.Address, c.ID)
		note, err := a.remove(ctx, cl, c)
		if err != nil {
			return err
		}
		a.res.Destroyed++
		fmt.Fprintf(a.out, "%s: Destruction complete (id %s)%s\n", c.Address, c.ID, note)
	}
	return nil
}

const note400 = " (the router answered 400 but had applied it; verified by re-reading)"

func (a *applier) resolve(router string, r *plan.Ref) (string, error) {
	if r == nil {
		return "", nil
	}
	if id, ok := a.created[router+"\x00"+r.Address]; ok && r.Address != "" {
		return id, nil
	}
	if r.ID != "" {
		return r.ID, nil
	}
	return "", fmt.Errorf("cannot place the rule before %s: that object was not created", r.Address)
}

func (a *applier) create(ctx context.Context, cl Client, c *plan.Change) (string, string, error) {
	fields := plan.WireFields(c.After, false)
	if c.PlaceBefore != nil {
		id, err := a.resolve(c.Router, c.PlaceBefore)
		if err != nil {
			return "", "", err
		}
		fields["place-before"] = id
	}
	o, err := cl.Add(ctx, c.Menu, fields)
	if err == nil {
		if o.ID() == "" {
			return "", "", errors.New("the router's reply has no .id")
		}
		return o.ID(), "", nil
	}
	if !routeros.IsBadRequest(err) {
		return "", "", err
	}
	// A 400 may have been applied: look for the object.
	objs, rerr := cl.List(ctx, c.Menu)
	if rerr != nil {
		return "", "", fmt.Errorf("%w (re-reading to check whether it was applied anyway also failed: %v)", err, rerr)
	}
	for _, x := range objs {
		if isCreated(c, x) {
			return x.ID(), note400, nil
		}
	}
	return "", "", err
}

// isCreated recognises the object a create made: by its marker, or by name
// for queue types (no comment), with every wanted field in place.
func isCreated(c *plan.Change, x routeros.Object) bool {
	if c.Menu == routeros.MenuQueueType {
		if x["name"] != c.After["name"] {
			return false
		}
	} else if x["comment"] != c.After["comment"] || (c.Action == plan.Replace && x.ID() == c.ID) {
		return false
	}
	return plan.Matches(c.Menu, c.After, x)
}

func (a *applier) update(ctx context.Context, cl Client, c *plan.Change) (string, error) {
	want := routeros.Object{}
	for _, k := range c.ChangedFields {
		want[k] = c.After[k] // absent: the field is removed
	}
	_, err := cl.Set(ctx, c.Menu, c.ID, plan.WireFields(want, true))
	if err == nil {
		return "", nil
	}
	if !routeros.IsBadRequest(err) {
		return "", err
	}
	x, gerr := cl.Get(ctx, c.Menu, c.ID)
	if gerr != nil {
		return "", fmt.Errorf("%w (re-reading to check whether it was applied anyway also failed: %v)", err, gerr)
	}
	if plan.Matches(c.Menu, want, x) {
		return note400, nil
	}
	return "", err
}

func (a *applier) move(ctx context.Context, cl Client, c *plan.Change) (string, error) {
	dest, err := a.resolve(c.Router, c.PlaceBefore)
	if err != nil {
		return "", err
	}
	err = cl.Move(ctx, c.Menu, []string{c.ID}, dest)
	if err == nil {
		return "", nil
	}
	if !routeros.IsBadRequest(err) {
		return "", err
	}
	objs, rerr := cl.List(ctx, c.Menu)
	if rerr != nil {
		return "", fmt.Errorf("%w (re-reading to check whether it was applied anyway also failed: %v)", err, rerr)
	}
	pos, dpos := -1, len(objs)
	for i, x := range objs {
		switch x.ID() {
		case c.ID:
			pos = i
		case dest:
			dpos = i
		}
	}
	if pos >= 0 && (pos == dpos-1 || (dest == "" && pos == len(objs)-1)) {
		return note400, nil
	}
	return "", err
}

func (a *applier) remove(ctx context.Context, cl Client, c *plan.Change) (string, error) {
	err := cl.Remove(ctx, c.Menu, c.ID)
	if err == nil {
		return "", nil
	}
	if routeros.IsNotFound(err) {
		return " (it was already gone)", nil
	}
	if !routeros.IsBadRequest(err) {
		return "", err
	}
	if _, gerr := cl.Get(ctx, c.Menu, c.ID); routeros.IsNotFound(gerr) {
		return note400, nil
	}
	return "", err
}

// Report writes the end of an apply for humans: the summary line, or on
// failure what failed, the router's words, what had been done and what to
// do next; interrupted, what was done and each step that was not.
func Report(w io.Writer, res Result, err error) {
	if err == nil {
		fmt.Fprintf(w, "\nApply complete! Resources: %d added, %d changed, %d destroyed.\n", res.Added, res.Changed, res.Destroyed)
		return
	}
	var ie *Interrupted
	if errors.As(err, &ie) {
		reportInterrupted(w, ie)
		return
	}
	var ae *Error
	fmt.Fprintf(w, "\nApply failed. Done before the failure: %d added, %d changed, %d destroyed.\n", res.Added, res.Changed, res.Destroyed)
	if errors.As(err, &ae) {
		c := ae.Step.Change
		fmt.Fprintf(w, "\nError: %s: could not %s /%s %q", c.Address, verb(ae.Step.Op), c.Menu, c.Name)
		if c.ID != "" {
			fmt.Fprintf(w, " (id %s)", c.ID)
		}
		fmt.Fprintf(w, "\n\n  %s\n", strings.ReplaceAll(ae.Err.Error(), "\n", "\n  "))
	} else {
		fmt.Fprintf(w, "\nError: %v\n", err)
	}
	fmt.Fprintln(w, "\n  Nothing after this step was attempted. Fix the cause, then run 'wanctl plan' to see exactly what is left and 'wanctl apply' to finish.")
}

// reportInterrupted says what an interrupted apply did and did not do.
func reportInterrupted(w io.Writer, ie *Interrupted) {
	d := ie.Done
	if ie.Cancelled {
		fmt.Fprintf(w, "\nApply stopped at once. Done: %d added, %d changed, %d destroyed.\n", d.Added, d.Changed, d.Destroyed)
	} else {
		fmt.Fprintf(w, "\nApply interrupted. Done: %d added, %d changed, %d destroyed.\n", d.Added, d.Changed, d.Destroyed)
	}
	if s := ie.Abandoned; s != nil {
		fmt.Fprintf(w, "\nIn flight, outcome unknown (the router may or may not have applied it):\n  %s\n", stepLine(*s))
	}
	if len(ie.Left) > 0 {
		fmt.Fprintf(w, "\nNot done (%d %s, not sent to the router):\n", len(ie.Left), plural(len(ie.Left)))
		for _, s := range ie.Left {
			fmt.Fprintf(w, "  %s\n", stepLine(s))
		}
	}
	fmt.Fprintln(w, "\n  Run 'wanctl plan' to see exactly what is left and 'wanctl apply' to finish.")
}

func stepLine(s Step) string {
	c := s.Change
	line := fmt.Sprintf("%s: %s /%s %q", c.Address, verb(s.Op), c.Menu, c.Name)
	if c.ID != "" && s.Op != OpCreate {
		line += fmt.Sprintf(" (id %s)", c.ID)
	}
	return line
}
