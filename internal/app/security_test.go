package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// TestCrossOriginRefused checks that a state-changing request from another
// origin is refused with the 403 page and changes nothing, while a browser's
// same-origin request goes through.
func TestCrossOriginRefused(t *testing.T) {
	const newPassword = "a brand new passphrase"
	foreign := []struct {
		name   string
		header http.Header
	}{
		{"Sec-Fetch-Site cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"Sec-Fetch-Site same-site", http.Header{"Sec-Fetch-Site": {"same-site"}}},
		{"foreign Origin", http.Header{"Origin": {"https://evil.example"}}},
		{"null Origin", http.Header{"Origin": {"null"}}},
	}
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{})
			c := webtest.NewClient(t)
			c.SignUp(srv.URL, "ann@example.com", webtest.Password)
			token := c.Cookie("sid")

			for _, f := range foreign {
				for _, req := range []struct {
					path string
					form url.Values
					c    *webtest.Client
				}{
					{"/logout", nil, c},
					{"/account/password", url.Values{"current_password": {webtest.Password}, "new_password": {newPassword}}, c},
					{"/account/delete", url.Values{"password": {webtest.Password}}, c},
					{"/account/sessions/revoke-others", nil, c},
					// Login CSRF: signing the victim in to the attacker's account.
					{"/login", url.Values{"email": {"ann@example.com"}, "password": {webtest.Password}}, webtest.NewClient(t)},
					{"/signup", url.Values{"email": {"new@example.com"}, "password": {webtest.Password}}, webtest.NewClient(t)},
				} {
					t.Run(f.name+" "+req.path, func(t *testing.T) {
						res := req.c.PostWith(srv.URL+req.path, req.form, f.header)
						webtest.WantStatus(t, res, http.StatusForbidden)
						doc := res.Doc(t)
						if doc.Find("main h1").Length() != 1 {
							t.Errorf("403 is not the error page:\n%.400s", res.Body)
						}
						if res.Cookie("sid") != nil {
							t.Errorf("refused request set the session cookie: %v", res.Cookie("sid"))
						}
						if req.c != c && req.c.Cookie("sid") != "" {
							t.Errorf("refused %s signed a client in", req.path)
						}
					})
				}
			}
			// Nothing changed: the same session is signed in with the same
			// password, and the refused sign-up made no account.
			if c.Cookie("sid") != token {
				t.Fatal("the session token changed")
			}
			if got := c.SignedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("after refused requests: signed in as %q", got)
			}
			webtest.NewClient(t).LogIn(srv.URL, "ann@example.com", webtest.Password, false)
			res := webtest.NewClient(t).Post(srv.URL+"/login", url.Values{"email": {"new@example.com"}, "password": {webtest.Password}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)

			// A browser's own form posts carry Sec-Fetch-Site: same-origin
			// (and an Origin matching the host).
			origin := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {srv.URL}}
			res = c.PostWith(srv.URL+"/account/password", url.Values{"current_password": {webtest.Password}, "new_password": {newPassword}}, origin)
			webtest.WantRedirect(t, res, "/account")
			webtest.WantRedirect(t, c.PostWith(srv.URL+"/logout", nil, origin), "/")
			if got := c.SignedInAs(srv.URL); got != "" {
				t.Fatalf("same-origin logout: still signed in as %q", got)
			}
			// A user typing the address (Sec-Fetch-Site: none) is no attack either.
			res = webtest.NewClient(t).PostWith(srv.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {newPassword}},
				http.Header{"Sec-Fetch-Site": {"none"}})
			webtest.WantRedirect(t, res, "/account")
		})
	}
}

// wantSecurityHeaders checks the headers every response carries.
func wantSecurityHeaders(t *testing.T, res *webtest.Response) {
	t.Helper()
	h := res.Header
	csp := h.Get("Content-Security-Policy")
	if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s %s: Content-Security-Policy = %q", res.Request.Method, res.Request.URL.Path, csp)
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "strict-origin-when-cross-origin",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s %s: %s = %q, want %q", res.Request.Method, res.Request.URL.Path, k, got, want)
		}
	}
}

