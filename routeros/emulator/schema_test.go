package emulator_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/routeros/emulator"
)

// loadSchema reads schema/<version>.json.
func loadSchema(t *testing.T, version string) *emulator.Schema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("schema", version+".json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := emulator.ParseSchema(version, b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every schema file decodes, and the emulator enforces the version it
// reports.
func TestSchemaFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("schema", "*.json"))
	if err != nil || len(files) < 7 {
		t.Fatalf("schema files: %v %v", files, err)
	}
	for _, f := range files {
		loadSchema(t, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	_, s := newServer(t, emulator.Config{})
	_, body := rawRequest(t, s.URL, "GET", "/rest/system/resource?.proplist=version", "", user, pass)
	if !strings.Contains(string(body), `"version":"`+emulator.SchemaVersion+" ") {
		t.Fatalf("the emulator reports %s, enforces %s", body, emulator.SchemaVersion)
	}
}

// The emulator refuses what the enforced version's schema refuses, also
// where its own menus once accepted it (the fields of other menus or
// families, commands the menu lacks), with the router's replies.
func TestSchemaRefusals(t *testing.T) {
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		detail                   string
	}{
		{"a matcher NAT lacks", "PUT", "/rest/ip/firewall/nat", `{"chain":"srcnat","action":"masquerade","connection-state":"new"}`, 400, "unknown parameter connection-state"},
		{"tcp-flags is not a NAT matcher", "PUT", "/rest/ip/firewall/nat", `{"chain":"srcnat","action":"masquerade","tcp-flags":"syn"}`, 400, "unknown parameter tcp-flags"},
		{"an IPv6 action in IPv4 mangle", "PUT", "/rest/ip/firewall/mangle", `{"chain":"forward","action":"change-ttl","new-hop-limit":"increment:1"}`, 400, "unknown parameter new-hop-limit"},
		{"an IPv4 matcher in IPv6 mangle", "PUT", "/rest/ipv6/firewall/mangle", `{"chain":"forward","ttl":"equal:1"}`, 400, "unknown parameter ttl"},
		{"an IPv4 matcher on set", "PATCH", "/rest/ipv6/firewall/mangle/*1", `{"route-dst":"10.0.0.1"}`, 400, "unknown parameter route-dst"},
		{"unset on a menu without it", "POST", "/rest/queue/tree/unset", `{"numbers":"*1","value-name":"comment"}`, 406, "no such command or directory (unset)"},
		{"unset form on add", "PUT", "/rest/queue/tree", `{"name":"q","parent":"global","!comment":""}`, 400, "unknown parameter !comment"},
		{"move's own arguments", "POST", "/rest/ip/firewall/mangle/move", `{"numbers":"*FFFFFFFF","destination":"*1","where":"x"}`, 400, "unknown parameter where"},
	} {
		t.Run(c.name, func(t *testing.T) {
			emu, s := newServer(t, emulator.Config{})
			if strings.HasPrefix(c.path, "/rest/ipv6/firewall/mangle/") {
				if _, err := emu.AddObject("ipv6/firewall/mangle", map[string]string{"chain": "forward", "action": "passthrough"}); err != nil {
					t.Fatal(err)
				}
			}
			st, body := rawRequest(t, s.URL, c.method, c.path, c.body, user, pass)
			if st != c.status || !strings.Contains(string(body), `"detail":"`+c.detail+`"`) {
				t.Fatalf("%s %s %s: %d %s, want %d %q", c.method, c.path, c.body, st, body, c.status, c.detail)
			}
		})
	}
}

func TestSchemaCheck(t *testing.T) {
	s := loadSchema(t, "7.9.2")
	for _, c := range []struct {
		name, method, path, body string
		field, reason            string // "" "": accepted
	}{
		{"read", "GET", "/rest/queue/tree", "", "", ""},
		{"read one", "GET", "/rest/queue/tree/*1", "", "", ""},
		{"print with the REST keys", "POST", "/rest/ip/firewall/mangle/print", `{".proplist":["comment"],".query":["chain=forward"]}`, "", ""},
		{"add", "PUT", "/rest/queue/type", `{"name":"c","kind":"cake","cake-bandwidth":"0"}`, "", ""},
		{"set with the unset form", "PATCH", "/rest/queue/tree/*1", `{"max-limit":"1","!packet-mark":""}`, "", ""},
		{"move by .id", "POST", "/rest/ip/firewall/mangle/move", `{".id":"*2","destination":"*1"}`, "", ""},
		{"remove", "DELETE", "/rest/routing/rule/*1", "", "", ""},
		{"a field add lacks", "PUT", "/rest/queue/tree", `{"name":"q","bytes":"0"}`, "bytes", ""},
		{"the unset form outside set", "PUT", "/rest/queue/tree", `{"!name":""}`, "!name", ""},
		{"a command the menu lacks", "POST", "/rest/queue/type/enable", `{}`, "", "no such command in 7.9.2"},
		{"a menu the extract lacks", "GET", "/rest/tool/ping", "", "", "menu not in the schema"},
		{"add on a singleton", "PUT", "/rest/system/resource", `{}`, "", "no such command in 7.9.2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := s.Check(c.method, c.path, []byte(c.body))
			var v *emulator.SchemaViolation
			switch {
			case c.field == "" && c.reason == "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			case !errors.As(err, &v):
				t.Fatalf("accepted (%v), want field %q reason %q", err, c.field, c.reason)
			case v.Field != c.field || v.Reason != c.reason:
				t.Fatalf("%v: field %q reason %q, want %q %q", err, v.Field, v.Reason, c.field, c.reason)
			}
		})
	}
}
