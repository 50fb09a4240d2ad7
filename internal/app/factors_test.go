package app_test

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// twoFactor is an account with the authenticator app on, as a test sees
// it: the secret read from the set-up page, and the recovery codes.
type twoFactor struct {
	secret string
	codes  []string
}

// code returns the app's code at t.
func (tf twoFactor) code(t *testing.T, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(tf.secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enableTOTP sets up the authenticator app for c's account through the
// pages, as a user would: the code is computed from the URI on the page.
func enableTOTP(t *testing.T, c *webtest.Client, base string, now time.Time) twoFactor {
	t.Helper()
	res := c.Post(base+"/account/totp", nil)
	webtest.WantStatus(t, res, http.StatusOK)
	uri := strings.TrimSpace(res.Doc(t).Find("#totp-uri").Text())
	if !strings.HasPrefix(uri, "otpauth://totp/") {
		t.Fatalf("#totp-uri = %q, want an otpauth://totp/ URI", uri)
	}
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		t.Fatalf("parse %q: %v", uri, err)
	}
	if key.Issuer() != "Sessionlogin" || key.Period() != 30 || key.Digits() != otp.DigitsSix {
		t.Errorf("key: issuer %q, period %d, digits %d; want Sessionlogin, 30, 6", key.Issuer(), key.Period(), key.Digits())
	}
	if src := res.Doc(t).Find("img.qr-code").AttrOr("src", ""); src != "/account/totp/qr.png" {
		t.Errorf("QR code src = %q, want /account/totp/qr.png (served by the site itself)", src)
	}
	qr := c.Get(base + "/account/totp/qr.png")
	webtest.WantStatus(t, qr, http.StatusOK)
	if got := qr.Header.Get("Content-Type"); got != "image/png" {
		t.Errorf("QR code Content-Type = %q, want image/png", got)
	}
	if _, err := png.Decode(strings.NewReader(qr.Body)); err != nil {
		t.Errorf("QR code is not a PNG: %v", err)
	}
	tf := twoFactor{secret: key.Secret()}

	// Not on before a valid code.
	webtest.WantStatus(t, c.Post(base+"/account/totp/confirm", url.Values{"code": {"12345"}}), http.StatusUnprocessableEntity)
	if got := c.Get(base + "/account/security").Doc(t).Find("#totp-status").Text(); got != "Off." {
		t.Fatalf("after a wrong code: status %q, want Off.", got)
	}
	res = c.Post(base+"/account/totp/confirm", url.Values{"code": {tf.code(t, now)}})
	webtest.WantStatus(t, res, http.StatusOK)
	res.Doc(t).Find(".recovery-code").Each(func(_ int, s *goquery.Selection) {
		tf.codes = append(tf.codes, strings.TrimSpace(s.Text()))
	})
	if len(tf.codes) != 10 {
		t.Fatalf("got %d recovery codes, want 10:\n%.800s", len(tf.codes), res.Body)
	}
	return tf
}

// logInPending posts the right password of an account with 2FA and checks
// that it leads to the second step.
func logInPending(t *testing.T, c *webtest.Client, base, email string) {
	t.Helper()
	res := c.Post(base+"/login", url.Values{"email": {email}, "password": {webtest.Password}})
	webtest.WantRedirect(t, res, "/login/second-factor")
}

// TestTOTPEndToEnd sets up the authenticator app through the pages, then
// logs in with a code, refuses the same code again, and accepts a recovery
// code once.
func TestTOTPEndToEnd(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			clk := newClock()
			srv := newInstance(t, sh, options{clock: clk})
			c := webtest.NewClient(t)
			c.SignUp(srv.URL, "ann@example.com", webtest.Password)
			tf := enableTOTP(t, c, srv.URL, clk.Now())

			// Encrypted at rest: what the database holds is not the secret.
			var stored []byte
			if err := sh.db.SQL().QueryRow(`SELECT secret FROM totp_secrets`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(stored, []byte(tf.secret)) || len(stored) < 16 {
				t.Fatalf("the stored secret %q holds the secret %q", stored, tf.secret)
			}
			var hashes int
			if err := sh.db.SQL().QueryRow(`SELECT count(*) FROM recovery_codes WHERE code_hash = $1`, []byte(tf.codes[0])).Scan(&hashes); err != nil || hashes != 0 {
				t.Fatalf("a recovery code is stored as it is (%d, %v)", hashes, err)
			}
			webtest.WantRedirect(t, c.Post(srv.URL+"/logout", nil), "/")

			// The password alone leads to the second step, on a new token.
			// The set-up's code did not spend its step: it signs in once.
			before := c.Cookie("sid")
			logInPending(t, c, srv.URL, "ann@example.com")
			pendingToken := c.Cookie("sid")
			if pendingToken == "" || pendingToken == before {
				t.Fatalf("the pending state did not get a new token")
			}
			webtest.WantStatus(t, c.Get(srv.URL+"/login/second-factor"), http.StatusOK)
			res := c.Post(srv.URL+"/login/second-factor", url.Values{"code": {"000000"}})
			if tf.code(t, clk.Now()) != "000000" {
				webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			}
			code := tf.code(t, clk.Now())
			res = c.Post(srv.URL+"/login/second-factor", url.Values{"code": {code}})
			webtest.WantRedirect(t, res, "/account")
			if c.Cookie("sid") == pendingToken {
				t.Error("the token did not change at the second factor")
			}
			if got := c.SignedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("after the code: signed in as %q", got)
			}
			if got := c.Get(srv.URL + "/account/sessions").Doc(t).Find(".session-current .session-method").Text(); got != "with password + authenticator app" {
				t.Errorf("sessions page: method %q, want %q", got, "with password + authenticator app")
			}
			webtest.WantRedirect(t, c.Post(srv.URL+"/logout", nil), "/")

			// The same code again, within its 30 seconds: refused.
			logInPending(t, c, srv.URL, "ann@example.com")
			res = c.Post(srv.URL+"/login/second-factor", url.Values{"code": {code}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			if got := res.Doc(t).Find("#code-error").Text(); !strings.Contains(got, "already been used") {
				t.Errorf("replayed code: error %q, want it to say the code was used", got)
			}
			if got := c.SignedInAs(srv.URL); got != "" {
				t.Fatalf("a replayed code signed in as %q", got)
			}

			// A recovery code works once, typed with spaces and capitals.
			logInPending(t, c, srv.URL, "ann@example.com")
			typed := " " + strings.ToUpper(tf.codes[3]) + " "
			webtest.WantRedirect(t, c.Post(srv.URL+"/login/second-factor", url.Values{"recovery_code": {typed}}), "/account")
			if got := c.Get(srv.URL + "/account/sessions").Doc(t).Find(".session-current .session-method").Text(); got != "with password + recovery code" {
				t.Errorf("sessions page: method %q, want %q", got, "with password + recovery code")
			}
			if got := c.Get(srv.URL + "/account/security").Doc(t).Find("#recovery-left").Text(); got != "9 of 10" {
				t.Errorf("recovery codes left: %q, want 9 of 10", got)
			}
			webtest.WantRedirect(t, c.Post(srv.URL+"/logout", nil), "/")
			logInPending(t, c, srv.URL, "ann@example.com")
			res = c.Post(srv.URL+"/login/second-factor", url.Values{"recovery_code": {tf.codes[3]}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			if got := c.SignedInAs(srv.URL); got != "" {
				t.Fatalf("a used recovery code signed in as %q", got)
			}
			// The next step's code still works.
			clk.Add(30 * time.Second)
			webtest.WantRedirect(t, c.Post(srv.URL+"/login/second-factor", url.Values{"code": {tf.code(t, clk.Now())}}), "/account")
		})
	}
}

// TestPendingStateReachesNothing checks that between the password and the
// code, the session is not signed in: no protected page, no action, and
// the second step itself expires after five minutes.
func TestPendingStateReachesNothing(t *testing.T) {
	sh := newShared(t, "memory")
	clk := newClock()
	srv := newInstance(t, sh, options{clock: clk})
	owner := webtest.NewClient(t)
	owner.SignUp(srv.URL, "ann@example.com", webtest.Password)
	tf := enableTOTP(t, owner, srv.URL, clk.Now())

	c := webtest.NewClient(t)
	logInPending(t, c, srv.URL, "ann@example.com")
	for _, path := range []string{"/account", "/account/sessions", "/account/security", "/confirm-access", "/account/totp/qr.png"} {
		res := c.Get(srv.URL + path)
		webtest.WantRedirect(t, res, "/login?next="+url.QueryEscape(path))
	}
	for _, path := range []string{"/account/password", "/account/delete", "/account/sessions/revoke-others",
		"/account/totp", "/account/totp/disable", "/account/recovery-codes", "/account/passkeys/options", "/confirm-access"} {
		res := c.Post(srv.URL+path, url.Values{"password": {webtest.Password}, "current_password": {webtest.Password}, "new_password": {"another long passphrase"}})
		webtest.WantRedirect(t, res, "/login")
	}
	webtest.WantStatus(t, c.Get(srv.URL+"/login/second-factor"), http.StatusOK)

	// Five minutes later, the second step is gone.
	clk.Add(auth.PendingWindow + time.Second)
	webtest.WantRedirect(t, c.Get(srv.URL+"/login/second-factor"), "/login")
	res := c.Post(srv.URL+"/login/second-factor", url.Values{"code": {tf.code(t, clk.Now())}})
	webtest.WantRedirect(t, res, "/login")
	if got := c.SignedInAs(srv.URL); got != "" {
		t.Fatalf("an expired second step signed in as %q", got)
	}
	// The second step cannot be reached without the password.
	webtest.WantRedirect(t, webtest.NewClient(t).Get(srv.URL+"/login/second-factor"), "/login")
}

// TestWrongPasswordSameWithSecondFactor checks that the second step is not
// a way to test passwords: a wrong password gets the same answer whether
// or not the account has the authenticator app on.
func TestWrongPasswordSameWithSecondFactor(t *testing.T) {
	sh := newShared(t, "memory")
	srv := newInstance(t, sh, options{})
	with := webtest.NewClient(t)
	with.SignUp(srv.URL, "with@example.com", webtest.Password)
	enableTOTP(t, with, srv.URL, time.Now())
	webtest.NewClient(t).SignUp(srv.URL, "without@example.com", webtest.Password)

	wrong := func(email string) *webtest.Response {
		return webtest.NewClient(t).Post(srv.URL+"/login", url.Values{"email": {email}, "password": {"not the password at all"}})
	}
	a, b := wrong("with@example.com"), wrong("without@example.com")
	webtest.WantStatus(t, a, http.StatusUnprocessableEntity)
	webtest.WantStatus(t, b, http.StatusUnprocessableEntity)
	if strings.ReplaceAll(a.Body, "with@", "") != strings.ReplaceAll(b.Body, "without@", "") {
		t.Error("a wrong password answers differently when the account has a second factor")
	}
	if a.Cookie("sid") != nil || b.Cookie("sid") != nil {
		t.Error("a wrong password set a session cookie")
	}
}

// TestSecondFactorThrottledAcrossInstances sends wrong codes through two
// instances on one Redis: the account's budget is shared, and once spent,
// even the right code is refused with 429, from any client.
func TestSecondFactorThrottledAcrossInstances(t *testing.T) {
	sh := newShared(t, "redis")
	clk := newClock()
	o := options{clock: clk, maxFailures: 3}
	a, b := newInstance(t, sh, o), newInstance(t, sh, o)
	owner := webtest.NewClient(t)
	owner.SignUp(a.URL, "ann@example.com", webtest.Password)
	tf := enableTOTP(t, owner, a.URL, clk.Now())
	clk.Add(30 * time.Second)

	attacker := webtest.NewClient(t)
	logInPending(t, attacker, a.URL, "ann@example.com")
	wrongCode := "000000"
	if tf.code(t, clk.Now()) == wrongCode {
		wrongCode = "000001"
	}
	for _, srv := range []*instance{a, b, a} {
		res := attacker.Post(srv.URL+"/login/second-factor", url.Values{"code": {wrongCode}})
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	}
	res := attacker.Post(b.URL+"/login/second-factor", url.Values{"code": {wrongCode}})
	webtest.WantStatus(t, res, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The budget is the account's: another client, through the other
	// instance, with the right code, is refused too.
	other := webtest.NewClient(t)
	logInPending(t, other, b.URL, "ann@example.com")
	res = other.Post(a.URL+"/login/second-factor", url.Values{"code": {tf.code(t, clk.Now())}})
	webtest.WantStatus(t, res, http.StatusTooManyRequests)
	if got := other.SignedInAs(a.URL); got != "" {
		t.Fatalf("a throttled code signed in as %q", got)
	}
}

// sudoActions are the sensitive actions: each needs an authentication
// within the last ten minutes.
var sudoActions = []struct {
	name string
	path string
	form url.Values
	back string // the page the action comes from, where confirming returns
	done func(t *testing.T, res *webtest.Response)
}{
	{"change password", "/account/password", url.Values{"current_password": {webtest.Password}, "new_password": {"a brand new passphrase"}}, "/account",
		func(t *testing.T, res *webtest.Response) { webtest.WantRedirect(t, res, "/account") }},
	{"end other sessions", "/account/sessions/revoke-others", nil, "/account/sessions",
		func(t *testing.T, res *webtest.Response) { webtest.WantRedirect(t, res, "/account/sessions") }},
	{"set up the app", "/account/totp", nil, "/account/security",
		func(t *testing.T, res *webtest.Response) { webtest.WantStatus(t, res, http.StatusOK) }},
	{"make recovery codes", "/account/recovery-codes", nil, "/account/security",
		func(t *testing.T, res *webtest.Response) {
			webtest.WantStatus(t, res, http.StatusOK)
			if n := res.Doc(t).Find(".recovery-code").Length(); n != 10 {
				t.Errorf("got %d new recovery codes, want 10", n)
			}
		}},
	{"switch 2FA off", "/account/totp/disable", nil, "/account/security",
		func(t *testing.T, res *webtest.Response) { webtest.WantRedirect(t, res, "/account/security") }},
	{"remove a passkey", "/account/passkeys/999/delete", nil, "/account/security",
		func(t *testing.T, res *webtest.Response) { webtest.WantStatus(t, res, http.StatusNotFound) }},
	{"add a passkey", "/account/passkeys", url.Values{"credential": {"{}"}}, "/account/security",
		func(t *testing.T, res *webtest.Response) { webtest.WantStatus(t, res, http.StatusUnprocessableEntity) }},
	{"change the email address", "/account/email", url.Values{"new_email": {"ann.new@example.com"}, "password": {webtest.Password}}, "/account",
		func(t *testing.T, res *webtest.Response) { webtest.WantRedirect(t, res, "/account") }},
	{"delete the account", "/account/delete", url.Values{"password": {webtest.Password}}, "/account",
		func(t *testing.T, res *webtest.Response) { webtest.WantRedirect(t, res, "/") }},
}

// TestSudoMode checks each sensitive action: ten minutes after the login,
// it asks to confirm access (and changes nothing); after a confirmation,
// it goes through.
func TestSudoMode(t *testing.T) {
	for _, tt := range sudoActions {
		t.Run(tt.name, func(t *testing.T) {
			sh := newShared(t, "memory")
			clk := newClock()
			srv := newInstance(t, sh, options{clock: clk})
			c := webtest.NewClient(t)
			c.SignUp(srv.URL, "ann@example.com", webtest.Password)
			clk.Add(auth.ReauthWindow + time.Second)

			res := c.Post(srv.URL+tt.path, tt.form)
			confirm := "/confirm-access?next=" + url.QueryEscape(tt.back)
			webtest.WantRedirect(t, res, confirm)
			if got := c.SignedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("the refused action changed the account: signed in as %q", got)
			}
			page := c.Get(srv.URL + confirm)
			webtest.WantStatus(t, page, http.StatusOK)
			if got := page.Doc(t).Find(`form[action="/confirm-access"] input[name="next"]`).AttrOr("value", ""); got != tt.back {
				t.Errorf("confirm page next = %q, want %q", got, tt.back)
			}
			wrong := c.Post(srv.URL+"/confirm-access", url.Values{"password": {"not my password"}, "next": {tt.back}})
			webtest.WantStatus(t, wrong, http.StatusUnprocessableEntity)
			webtest.WantRedirect(t, c.Post(srv.URL+tt.path, tt.form), confirm)

			webtest.WantRedirect(t, c.Post(srv.URL+"/confirm-access", url.Values{"password": {webtest.Password}, "next": {tt.back}}), tt.back)
			if tt.path == "/account/recovery-codes" || tt.path == "/account/totp/disable" {
				enableTOTP(t, c, srv.URL, clk.Now())
			}
			tt.done(t, c.Post(srv.URL+tt.path, tt.form))
		})
	}
}

// TestConfirmAccess checks the confirmation page itself: next only to a
// local path, a code accepted when the app is on, and a recent login
// passing straight through.
func TestConfirmAccess(t *testing.T) {
	sh := newShared(t, "memory")
	clk := newClock()
	srv := newInstance(t, sh, options{clock: clk})
	c := webtest.NewClient(t)
	c.SignUp(srv.URL, "ann@example.com", webtest.Password)
	tf := enableTOTP(t, c, srv.URL, clk.Now())

	webtest.WantRedirect(t, c.Get(srv.URL+"/confirm-access?next=%2Faccount%2Fsessions"), "/account/sessions")
	clk.Add(auth.ReauthWindow + time.Minute)
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
		res := c.Post(srv.URL+"/confirm-access", url.Values{"password": {webtest.Password}, "next": {next}})
		webtest.WantRedirect(t, res, "/account/security")
		clk.Add(auth.ReauthWindow + time.Minute)
	}
	page := c.Get(srv.URL + "/confirm-access?next=%2Faccount")
	webtest.WantStatus(t, page, http.StatusOK)
	if page.Doc(t).Find("input#code").Length() != 1 {
		t.Fatal("the confirm page offers no code field with the app on")
	}
	webtest.WantRedirect(t, c.Post(srv.URL+"/confirm-access", url.Values{"code": {tf.code(t, clk.Now())}, "next": {"/account"}}), "/account")
	webtest.WantRedirect(t, c.Post(srv.URL+"/account/sessions/revoke-others", nil), "/account/sessions")
}

// TestFactorNotices checks that switching the app on and off and using a
// recovery code each queue one mail in the outbox, and that the mail
// reaches the user, saying what happened with a link to the security page.
func TestFactorNotices(t *testing.T) {
	sh := newShared(t, "memory")
	clk := newClock()
	srv := newInstance(t, sh, options{clock: clk})
	c := webtest.NewClient(t)
	c.SignUp(srv.URL, "ann@example.com", webtest.Password)
	tf := enableTOTP(t, c, srv.URL, clk.Now())
	webtest.WantRedirect(t, c.Post(srv.URL+"/logout", nil), "/")
	logInPending(t, c, srv.URL, "ann@example.com")
	webtest.WantRedirect(t, c.Post(srv.URL+"/login/second-factor", url.Values{"recovery_code": {tf.codes[0]}}), "/account")
	webtest.WantRedirect(t, c.Post(srv.URL+"/account/totp/disable", nil), "/account/security")
	for _, kind := range []auth.NoticeKind{auth.NoticeTOTPEnabled, auth.NoticeRecoveryCodeUsed, auth.NoticeTOTPDisabled} {
		if n := sh.mailCount(t, string(kind), "ann@example.com"); n != 1 {
			t.Errorf("%s: %d mails queued, want 1", kind, n)
		}
	}
	sh.mailWith(t, "ann@example.com", "Two-step login is on", 1)
	sh.mailWith(t, "ann@example.com", "Two-step login is off", 1)
	m := sh.mailWith(t, "ann@example.com", "A recovery code was used", 1)
	for _, want := range []string{"Recovery codes left: 9", publicURL + "/account/security", publicURL + "/password/forgot"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("recovery-code notice lacks %q:\n%s", want, m.Text)
		}
	}
}

