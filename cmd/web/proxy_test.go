package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// TestTrustedProxyClients runs the service behind a trusted proxy
// (127.0.0.1, the test's own address) with METRICS_ALLOW set to one
// network: the client the proxy names decides, whether its entry carries a
// port or not, and the sessions page shows that address.
func TestTrustedProxyClients(t *testing.T) {
	srv := startServer(t, map[string]string{
		"TRUSTED_PROXIES": "127.0.0.1/32",
		"METRICS_ALLOW":   "198.51.100.0/24,2001:db8::/64",
	})
	from := func(xff string) *webtest.Client {
		c := webtest.NewClient(t)
		if xff != "" {
			c.Header.Set("X-Forwarded-For", xff)
		}
		return c
	}
	for _, tt := range []struct {
		xff  string
		want int
	}{
		{"198.51.100.9:5555", http.StatusOK},
		{"[2001:db8::1]:443", http.StatusOK},
		{"198.51.100.9", http.StatusOK},
		{"203.0.113.7:5555", http.StatusNotFound},
		{"[2001:db8:1::1]:443", http.StatusNotFound},
		{"", http.StatusNotFound}, // the proxy itself
	} {
		res := from(tt.xff).Get(srv.URL + "/metrics")
		if res.StatusCode != tt.want {
			t.Errorf("GET /metrics from X-Forwarded-For %q: got %d, want %d", tt.xff, res.StatusCode, tt.want)
		}
	}

	email := e2eEmail()
	c := from("[2001:db8::1]:443")
	c.SignUp(srv.URL, email, webtest.Password)
	res := c.Get(srv.URL + "/account/sessions")
	webtest.WantStatus(t, res, http.StatusOK)
	if !strings.Contains(res.Body, "2001:db8::1") || strings.Contains(res.Body, "127.0.0.1") {
		t.Fatalf("sessions page does not show the client address 2001:db8::1:\n%.1500s", res.Body)
	}
}
