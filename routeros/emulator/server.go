package emulator

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServeHTTP processes one REST request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := e.inflight.Add(1)
	defer e.inflight.Add(-1)
	for {
		m := e.maxConc.Load()
		if n <= m || e.maxConc.CompareAndSwap(m, n) {
			break
		}
	}
	start := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))

	e.serveMu.Lock()
	defer e.serveMu.Unlock()
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Start: start}
	recorded := false
	recordNow := func() {
		if !recorded {
			recorded = true
			rec.Duration = time.Since(start)
			e.record(rec)
		}
	}
	defer recordNow()

	ctx := r.Context()
	e.mu.Lock()
	lat := e.latency
	e.mu.Unlock()
	if !sleep(ctx, lat) {
		return
	}
	write := r.Method != http.MethodGet && !(r.Method == http.MethodPost && strings.HasSuffix(strings.TrimRight(r.URL.Path, "/"), "/print"))
	f := e.takeFault(r.Method, r.URL.Path, write)
	if f != nil {
		switch f.Kind {
		case FaultServerError:
			st := f.Status
			if st < 500 || st > 599 {
				st = http.StatusInternalServerError
			}
			rec.Status = reply(w, st, errorBody(st, f.Detail))
			return
		case FaultDrop:
			// Recorded before the connection closes: the client sees the
			// close at once and may look at the log right after.
			recordNow()
			drop(w)
			return
		case FaultHang:
			if f.Duration <= 0 {
				// Until the client gives up, or the router's hard cap.
				if !sleep(ctx, 60*time.Second) {
					return
				}
				rec.Status = reply(w, http.StatusBadRequest, errorBody(http.StatusBadRequest, "Session closed"))
				return
			}
			if !sleep(ctx, f.Duration) {
				return
			}
		}
	}
	status, out := e.handle(r, body)
	if f != nil && f.Kind == FaultBadRequestApplied && status < 300 {
		detail := f.Detail
		if detail == "" {
			detail = "Session closed"
		}
		status, out = http.StatusBadRequest, errorBody(http.StatusBadRequest, detail)
	}
	if f != nil && f.Kind == FaultBody && status < 300 {
		status, out = http.StatusOK, []byte(f.Body)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="RouterOS"`)
	}
	if f == nil {
		rec.Status = reply(w, status, out)
		return
	}
	switch f.Kind {
	case FaultHangApplied:
		// Applied; the reply is what never comes (in time).
		d := f.Duration
		if d <= 0 {
			d = 60 * time.Second
			status, out = http.StatusBadRequest, errorBody(http.StatusBadRequest, "Session closed")
		}
		if !sleep(ctx, d) {
			return
		}
	case FaultStallBody:
		if status == http.StatusNoContent {
			status = http.StatusOK // a 204 has no body to stall
		}
		if len(out) < 2 {
			// Something must be held back: with a whole (empty) reply
			// the client is done, and the stall only blocked the router
			// for the next request, up to a minute.
			out = append(out, ' ', ' ')
		}
		rec.Status = e.stall(ctx, w, status, out, f.Duration)
		return
	case FaultBigReply:
		rec.Status = e.replyBig(w, r, status, out, f.Size)
		return
	}
	rec.Status = reply(w, status, out)
}

// stall sends the headers and the first half of body, then waits d (0: until
// the client goes away, at most 60 s) before the rest.
func (e *Emulator) stall(ctx context.Context, w http.ResponseWriter, status int, body []byte, d time.Duration) int {
	if d <= 0 {
		d = 60 * time.Second
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	half := len(body) / 2
	_, _ = w.Write(body[:half])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	if !sleep(ctx, d) {
		return 0
	}
	_, _ = w.Write(body[half:])
	return status
}

// padChunk is the unit of whitespace a big reply is padded with.
const padChunk = 1 << 20

// replyBig sends body padded with spaces to size bytes (JSON allows
// whitespace after the value), gzip-encoded when the request accepts it. It
// stops when the client stops reading.
func (e *Emulator) replyBig(w http.ResponseWriter, r *http.Request, status int, body []byte, size int64) int {
	if status == http.StatusNoContent {
		status = http.StatusOK // a 204 cannot carry the padding
	}
	pad := size - int64(len(body))
	if pad < 0 {
		pad = 0
	}
	w.Header().Set("Content-Type", "application/json")
	if !acceptsGzip(r) {
		w.Header().Set("Content-Length", strconv.FormatInt(int64(len(body))+pad, 10))
		w.WriteHeader(status)
		if _, err := w.Write(body); err != nil {
			return status
		}
		spaces := bytes.Repeat([]byte{' '}, 64<<10)
		for pad > 0 {
			n := min(pad, int64(len(spaces)))
			if _, err := w.Write(spaces[:n]); err != nil {
				break
			}
			pad -= n
		}
		return status
	}
	// A gzip stream may be several members one after another: the body,
	// then a member of padChunk spaces compressed once (about 1 KB) as
	// often as needed, then the remainder. Serving a GiB costs about a MB.
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	if _, err := w.Write(gzipped(body)); err != nil {
		return status
	}
	chunk := e.gzipPad()
	for ; pad >= padChunk; pad -= padChunk {
		if _, err := w.Write(chunk); err != nil {
			return status
		}
	}
	if pad > 0 {
		_, _ = w.Write(gzipped(bytes.Repeat([]byte{' '}, int(pad))))
	}
	return status
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(enc, "gzip") {
			return true
		}
	}
	return false
}

// gzipPad is one gzip member of padChunk spaces, compressed on first use.
func (e *Emulator) gzipPad() []byte {
	e.padOnce.Do(func() { e.padGz = gzipped(bytes.Repeat([]byte{' '}, padChunk)) })
	return e.padGz
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func reply(w http.ResponseWriter, status int, body []byte) int {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return status
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status
}

// drop closes the connection without a reply.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// sleep waits d, false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func errorBody(status int, detail string) []byte {
	m := map[string]any{"error": status, "message": http.StatusText(status)}
	if detail != "" {
		m["detail"] = detail
	}
	b, _ := json.Marshal(m)
	return b
}

func (e *Emulator) record(rec Request) {
	e.mu.Lock()
	if len(e.requests) >= maxRequests {
		e.requests = append(e.requests[:0], e.requests[maxRequests/2:]...)
	}
	e.requests = append(e.requests, rec)
	cb := e.cfg.OnRequest
	e.mu.Unlock()
	if cb != nil {
		cb(rec)
	}
}

func (e *Emulator) authorized(r *http.Request) bool {
	if e.cfg.Username == "" {
		return true
	}
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(e.cfg.Username)) == 1
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(e.cfg.Password)) == 1
	return uok && pok
}
