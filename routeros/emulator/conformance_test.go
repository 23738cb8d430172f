package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// The conformance table: every request/reply fact of ROUTEROS.md, sent as raw
// HTTP to the emulator. Each case runs its steps in order on a fresh emulator.

type step struct {
	method, path, body string
	status             int
	want               string           // exact JSON reply (compared as JSON); "" = not checked
	check              func(any) string // returns a complaint, "" when fine
	user, pass         string           // credentials; "" = the right ones
}

type ccase struct {
	name  string
	steps []step
}

const user, pass = "wanctl", "s3cret-pw"

func get(p string, status int, want string, check ...func(any) string) step {
	s := step{method: "GET", path: p, status: status, want: want}
	if len(check) > 0 {
		s.check = check[0]
	}
	return s
}

func req(m, p, b string, status int, want string, check ...func(any) string) step {
	s := step{method: m, path: p, body: b, status: status, want: want}
	if len(check) > 0 {
		s.check = check[0]
	}
	return s
}

func bad(detail string) string {
	b, _ := json.Marshal(map[string]any{"error": 400, "message": "Bad Request", "detail": detail})
	return string(b)
}

const notFound = `{"error":404,"message":"Not Found"}`

// has checks that the reply object (or every object of an array) has these values.
func has(kv map[string]string) func(any) string {
	return func(v any) string {
		objs, ok := v.([]any)
		if !ok {
			objs = []any{v}
		}
		for _, o := range objs {
			m, ok := o.(map[string]any)
			if !ok {
				return "not an object"
			}
			for k, want := range kv {
				if got, ok := m[k]; !ok || got != want {
					return k + " is " + jsonText(got) + ", want " + jsonText(want)
				}
			}
		}
		return ""
	}
}

func lacks(keys ...string) func(any) string {
	return func(v any) string {
		objs, ok := v.([]any)
		if !ok {
			objs = []any{v}
		}
		for _, o := range objs {
			m, _ := o.(map[string]any)
			for _, k := range keys {
				if _, ok := m[k]; ok {
					return k + " present"
				}
			}
		}
		return ""
	}
}

func length(n int) func(any) string {
	return func(v any) string {
		a, ok := v.([]any)
		if !ok {
			return "not an array"
		}
		if len(a) != n {
			return "array of " + jsonText(len(a)) + ", want " + jsonText(n)
		}
		return ""
	}
}

func field(i int, k string, want string) func(any) string {
	return func(v any) string {
		a, ok := v.([]any)
		if !ok || len(a) <= i {
			return "no element " + jsonText(i)
		}
		m, _ := a[i].(map[string]any)
		if m[k] != want {
			return "element " + jsonText(i) + " " + k + " is " + jsonText(m[k]) + ", want " + want
		}
		return ""
	}
}

func all(fs ...func(any) string) func(any) string {
	return func(v any) string {
		for _, f := range fs {
			if s := f(v); s != "" {
				return s
			}
		}
		return ""
	}
}

