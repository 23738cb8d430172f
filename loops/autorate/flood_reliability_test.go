//go:build reliability

package autorate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// The idle connection flood of the reliability suite (make reliability,
// docs/reliability.md): it lives here because the HTTP limits it shortens
// are not exported.
//
// Idle keep-alive connections (each made one request, then holds the
// connection), below and far beyond the connection limit, do not keep
// /health from answering, and the server closes every one of them: beyond
// the limit at once, to make room, the rest after the idle timeout. The
// heap and goroutine figures count both ends (client and server share the
// process).
func TestReliabilityIdleFlood(t *testing.T) {
	for _, flood := range []int{defaultHTTPLimits().conns / 2, 4 * defaultHTTPLimits().conns} {
		t.Run(fmt.Sprint(flood), func(t *testing.T) {
			f, err := newDaemonFixture(t, testConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			// Long enough that /health is not answered by the idle timeout
			// running out; short enough to see every connection closed.
			const idle = 2 * time.Second
			f.d.http.idle = idle
			f.start()
			defer f.stop()
			addr := f.d.Addr().String()

			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			goroutines := runtime.NumGoroutine()
			type conn struct {
				c net.Conn
				r *bufio.Reader
			}
			conns := make([]conn, 0, flood)
			defer func() {
				for _, c := range conns {
					c.c.Close()
				}
			}()
			for i := 0; i < flood; i++ {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				if _, err := fmt.Fprintf(c, "GET /health HTTP/1.1\r\nHost: wanctl\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				conns = append(conns, conn{c, bufio.NewReader(c)})
			}
			start := time.Now()
			cl := &http.Client{Timeout: idle / 2, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := cl.Get("http://" + addr + "/health")
			took := time.Since(start)
			if err != nil {
				t.Fatalf("/health with %d idle connections: %v (after %s)", flood, err, took)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			var during runtime.MemStats
			runtime.ReadMemStats(&during)
			heldGoroutines := runtime.NumGoroutine() - goroutines

			// Every flood connection: its reply (if it was served), then
			// the server's close. The deadline is a safety net only.
			deadline := time.Now().Add(idle + 10*time.Second)
			for i, c := range conns {
				c.c.SetReadDeadline(deadline)
				resp, err := http.ReadResponse(c.r, nil)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					_, err = c.r.ReadByte()
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("idle connection %d: %v, want it closed by the server", i, err)
				}
			}
			t.Logf("%d idle keep-alive connections: /health in %s, all closed within %s; heap +%.1f MiB, goroutines +%d while they were held",
				flood, took.Round(time.Millisecond), time.Since(start).Round(10*time.Millisecond),
				float64(int64(during.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), heldGoroutines)
		})
	}
}
