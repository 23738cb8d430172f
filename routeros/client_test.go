package routeros_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

const (
	user = "wanctl"
	pass = "Zq7-unique-Pa55word"
)

func router(url string) routeros.Config {
	return routeros.Config{Name: "edge", URL: url, Username: user, Password: pass, Timeout: 2 * time.Second}
}

func setup(t testing.TB, o emulator.Config) (*emulator.Emulator, *httptest.Server, *routeros.Client) {
	t.Helper()
	if o.Username == "" {
		o.Username, o.Password = user, pass
	}
	e := emulator.New(o)
	s := httptest.NewServer(e)
	t.Cleanup(s.Close)
	c, err := routeros.New(router(s.URL))
	if err != nil {
		t.Fatal(err)
	}
	return e, s, c
}

func asError(t *testing.T, err error) *routeros.Error {
	t.Helper()
	var e *routeros.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *routeros.Error", err, err)
	}
	return e
}

func mustContain(t *testing.T, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%q does not contain %q", s, p)
		}
	}
}

func TestVerbs(t *testing.T) {
	e, _, c := setup(t, emulator.Config{})
	ctx := context.Background()

	ifs, err := c.List(ctx, routeros.MenuInterface)
	if err != nil || len(ifs) != 12 || ifs[0]["name"] != "ether1" || ifs[0].ID() == "" {
		t.Fatalf("List: %v %v", ifs, err)
	}
	res, err := c.List(ctx, routeros.MenuResource)
	if err != nil || len(res) != 1 || res[0]["board-name"] == "" {
		t.Fatalf("List of a singleton: %v %v", res, err)
	}
	wan, err := c.Query(ctx, routeros.MenuInterfaceMember, routeros.Query{Filter: map[string]string{"list": "WAN"}, Proplist: []string{"interface"}})
	if err != nil || len(wan) != 1 || wan[0]["interface"] != "ether1" || wan[0].ID() != "" || len(wan[0]) != 1 {
		t.Fatalf("Query: %v %v", wan, err)
	}
	none, err := c.Query(ctx, routeros.MenuQueueTree, routeros.Query{Filter: map[string]string{"name": "nope"}})
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("Query with no match: %#v %v", none, err)
	}

	qt, err := c.Add(ctx, routeros.MenuQueueType, routeros.Object{"name": "wanctl-a-down", "kind": "cake", "cake-diffserv": "diffserv4", "cake-nat": "yes"})
	if err != nil || qt.ID() == "" || qt["cake-nat"] != "true" {
		t.Fatalf("Add: %v %v", qt, err)
	}
	tree, err := c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "wanctl-a-down", "parent": "global", "queue": "wanctl-a-down", "max-limit": "940M"})
	if err != nil || tree["max-limit"] != "940000000" {
		t.Fatalf("Add tree: %v %v", tree, err)
	}
	got, err := c.Get(ctx, routeros.MenuQueueTree, tree.ID())
	if err != nil || got["name"] != "wanctl-a-down" {
		t.Fatalf("Get: %v %v", got, err)
	}
	byName, err := c.Get(ctx, routeros.MenuInterface, "ether2")
	if err != nil || byName["name"] != "ether2" {
		t.Fatalf("Get by name: %v %v", byName, err)
	}
	set, err := c.Set(ctx, routeros.MenuQueueTree, tree.ID(), routeros.Object{"max-limit": "500M"})
	if err != nil || set["max-limit"] != "500000000" || set["name"] != "wanctl-a-down" {
		t.Fatalf("Set: %v %v", set, err)
	}
	if ml, _ := e.QueueMaxLimit("wanctl-a-down"); ml != 500_000_000 {
		t.Fatalf("emulator max-limit %d", ml)
	}

	var ids []string
	for _, cm := range []string{"a", "b", "c"} {
		o, err := c.Add(ctx, routeros.MenuMangle, routeros.Object{"chain": "prerouting", "action": "accept", "comment": cm})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID())
	}
	if err := c.Disable(ctx, routeros.MenuMangle, ids[0], ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := c.Enable(ctx, routeros.MenuMangle, ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := c.Enable(ctx, routeros.MenuMangle); err != nil {
		t.Fatal("Enable with no ids:", err)
	}
	if err := c.Move(ctx, routeros.MenuMangle, []string{ids[2]}, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Move(ctx, routeros.MenuMangle, []string{ids[1]}, ""); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, o := range e.Objects(routeros.MenuMangle)[1:] {
		order = append(order, o["comment"]+"="+o["disabled"])
	}
	if strings.Join(order, " ") != "c=false a=true b=false" {
		t.Fatalf("after disable/enable/move: %v", order)
	}
	e.SetQueueStats("wanctl-a-down", emulator.QueueStats{Bytes: 10, Packets: 2, Dropped: 1})
	if err := c.ResetCounters(ctx, routeros.MenuQueueTree, tree.ID()); err != nil {
		t.Fatal(err)
	}
	if o := e.Objects(routeros.MenuQueueTree)[0]; o["bytes"] != "0" || o["dropped"] != "0" {
		t.Fatalf("after reset-counters: %v", o)
	}
	if err := c.Remove(ctx, routeros.MenuMangle, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, routeros.MenuMangle, ids[0]); !routeros.IsNotFound(err) {
		t.Fatalf("second Remove: %v", err)
	}
	// Reads are one GET per call, whatever the menu size.
	e.ClearRequests()
	if _, err := c.List(ctx, routeros.MenuInterface); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Requests()); n != 1 {
		t.Fatalf("List made %d requests", n)
	}
}

func TestErrors(t *testing.T) {
	e, s, c := setup(t, emulator.Config{})
	ctx := context.Background()

	_, err := c.Get(ctx, routeros.MenuQueueTree, "*99")
	if !routeros.IsNotFound(err) || routeros.IsBadRequest(err) {
		t.Fatalf("Get unknown: %v", err)
	}
	re := asError(t, err)
	if re.Kind != routeros.KindNotFound || re.Status != 404 || re.Method != "GET" || re.Menu != "queue/tree" || re.ID != "*99" {
		t.Fatalf("NotFound fields: %+v", re)
	}
	mustContain(t, err.Error(), `router "edge"`, "GET queue/tree/*99", "404", "Not Found", "re-read")

	tree, err := c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "wanctl-a-up", "parent": "ether1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Set(ctx, routeros.MenuQueueTree, tree.ID(), routeros.Object{"priority": "9"})
	if !routeros.IsBadRequest(err) {
		t.Fatalf("bad value: %v", err)
	}
	re = asError(t, err)
	if re.Detail != "value of priority out of range (1..8)" || re.Message != "Bad Request" || re.Name != "wanctl-a-up" {
		t.Fatalf("BadRequest fields: %+v", re)
	}
	mustContain(t, err.Error(), "PATCH queue/tree/"+tree.ID(), `"wanctl-a-up"`, "400 Bad Request: value of priority out of range (1..8)")

	_, err = c.Add(ctx, routeros.MenuQueueType, routeros.Object{"name": "x", "kind": "cake", "comment": "no"})
	mustContain(t, err.Error(), "PUT queue/type", `("x")`, "unknown parameter comment")

	err = c.Remove(ctx, routeros.MenuInterface, "ether1")
	if re := asError(t, err); re.Kind != routeros.KindNotAcceptable || re.Status != 406 {
		t.Fatalf("406: %+v", re)
	}
	mustContain(t, err.Error(), "DELETE interface/ether1", "406", "no such command or directory (remove)")

	err = c.Enable(ctx, routeros.MenuMangle, "*77")
	mustContain(t, err.Error(), "POST ip/firewall/mangle/enable *77", "no such item")

	// 5xx.
	e.Inject(emulator.Fault{Kind: emulator.FaultServerError, Status: 503})
	_, err = c.List(ctx, routeros.MenuQueueTree)
	if re := asError(t, err); re.Kind != routeros.KindServer || re.Status != 503 || !routeros.IsTransient(err) {
		t.Fatalf("5xx: %+v", re)
	}
	mustContain(t, err.Error(), "503", "retry later")

	// Wrong password.
	r := router(s.URL)
	r.Password = "wrong-password"
	wrong, _ := routeros.New(r)
	_, err = wrong.List(ctx, routeros.MenuQueueTree)
	if !routeros.IsUnauthorized(err) {
		t.Fatalf("wrong password: %v", err)
	}
	mustContain(t, err.Error(), "401", `check username/password in router "edge"`)
	if strings.Contains(err.Error(), "wrong-password") {
		t.Fatal("password in the error")
	}

	// Caller's context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.List(cctx, routeros.MenuQueueTree)
	if re := asError(t, err); re.Kind != routeros.KindCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %+v", re)
	}
}