// keys checks the exact key set of an object (or of every object).
func keys(want ...string) func(any) string {
	return func(v any) string {
		objs, ok := v.([]any)
		if !ok {
			objs = []any{v}
		}
		for _, o := range objs {
			m, _ := o.(map[string]any)
			got := make([]string, 0, len(m))
			for k := range m {
				got = append(got, k)
			}
			if !sameSet(got, want) {
				return "keys " + jsonText(got) + ", want " + jsonText(want)
			}
		}
		return ""
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

var idRE = regexp.MustCompile(`^\*[0-9A-F]+$`)

const cakeType = `{"name":"wanctl-a-down","kind":"cake","cake-diffserv":"diffserv4","cake-nat":"yes","cake-overhead":18}`

var conformance = []ccase{
	// Verbs.
	{"GET menu is an array in evaluation order", []step{
		get("/rest/interface", 200, "", all(length(12), field(0, "name", "ether1"), field(9, "name", "bridge"), field(11, "name", "lte1"))),
		get("/rest/queue/tree", 200, `[]`),
	}},
	{"GET by id and by name", []step{
		get("/rest/interface/*1", 200, "", has(map[string]string{".id": "*1", "name": "ether1", "type": "ether", "running": "true"})),
		get("/rest/interface/ether2", 200, "", has(map[string]string{".id": "*2", "name": "ether2"})),
		get("/rest/queue/type/cake-default", 200, "", has(map[string]string{"kind": "cake", "default": "true"})),
	}},
	{"GET unknown id is 404", []step{
		get("/rest/queue/tree/*99", 404, notFound),
		get("/rest/interface/nonexistent0", 404, notFound),
	}},
	{"GET filter is an AND of equalities", []step{
		get("/rest/interface?type=ether&running=true", 200, "", all(length(3), has(map[string]string{"type": "ether", "running": "true"}))),
		get("/rest/interface?type=ether&running=yes", 200, "", length(3)),
		get("/rest/interface?type=bridge&running=false", 200, `[]`),
		get("/rest/interface/list/member?list=WAN", 200, "", length(1)),
	}},
	{"GET .proplist returns only those fields (no .id unless asked)", []step{
		get("/rest/interface?.proplist=name,running", 200, "", all(length(12), keys("name", "running"))),
		get("/rest/interface?.proplist=.id,name&type=bridge", 200, `[{".id":"*A","name":"bridge"}]`),
		get("/rest/interface/ether1?.proplist=name,type", 200, `{"name":"ether1","type":"ether"}`),
	}},
	{"PUT adds and returns the object with .id", []step{
		req("PUT", "/rest/queue/type", cakeType, 200, "", has(map[string]string{".id": "*1", "name": "wanctl-a-down", "kind": "cake",
			"cake-diffserv": "diffserv4", "cake-nat": "true", "cake-overhead": "18", "cake-flowmode": "triple-isolate",
			"cake-ack-filter": "none", "cake-atm": "none", "cake-rtt": "100ms", "cake-bandwidth": "0", "default": "false"})),
		req("PUT", "/rest/queue/tree", `{"name":"wanctl-a-down","parent":"global","queue":"wanctl-a-down","max-limit":"940M","packet-mark":"wanctl-a-down","comment":"wanctl:wan.a.download.queue"}`,
			200, "", has(map[string]string{".id": "*1", "max-limit": "940000000", "parent": "global", "priority": "8",
				"bytes": "0", "dropped": "0", "queued-packets": "0", "disabled": "false", "comment": "wanctl:wan.a.download.queue"})),
		get("/rest/queue/tree", 200, "", all(length(1), field(0, "name", "wanctl-a-down"))),
	}},
	{"PATCH sets fields and returns the whole object", []step{
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"ether1","max-limit":"10M"}`, 200, ""),
		req("PATCH", "/rest/queue/tree/*1", `{"max-limit":"20M"}`, 200, "", has(map[string]string{".id": "*1", "name": "q", "parent": "ether1",
			"max-limit": "20000000", "queue": "default-small", "limit-at": "0"})),
		req("PATCH", "/rest/queue/tree/q", `{"max-limit":30000000}`, 200, "", has(map[string]string{"max-limit": "30000000"})),
		req("PATCH", "/rest/queue/tree/*7", `{"max-limit":"1M"}`, 404, notFound),
	}},
	{"DELETE answers 204 with no body; second delete is 404", []step{
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"x","address":"192.0.2.1"}`, 200, ""),
		req("DELETE", "/rest/ip/firewall/address-list/*1", "", 204, ""),
		req("DELETE", "/rest/ip/firewall/address-list/*1", "", 404, notFound),
		get("/rest/ip/firewall/address-list", 200, `[]`),
	}},
	{"POST print with .proplist and .query", []step{
		req("POST", "/rest/interface/print", `{".proplist":["name"],".query":["type=ether","running=true"]}`, 200,
			`[{"name":"ether1"},{"name":"ether2"},{"name":"ether3"}]`),
		req("POST", "/rest/interface/print", `{".proplist":"name,type",".query":["type=lte","type=bridge","#|"]}`, 200,
			`[{"name":"bridge","type":"bridge"},{"name":"lte1","type":"lte"}]`),
		req("POST", "/rest/interface/list/print", `{".query":["builtin=false"],".proplist":".id,name"}`, 200, "", all(length(2), keys(".id", "name"))),
		req("POST", "/rest/system/resource/print", `{}`, 200, "", all(length(1), has(map[string]string{"board-name": "RB5009UG+S+"}))),
	}},
	{"POST enable/disable by numbers (list or comma string) or .id", []step{
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","action":"accept","comment":"a"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","action":"accept","comment":"b"}`, 200, ""),
		req("POST", "/rest/ip/firewall/mangle/disable", `{"numbers":"*1,*2"}`, 200, `[]`),
		get("/rest/ip/firewall/mangle?dynamic=false", 200, "", all(length(2), has(map[string]string{"disabled": "true"}))),
		req("POST", "/rest/ip/firewall/mangle/enable", `{".id":"*2"}`, 200, `[]`),
		get("/rest/ip/firewall/mangle/*2", 200, "", has(map[string]string{"disabled": "false"})),
		req("POST", "/rest/ip/firewall/mangle/enable", `{"numbers":["*1","*2"]}`, 200, `[]`),
		get("/rest/ip/firewall/mangle?disabled=true", 200, `[]`),
		req("POST", "/rest/ip/firewall/mangle/enable", `{"numbers":"*9"}`, 400, bad("no such item")),
	}},
	{"POST move: destination = before it, none = to the end", []step{
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","comment":"a"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","comment":"b"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","comment":"c"}`, 200, ""),
		req("POST", "/rest/ip/firewall/mangle/move", `{"numbers":"*3","destination":"*1"}`, 200, `[]`),
		get("/rest/ip/firewall/mangle?.proplist=comment&dynamic=false", 200, `[{"comment":"c"},{"comment":"a"},{"comment":"b"}]`),
		req("POST", "/rest/ip/firewall/mangle/move", `{".id":["*3","*1"]}`, 200, `[]`),
		get("/rest/ip/firewall/mangle?.proplist=comment&dynamic=false", 200, `[{"comment":"b"},{"comment":"c"},{"comment":"a"}]`),
		req("POST", "/rest/ip/firewall/mangle/move", `{"numbers":"*1,*3","destination":"*2"}`, 200, `[]`),
		get("/rest/ip/firewall/mangle?.proplist=comment&dynamic=false", 200, `[{"comment":"a"},{"comment":"c"},{"comment":"b"}]`),
		req("POST", "/rest/ip/firewall/mangle/move", `{"numbers":"*1","destination":"*FFFFFFFF"}`, 400, bad("failure: cannot move before dynamic entry")),
		req("POST", "/rest/ip/firewall/mangle/move", `{"numbers":"*FFFFFFFF"}`, 400, bad("failure: cannot move dynamic entry")),
	}},
	{"POST reset-counters zeroes the counters", []step{
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global"}`, 200, ""),
		req("POST", "/rest/queue/tree/reset-counters", `{"numbers":"q"}`, 200, `[]`),
		req("POST", "/rest/ip/firewall/filter/reset-counters", `{"numbers":"*1"}`, 200, `[]`),
		get("/rest/ip/firewall/filter/*1", 200, "", has(map[string]string{"bytes": "0", "packets": "0"})),
	}},
	{"POST add returns ret", []step{
		req("POST", "/rest/routing/table/add", `{"name":"wanctl-a","fib":""}`, 200, `{"ret":"*1"}`),
		get("/rest/routing/table/wanctl-a", 200, "", has(map[string]string{"fib": "", "dynamic": "false"})),
	}},

	// Values.
	{"every value is a string", []step{
		get("/rest/interface", 200, "", allStrings), get("/rest/queue/type", 200, "", allStrings),
		get("/rest/ip/firewall/filter", 200, "", allStrings), get("/rest/ip/route", 200, "", allStrings),
		get("/rest/system/resource", 200, "", allStrings), get("/rest/interface/list", 200, "", allStrings),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","priority":3,"max-limit":5000000,"disabled":false}`, 200, "",
			all(allStrings, has(map[string]string{"priority": "3", "max-limit": "5000000", "disabled": "false"}))),
	}},
	{"yes/no are read back as true/false", []step{
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","action":"mark-packet","new-packet-mark":"m","passthrough":"yes","disabled":"no"}`,
			200, "", has(map[string]string{"passthrough": "true", "disabled": "false"})),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"passthrough":"no","disabled":"yes"}`, 200, "", has(map[string]string{"passthrough": "false", "disabled": "true"})),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"passthrough":"maybe"}`, 400, bad("input does not match any value of passthrough")),
	}},
	{".id is * + uppercase hex, never reused", []step{
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.1"}`, 200, "", has(map[string]string{".id": "*1"})),
		req("DELETE", "/rest/ip/firewall/address-list/*1", "", 204, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.2"}`, 200, "", has(map[string]string{".id": "*2"})),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.3"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.4"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.5"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.6"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.7"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.8"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.9"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.10"}`, 200, "", has(map[string]string{".id": "*A"})),
		get("/rest/queue/type", 200, "", func(v any) string {
			for _, o := range v.([]any) {
				if id := o.(map[string]any)[".id"].(string); !idRE.MatchString(id) {
					return "bad id " + id
				}
			}
			return ""
		}),
	}},
	{"comment is absent when empty", []step{
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","comment":""}`, 200, "", lacks("comment")),
		req("PATCH", "/rest/queue/tree/*1", `{"comment":"hello"}`, 200, "", has(map[string]string{"comment": "hello"})),
		req("PATCH", "/rest/queue/tree/*1", `{"comment":""}`, 200, "", lacks("comment")),
		get("/rest/ip/firewall/filter/*1", 200, "", has(map[string]string{"comment": "defconf: accept established,related,untracked"})),
	}},
	{"flags are \"\" when set and absent when not", []step{
		get("/rest/routing/table/main", 200, "", has(map[string]string{"fib": "", "dynamic": "true"})),
		req("PUT", "/rest/routing/table", `{"name":"t1","fib":"yes"}`, 200, "", has(map[string]string{"fib": ""})),
		req("PUT", "/rest/routing/table", `{"name":"t2"}`, 200, "", lacks("fib")),
		// Any value sets a flag, "no" and "false" included; only unset clears it.
		req("PUT", "/rest/routing/table", `{"name":"t3","fib":"false"}`, 200, "", has(map[string]string{"fib": ""})),
		req("PATCH", "/rest/routing/table/t2", `{"fib":"no"}`, 200, "", has(map[string]string{"fib": ""})),
		req("PATCH", "/rest/routing/table/t1", `{"!fib":""}`, 200, "", lacks("fib")),
		req("PUT", "/rest/routing/table", `{"name":"t4","!fib":""}`, 400, bad("unknown parameter !fib")),
	}},
	{"the REST unset form {\"!field\": \"\"}; a matcher has no empty value", []step{
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","action":"mark-connection","new-connection-mark":"c","src-address-list":"a","dst-address-list":"!b","connection-mark":"no-mark","comment":"x"}`, 200, ""),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"src-address-list":""}`, 400, bad("invalid value for argument src-address-list")),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"connection-mark":""}`, 400, bad("invalid value for argument connection-mark")),
		req("PATCH", "/rest/ipv6/firewall/mangle/*1", `{"dst-address-list":""}`, 404, ""),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"!src-address-list":"","!dst-address-list":"","!connection-mark":""}`, 200, "",
			all(lacks("src-address-list", "dst-address-list", "connection-mark"), has(map[string]string{"comment": "x"}))),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"!passthrough":""}`, 200, "", has(map[string]string{"passthrough": "true"})),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"!chain":""}`, 400, bad("missing value(s) of argument(s) chain")),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"!bytes":""}`, 400, bad("unknown parameter !bytes")),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"comment":""}`, 200, "", lacks("comment")),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","packet-mark":"m"}`, 200, ""),
		req("PATCH", "/rest/queue/tree/q", `{"!packet-mark":""}`, 200, "", has(map[string]string{"packet-mark": ""})),
	}},
	{"rates: 10M reads back 10000000, 0 is unlimited", []step{
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","max-limit":"10M","limit-at":"512k","burst-limit":"1G"}`, 200, "",
			has(map[string]string{"max-limit": "10000000", "limit-at": "512000", "burst-limit": "1000000000"})),
		req("PATCH", "/rest/queue/tree/q", `{"max-limit":"37.5M"}`, 200, "", has(map[string]string{"max-limit": "37500000"})),
		req("PATCH", "/rest/queue/tree/q", `{"max-limit":"0"}`, 200, "", has(map[string]string{"max-limit": "0"})),
		req("PATCH", "/rest/queue/tree/q", `{"max-limit":"fast"}`, 400, bad("invalid value for argument max-limit")),
		req("PUT", "/rest/queue/type", `{"name":"c","kind":"cake","cake-bandwidth":"100M"}`, 200, "", has(map[string]string{"cake-bandwidth": "100000000"})),
	}},
	{"a PATCHed-disabled object keeps a disabled key; a disabled static route is smaller", []step{
		req("PUT", "/rest/ip/route", `{"dst-address":"0.0.0.0/0","gateway":"100.64.0.1"}`, 200, "", has(map[string]string{"active": "true", "disabled": "false"})),
		req("PATCH", "/rest/ip/route/*1", `{"disabled":"yes"}`, 200, "", all(has(map[string]string{"disabled": "true"}), lacks("active", "immediate-gw"))),
	}},

	// Errors.
	{"unknown path", []step{
		get("/rest/nonexistent", 400, bad("no such command or directory (nonexistent)")),
		get("/rest/ip/nonexistent", 400, bad("no such command or directory (nonexistent)")),
		get("/rest/queue/tree/*1/extra", 400, bad("no such command or directory (extra)")),
		req("POST", "/rest/queue/tree/frobnicate", `{}`, 400, bad("no such command or directory (frobnicate)")),
	}},
	{"unknown or read-only field", []step{
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","colour":"red"}`, 400, bad("unknown parameter colour")),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","bytes":"5"}`, 400, bad("unknown parameter bytes")),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global"}`, 200, ""),
		req("PATCH", "/rest/queue/tree/q", `{"dropped":"0"}`, 400, bad("unknown parameter dropped")),
		req("PATCH", "/rest/queue/tree/q", `{"invalid":"false"}`, 400, bad("unknown parameter invalid")),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","dynamic":"false"}`, 400, bad("unknown parameter dynamic")),
		req("PUT", "/rest/queue/type", `{"name":"c","kind":"cake","default":"false"}`, 400, bad("unknown parameter default")),
	}},
	{"place-before on PUT only", []step{
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","comment":"a"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","comment":"b","place-before":"*1"}`, 200, "", has(map[string]string{".id": "*2"})),
		get("/rest/ip/firewall/mangle?.proplist=.id,comment", 200, `[{".id":"*FFFFFFFF"},{".id":"*2","comment":"b"},{".id":"*1","comment":"a"}]`),
		req("PATCH", "/rest/ip/firewall/mangle/*1", `{"place-before":"*2"}`, 400, bad("unknown parameter place-before")),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","place-before":"*FFFFFFFF"}`, 400, bad("failure: cannot place before dynamic entry")),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","place-before":"*1"}`, 400, bad("unknown parameter place-before")),
	}},
	{"bad values", []step{
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","priority":"9"}`, 400, bad("value of priority out of range (1..8)")),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","priority":"0"}`, 400, bad("value of priority out of range (1..8)")),
		req("PUT", "/rest/queue/type", `{"name":"c","kind":"cake","cake-diffserv":"diffserv5"}`, 400, bad("input does not match any value of cake-diffserv")),
		req("PUT", "/rest/queue/type", `{"name":"c","kind":"cake","cake-flowmode":"per-host"}`, 400, bad("input does not match any value of cake-flowmode")),
		req("PUT", "/rest/queue/type", `{"name":"c","kind":"cake","cake-ack-filter":"yes"}`, 400, bad("input does not match any value of cake-ack-filter")),
		req("PUT", "/rest/queue/type", `{"name":"c","kind":"cake","cake-overhead":"257"}`, 400, bad("value of cake-overhead out of range (-64..256)")),
		req("PUT", "/rest/queue/type", `{"name":"c","kind":"cake","cake-overhead":"-65"}`, 400, bad("value of cake-overhead out of range (-64..256)")),
		req("PUT", "/rest/queue/type", `{"name":"c","kind":"cake","cake-overhead":"-64","cake-overhead-scheme":"docsis,ether-vlan","cake-atm":"ptm","cake-rtt":"1m30s"}`,
			200, "", has(map[string]string{"cake-overhead": "-64", "cake-overhead-scheme": "docsis,ether-vlan", "cake-atm": "ptm", "cake-rtt": "1m30s"})),
		req("PUT", "/rest/queue/type", `{"name":"d","kind":"cake","cake-overhead-scheme":"docsis,adsl"}`, 400, bad("input does not match any value of cake-overhead-scheme")),
		req("PUT", "/rest/queue/type", `{"name":"d","kind":"codel"}`, 400, bad("input does not match any value of kind")),
		req("PUT", "/rest/queue/type", `{"name":"d"}`, 400, bad("missing value(s) of argument(s) kind")),
		req("PUT", "/rest/queue/tree", `{"name":"q"}`, 400, bad("missing value(s) of argument(s) parent")),
	}},
	{"dscp is one number 0..63", []step{
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","dscp":"46"}`, 200, "", has(map[string]string{"dscp": "46"})),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","dscp":"64"}`, 400, bad("value of dscp out of range (0..63)")),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","dscp":"ef"}`, 400, bad("invalid value for argument dscp")),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","dscp":"46,26"}`, 400, bad("invalid value for argument dscp")),
	}},
	{"duplicates", []step{
		req("PUT", "/rest/queue/type", `{"name":"default","kind":"pfifo"}`, 400, bad("failure: already have such name")),
		req("PUT", "/rest/routing/table", `{"name":"main","fib":""}`, 400, bad("failure: already have such name")),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global"}`, 200, ""),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"ether1"}`, 400, bad("failure: already have such name")),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"192.0.2.0/24"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"192.0.2.0/24"}`, 400, bad("failure: already have such entry")),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"other","address":"192.0.2.0/24"}`, 200, ""),
		get("/rest/ip/firewall/address-list?address=192.0.2.0/24", 200, "", length(2)),
		req("PUT", "/rest/interface/list/member", `{"list":"WAN","interface":"ether1"}`, 400, bad("failure: already have such entry")),
	}},
	{"bad credentials", []step{
		{method: "GET", path: "/rest/queue/tree", status: 401, want: `{"error":401,"message":"Unauthorized"}`, user: user, pass: "wrong"},
		{method: "GET", path: "/rest/queue/tree", status: 401, want: `{"error":401,"message":"Unauthorized"}`, user: "-", pass: "-"},
		{method: "PUT", path: "/rest/queue/tree", body: `{"name":"x","parent":"global"}`, status: 401, want: `{"error":401,"message":"Unauthorized"}`, user: "admin", pass: pass},
	}},
	{"command not allowed on menu", []step{
		req("DELETE", "/rest/interface/ether1", "", 406, `{"error":406,"message":"Not Acceptable","detail":"no such command or directory (remove)"}`),
		req("PUT", "/rest/interface", `{"name":"ether9"}`, 406, `{"error":406,"message":"Not Acceptable","detail":"no such command or directory (add)"}`),
		req("POST", "/rest/queue/type/move", `{"numbers":"*1"}`, 406, `{"error":406,"message":"Not Acceptable","detail":"no such command or directory (move)"}`),
		req("POST", "/rest/queue/type/enable", `{"numbers":"*1"}`, 406, `{"error":406,"message":"Not Acceptable","detail":"no such command or directory (enable)"}`),
		req("PATCH", "/rest/system/resource", `{"cpu-load":"5"}`, 406, `{"error":406,"message":"Not Acceptable","detail":"no such command or directory (set)"}`),
	}},
	{"built-in objects cannot be changed or removed", []step{
		req("PATCH", "/rest/queue/type/default", `{"pfifo-limit":"100"}`, 400, bad("failure: default queue type cannot be changed")),
		req("DELETE", "/rest/queue/type/cake-default", "", 400, bad("failure: default queue type cannot be removed")),
		req("PATCH", "/rest/routing/table/main", `{"comment":"x"}`, 400, bad("failure: built-in routing table main cannot be changed")),
		req("DELETE", "/rest/routing/table/main", "", 400, bad("failure: built-in routing table main cannot be removed")),
		req("PATCH", "/rest/ip/firewall/mangle/*FFFFFFFF", `{"disabled":"true"}`, 400, bad("failure: dynamic entry cannot be changed")),
		req("POST", "/rest/ip/firewall/filter/disable", `{"numbers":"*FFFFFFFF"}`, 400, bad("failure: dynamic entry cannot be changed")),
		req("DELETE", "/rest/ip/route/*FFFFFFFF", "", 400, bad("failure: dynamic entry cannot be removed")),
		req("DELETE", "/rest/interface/list/all", "", 400, bad("failure: built-in interface list cannot be removed")),
	}},

	// Menus.
	{"queue/type has no comment", []step{
		req("PUT", "/rest/queue/type", `{"name":"c","kind":"cake","comment":"wanctl"}`, 400, bad("unknown parameter comment")),
		get("/rest/queue/type", 200, "", all(length(12), lacks("comment"), has(map[string]string{"default": "true"}))),
		get("/rest/queue/type?kind=fq-codel", 200, "", all(length(1), field(0, "name", "fq-codel-default"))),
	}},
	{"queue/tree references: queue type and parent must exist", []step{
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","queue":"nope"}`, 400, bad("input does not match any value of queue")),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"ether99"}`, 400, bad("input does not match any value of parent")),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"q"}`, 400, bad("input does not match any value of parent")),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"pppoe-out1","queue":"cake-default"}`, 200, ""),
		req("PUT", "/rest/queue/tree", `{"name":"child","parent":"q"}`, 200, ""),
		req("PUT", "/rest/queue/tree", `{"parent":"global"}`, 200, "", has(map[string]string{"name": "queue1"})),
	}},
	{"queue type in use cannot be removed; renames follow through", []step{
		req("PUT", "/rest/queue/type", cakeType, 200, ""),
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global","queue":"wanctl-a-down"}`, 200, ""),
		req("DELETE", "/rest/queue/type/wanctl-a-down", "", 400, bad("failure: wanctl-a-down is in use by queue/tree q")),
		req("PATCH", "/rest/queue/type/wanctl-a-down", `{"name":"renamed"}`, 200, ""),
		get("/rest/queue/tree/q", 200, "", has(map[string]string{"queue": "renamed"})),
		req("DELETE", "/rest/queue/tree/q", "", 204, ""),
		req("DELETE", "/rest/queue/type/renamed", "", 204, ""),
	}},
	{"queue/tree statistics are read-only counters", []step{
		req("PUT", "/rest/queue/tree", `{"name":"q","parent":"global"}`, 200, "", has(map[string]string{"bytes": "0", "packets": "0", "dropped": "0",
			"rate": "0", "packet-rate": "0", "queued-packets": "0", "queued-bytes": "0", "invalid": "false"})),
		req("PATCH", "/rest/queue/tree/q", `{"queued-packets":"1"}`, 400, bad("unknown parameter queued-packets")),
	}},
	{"mangle: defaults, dynamic rule at the top, routing mark must be a table", []step{
		get("/rest/ip/firewall/mangle", 200, "", all(length(1), has(map[string]string{"dynamic": "true", "action": "change-mss"}))),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","action":"mark-routing","new-routing-mark":"wanctl-b","passthrough":"no"}`, 400,
			bad("input does not match any value of new-routing-mark")),
		req("PUT", "/rest/routing/table", `{"name":"wanctl-b","fib":""}`, 200, ""),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","action":"mark-routing","new-routing-mark":"wanctl-b","passthrough":"no",
			"connection-mark":"wanctl-steer","in-interface-list":"LAN","dst-address-type":"!local","dst-address-list":"!wanctl-not-steered","comment":"wanctl:steering.route"}`,
			200, "", has(map[string]string{".id": "*1", "dynamic": "false", "disabled": "false", "bytes": "0", "packets": "0", "passthrough": "false",
				"dst-address-type": "!local", "dst-address-list": "!wanctl-not-steered", "in-interface-list": "LAN"})),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","action":"mark-connection","new-connection-mark":"m","connection-state":"new",
			"connection-mark":"no-mark","protocol":"udp","dst-port":"3478-3481,5060","disabled":"yes"}`, 200, "", has(map[string]string{"passthrough": "true", "disabled": "true"})),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","in-interface":"ether99"}`, 400, bad("input does not match any value of in-interface")),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","in-interface-list":"NOPE"}`, 400, bad("input does not match any value of in-interface-list")),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","out-interface":"!ether1","src-address-list":"not-yet"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","action":"mark-routing"}`, 400, bad("missing value(s) of argument(s) new-routing-mark")),
		req("PUT", "/rest/ip/firewall/mangle", `{"action":"accept"}`, 400, bad("missing value(s) of argument(s) chain")),
		req("PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting","action":"teleport"}`, 400, bad("input does not match any value of action")),
		req("DELETE", "/rest/routing/table/wanctl-b", "", 400, bad("failure: wanctl-b is in use by ip/firewall/mangle *1 (wanctl:steering.route)")),
	}},
	{"ipv6 mangle: the same shape with IPv6 addresses", []step{
		get("/rest/ipv6/firewall/mangle", 200, `[]`),
		req("PUT", "/rest/ipv6/firewall/mangle", `{"chain":"prerouting","action":"mark-packet","new-packet-mark":"q","in-interface":"ether1","passthrough":"yes","src-address":"2001:db8::/32"}`,
			200, "", has(map[string]string{".id": "*1", "passthrough": "true", "src-address": "2001:db8::/32"})),
		req("PUT", "/rest/ipv6/firewall/mangle", `{"chain":"prerouting","src-address":"10.0.0.0/8"}`, 400, bad("invalid value for argument src-address")),
	}},
	{"filter: defconf with an enabled FastTrack rule and the dynamic dummy rule", []step{
		get("/rest/ip/firewall/filter?action=fasttrack-connection", 200, "", all(length(1), has(map[string]string{"disabled": "false", "chain": "forward", "comment": "defconf: fasttrack"}))),
		get("/rest/ip/firewall/filter", 200, "", all(length(12), field(0, "dynamic", "true"), field(0, "comment", "special dummy rule to show fasttrack counters"))),
		req("PATCH", "/rest/ip/firewall/filter/*8", `{"disabled":"yes"}`, 200, "", has(map[string]string{"action": "fasttrack-connection", "disabled": "true"})),
	}},
	{"nat: masquerade out of the WAN list", []step{
		get("/rest/ip/firewall/nat", 200, "", all(length(1), has(map[string]string{"chain": "srcnat", "action": "masquerade", "out-interface-list": "WAN"}))),
	}},
	{"address-list: entries with a timeout are dynamic; lists need not exist", []step{
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"wanctl-not-steered","address":"10.0.0.0/8","comment":"wanctl:steering.not-steered"}`, 200, "",
			all(has(map[string]string{"dynamic": "false", "disabled": "false", "address": "10.0.0.0/8"}), func(v any) string {
				if _, ok := v.(map[string]any)["creation-time"]; !ok {
					return "no creation-time"
				}
				return ""
			})),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"t","address":"192.0.2.7/32","timeout":"1d"}`, 200, "", has(map[string]string{"dynamic": "true", "address": "192.0.2.7", "timeout": "1d"})),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"t","address":"example.com"}`, 200, ""),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"t","address":"10.0.0.1/8"}`, 200, "", has(map[string]string{"address": "10.0.0.0/8"})),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"t","address":"not an address"}`, 400, bad("invalid value for argument address")),
		req("PUT", "/rest/ip/firewall/address-list", `{"list":"t","address":"10.0.0.1","creation-time":"x"}`, 400, bad("unknown parameter creation-time")),
	}},
	{"routing/table, rule and route references", []step{
		req("PUT", "/rest/ip/route", `{"gateway":"192.168.1.254@main","routing-table":"wanctl-b"}`, 400, bad("input does not match any value of routing-table")),
		req("PUT", "/rest/routing/rule", `{"dst-address":"1.1.1.1","action":"lookup-only-in-table","table":"wanctl-b"}`, 400, bad("input does not match any value of table")),
		req("PUT", "/rest/routing/table", `{"name":"wanctl-b","fib":"","comment":"wanctl:wan.b.table"}`, 200, "", has(map[string]string{"name": "wanctl-b", "fib": ""})),
		req("PUT", "/rest/ip/route", `{"gateway":"192.168.1.254@main","routing-table":"wanctl-b","check-gateway":"ping","comment":"wanctl:wan.b.route"}`, 200, "",
			has(map[string]string{"dst-address": "0.0.0.0/0", "routing-table": "wanctl-b", "check-gateway": "ping", "distance": "1", "static": "true", "dynamic": "false"})),
		req("PUT", "/rest/ip/route", `{"gateway":"10.0.0.1@nope"}`, 400, bad("input does not match any value of gateway")),
		req("PUT", "/rest/ip/route", `{"gateway":"10.0.0.1","check-gateway":"icmp"}`, 400, bad("input does not match any value of check-gateway")),
		req("PUT", "/rest/routing/rule", `{"src-address":"192.168.88.10","dst-address":"1.1.1.1","action":"lookup-only-in-table","table":"wanctl-b"}`, 200, "",
			has(map[string]string{"src-address": "192.168.88.10", "dst-address": "1.1.1.1", "table": "wanctl-b", "disabled": "false"})),
		req("PUT", "/rest/routing/rule", `{"dst-address":"1.1.1.1","action":"jump"}`, 400, bad("input does not match any value of action")),
		get("/rest/ip/route?routing-table=main&dst-address=0.0.0.0/0", 200, "", all(length(1), has(map[string]string{"dynamic": "true", "active": "true"}))),
	}},
	{"interface lists and members", []step{
		get("/rest/interface/list?builtin=false", 200, "", all(length(2), field(0, "name", "WAN"), field(1, "name", "LAN"))),
		get("/rest/interface/list/member?list=LAN", 200, "", all(length(1), field(0, "interface", "bridge"))),
		req("PUT", "/rest/interface/list/member", `{"list":"NOPE","interface":"ether3"}`, 400, bad("input does not match any value of list")),
		req("PUT", "/rest/interface/list/member", `{"list":"LAN","interface":"ether3"}`, 200, "", has(map[string]string{"list": "LAN", "interface": "ether3"})),
	}},
	{"interface: set some fields, no add or remove", []step{
		req("PATCH", "/rest/interface/ether5", `{"comment":"spare","disabled":"yes"}`, 200, "", has(map[string]string{"comment": "spare", "disabled": "true", "running": "false"})),
		req("PATCH", "/rest/interface/ether5", `{"running":"true"}`, 400, bad("unknown parameter running")),
		req("POST", "/rest/interface/reset-counters", `{"numbers":"ether1"}`, 200, `[]`),
		get("/rest/interface/ether1", 200, "", has(map[string]string{"rx-byte": "0", "tx-byte": "0"})),
	}},
	{"system/resource is one object", []step{
		get("/rest/system/resource", 200, "", all(has(map[string]string{"board-name": "RB5009UG+S+", "platform": "MikroTik"}), lacks(".id"), func(v any) string {
			m, ok := v.(map[string]any)
			if !ok {
				return "not an object"
			}
			for _, k := range []string{"version", "uptime", "cpu-load"} {
				if _, ok := m[k]; !ok {
					return "no " + k
				}
			}
			return ""
		})),
		get("/rest/system/resource/x", 400, bad("no such command or directory (x)")),
		req("DELETE", "/rest/system/resource", "", 406, `{"error":406,"message":"Not Acceptable","detail":"no such command or directory (remove)"}`),
	}},
}