// TestErrorPages checks every error status the service answers with: the
// status, the styled page, and the security headers.
func TestErrorPages(t *testing.T) {
	srv := newInstance(t, newShared(t, "memory"), options{})
	c := webtest.NewClient(t)
	big := "email=a%40b.co&password=" + strings.Repeat("x", 70<<10)
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		header http.Header
		status int
		h1     string
	}{
		{"not found", http.MethodGet, "/no/such/page", "", nil, http.StatusNotFound, "Page not found"},
		{"not found post", http.MethodPost, "/no/such/page", "", nil, http.StatusNotFound, "Page not found"},
		{"method not allowed", http.MethodPut, "/login", "", nil, http.StatusMethodNotAllowed, "Method not allowed"},
		{"method not allowed delete", http.MethodDelete, "/account", "", nil, http.StatusMethodNotAllowed, "Method not allowed"},
		{"too large", http.MethodPost, "/login", big, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, http.StatusRequestEntityTooLarge, "Request too large"},
		{"malformed form", http.MethodPost, "/login", "email=%zz", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, http.StatusBadRequest, "Bad request"},
		{"cross-site", http.MethodPost, "/login", "", http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden, "Request refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.Send(tt.method, srv.URL+tt.path, strings.NewReader(tt.body), tt.header)
			webtest.WantStatus(t, res, tt.status)
			wantSecurityHeaders(t, res)
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want HTML", ct)
			}
			doc := res.Doc(t)
			if got := strings.TrimSpace(doc.Find("main h1").Text()); got != tt.h1 {
				t.Errorf("main h1 = %q, want %q", got, tt.h1)
			}
			if doc.Find(`link[rel="stylesheet"][href^="/static/"]`).Length() == 0 {
				t.Error("the error page is not styled (no stylesheet)")
			}
			if got := strings.TrimSpace(doc.Find(".error-code").Text()); got != fmt.Sprint(tt.status) {
				t.Errorf("status shown = %q, want %d", got, tt.status)
			}
			if tt.status == http.StatusMethodNotAllowed {
				allow := res.Header.Get("Allow")
				for _, m := range []string{"GET", "POST"} {
					if tt.path == "/login" && !strings.Contains(allow, m) {
						t.Errorf("Allow = %q, want it to list %s", allow, m)
					}
				}
				if strings.Contains(allow, tt.method) {
					t.Errorf("Allow = %q lists the refused method %s", allow, tt.method)
				}
				if allow == "" {
					t.Error("405 without an Allow header")
				}
			}
		})
	}

	t.Run("422 is the form page", func(t *testing.T) {
		res := c.Post(srv.URL+"/login", url.Values{"email": {"a@b.co"}, "password": {"wrong password"}})
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		wantSecurityHeaders(t, res)
		doc := res.Doc(t)
		if doc.Find("main h1").Length() != 1 || doc.Find(`main form[action="/login"]`).Length() != 1 {
			t.Errorf("422 is not the login page with its form")
		}
	})
}

// TestSecurityHeadersEverywhere checks the security headers on responses of
// every kind: pages, redirects, probes, metrics, static files.
func TestSecurityHeadersEverywhere(t *testing.T) {
	srv := newInstance(t, newShared(t, "memory"), options{})
	c := webtest.NewClient(t)
	signup := c.Post(srv.URL+"/signup", url.Values{"email": {"ann@example.com"}, "password": {webtest.Password}})
	webtest.WantRedirect(t, signup, "/account")
	for _, res := range []*webtest.Response{
		signup,
		webtest.NewClient(t).Get(srv.URL + "/"),
		webtest.NewClient(t).Get(srv.URL + "/account"), // 303
		c.Get(srv.URL + "/account"),
		c.Get(srv.URL + "/account/sessions"),
		c.Get(srv.URL + "/healthz"),
		c.Get(srv.URL + "/readyz"),
		c.Get(srv.URL + "/metrics"),
		c.Get(srv.URL + "/static/css/main.css"),
		c.Get(srv.URL + "/static/nothing.css"),
		c.Post(srv.URL+"/logout", nil),
	} {
		wantSecurityHeaders(t, res)
	}
}

// TestProbes checks /healthz, /readyz and /metrics.
func TestProbes(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{})
			c := webtest.NewClient(t)

			res := c.Get(srv.URL + "/healthz")
			webtest.WantStatus(t, res, http.StatusOK)
			res = c.Get(srv.URL + "/readyz")
			webtest.WantStatus(t, res, http.StatusOK)
			for _, want := range []string{"database: ok", "session store: ok"} {
				if !strings.Contains(res.Body, want) {
					t.Errorf("/readyz body %q lacks %q", res.Body, want)
				}
			}
			if c.Cookie("sid") != "" {
				t.Error("a probe created a session")
			}

			// Some traffic, including a raw session id in a path.
			c.SignUp(srv.URL, "ann@example.com", webtest.Password)
			other := webtest.NewClient(t)
			other.LogIn(srv.URL, "ann@example.com", webtest.Password, false)
			ids := listSessions(t, c, srv.URL).revoke
			if len(ids) != 1 {
				t.Fatalf("got %d revocable sessions, want 1", len(ids))
			}
			webtest.WantRedirect(t, c.Post(srv.URL+"/account/sessions/"+ids[0]+"/revoke", nil), "/account/sessions")
			c.Get(srv.URL + "/no/such/page")

			res = c.Get(srv.URL + "/metrics")
			webtest.WantStatus(t, res, http.StatusOK)
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("/metrics Content-Type = %q, want the Prometheus text format", ct)
			}
			for _, re := range []string{
				`(?m)^http_requests_total\{code="200",method="GET",route="/account/sessions"\} 1$`,
				`(?m)^http_requests_total\{code="303",method="POST",route="/account/sessions/\{id\}/revoke"\} 1$`,
				`(?m)^http_requests_total\{code="303",method="POST",route="/signup"\} 1$`,
				`(?m)^http_requests_total\{code="404",method="GET",route="[^"]*"\} 1$`,
				`(?m)^auth_events_total\{event="session_revoked"\} 1$`,
			} {
				if !regexp.MustCompile(re).MatchString(res.Body) {
					t.Errorf("/metrics lacks %s", re)
				}
			}
			for _, leak := range []string{ids[0], "/no/such/page", c.Cookie("sid")} {
				if strings.Contains(res.Body, leak) {
					t.Errorf("/metrics contains the raw value %q", leak)
				}
			}
		})
	}
}