func TestTimeout(t *testing.T) {
	e, s, _ := setup(t, emulator.Config{})
	r := router(s.URL)
	r.Timeout = 100 * time.Millisecond
	c, err := routeros.New(r)
	if err != nil {
		t.Fatal(err)
	}
	e.Inject(emulator.Fault{Kind: emulator.FaultHang})
	start := time.Now()
	_, err = c.Set(context.Background(), routeros.MenuInterface, "ether1", routeros.Object{"comment": "x"})
	if !routeros.IsTimeout(err) || !routeros.IsTransient(err) {
		t.Fatalf("hang: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout after %s", d)
	}
	mustContain(t, err.Error(), "PATCH interface/ether1", "no reply within 100ms", `raise timeout in router "edge"`)
	// The router is usable again afterwards.
	if _, err := c.List(context.Background(), routeros.MenuQueueTree); err != nil {
		t.Fatal(err)
	}
	// A slow reply within the timeout is fine.
	e.Inject(emulator.Fault{Kind: emulator.FaultHang, Duration: 20 * time.Millisecond})
	if _, err := c.List(context.Background(), routeros.MenuQueueTree); err != nil {
		t.Fatal(err)
	}
}

func TestDialTimeout(t *testing.T) {
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	}}
	r := router("http://192.0.2.1")
	r.Transport = tr
	c, err := routeros.New(r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(context.Background(), routeros.MenuQueueTree)
	if !routeros.IsTimeout(err) {
		t.Fatalf("dial timeout: %v", err)
	}
}

