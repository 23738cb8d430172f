package autorate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Only GET and HEAD reach the endpoints; the rest is 405 with Allow.
func TestHTTPMethods(t *testing.T) {
	f, err := newDaemonFixture(t, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.d.Close()
	h := f.d.Handler()
	for _, path := range []string{"/health", "/metrics"} {
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodTrace, http.MethodOptions, "PROPFIND"} {
			t.Run(m+" "+path, func(t *testing.T) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(m, path, nil))
				switch m {
				case http.MethodGet, http.MethodHead:
					// /health is 503 before the first cycle: served all the same.
					if rec.Code == http.StatusMethodNotAllowed || rec.Code == http.StatusNotFound {
						t.Fatalf("%s %s: %d", m, path, rec.Code)
					}
				default:
					if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
						t.Fatalf("%s %s: %d, Allow %q: want 405 with Allow: GET, HEAD", m, path, rec.Code, rec.Header().Get("Allow"))
					}
				}
			})
		}
	}
}

// get sends one keep-alive request on c and reads the reply.
func get(t *testing.T, c net.Conn, r *bufio.Reader) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: wanctl\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// An idle keep-alive connection is closed by the server after the idle
// timeout (it was kept forever: thousands of them cost 100 MB and every
// file descriptor).
func TestHTTPIdleConnectionsClosed(t *testing.T) {
	f, err := newDaemonFixture(t, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	f.d.http.idle = 20 * time.Millisecond
	f.start()
	defer f.stop()
	c, err := net.Dial("tcp", f.d.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	get(t, c, r)
	// A safety net only: the server closes the connection long before.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want it closed by the server (EOF)", err)
	}
}

// acceptLog is a listener recording accepted and closed connections in
// order.
type acceptLog struct {
	net.Listener
	mu     sync.Mutex
	events []string
}

func (l *acceptLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *acceptLog) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.add("accept")
		c = &closeLog{Conn: c, l: l}
	}
	return c, err
}

type closeLog struct {
	net.Conn
	l    *acceptLog
	once sync.Once
}

func (c *closeLog) Close() error {
	c.once.Do(func() { c.l.add("close") })
	return c.Conn.Close()
}

// Beyond the connection limit a new connection is served at once, in the
// place of an idle one (it waited for one to close: idle keep-alive
// connections kept /health unanswered for the idle timeout). Which idle
// one goes depends on when the server's goroutines marked them idle, so it
// is TestConnLimit's to check, with the states under its control.
func TestHTTPConnectionLimit(t *testing.T) {
	f, err := newDaemonFixture(t, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	log := &acceptLog{Listener: f.d.ln}
	f.d.ln = log
	f.d.http.conns = 2
	f.start()
	defer f.stop()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", f.d.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	a, ar := dial()
	b, br := dial()
	get(t, a, ar)
	get(t, b, br)
	c, cr := dial()
	// A safety net only: served at once, not after the idle timeout (30 s)
	// closed a connection by itself.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	get(t, c, cr)
	// The limit closes the idle connection before it hands the third to
	// the server, so the close is logged by the time the third is answered.
	log.mu.Lock()
	defer log.mu.Unlock()
	want := []string{"accept", "accept", "accept", "close"}
	if fmt.Sprint(log.events) != fmt.Sprint(want) {
		t.Fatalf("connections %v, want %v: the third takes an idle one's place", log.events, want)
	}
}
