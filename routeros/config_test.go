package routeros_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wanctl/wanctl/routeros"
)

// TestSecretNeverPrinted: a Config (and its password alone) goes through
// fmt, slog and encoding/json without the password; only Reveal has it.
func TestSecretNeverPrinted(t *testing.T) {
	cfg := routeros.Config{Name: "edge", URL: "https://192.0.2.1", Username: "wanctl", Password: "hunter2-secret"}
	var texts []string
	texts = append(texts, fmt.Sprintf("%v %+v %#v %s %q", cfg, cfg, cfg, cfg.Password, cfg.Password))
	// Verbs String does not serve (fmt would format the bare string).
	texts = append(texts, fmt.Sprintf("%d %x %X %10s %v", cfg.Password, cfg.Password, cfg.Password, cfg.Password, []routeros.Secret{cfg.Password}))
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, string(b))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("text", "password", cfg.Password, "config", cfg)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("json", "password", cfg.Password, "config", cfg)
	texts = append(texts, logs.String())
	for _, s := range texts {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
		if !strings.Contains(s, "(sensitive)") {
			t.Errorf("no (sensitive) in %s", s)
		}
	}
	if got := cfg.Password.Reveal(); got != "hunter2-secret" {
		t.Errorf("Reveal = %q", got)
	}
	if got := routeros.Secret("").String(); got != "" {
		t.Errorf("empty secret prints %q, want nothing (no password is not a hidden one)", got)
	}
}

func TestAppendCAFile(t *testing.T) {
	dir := t.TempDir()
	der := selfSigned(t)
	good := writeCert(t, dir, "ca.pem", der)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	want := x509.NewCertPool()
	want.AddCert(cert)
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, wantErr string
	}{
		{"certificate", good, ""},
		{"missing", filepath.Join(dir, "missing.pem"), "ca_file: open "},
		{"no PEM", junk, `ca_file "` + junk + `" holds no PEM certificate`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := x509.NewCertPool()
			err := routeros.AppendCAFile(pool, tc.path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !pool.Equal(want) {
					t.Fatal("the certificate is not in the pool")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