func TestDroppedConnection(t *testing.T) {
	e, _, c := setup(t, emulator.Config{})
	ctx := context.Background()
	if _, err := c.List(ctx, routeros.MenuQueueTree); err != nil { // a kept-alive connection
		t.Fatal(err)
	}
	// A read is retried once.
	e.ClearRequests()
	e.Inject(emulator.Fault{Kind: emulator.FaultDrop})
	if _, err := c.List(ctx, routeros.MenuQueueTree); err != nil {
		t.Fatalf("read after a drop: %v", err)
	}
	if reqs := e.Requests(); len(reqs) != 2 || reqs[0].Status != 0 || reqs[1].Status != 200 {
		t.Fatalf("requests %+v", reqs)
	}
	// A write never is.
	e.ClearRequests()
	e.Inject(emulator.Fault{Kind: emulator.FaultDrop})
	_, err := c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "q", "parent": "global"})
	if re := asError(t, err); re.Kind != routeros.KindTransport || !routeros.IsTransient(err) {
		t.Fatalf("write dropped: %+v", re)
	}
	mustContain(t, err.Error(), "PUT queue/tree", `("q")`, "closed the connection")
	if reqs := e.Requests(); len(reqs) != 1 {
		t.Fatalf("write sent %d times", len(reqs))
	}
	// Two drops in a row fail a read too.
	e.Inject(emulator.Fault{Kind: emulator.FaultDrop, Count: 5})
	if _, err := c.List(ctx, routeros.MenuQueueTree); asError(t, err).Kind != routeros.KindTransport {
		t.Fatalf("read after drops: %v", err)
	}
	e.ClearFaults()
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := routeros.New(router("http://" + addr))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(context.Background(), routeros.MenuQueueTree)
	if re := asError(t, err); re.Kind != routeros.KindTransport {
		t.Fatalf("%+v", re)
	}
	mustContain(t, err.Error(), "nothing listens there", "www")
}

