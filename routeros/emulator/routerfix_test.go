package emulator_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/routeros/emulator"
)

func TestSetRouteInactive(t *testing.T) {
	e, s := newServer(t, emulator.Config{})
	st, body := rawRequest(t, s.URL, "PUT", "/rest/ip/route", `{"dst-address":"0.0.0.0/0","gateway":"192.168.1.254@main"}`, user, pass)
	if st != 200 || !strings.Contains(string(body), `"active":"true"`) {
		t.Fatalf("%d %s", st, body)
	}
	e.SetRouteInactive("192.168.1.254", true)
	var r map[string]string
	_, body = rawRequest(t, s.URL, "GET", "/rest/ip/route/*1", "", user, pass)
	if err := json.Unmarshal(body, &r); err != nil || r["active"] != "false" || r["inactive"] != "true" || r["immediate-gw"] != "" {
		t.Fatalf("inactive route: %s %v", body, err)
	}
	// The DHCP default route of ether1 is untouched.
	for _, o := range e.Objects("ip/route") {
		if o["gateway"] == "100.64.0.1" && o["active"] != "true" {
			t.Errorf("other route: %v", o)
		}
	}
	e.SetRouteInactive("192.168.1.254", false)
	_, body = rawRequest(t, s.URL, "GET", "/rest/ip/route/*1", "", user, pass)
	if !strings.Contains(string(body), `"active":"true"`) {
		t.Errorf("restored route: %s", body)
	}
}

func TestIPv6FilterAndSimpleQueueMenus(t *testing.T) {
	_, s := newServer(t, emulator.Config{})
	var rules []map[string]string
	_, body := rawRequest(t, s.URL, "GET", "/rest/ipv6/firewall/filter", "", user, pass)
	if err := json.Unmarshal(body, &rules); err != nil || len(rules) < 10 {
		t.Fatalf("ipv6 filter: %s %v", body, err)
	}
	for _, r := range rules {
		if r["action"] == "fasttrack-connection" {
			t.Errorf("7.16's IPv6 defconf has no FastTrack: %v", r)
		}
	}
	if st, body := rawRequest(t, s.URL, "PUT", "/rest/ipv6/firewall/filter", `{"chain":"forward","action":"fasttrack-connection","connection-state":"established,related"}`, user, pass); st != 200 {
		t.Errorf("IPv6 FastTrack rule: %d %s", st, body)
	}
	if st, body := rawRequest(t, s.URL, "GET", "/rest/queue/simple", "", user, pass); st != 200 || string(body) != "[]" {
		t.Errorf("simple queues: %d %s", st, body)
	}
	st, body := rawRequest(t, s.URL, "PUT", "/rest/queue/simple", `{"name":"guests","target":"192.168.88.0/24","max-limit":"10M/10M"}`, user, pass)
	if st != 200 || !strings.Contains(string(body), `"dynamic":"false"`) || !strings.Contains(string(body), `"max-limit":"10M/10M"`) {
		t.Errorf("add simple queue: %d %s", st, body)
	}
}
