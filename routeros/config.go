package routeros

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"
)

// Config is what New builds a client from. The caller fills it (package
// config does, from a router block), so that the client does not depend on
// the configuration language.
type Config struct {
	// Name names the router in errors and log records.
	Name string
	// URL is the REST base, with or without the "/rest" suffix (e.g.
	// "https://192.168.88.1"). Credentials in it are moved to the
	// Authorization header.
	URL      string
	Username string
	Password Secret
	// CAFile is a PEM file with the router's CA (or self-signed)
	// certificate, trusted on top of the system roots; "" = system roots.
	CAFile        string
	TLSSkipVerify bool
	// Timeout is the per-request timeout; 0 is DefaultTimeout.
	Timeout time.Duration

	// Transport replaces the HTTP transport built from the fields above
	// (then its TLS settings and connection reuse are the caller's).
	Transport http.RoundTripper
	// RootCAs replaces the system roots (and CAFile) for verifying the
	// router's certificate.
	RootCAs *x509.CertPool
	// Logger receives one debug record per request; nil is silent.
	Logger *slog.Logger
	// Debug also dumps every request and reply to Logger at debug level,
	// with the Authorization header redacted.
	Debug bool
}

// Secret holds a credential. It never prints itself: fmt, slog and JSON all
// see "(sensitive)"; only Reveal returns the value.
type Secret string

const redacted = "(sensitive)"

// Reveal returns the secret value; call it only where the value is sent to
// the router.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// Format keeps every other verb (%d, %x, %q, ...) from printing the value:
// without it fmt formats the underlying string for verbs String does not
// serve.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	io.WriteString(f, s.String())
}

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps encoding/json from writing the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// AppendCAFile adds the certificates of a PEM file (the router's CA, or its
// self-signed certificate) to pool. The errors name the setting ca_file,
// which is what the user has to fix.
func AppendCAFile(pool *x509.CertPool, path string) error {
	pem, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("ca_file %q holds no PEM certificate (want the router's CA or self-signed certificate, -----BEGIN CERTIFICATE-----)", path)
	}
	return nil
}