// writeCert writes a certificate as PEM into dir and returns the path.
func writeCert(t *testing.T, dir, name string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func selfSigned(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestTLS(t *testing.T) {
	e := emulator.New(emulator.Config{Username: user, Password: pass})
	s := httptest.NewTLSServer(e)
	defer s.Close()
	dir := t.TempDir()
	ctx := context.Background()

	r := router(s.URL)
	r.CAFile = writeCert(t, dir, "router-ca.pem", s.Certificate().Raw)
	c, err := routeros.New(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, routeros.MenuQueueTree); err != nil {
		t.Fatalf("with the right ca_file: %v", err)
	}

	r.CAFile = writeCert(t, dir, "wrong-ca.pem", selfSigned(t))
	c, _ = routeros.New(r)
	_, err = c.List(ctx, routeros.MenuQueueTree)
	if re := asError(t, err); re.Kind != routeros.KindTLS {
		t.Fatalf("wrong CA: %+v", re)
	}
	mustContain(t, err.Error(), `ca_file "`+r.CAFile+`"`, "set ca_file to the router's CA certificate, or tls_skip_verify = true")

	r.CAFile = ""
	c, _ = routeros.New(r)
	_, err = c.List(ctx, routeros.MenuQueueTree)
	mustContain(t, err.Error(), "set ca_file to the router's CA certificate, or tls_skip_verify = true")

	r.TLSSkipVerify = true
	c, _ = routeros.New(r)
	if _, err := c.List(ctx, routeros.MenuQueueTree); err != nil {
		t.Fatalf("tls_skip_verify: %v", err)
	}

	// Hostname mismatch: the test certificate names 127.0.0.1, ::1 and
	// example.com, not 127.0.0.2.
	r = router(s.URL)
	r.CAFile = writeCert(t, dir, "router-ca2.pem", s.Certificate().Raw)
	{
		srv2 := httptest.NewUnstartedServer(e)
		srv2.Listener.Close()
		if srv2.Listener, err = net.Listen("tcp", "127.0.0.2:0"); err != nil { // all of 127/8 is loopback on Linux
			t.Fatal(err)
		}
		srv2.StartTLS()
		defer srv2.Close()
		r.URL = srv2.URL
		c, _ = routeros.New(r)
		_, err = c.List(ctx, routeros.MenuQueueTree)
		if re := asError(t, err); re.Kind != routeros.KindTLS {
			t.Fatalf("hostname mismatch: %+v", re)
		}
		mustContain(t, err.Error(), "not valid for the url's host")
	}

	// HTTP client to an HTTPS port and the reverse.
	c, _ = routeros.New(router(strings.Replace(s.URL, "https://", "http://", 1)))
	if _, err := c.List(ctx, routeros.MenuQueueTree); err == nil {
		t.Fatal("http to an https port worked")
	}
	plain := httptest.NewServer(e)
	defer plain.Close()
	c, _ = routeros.New(router(strings.Replace(plain.URL, "http://", "https://", 1)))
	_, err = c.List(ctx, routeros.MenuQueueTree)
	mustContain(t, fmt.Sprint(err), "http://")
}

func TestNewErrors(t *testing.T) {
	for _, u := range []string{"", "192.168.88.1", "ftp://x", "https://", "http://[::1"} {
		if _, err := routeros.New(router(u)); err == nil {
			t.Errorf("url %q: no error", u)
		}
	}
	if _, err := routeros.New(routeros.Config{}); err == nil {
		t.Error("zero Config")
	}
	r := router("https://192.0.2.1")
	r.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := routeros.New(r); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("missing ca_file: %v", err)
	}
	r.CAFile = filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(r.CAFile, []byte("junk"), 0o644)
	if _, err := routeros.New(r); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("junk ca_file: %v", err)
	}
	for in, want := range map[string]string{
		"https://192.0.2.1":            "https://192.0.2.1/rest",
		"https://192.0.2.1/":           "https://192.0.2.1/rest",
		"https://192.0.2.1/rest":       "https://192.0.2.1/rest",
		"http://u:p@192.0.2.1:8080/":   "http://192.0.2.1:8080/rest",
		"https://router.lan:8443/x/y/": "https://router.lan:8443/x/y/rest",
	} {
		c, err := routeros.New(router(in))
		if err != nil || c.BaseURL() != want {
			t.Errorf("BaseURL(%q) = %q, %v; want %q", in, c.BaseURL(), err, want)
		}
	}
}

