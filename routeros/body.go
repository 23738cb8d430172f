package routeros

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Reply caps, after decompression. Every reply body is read under the
// request's timeout and refused beyond its cap, so that neither a huge reply
// nor a compression bomb can take the memory or the time of plan, steer or
// the daemon's loop.
const (
	// MaxMenuReply caps a menu's reply (GET of a menu, or a print). RouterOS
	// sends about 150-300 bytes per object: 64 MiB holds a few hundred
	// thousand address-list entries or routes, far more than the menus
	// wanctl reads hold on a router it shapes.
	MaxMenuReply = 64 << 20
	// MaxObjectReply caps every other reply (one object: GET by id, PUT,
	// PATCH; commands, deletes and error replies). One object is a few
	// hundred bytes.
	MaxObjectReply = 1 << 20
)

// tooLargeError is a reply body beyond its cap.
type tooLargeError struct {
	limit int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("reply body exceeds %s, the cap for %s", formatBytes(e.limit), e.what())
}

func (e *tooLargeError) what() string {
	if e.limit == MaxMenuReply {
		return "a menu"
	}
	return "one object"
}

func (e *tooLargeError) hint() string {
	if e.limit == MaxMenuReply {
		return "check that url points at the router; a menu this large is more than wanctl reads: trim it on the router"
	}
	return "the RouterOS REST API answers with one object of a few hundred bytes: check that url points at the router"
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readBody reads and closes a reply's body: at most limit bytes after
// decompression, under ctx. The transport only notices ctx when it reads the
// network; reading a compressed body can go on far longer from what it
// already holds, so every read checks ctx.
func readBody(ctx context.Context, resp *http.Response, limit int64) ([]byte, error) {
	if resp.Body == nil {
		return nil, nil
	}
	defer resp.Body.Close()
	var rd io.Reader = ctxReader{ctx, resp.Body}
	// The transport decompresses when it asked for gzip itself; a custom
	// transport may not have.
	gzipped := strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") && !resp.Uncompressed
	if !gzipped && resp.ContentLength > limit {
		// Announced too large: refused without reading it.
		return nil, &tooLargeError{limit: limit}
	}
	if gzipped {
		zr, err := gzip.NewReader(rd)
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("gzip-encoded reply: %w", err)
		}
		defer zr.Close()
		rd = ctxReader{ctx, zr}
	}
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &tooLargeError{limit: limit}
	}
	return b, nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
