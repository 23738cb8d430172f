package routeros_test

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// A menu is a JSON array and nothing else: a 200 with an empty body,
// null, {} or an error object read as an empty menu made apply create
// every rule again.
func TestMenuReplyMustBeAnArray(t *testing.T) {
	e, _, c := setup(t, emulator.Config{})
	ctx := context.Background()
	for _, name := range []string{"empty", "null", "object", "error"} {
		t.Run(name, func(t *testing.T) {
			f, err := emulator.ParseFaults("body:" + name + "*2@GET/ip/firewall/mangle")
			if err != nil {
				t.Fatal(err)
			}
			e.Inject(f[0])
			objs, err := c.List(ctx, routeros.MenuMangle)
			if err == nil {
				t.Fatalf("List read %d objects from a %s reply", len(objs), name)
			}
			re := asError(t, err)
			if re.Kind != routeros.KindProtocol {
				t.Errorf("kind %v, want protocol", re.Kind)
			}
			mustContain(t, err.Error(), `router "edge"`, "GET ip/firewall/mangle", "JSON array", "check that url points at the router")
			if _, err := c.Query(ctx, routeros.MenuMangle, routeros.Query{Filter: map[string]string{"chain": "prerouting"}}); err == nil {
				t.Errorf("Query accepted a %s reply", name)
			}
		})
	}
	if e.PendingFaults() != 0 {
		t.Fatal("faults left")
	}
	// An empty menu is [] and still reads as one; a singleton menu is an object.
	if objs, err := c.List(ctx, routeros.MenuQueueTree); err != nil || objs == nil || len(objs) != 0 {
		t.Fatalf("empty menu: %#v %v", objs, err)
	}
	if res, err := c.List(ctx, routeros.MenuResource); err != nil || len(res) != 1 {
		t.Fatalf("singleton menu: %v %v", res, err)
	}
	e.Inject(emulator.Fault{Kind: emulator.FaultBody, Body: `{"error":400,"message":"Bad Request"}`, Path: routeros.MenuResource})
	if _, err := c.List(ctx, routeros.MenuResource); err == nil {
		t.Fatal("an error object read as system/resource")
	}
}

// A write's reply is the object written: a JSON object with its .id.
func TestWriteReplyMustBeAnObject(t *testing.T) {
	e, _, c := setup(t, emulator.Config{})
	ctx := context.Background()
	q, err := c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "wanctl-a-down", "parent": "global"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"empty", "null", "object", "error"} {
		t.Run(name, func(t *testing.T) {
			f, _ := emulator.ParseFaults("body:" + name + "*2@/queue/tree")
			e.Inject(f[0])
			if o, err := c.Set(ctx, routeros.MenuQueueTree, q.ID(), routeros.Object{"max-limit": "10M"}); err == nil {
				t.Errorf("Set accepted a %s reply: %v", name, o)
			} else {
				mustContain(t, err.Error(), "PATCH queue/tree/"+q.ID(), `"wanctl-a-down"`)
			}
			if o, err := c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "wanctl-" + name, "parent": "global"}); err == nil {
				t.Errorf("Add accepted a %s reply: %v", name, o)
			} else {
				mustContain(t, err.Error(), "PUT queue/tree", "wanctl-"+name)
			}
		})
	}
}

// Replies are capped after decompression, and the timeout covers the
// body: a huge reply, a gzip bomb or a body that stalls ends in an error
// naming the menu, in bounded memory and time. (A menu's gzip bomb is read
// up to 64 MiB, too slow under the race detector for the timeout: that path
// is TestReadBody's, at a smaller cap.)
func TestReplyCaps(t *testing.T) {
	e, s, c := setup(t, emulator.Config{})
	ctx := context.Background()
	q, err := c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "wanctl-a-down", "parent": "global"})
	if err != nil {
		t.Fatal(err)
	}
	rz := router(s.URL)
	rz.Transport = &http.Transport{} // asks for gzip, and decompresses
	gz, err := routeros.New(rz)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		fault emulator.Fault
		call  func() error
		want  []string
	}{
		{"menu", emulator.Fault{Kind: emulator.FaultBigReply, Size: routeros.MaxMenuReply + 1, Method: "GET"},
			func() error { _, err := c.List(ctx, routeros.MenuMangle); return err },
			[]string{"GET ip/firewall/mangle", "64 MiB"}},
		{"object", emulator.Fault{Kind: emulator.FaultBigReply, Size: routeros.MaxObjectReply + 1, Method: "PATCH"},
			func() error {
				_, err := c.Set(ctx, routeros.MenuQueueTree, q.ID(), routeros.Object{"max-limit": "10M"})
				return err
			},
			[]string{"PATCH queue/tree/" + q.ID(), "1 MiB"}},
		// A transport that accepts gzip gets a compression bomb: read up to
		// the cap, the size being known only once decompressed.
		{"gzip bomb", emulator.Fault{Kind: emulator.FaultBigReply, Size: 1 << 30, Method: "PATCH"},
			func() error {
				_, err := gz.Set(ctx, routeros.MenuQueueTree, q.ID(), routeros.Object{"max-limit": "20M"})
				return err
			},
			[]string{"PATCH queue/tree/" + q.ID(), "1 MiB"}},
		{"error reply", emulator.Fault{Kind: emulator.FaultBigReply, Size: 8 << 20, Method: "DELETE"},
			func() error { return c.Remove(ctx, routeros.MenuQueueTree, "*FFFF") },
			[]string{"DELETE queue/tree/*FFFF", "1 MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.Inject(tc.fault)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := tc.call()
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("no error")
			}
			if re := asError(t, err); re.Kind != routeros.KindProtocol {
				t.Errorf("kind %v, want protocol: %v", re.Kind, err)
			}
			mustContain(t, err.Error(), append(tc.want, "cap")...)
			if got := after.TotalAlloc - before.TotalAlloc; got > 4*(64<<20) {
				t.Errorf("allocated %d MiB", got>>20)
			}
		})
	}
	// The connection is usable afterwards.
	if _, err := c.List(ctx, routeros.MenuQueueTree); err != nil {
		t.Fatal(err)
	}

	// Headers in time, the body not: the timeout covers the body.
	r := router(s.URL)
	r.Timeout = 200 * time.Millisecond
	slow, err := routeros.New(r)
	if err != nil {
		t.Fatal(err)
	}
	e.Inject(emulator.Fault{Kind: emulator.FaultStallBody, Path: "interface"})
	start := time.Now()
	_, err = slow.List(ctx, routeros.MenuInterface)
	if !routeros.IsTimeout(err) {
		t.Fatalf("stalled body: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 10*r.Timeout {
		t.Fatalf("stalled body took %s with a %s timeout", d, r.Timeout)
	}
}