// The password never shows up: not in errors (wrong password, credentials in
// the url, transport failures, TLS failures), not in debug logs.
func TestPasswordNeverLeaks(t *testing.T) {
	e := emulator.New(emulator.Config{Username: user, Password: "something-else"})
	s := httptest.NewServer(e)
	defer s.Close()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	secrets := []string{pass, base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	var texts []string
	ctx := context.Background()
	debug := func(r routeros.Config) routeros.Config {
		r.Logger, r.Debug = logger, true
		return r
	}

	c, err := routeros.New(debug(router(s.URL)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(ctx, routeros.MenuQueueTree)
	texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
	_, err = c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "q", "parent": "global"})
	texts = append(texts, err.Error())

	withCreds := strings.Replace(s.URL, "http://", "http://"+user+":"+pass+"@", 1)
	r := router(withCreds)
	r.Password = ""
	c, err = routeros.New(debug(r))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.BaseURL(), pass) {
		t.Fatal("password in BaseURL")
	}
	_, err = c.List(ctx, routeros.MenuQueueTree)
	if !routeros.IsUnauthorized(err) {
		t.Fatalf("credentials from the url were not used: %v", err)
	}
	texts = append(texts, err.Error())

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + user + ":" + pass + "@" + ln.Addr().String()
	ln.Close()
	c, _ = routeros.New(debug(router(dead)))
	_, err = c.List(ctx, routeros.MenuQueueTree)
	texts = append(texts, err.Error())
	_, err = routeros.New(router("http://" + user + ":" + pass + "@[::1"))
	texts = append(texts, fmt.Sprint(err))

	tlsSrv := httptest.NewTLSServer(e)
	defer tlsSrv.Close()
	c, _ = routeros.New(debug(router(tlsSrv.URL)))
	_, err = c.List(ctx, routeros.MenuQueueTree)
	texts = append(texts, err.Error())

	texts = append(texts, logs.String())
	if !strings.Contains(logs.String(), "Authorization") || !strings.Contains(logs.String(), "(sensitive)") {
		t.Fatalf("debug dump did not run or did not redact:\n%s", logs.String())
	}
	for _, txt := range texts {
		for _, sec := range secrets {
			if strings.Contains(txt, sec) {
				t.Errorf("secret %q in %q", sec, txt)
			}
		}
	}
}

// One TCP connection carries every request.
func TestKeepAlive(t *testing.T) {
	e := emulator.New(emulator.Config{Username: user, Password: pass})
	s := httptest.NewUnstartedServer(e)
	var conns atomic.Int32
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	c, _ := routeros.New(router(s.URL))
	ctx := context.Background()
	tree, err := c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "q", "parent": "global"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		var err error
		switch i % 4 {
		case 0:
			_, err = c.Set(ctx, routeros.MenuQueueTree, tree.ID(), routeros.Object{"max-limit": fmt.Sprint(1_000_000 + i)})
		case 1:
			_, err = c.Get(ctx, routeros.MenuQueueTree, "*999") // 404s keep the connection too
			if routeros.IsNotFound(err) {
				err = nil
			}
		case 2:
			err = c.Remove(ctx, routeros.MenuQueueTree, "*999")
			if routeros.IsNotFound(err) {
				err = nil
			}
		default:
			_, err = c.List(ctx, routeros.MenuInterface)
		}
		if err != nil {
			t.Fatal(i, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d TCP connections for 1001 requests, want 1", n)
	}
}

// 8 goroutines share one client: the router never sees two requests at once.
func TestOneRequestInFlight(t *testing.T) {
	e, _, c := setup(t, emulator.Config{Latency: time.Millisecond})
	ctx := context.Background()
	tree, err := c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "q", "parent": "global"})
	if err != nil {
		t.Fatal(err)
	}
	e.ClearRequests()
	var wg sync.WaitGroup
	errs := make(chan error, 800)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				var err error
				if i%2 == 0 {
					_, err = c.Set(ctx, routeros.MenuQueueTree, tree.ID(), routeros.Object{"max-limit": fmt.Sprint((g+1)*1_000_000 + i)})
				} else {
					_, err = c.List(ctx, routeros.MenuQueueTree)
				}
				if err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(e.Requests()); n != 800 {
		t.Fatalf("%d requests, want 800", n)
	}
	if m := e.MaxConcurrent(); m != 1 {
		t.Fatalf("MaxConcurrent = %d, want 1", m)
	}
}

