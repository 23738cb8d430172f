package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros/emulator"
)

// FuzzRequest: whatever a client sends, the emulator answers with a status
// below 500 and a JSON body (or an empty 204), and never panics.
func FuzzRequest(f *testing.F) {
	for _, s := range [][3]string{
		{"PUT", "/rest/queue/tree", `{"name":"q","parent":"global","max-limit":"10M"}`},
		{"PATCH", "/rest/queue/tree/*1", `{"max-limit":"20M","priority":3}`},
		{"POST", "/rest/ip/firewall/mangle/move", `{"numbers":["*1","*2"],"destination":"*1"}`},
		{"POST", "/rest/interface/print", `{".query":["type=ether","#|!","running"],".proplist":"name"}`},
		{"PUT", "/rest/ip/firewall/address-list", `{"list":"l","address":"10.0.0.0/8","timeout":"1d"}`},
		{"DELETE", "/rest/queue/type/default", ``},
		{"GET", "/rest/interface?type=ether&.proplist=name", ``},
		{"PUT", "/rest/ip/firewall/mangle", `{"chain":"x","place-before":"*FFFFFFFF","dst-port":"1-2","protocol":"!tcp"}`},
		{"POST", "/rest/routing/table/unset", `{"numbers":"main","value-name":"fib"}`},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#?%") || method == "" || strings.ContainsAny(method, " \r\n\t") {
			return
		}
		e := emulator.New(emulator.Config{})
		for _, setup := range [][3]string{
			{"PUT", "/rest/ip/firewall/mangle", `{"chain":"prerouting"}`},
			{"PUT", "/rest/queue/tree", `{"name":"q","parent":"global"}`},
		} {
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(setup[0], setup[1], strings.NewReader(setup[2])))
		}
		r, err := http.NewRequest(method, "http://router"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { defer close(done); e.ServeHTTP(w, r) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s %s %q: no reply within 5s", method, path, body)
		}
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if w.Code == 204 {
			return
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s %q: reply is not JSON: %q", method, path, body, w.Body)
		}
	})
}
