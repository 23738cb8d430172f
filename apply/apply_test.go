package apply

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
)

func ch(addr, menu string, a plan.Action) *plan.Change {
	return &plan.Change{Router: "edge", Address: addr, Menu: menu, Action: a, ID: "*" + addr, After: routeros.Object{"comment": plan.Marker(addr)}}
}

func TestStepsOrder(t *testing.T) {
	mangle := routeros.MenuMangle
	moved := ch("m2", mangle, plan.Update)
	moved.Moved = true
	p := &plan.Plan{Changes: []*plan.Change{
		ch("m1", mangle, plan.Create), moved, ch("m3", mangle, plan.Move), ch("m4", mangle, plan.Create),
		ch("qt", routeros.MenuQueueType, plan.Replace),
		ch("tree", routeros.MenuQueueTree, plan.Update),
		ch("table", routeros.MenuRoutingTable, plan.Create),
		ch("m6", routeros.MenuMangle6, plan.Create),
		ch("oldroute", routeros.MenuRoute, plan.Delete),
		ch("oldlist", routeros.MenuAddressList, plan.Delete),
		ch("oldrule", mangle, plan.Delete),
	}}
	var got []string
	for _, s := range Steps(p) {
		got = append(got, string(s.Op)+" "+s.Change.Address)
	}
	want := []string{
		"create table", "create qt", "update tree",
		"update m2", "create m4", "move m3", "move m2", "create m1", // mangle: last rule first
		"create m6",
		"delete oldrule", "delete oldlist", "delete qt", "delete oldroute", // reverse menu order
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("steps\n%q\nwant\n%q", got, want)
	}
}

// fakeClient records calls; failing makes one operation answer 400.
type fakeClient struct {
	calls   []string
	objs    []routeros.Object
	failAdd error
}

func (f *fakeClient) List(context.Context, string) ([]routeros.Object, error) { return f.objs, nil }
func (f *fakeClient) Print(context.Context, string, []string) ([]routeros.Object, error) {
	return f.objs, nil
}
func (f *fakeClient) Get(_ context.Context, _, id string) (routeros.Object, error) {
	for _, o := range f.objs {
		if o.ID() == id {
			return o, nil
		}
	}
	return nil, &routeros.Error{Kind: routeros.KindNotFound}
}
func (f *fakeClient) Add(_ context.Context, menu string, o routeros.Object) (routeros.Object, error) {
	f.calls = append(f.calls, "add "+menu+" before="+o["place-before"])
	if f.failAdd != nil {
		return nil, f.failAdd
	}
	n := routeros.Object{".id": "*N" + o["comment"]}
	return n, nil
}
func (f *fakeClient) Set(_ context.Context, menu, id string, _ routeros.Object) (routeros.Object, error) {
	f.calls = append(f.calls, "set "+id)
	return routeros.Object{}, nil
}
func (f *fakeClient) Remove(_ context.Context, _, id string) error {
	f.calls = append(f.calls, "remove "+id)
	return nil
}
func (f *fakeClient) Move(_ context.Context, _ string, ids []string, dest string) error {
	f.calls = append(f.calls, "move "+strings.Join(ids, ",")+" before="+dest)
	return nil
}

