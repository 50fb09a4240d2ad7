package app_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// notFoundPage is the body of the 404 page of an address that does not
// exist, as seen by c. Pages that must not reveal themselves answer it.
func notFoundPage(t *testing.T, c *webtest.Client, base string) string {
	t.Helper()
	res := c.Get(base + "/no-such-page")
	webtest.WantStatus(t, res, http.StatusNotFound)
	return res.Body
}

// wantNotFound checks that path answers the very 404 page of an unknown
// address (the path is shown nowhere on it, so the bodies are equal).
func wantNotFound(t *testing.T, c *webtest.Client, base, path string) {
	t.Helper()
	res := c.Get(base + path)
	webtest.WantStatus(t, res, http.StatusNotFound)
	if want := notFoundPage(t, c, base); res.Body != want {
		t.Fatalf("GET %s: 404 body differs from an unknown address's:\n%.600s\nwant:\n%.600s", path, res.Body, want)
	}
}

// TestMetricsAllow checks that /metrics answers only clients inside
// METRICS_ALLOW, deciding the client as everything else does (after
// TRUSTED_PROXIES); everyone else sees an address that does not exist.
func TestMetricsAllow(t *testing.T) {
	const proxy = "127.0.0.1/32"
	tests := []struct {
		name    string
		allow   string // METRICS_ALLOW; "" is the default, loopback
		proxies string
		xff     string // the client the proxy names, if any
		want    bool
	}{
		{"loopback by default", "", "", "", true},
		{"outside the allowed networks", "10.0.0.0/8", "", "", false},
		{"client behind the proxy inside", "10.0.0.0/8", proxy, "10.1.2.3:4567", true},
		{"client behind the proxy outside", "10.0.0.0/8", proxy, "198.51.100.9", false},
		{"the proxy's own address is not its client's", "", proxy, "198.51.100.9", false},
		{"untrusted peer cannot claim an address", "10.0.0.0/8", "", "10.1.2.3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newInstance(t, newShared(t, "memory"), options{metricsAllow: tt.allow, trustedProxies: tt.proxies})
			c := webtest.NewClient(t)
			if tt.xff != "" {
				c.Header.Set("X-Forwarded-For", tt.xff)
			}
			if !tt.want {
				wantNotFound(t, c, srv.URL, "/metrics")
				return
			}
			res := c.Get(srv.URL + "/metrics")
			webtest.WantStatus(t, res, http.StatusOK)
			if !strings.Contains(res.Body, "auth_events_total") {
				t.Fatalf("/metrics lacks auth_events_total:\n%.300s", res.Body)
			}
		})
	}
}

// TestStaticNoListings checks that no directory under /static/ is listed,
// while files are still served.
func TestStaticNoListings(t *testing.T) {
	srv := newInstance(t, newShared(t, "memory"), options{})
	c := webtest.NewClient(t)
	for _, path := range []string{"/static/", "/static/css/", "/static/css", "/static/img/", "/static/img", "/static/missing.css", "/static/css/../"} {
		t.Run(path, func(t *testing.T) {
			wantNotFound(t, c, srv.URL, path)
		})
	}
	res := c.Get(srv.URL + "/static/css/main.css")
	webtest.WantStatus(t, res, http.StatusOK)
	if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/css") {
		t.Fatalf("main.css Content-Type = %q, want text/css", got)
	}
}

// TestRequestIDsRandom checks that request ids are random, not a counter
// that would tell anyone how much traffic the site has.
func TestRequestIDsRandom(t *testing.T) {
	srv := newInstance(t, newShared(t, "memory"), options{})
	c := webtest.NewClient(t)
	format := regexp.MustCompile(`^[A-Z2-7]{16}$`) // 80 bits of crypto/rand, base32
	seen := map[string]bool{}
	var prev string
	for range 50 {
		id := c.Get(srv.URL + "/healthz").Header.Get("X-Request-Id")
		if !format.MatchString(id) {
			t.Fatalf("X-Request-Id %q is not 16 random base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("X-Request-Id %q repeated", id)
		}
		if prev != "" && id[:8] == prev[:8] {
			t.Fatalf("consecutive ids %q and %q share a prefix", prev, id)
		}
		seen[id], prev = true, id
	}
}

// TestSignedInNoStore checks that every page a signed-in user gets is kept
// out of caches, the home page (which names the user) included, while an
// anonymous visitor's home page is not marked.
func TestSignedInNoStore(t *testing.T) {
	srv := newInstance(t, newShared(t, "memory"), options{})
	anon := webtest.NewClient(t)
	if got := anon.Get(srv.URL + "/").Header.Get("Cache-Control"); got == "no-store" {
		t.Errorf("anonymous GET /: Cache-Control = %q, want the page cacheable", got)
	}
	c := webtest.NewClient(t)
	c.SignUp(srv.URL, "ann@example.com", webtest.Password)
	for _, path := range []string{"/", "/account", "/account/sessions", "/login", "/signup", "/no-such-page"} {
		res := c.Get(srv.URL + path)
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("signed-in GET %s: Cache-Control = %q, want no-store", path, got)
		}
	}
	res := c.Get(srv.URL + "/")
	if !strings.Contains(res.Body, "ann@example.com") {
		t.Fatalf("signed-in home page does not name the user:\n%.400s", res.Body)
	}
}
