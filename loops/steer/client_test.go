package steer

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// TestNewRouterClientTLS: with ca_file the router's certificate from that
// file is trusted; without it the system roots are used (and do not know
// a self-signed router); tls_skip_verify and http need no roots.
func TestNewRouterClientTLS(t *testing.T) {
	emu := emulator.New(emulator.Config{Username: "wanctl", Password: "pw"})
	srv := httptest.NewUnstartedServer(emu)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "router.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	get := func(r *config.Router) error {
		c, err := NewRouterClient(r, nil)
		if err != nil {
			return err
		}
		_, err = c.Query(context.Background(), routeros.MenuQueueTree, routeros.Query{})
		return err
	}
	base := config.Router{Name: "edge", URL: srv.URL, Username: "wanctl", Password: "pw"}

	withCA := base
	withCA.CAFile = ca
	if err := get(&withCA); err != nil {
		t.Errorf("ca_file: %v", err)
	}
	skip := base
	skip.TLSSkipVerify = true
	if err := get(&skip); err != nil {
		t.Errorf("tls_skip_verify: %v", err)
	}
	if err := get(&base); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("system roots accepted a self-signed router: %v", err)
	}
	bad := base
	bad.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := NewRouterClient(&bad, nil); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("missing ca_file: %v", err)
	}
	if err := os.WriteFile(bad.CAFile, []byte("not pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRouterClient(&bad, nil); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("bad ca_file: %v", err)
	}
	plain := httptest.NewServer(emu)
	defer plain.Close()
	h := base
	h.URL = plain.URL
	if err := get(&h); err != nil {
		t.Errorf("http: %v", err)
	}
}
