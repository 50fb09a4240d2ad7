package app_test

import (
	"net/http"
	"testing"
)

// TestCoreFlow walks signup → account → logout → login on every store.
func TestCoreFlow(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{})
			c := newClient(t)

			wantStatus(t, c.get(srv.URL+"/"), http.StatusOK)
			c.signup(srv.URL, "Ann@Example.com ", testPassword)
			if got := c.signedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("after signup: signed in as %q, want ann@example.com", got)
			}
			res := c.post(srv.URL+"/logout", nil)
			wantRedirect(t, res, "/")
			if ck := res.Cookie("sid"); ck == nil || ck.MaxAge >= 0 {
				t.Fatalf("logout: session cookie not expired: %v", ck)
			}
			if got := c.signedInAs(srv.URL); got != "" {
				t.Fatalf("after logout: signed in as %q", got)
			}
			c.login(srv.URL, "ann@example.com", testPassword, false)
			if got := c.signedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("after login: signed in as %q", got)
			}
			res = c.get(srv.URL + "/account")
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Fatalf("account Cache-Control = %q, want no-store", got)
			}
		})
	}
}
