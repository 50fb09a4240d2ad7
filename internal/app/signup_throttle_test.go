package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// TestSignupThrottle checks that sign-ups are limited per client IP, taken
// emails included (each one tells whether an address is registered), and
// that a form refused by the policy costs nothing.
func TestSignupThrottle(t *testing.T) {
	const maxSignups = 3
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			sh := newShared(t, store)
			srv := newInstance(t, sh, options{maxSignups: maxSignups, trustedProxies: "127.0.0.1/32"})
			c := fromIP(t, "198.51.100.3")
			signup := func(email, password string) *webtest.Response {
				return c.Post(srv.URL+"/signup", url.Values{"email": {email}, "password": {password}})
			}
			for i := range 5 {
				webtest.WantStatus(t, signup(fmt.Sprintf("bad address %d", i), webtest.Password), http.StatusUnprocessableEntity)
			}
			webtest.WantStatus(t, signup("ann@example.com", webtest.Password), http.StatusSeeOther)
			c.Post(srv.URL+"/logout", nil)
			webtest.WantStatus(t, signup("ann@example.com", webtest.Password), http.StatusUnprocessableEntity)
			webtest.WantStatus(t, signup("bob@example.com", webtest.Password), http.StatusSeeOther)
			c.Post(srv.URL+"/logout", nil)

			res := signup("carol@example.com", webtest.Password)
			webtest.WantStatus(t, res, http.StatusTooManyRequests)
			if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || secs <= 0 || secs > 3600 {
				t.Errorf("Retry-After = %q, want whole seconds in (0, 3600]", res.Header.Get("Retry-After"))
			}
			if got := res.Doc(t).Find(`.alert-error[role="alert"]`).Text(); !strings.Contains(got, "Too many sign-ups") {
				t.Errorf("429 page message = %q, want the too-many-sign-ups message", got)
			}
			// A taken email past the limit says nothing about the address.
			webtest.WantStatus(t, signup("ann@example.com", webtest.Password), http.StatusTooManyRequests)
			// Another address has its own budget.
			webtest.WantStatus(t, fromIP(t, "198.51.100.4").Post(srv.URL+"/signup",
				url.Values{"email": {"carol@example.com"}, "password": {webtest.Password}}), http.StatusSeeOther)
		})
	}
}