// Two clients do overlap: the check above can fail.
func TestTwoClientsOverlap(t *testing.T) {
	e, s, c1 := setup(t, emulator.Config{})
	c2, _ := routeros.New(router(s.URL))
	e.Inject(emulator.Fault{Kind: emulator.FaultHang, Duration: 300 * time.Millisecond})
	done := make(chan error, 1)
	go func() { _, err := c1.List(context.Background(), routeros.MenuQueueTree); done <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for e.MaxConcurrent() < 1 { // c1's request has arrived and is held
		if time.Now().After(deadline) {
			t.Fatal("first request never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c2.List(context.Background(), routeros.MenuQueueTree); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := e.MaxConcurrent(); m != 2 {
		t.Fatalf("MaxConcurrent = %d, want 2", m)
	}
}

// Waiting for the router honours the caller's context.
func TestWaitHonoursContext(t *testing.T) {
	e, _, c := setup(t, emulator.Config{})
	e.Inject(emulator.Fault{Kind: emulator.FaultHang, Duration: 500 * time.Millisecond})
	go c.List(context.Background(), routeros.MenuQueueTree)
	deadline := time.Now().Add(5 * time.Second)
	for e.MaxConcurrent() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("first request never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.List(ctx, routeros.MenuQueueTree)
	if !errors.Is(err, context.DeadlineExceeded) || asError(t, err).Kind != routeros.KindCanceled {
		t.Fatalf("%v", err)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Fatalf("waited %s for the busy router", d)
	}
}

// tolerant is a fake router answering canned replies, to show the client
// accepts what real routers send.
func tolerant(t *testing.T, h http.HandlerFunc) *routeros.Client {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	c, err := routeros.New(router(s.URL))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTolerantReplies(t *testing.T) {
	ctx := context.Background()
	for _, st := range []int{200, 202, 204} {
		c := tolerant(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(st) })
		if err := c.Remove(ctx, routeros.MenuQueueTree, "*1"); err != nil {
			t.Errorf("DELETE answered %d: %v", st, err)
		}
	}
	c := tolerant(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`[]`)) })
	if err := c.Remove(ctx, routeros.MenuQueueTree, "*1"); err != nil {
		t.Errorf("DELETE answered []: %v", err)
	}
	c = tolerant(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("[{\".id\":\"*1\",\"host-name\":\"ph\x01one\x1f\",\"n\":5,\"b\":true,\"extra\":{\"x\":1}},{\"name\":\"no-id\"}]"))
	})
	objs, err := c.List(ctx, routeros.MenuInterface)
	if err != nil || len(objs) != 2 || objs[0]["host-name"] != "ph\x01one\x1f" || objs[0]["n"] != "5" || objs[0]["b"] != "true" || objs[1].ID() != "" {
		t.Fatalf("tolerant List: %#v %v", objs, err)
	}
	var uri string
	c = tolerant(t, func(w http.ResponseWriter, r *http.Request) { uri = r.RequestURI; w.WriteHeader(200) })
	// A PATCH's reply is the object: without it the write is unconfirmed.
	if o, err := c.Set(ctx, routeros.MenuQueueTree, "*3", routeros.Object{"max-limit": "1"}); err == nil || asError(t, err).Kind != routeros.KindProtocol {
		t.Fatalf("PATCH with an empty reply: %v %v", o, err)
	}
	if uri != "/rest/queue/tree/*3" {
		t.Fatalf("request URI %q, want the id as is", uri)
	}
	_, _ = c.Get(ctx, routeros.MenuInterface, "my if/x")
	if uri != "/rest/interface/my%20if%2Fx" {
		t.Fatalf("request URI %q, want the name escaped", uri)
	}
	if err := c.Enable(ctx, routeros.MenuMangle, "*1"); err != nil {
		t.Fatalf("command with an empty reply: %v", err)
	}

	c = tolerant(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`<html>hello</html>`)) })
	_, err = c.List(ctx, routeros.MenuInterface)
	if re := asError(t, err); re.Kind != routeros.KindProtocol {
		t.Fatalf("HTML 200: %+v", re)
	}
	c = tolerant(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		w.Write([]byte("<html><body>\x01Bad\nthing</body></html>"))
	})
	_, err = c.List(ctx, routeros.MenuInterface)
	if re := asError(t, err); re.Kind != routeros.KindBadRequest || !strings.Contains(re.Detail, "Bad thing") {
		t.Fatalf("HTML 400: %+v", re)
	}
	c = tolerant(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://192.0.2.1/rest/interface", http.StatusMovedPermanently)
	})
	_, err = c.List(ctx, routeros.MenuInterface)
	mustContain(t, fmt.Sprint(err), "301", "redirects to https://192.0.2.1/rest/interface")
	c = tolerant(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		w.Write([]byte(`{"error":400,"message":"Bad Request","detail":"Session closed"}`))
	})
	_, err = c.Set(ctx, routeros.MenuQueueTree, "*1", routeros.Object{"max-limit": "1"})
	mustContain(t, fmt.Sprint(err), "Session closed", "re-read")
}