func allStrings(v any) string {
	objs, ok := v.([]any)
	if !ok {
		objs = []any{v}
	}
	for _, o := range objs {
		for k, x := range o.(map[string]any) {
			if _, ok := x.(string); !ok {
				return k + " is not a string: " + jsonText(x)
			}
		}
	}
	return ""
}

func TestConformance(t *testing.T) {
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) {
			emu := emulator.New(emulator.Config{Username: user, Password: pass})
			srv := httptest.NewServer(emu)
			defer srv.Close()
			for i, s := range c.steps {
				u, p := user, pass
				if s.user != "" {
					u, p = s.user, s.pass
				}
				status, body := rawRequest(t, srv.URL, s.method, s.path, s.body, u, p)
				where := s.method + " " + s.path + " " + s.body
				if status != s.status {
					t.Fatalf("step %d %s: status %d, want %d; body %s", i, where, status, s.status, body)
				}
				if status == 204 {
					if len(body) != 0 {
						t.Fatalf("step %d %s: 204 with body %q", i, where, body)
					}
					continue
				}
				var got any
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("step %d %s: reply is not JSON: %v: %q", i, where, err, body)
				}
				if s.want != "" {
					var want any
					if err := json.Unmarshal([]byte(s.want), &want); err != nil {
						t.Fatalf("bad want %q: %v", s.want, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("step %d %s:\n got %s\nwant %s", i, where, body, s.want)
					}
				}
				if s.check != nil {
					if msg := s.check(got); msg != "" {
						t.Fatalf("step %d %s: %s\nreply %s", i, where, msg, body)
					}
				}
			}
		})
	}
}

func rawRequest(t testing.TB, base, method, path, body, u, p string) (int, []byte) {
	t.Helper()
	r, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if u != "-" {
		r.SetBasicAuth(u, p)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("401 without WWW-Authenticate")
	}
	return resp.StatusCode, b
}

var _ = routeros.MenuQueueTree
