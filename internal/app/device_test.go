package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// TestDeviceCookie checks OWASP's device cookies: an attacker on the
// user's address uses up the account+IP budget, the browser the user
// signed in with before still signs in, and a fresh browser gets 429.
func TestDeviceCookie(t *testing.T) {
	const (
		email       = "ann@example.com"
		maxFailures = 3
		shared      = "198.51.100.1" // a NAT the user shares with the attacker
	)
	window := 15 * time.Minute
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			sh := newShared(t, store)
			srv := newInstance(t, sh, options{maxFailures: maxFailures, trustedProxies: "127.0.0.1/32"})
			webtest.NewClient(t).SignUp(srv.URL, email, webtest.Password)

			browser := fromIP(t, shared)
			res := browser.LogIn(srv.URL, email, webtest.Password, false)
			ck := res.Cookie("device")
			switch {
			case ck == nil:
				t.Fatal("a successful login set no device cookie")
			case !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode:
				t.Errorf("device cookie: HttpOnly=%v Secure=%v SameSite=%v, want HttpOnly, Secure, Lax", ck.HttpOnly, ck.Secure, ck.SameSite)
			case ck.MaxAge < int((30 * 24 * time.Hour).Seconds()):
				t.Errorf("device cookie Max-Age = %d s, want a long-lived cookie", ck.MaxAge)
			}
			browser.Post(srv.URL+"/logout", nil)

			attacker := fromIP(t, shared)
			failN(t, attacker, srv.URL, email, maxFailures)
			wantThrottled(t, attempt(attacker, srv.URL, email, webtest.Password), window)
			wantThrottled(t, attempt(fromIP(t, shared), srv.URL, email, webtest.Password), window)

			// The user's own browser is judged on its own budget.
			browser.LogIn(srv.URL, email, webtest.Password, false)

			// A device cookie of another account, or a forged one, is no
			// way around the lock-out.
			other := fromIP(t, shared)
			webtest.NewClient(t).SignUp(srv.URL, "bob@example.com", webtest.Password)
			other.LogIn(srv.URL, "bob@example.com", webtest.Password, false)
			wantThrottled(t, attempt(other, srv.URL, email, webtest.Password), window)
			forged := fromIP(t, shared)
			forged.SetCookie("device", browser.Cookie("device")[:20]+"AAAA"+browser.Cookie("device")[24:])
			wantThrottled(t, attempt(forged, srv.URL, email, webtest.Password), window)

			// The device's budget is its own: failures from the browser
			// lock the browser, not the other way round.
			browser.Post(srv.URL+"/logout", nil)
			failN(t, browser, srv.URL, email, maxFailures)
			wantThrottled(t, attempt(browser, srv.URL, email, webtest.Password), window)
		})
	}
}