// TestSecondStepEmptyForms checks that each of the second step's forms,
// sent empty, comes back with the error on its own field.
func TestSecondStepEmptyForms(t *testing.T) {
	sh := newShared(t, "memory")
	srv := newInstance(t, sh, options{})
	c := webtest.NewClient(t)
	c.SignUp(srv.URL, "ann@example.com", webtest.Password)
	enableTOTP(t, c, srv.URL, time.Now())
	webtest.WantRedirect(t, c.Post(srv.URL+"/logout", nil), "/")
	logInPending(t, c, srv.URL, "ann@example.com")
	for _, tt := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"code": {""}}, "code"},
		{url.Values{"method": {"recovery"}, "recovery_code": {" "}}, "recovery_code"},
	} {
		res := c.Post(srv.URL+"/login/second-factor", tt.form)
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		if res.Doc(t).Find("#"+tt.field+"-error").Length() != 1 {
			t.Errorf("%v: no error on %s", tt.form, tt.field)
		}
	}
}

// TestFactorAudit checks that the factor events leave audit records with
// the user, and that no log line holds the secret or a recovery code.
func TestFactorAudit(t *testing.T) {
	logs := &webtest.SyncBuffer{}
	sh := newShared(t, "memory")
	clk := newClock()
	srv := newInstance(t, sh, options{logs: logs, clock: clk})
	c := webtest.NewClient(t)
	c.SignUp(srv.URL, "ann@example.com", webtest.Password)
	uid := fmt.Sprint(sh.userID(t, "ann@example.com"))
	tf := enableTOTP(t, c, srv.URL, clk.Now())
	webtest.WantStatus(t, c.Post(srv.URL+"/account/recovery-codes", nil), http.StatusOK)
	webtest.WantRedirect(t, c.Post(srv.URL+"/logout", nil), "/")
	logInPending(t, c, srv.URL, "ann@example.com")
	webtest.WantStatus(t, c.Post(srv.URL+"/login/second-factor", url.Values{"code": {"99999x"}}), http.StatusUnprocessableEntity)
	code := tf.code(t, clk.Now())
	webtest.WantRedirect(t, c.Post(srv.URL+"/login/second-factor", url.Values{"code": {code}}), "/account")
	clk.Add(auth.ReauthWindow + time.Minute)
	webtest.WantStatus(t, c.Post(srv.URL+"/confirm-access", url.Values{"password": {"wrong password here"}}), http.StatusUnprocessableEntity)
	webtest.WantRedirect(t, c.Post(srv.URL+"/confirm-access", url.Values{"password": {webtest.Password}}), "/account/security")
	webtest.WantRedirect(t, c.Post(srv.URL+"/account/totp/disable", nil), "/account/security")

	var got []string
	for _, r := range auditRecords(t, logs.String()) {
		if r["user_id"] == uid {
			got = append(got, r["event"])
		}
	}
	for _, want := range []string{"totp_setup_started", "code_failure", "totp_enabled", "notice", "recovery_codes_regenerated",
		"second_factor_required", "login_success", "reauth_failure", "reauthenticated", "totp_disabled"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s audit record; got %v", want, got)
		}
	}
	for _, secret := range append([]string{tf.secret}, tf.codes...) {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret value %q", secret)
		}
	}
}