func TestPlaceBeforeResolvesCreatedRules(t *testing.T) {
	a := ch("a", routeros.MenuMangle, plan.Create)
	b := ch("b", routeros.MenuMangle, plan.Create)
	c := ch("c", routeros.MenuMangle, plan.Move)
	a.PlaceBefore = &plan.Ref{Address: "b"}
	b.PlaceBefore = &plan.Ref{Address: "c", ID: "*c"}
	c.PlaceBefore = &plan.Ref{ID: "*user"}
	fc := &fakeClient{}
	var out bytes.Buffer
	res, err := Apply(context.Background(), &plan.Plan{Changes: []*plan.Change{a, b, c}}, map[string]Client{"edge": fc}, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"move *c before=*user", "add ip/firewall/mangle before=*c", "add ip/firewall/mangle before=*Nwanctl:b"}
	if !reflect.DeepEqual(fc.calls, want) {
		t.Errorf("calls %q, want %q", fc.calls, want)
	}
	if !reflect.DeepEqual(res, Result{Added: 2, Changed: 1}) {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(out.String(), "b: Creation complete (id *Nwanctl:b)") {
		t.Errorf("progress:\n%s", out.String())
	}
}

func TestFailureStopsAndReports(t *testing.T) {
	bad := &routeros.Error{Kind: routeros.KindBadRequest, Status: 400, Detail: "input does not match any value of queue"}
	fc := &fakeClient{failAdd: bad}
	p := &plan.Plan{Changes: []*plan.Change{ch("t", routeros.MenuRoutingTable, plan.Update), ch("q", routeros.MenuQueueTree, plan.Create), ch("z", routeros.MenuAddressList, plan.Delete)}}
	res, err := Apply(context.Background(), p, map[string]Client{"edge": fc}, &bytes.Buffer{})
	var ae *Error
	if !errors.As(err, &ae) || ae.Step.Change.Address != "q" || !errors.Is(err, bad) {
		t.Fatalf("error %v", err)
	}
	if !reflect.DeepEqual(res, Result{Changed: 1}) || len(fc.calls) != 2 {
		t.Errorf("result %+v calls %v: nothing after the failure may run", res, fc.calls)
	}
	var out bytes.Buffer
	Report(&out, res, err)
	for _, want := range []string{"Done before the failure: 0 added, 1 changed, 0 destroyed", "q: could not create /queue/tree",
		"input does not match any value of queue", "wanctl plan"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// interruptingClient runs during its nth Set, as a signal arriving while
// that request is in flight.
type interruptingClient struct {
	*fakeClient
	nth, n int
	during func() error
}

func (c *interruptingClient) Set(ctx context.Context, menu, id string, o routeros.Object) (routeros.Object, error) {
	if c.n++; c.n == c.nth {
		if err := c.during(); err != nil {
			c.calls = append(c.calls, "abandoned "+id)
			return nil, err
		}
	}
	return c.fakeClient.Set(ctx, menu, id, o)
}

func TestInterrupt(t *testing.T) {
	p := &plan.Plan{Changes: []*plan.Change{ch("a", routeros.MenuQueueTree, plan.Update), ch("b", routeros.MenuQueueTree, plan.Update),
		ch("c", routeros.MenuQueueTree, plan.Update), ch("d", routeros.MenuQueueTree, plan.Update)}}
	for _, tc := range []struct {
		name      string
		cancel    bool
		calls     []string
		changed   int
		abandoned string
		report    []string
	}{
		{"stop", false, []string{"set *a", "set *b"}, 2, "",
			[]string{"Apply interrupted. Done: 0 added, 2 changed, 0 destroyed.", "Not done (2 steps, not sent to the router):\n  c: update /queue/tree \"\" (id *c)\n  d: update"}},
		{"cancel", true, []string{"set *a", "abandoned *b"}, 1, "b",
			[]string{"Apply stopped at once. Done: 0 added, 1 changed, 0 destroyed.", "In flight, outcome unknown (the router may or may not have applied it):\n  b: update",
				"Not done (2 steps, not sent to the router):\n  c: update"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop := make(chan struct{})
			cl := &interruptingClient{fakeClient: &fakeClient{}, nth: 2, during: func() error {
				if tc.cancel {
					cancel()
					return ctx.Err()
				}
				close(stop)
				return nil
			}}
			res, err := ApplyWith(ctx, p, map[string]Client{"edge": cl}, io.Discard, Options{Stop: stop})
			var ie *Interrupted
			if !errors.As(err, &ie) || ie.Cancelled != tc.cancel || len(ie.Left) != 2 {
				t.Fatalf("error %#v", err)
			}
			got := ""
			if ie.Abandoned != nil {
				got = ie.Abandoned.Change.Address
			}
			if got != tc.abandoned {
				t.Errorf("abandoned %q, want %q", got, tc.abandoned)
			}
			if !reflect.DeepEqual(cl.calls, tc.calls) || res.Changed != tc.changed {
				t.Errorf("calls %q result %+v, want %q and %d changed", cl.calls, res, tc.calls, tc.changed)
			}
			var out bytes.Buffer
			Report(&out, res, err)
			for _, want := range append(tc.report, "Run 'wanctl plan' to see exactly what is left") {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
