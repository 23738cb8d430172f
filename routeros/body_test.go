package routeros

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
)

func gzipResponse(t *testing.T, plain []byte) *http.Response {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return &http.Response{
		Header: http.Header{"Content-Encoding": {"gzip"}},
		Body:   io.NopCloser(&buf),
	}
}

// readBody stops at the cap after decompression and at the deadline even
// when everything it still has to decompress is already in memory (the
// transport only notices a deadline when it reads the network).
func TestReadBody(t *testing.T) {
	plain := bytes.Repeat([]byte{' '}, 1<<20)
	for _, tc := range []struct {
		name    string
		limit   int64
		size    int
		wantErr bool
	}{
		{"at the cap", 1 << 20, 1 << 20, false},
		{"over the cap", 1<<20 - 1, 1 << 20, true},
		{"empty", 10, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := readBody(context.Background(), gzipResponse(t, plain[:tc.size]), tc.limit)
			var tl *tooLargeError
			if tc.wantErr != errors.As(err, &tl) || (!tc.wantErr && (err != nil || len(b) != tc.size)) {
				t.Fatalf("%d bytes, err %v", len(b), err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b, err := readBody(ctx, gzipResponse(t, plain), MaxMenuReply); !errors.Is(err, context.Canceled) || len(b) != 0 {
		t.Fatalf("after the deadline: %d bytes, err %v", len(b), err)
	}
	if got := (&tooLargeError{limit: MaxMenuReply}).Error(); got != "reply body exceeds 64 MiB, the cap for a menu" {
		t.Errorf("message %q", got)
	}
}
