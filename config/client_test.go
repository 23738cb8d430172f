package config

import (
	"testing"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

func TestClientConfig(t *testing.T) {
	r := &Router{Name: "edge", URL: "https://192.0.2.1", Username: "wanctl", Password: "pw",
		CAFile: "/etc/wanctl/ca.pem", TLSSkipVerify: true, Timeout: 3 * time.Second, AdoptExisting: true}
	want := routeros.Config{Name: "edge", URL: "https://192.0.2.1", Username: "wanctl", Password: "pw",
		CAFile: "/etc/wanctl/ca.pem", TLSSkipVerify: true, Timeout: 3 * time.Second}
	if got := r.ClientConfig(); got != want {
		t.Errorf("ClientConfig() = %+v, want %+v", got, want)
	}
}
