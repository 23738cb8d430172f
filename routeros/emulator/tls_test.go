package emulator_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/routeros/emulator"
)

// TestNewTLSConfig: the server certificate chains to the returned CA for
// localhost, loopback and the listen address (all interface addresses for
// a wildcard), and not for another address.
func TestNewTLSConfig(t *testing.T) {
	ifaces, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var wildcardNames []string
	for _, a := range ifaces {
		if n, ok := a.(*net.IPNet); ok {
			wildcardNames = append(wildcardNames, n.IP.String())
		}
	}
	for _, tc := range []struct {
		name  string
		addr  net.TCPAddr
		valid []string
	}{
		{"loopback", net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, []string{"localhost", "127.0.0.1", "::1"}},
		{"address", net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 8443}, []string{"localhost", "127.0.0.1", "::1", "192.0.2.7"}},
		{"wildcard", net.TCPAddr{IP: net.IPv4zero, Port: 8443}, append([]string{"localhost", "127.0.0.1", "::1"}, wildcardNames...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, caPEM, err := emulator.NewTLSConfig(&tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			if conf.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion %#x", conf.MinVersion)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(caPEM) {
				t.Fatalf("caPEM holds no certificate:\n%s", caPEM)
			}
			leaf, err := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range tc.valid {
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			if slices.Contains(tc.valid, "198.51.100.1") {
				t.Fatal("test address is an interface's")
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "198.51.100.1", Roots: roots}); err == nil {
				t.Error("certificate valid for an address it should not name")
			}
		})
	}
}

// TestServeTLS: a REST client that trusts only the CA reaches an emulator
// served with the configuration.
func TestServeTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(emulator.New(emulator.Config{Username: "wanctl", Password: "pw"}))
	conf, caPEM, err := emulator.NewTLSConfig(srv.Listener.Addr())
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = conf
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	c, err := routeros.New(routeros.Config{Name: "emulator", URL: srv.URL, Username: "wanctl", Password: "pw", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(context.Background(), routeros.MenuQueueTree); err != nil {
		t.Fatal(err)
	}
}
