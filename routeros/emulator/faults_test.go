package emulator_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros/emulator"
)

// rawClient neither decompresses nor reuses connections: the test sees the
// bytes on the wire, and a half-read reply does not poison the next request.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}

func send(t *testing.T, ctx context.Context, method, url, body string, hdr map[string]string) (*http.Response, error) {
	t.Helper()
	r, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(user, pass)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return rawClient.Do(r)
}

func TestFaultHangApplied(t *testing.T) {
	e, s := newServer(t, emulator.Config{})
	rawRequest(t, s.URL, "PUT", "/rest/queue/tree", `{"name":"q","parent":"global","max-limit":"10M"}`, user, pass)
	e.Inject(emulator.Fault{Kind: emulator.FaultHangApplied, Method: "PATCH"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if resp, err := send(t, ctx, "PATCH", s.URL+"/rest/queue/tree/q", `{"max-limit":"20M"}`, nil); err == nil {
		resp.Body.Close()
		t.Fatalf("hanging PATCH answered %d", resp.StatusCode)
	}
	// The next request waits for the hung one: then the write shows.
	st, body := rawRequest(t, s.URL, "GET", "/rest/queue/tree/q", "", user, pass)
	if st != 200 || !strings.Contains(string(body), `"max-limit":"20000000"`) {
		t.Fatalf("after the hang: %d %s, want the PATCH applied", st, body)
	}
	if reqs := e.Requests(); reqs[1].Status != 0 {
		t.Fatalf("abandoned request recorded with status %d", reqs[1].Status)
	}

	// With a duration the reply comes late, applied.
	e.Inject(emulator.Fault{Kind: emulator.FaultHangApplied, Duration: 20 * time.Millisecond})
	st, body = rawRequest(t, s.URL, "PATCH", "/rest/queue/tree/q", `{"max-limit":"30M"}`, user, pass)
	if st != 200 || !strings.Contains(string(body), `"max-limit":"30000000"`) {
		t.Fatalf("late reply: %d %s", st, body)
	}
}

func TestFaultStallBody(t *testing.T) {
	e, s := newServer(t, emulator.Config{})
	e.Inject(emulator.Fault{Kind: emulator.FaultStallBody})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	resp, err := send(t, ctx, "GET", s.URL+"/rest/interface", "", nil)
	if err != nil {
		t.Fatalf("the headers should arrive: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength <= 0 {
		t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil || len(b) == 0 || int64(len(b)) >= resp.ContentLength {
		t.Fatalf("read %d of %d bytes, err %v: want half the body, then the client's deadline", len(b), resp.ContentLength, err)
	}
	if st, _ := rawRequest(t, s.URL, "GET", "/rest/queue/tree", "", user, pass); st != 200 {
		t.Fatalf("after the stall: %d", st)
	}
	if e.PendingFaults() != 0 {
		t.Fatal("fault not used up")
	}
}

func TestFaultBigReply(t *testing.T) {
	e, s := newServer(t, emulator.Config{})
	_, plain := rawRequest(t, s.URL, "GET", "/rest/interface", "", user, pass)
	const size = 3<<20 + 5
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "identity", true: "gzip"}[gz], func(t *testing.T) {
			e.Inject(emulator.Fault{Kind: emulator.FaultBigReply, Size: size, Path: "interface"})
			hdr := map[string]string{}
			if gz {
				hdr["Accept-Encoding"] = "gzip"
			}
			resp, err := send(t, context.Background(), "GET", s.URL+"/rest/interface", "", hdr)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			wire, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			got := wire
			if gz {
				if resp.Header.Get("Content-Encoding") != "gzip" || len(wire) > size/100 {
					t.Fatalf("Content-Encoding %q, %d bytes on the wire: want gzip, a few KB", resp.Header.Get("Content-Encoding"), len(wire))
				}
				zr, err := gzip.NewReader(bytes.NewReader(wire))
				if err != nil {
					t.Fatal(err)
				}
				if got, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != size || !bytes.Equal(bytes.TrimSpace(got), plain) {
				t.Fatalf("%d bytes, want %d: the usual reply, padded", len(got), size)
			}
		})
	}
}

// A DELETE's 204 becomes a 200 that can carry the padding.
func TestFaultBigReplyToDelete(t *testing.T) {
	e, s := newServer(t, emulator.Config{})
	rawRequest(t, s.URL, "PUT", "/rest/queue/tree", `{"name":"q","parent":"global"}`, user, pass)
	e.Inject(emulator.Fault{Kind: emulator.FaultBigReply, Size: 100})
	st, body := rawRequest(t, s.URL, "DELETE", "/rest/queue/tree/q", "", user, pass)
	if st != 200 || len(body) != 100 || strings.TrimSpace(string(body)) != "" {
		t.Fatalf("%d %q", st, body)
	}
	if _, ok := e.QueueMaxLimit("q"); ok {
		t.Fatal("the DELETE was not applied")
	}
}

func TestFaultBody(t *testing.T) {
	e, s := newServer(t, emulator.Config{})
	for name, want := range map[string]string{"empty": "", "null": "null", "object": "{}", "error": `{"error":400,`} {
		t.Run(name, func(t *testing.T) {
			fs, err := emulator.ParseFaults("body:" + name + "@GET/ip/firewall/mangle")
			if err != nil {
				t.Fatal(err)
			}
			e.Inject(fs[0])
			if st, _ := rawRequest(t, s.URL, "GET", "/rest/queue/tree", "", user, pass); st != 200 {
				t.Fatalf("other menu: %d", st)
			}
			st, body := rawRequest(t, s.URL, "GET", "/rest/ip/firewall/mangle", "", user, pass)
			if st != 200 || !strings.HasPrefix(string(body), want) || (want == "" && len(body) != 0) {
				t.Fatalf("%d %q, want 200 %q", st, body, want)
			}
			if name == "error" && !json.Valid(body) {
				t.Fatalf("error body %q is not JSON", body)
			}
		})
	}
	// A write is applied; its reply replaced.
	e.Inject(emulator.Fault{Kind: emulator.FaultBody, Body: "", Method: "PUT"})
	if st, body := rawRequest(t, s.URL, "PUT", "/rest/queue/tree", `{"name":"q","parent":"global"}`, user, pass); st != 200 || len(body) != 0 {
		t.Fatalf("PUT: %d %q", st, body)
	}
	if _, ok := e.QueueMaxLimit("q"); !ok {
		t.Fatal("the PUT was not applied")
	}
}

// A DELETE's empty reply is stalled too: the client waits for a body that
// does not come (before, it had its whole empty reply at once, and the
// router stayed blocked for a minute after).
func TestFaultStallBodyOfDelete(t *testing.T) {
	e, s := newServer(t, emulator.Config{})
	rawRequest(t, s.URL, "PUT", "/rest/queue/tree", `{"name":"q","parent":"global"}`, user, pass)
	e.Inject(emulator.Fault{Kind: emulator.FaultStallBody})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	resp, err := send(t, ctx, "DELETE", s.URL+"/rest/queue/tree/q", "", nil)
	if err != nil {
		t.Fatalf("the headers should arrive: %v", err)
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("read the whole reply (%q, status %d): want the body held until the client's deadline", b, resp.StatusCode)
	}
	if st, _ := rawRequest(t, s.URL, "GET", "/rest/queue/tree/q", "", user, pass); st != 404 {
		t.Fatalf("after the stalled DELETE: %d, want 404 (applied)", st)
	}
}
