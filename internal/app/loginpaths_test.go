package app_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// TestEveryLoginGivesDeviceAndNotice checks that a login completed after
// the second step, and one with a passkey, each give the browser its
// device cookie and mail the new-device notice for an unknown browser
// only, as a password-only login does.
func TestEveryLoginGivesDeviceAndNotice(t *testing.T) {
	const email = "ann@example.com"
	sh := newShared(t, "memory")
	clk := newClock()
	srv := newInstance(t, sh, options{clock: clk, notifyNewDevice: true})
	owner := webtest.NewClient(t)
	owner.SignUp(srv.URL, email, webtest.Password)
	tf := enableTOTP(t, owner, srv.URL, clk.Now())
	a := newAuthenticator(t)
	pk := addPasskey(t, owner, srv.URL, a, "Laptop")
	notices := func() int { return sh.mailCount(t, "new_device", email) }
	if n := notices(); n != 0 {
		t.Fatalf("%d new-device notices before any login, want 0", n)
	}

	// Password and code, from a new browser: cookie and notice.
	second := webtest.NewClient(t)
	logInPending(t, second, srv.URL, email)
	if second.Cookie("device") != "" {
		t.Fatal("the password step alone gave a device cookie")
	}
	res := second.Post(srv.URL+"/login/second-factor", url.Values{"code": {tf.code(t, clk.Now())}})
	webtest.WantRedirect(t, res, "/account")
	if res.Cookie("device") == nil {
		t.Fatal("a login completed by the second step set no device cookie")
	}
	if n := notices(); n != 1 {
		t.Fatalf("after a second-step login from a new browser: %d notices, want 1", n)
	}
	// The same browser again: known, no notice.
	webtest.WantRedirect(t, second.Post(srv.URL+"/logout", nil), "/")
	clk.Add(30 * time.Second)
	logInPending(t, second, srv.URL, email)
	webtest.WantRedirect(t, second.Post(srv.URL+"/login/second-factor", url.Values{"code": {tf.code(t, clk.Now())}}), "/account")
	if n := notices(); n != 1 {
		t.Fatalf("after a second-step login from a known browser: %d notices, want still 1", n)
	}
	// A passkey from that known browser: no notice either.
	webtest.WantRedirect(t, second.Post(srv.URL+"/logout", nil), "/")
	webtest.WantRedirect(t, passkeyLogIn(t, second, srv.URL, a, pk), "/account")
	if n := notices(); n != 1 {
		t.Fatalf("after a passkey login from a known browser: %d notices, want still 1", n)
	}

	// A passkey from a new browser: a whole login, cookie and notice.
	fresh := webtest.NewClient(t)
	res = passkeyLogIn(t, fresh, srv.URL, a, pk)
	webtest.WantRedirect(t, res, "/account")
	if res.Cookie("device") == nil {
		t.Fatal("a passkey login set no device cookie")
	}
	if n := notices(); n != 2 {
		t.Fatalf("after a passkey login from a new browser: %d notices, want 2", n)
	}
	sh.mailWith(t, email, "New sign-in", 2)
}

// TestUnverifiedNeverPastLogin checks that with EMAIL_VERIFICATION=required
// an account whose address is unconfirmed is signed in by neither the
// second step nor a passkey. The account got its factors while
// verification was optional (another instance on the same state).
func TestUnverifiedNeverPastLogin(t *testing.T) {
	const email = "ann@example.com"
	sh := newShared(t, "memory")
	clk := newClock()
	optional := newInstance(t, sh, options{clock: clk})
	required := newInstance(t, sh, options{clock: clk, requireVerification: true})
	owner := webtest.NewClient(t)
	owner.SignUp(optional.URL, email, webtest.Password)
	tf := enableTOTP(t, owner, optional.URL, clk.Now())
	a := newAuthenticator(t)
	pk := addPasskey(t, owner, optional.URL, a, "Laptop")
	clk.Add(30 * time.Second)

	// The password step refuses it on the required instance.
	c := webtest.NewClient(t)
	webtest.WantStatus(t, c.Post(required.URL+"/login", url.Values{"email": {email}, "password": {webtest.Password}}), http.StatusOK)
	if got := c.SignedInAs(required.URL); got != "" {
		t.Fatalf("the password step signed in %q", got)
	}
	// A second step begun where verification was optional ends on the
	// check-your-email page.
	logInPending(t, c, optional.URL, email)
	res := c.Post(required.URL+"/login/second-factor", url.Values{"code": {tf.code(t, clk.Now())}})
	webtest.WantStatus(t, res, http.StatusOK)
	if res.Doc(t).Find(`form[action="/email/verify/resend"]`).Length() == 0 {
		t.Error("the second step of an unverified account did not offer the link again")
	}
	if got := c.SignedInAs(required.URL); got != "" {
		t.Fatalf("the second step signed in an unverified account as %q", got)
	}
	// A passkey neither.
	p := webtest.NewClient(t)
	webtest.WantStatus(t, passkeyLogIn(t, p, required.URL, a, pk), http.StatusOK)
	if got := p.SignedInAs(required.URL); got != "" {
		t.Fatalf("a passkey signed in an unverified account as %q", got)
	}
}