func TestCustomTransportAndRootCAs(t *testing.T) {
	e := emulator.New(emulator.Config{Username: user, Password: pass})
	s := httptest.NewTLSServer(e)
	defer s.Close()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	r := router(s.URL)
	r.RootCAs = pool
	c, err := routeros.New(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(context.Background(), routeros.MenuQueueTree); err != nil {
		t.Fatal(err)
	}
	r = router(s.URL)
	r.Transport = s.Client().Transport
	c, _ = routeros.New(r)
	if _, err := c.List(context.Background(), routeros.MenuQueueTree); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkList20(b *testing.B) {
	e, _, c := setup(b, emulator.Config{})
	for i := 0; i < 20; i++ {
		if _, err := e.AddObject(routeros.MenuQueueTree, routeros.Object{"name": fmt.Sprintf("q%d", i), "parent": "global", "max-limit": "100000000", "comment": "wanctl:bench"}); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		objs, err := c.List(ctx, routeros.MenuQueueTree)
		if err != nil || len(objs) != 20 {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetMaxLimit(b *testing.B) {
	_, _, c := setup(b, emulator.Config{})
	ctx := context.Background()
	tree, err := c.Add(ctx, routeros.MenuQueueTree, routeros.Object{"name": "q", "parent": "global"})
	if err != nil {
		b.Fatal(err)
	}
	fields := routeros.Object{"max-limit": "940000000"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Set(ctx, routeros.MenuQueueTree, tree.ID(), fields); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPrint: one POST <menu>/print whose .query ORs equalities returns the
// objects of several lists, and nothing else, in one request.
func TestPrint(t *testing.T) {
	e, _, c := setup(t, emulator.Config{})
	ctx := context.Background()
	for i, l := range []string{"a", "b", "c", "a"} {
		if _, err := e.AddObject(routeros.MenuAddressList, routeros.Object{"list": l, "address": fmt.Sprintf("192.0.2.%d", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		query []string
		want  int
	}{
		{"or", []string{"list=a", "list=b", "#|"}, 3},
		{"one", []string{"list=c"}, 1},
		{"none", []string{"list=zzz"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ClearRequests()
			objs, err := c.Print(ctx, routeros.MenuAddressList, tc.query)
			if err != nil || objs == nil || len(objs) != tc.want {
				t.Fatalf("Print(%q) = %v, %v; want %d objects", tc.query, objs, err, tc.want)
			}
			for _, o := range objs {
				if o["list"] == "c" && tc.name != "one" {
					t.Errorf("Print(%q) returned %v", tc.query, o)
				}
			}
			reqs := e.Requests()
			if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/rest/ip/firewall/address-list/print" {
				t.Errorf("requests %+v, want one POST .../print", reqs)
			}
		})
	}
	if _, err := c.Print(ctx, routeros.MenuAddressList, []string{"#|"}); asError(t, err).Kind != routeros.KindBadRequest {
		t.Errorf("a malformed query: %v, want a bad request", err)
	}
}
