// Package testenv holds the fixtures that several packages' tests share: an
// emulated router served over HTTP, the two-WAN configuration, and a
// recording sd_notify endpoint. Only _test.go files import it (a test of
// this package checks that), so none of it reaches the wanctl binary.
//
// It imports routeros/emulator (and through it config and routeros): those
// packages' own internal tests cannot use it without an import cycle.
package testenv

import (
	"net/http/httptest"
	"testing"

	"github.com/wanctl/wanctl/routeros/emulator"
)

// Emulator starts a RouterOS emulator with o behind a loopback HTTP server
// that is closed when the test ends. The server is returned rather than
// only its URL because some tests take the router away mid-test (Close).
func Emulator(t testing.TB, o emulator.Config) (*emulator.Emulator, *httptest.Server) {
	t.Helper()
	emu := emulator.New(o)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}
