package app_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/smtptest"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// backends are the session store and database pairs the mail flows run
// on: every session store and every database at least once.
var backends = []struct{ name, store, db string }{
	{"memory+sqlite", "memory", "sqlite"},
	{"redis+sqlite", "redis", "sqlite"},
	{"memory+postgres", "memory", "postgres"},
	{"redis+postgres", "redis", "postgres"},
}

// newSharedFor opens the shared state of a backend pair.
func newSharedFor(t *testing.T, store, db string) *shared {
	t.Helper()
	if db == "postgres" {
		return newSharedOn(t, store, testenv.PostgresURL(t))
	}
	return newShared(t, store)
}

const newPassword = "a brand new passphrase here"

// mailWith waits until addr received n mails whose subject contains
// subject, and returns the n-th (1-based).
func (sh *shared) mailWith(t *testing.T, addr, subject string, n int) smtptest.Mail {
	t.Helper()
	var found []smtptest.Mail
	sh.sink.Wait(t, fmt.Sprintf("mail %d to %s about %q", n, addr, subject), func([]smtptest.Mail) bool {
		found = found[:0]
		for _, m := range sh.sink.MailsTo(addr) {
			if strings.Contains(m.Subject, subject) {
				found = append(found, m)
			}
		}
		return len(found) >= n
	})
	return found[n-1]
}

// mailCount returns how many mails of kind the outbox holds for addr,
// sent or not: what requests queued, without waiting for delivery.
func (sh *shared) mailCount(t *testing.T, kind, addr string) int {
	t.Helper()
	var n int
	if err := sh.db.SQL().QueryRow(`SELECT count(*) FROM mail_outbox WHERE kind = $1 AND recipient = $2`, kind, addr).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// link returns the link of m that contains path, or fails.
func link(t *testing.T, m smtptest.Mail, path string) string {
	t.Helper()
	l := m.Link(path)
	if l == "" {
		t.Fatalf("mail %q has no link to %s:\n%s", m.Subject, path, m.Text)
	}
	if !strings.Contains(m.HTML, strings.ReplaceAll(l, "&", "&amp;")) {
		t.Fatalf("the HTML part of %q lacks the link %s", m.Subject, l)
	}
	return l
}

func forgot(t *testing.T, c *webtest.Client, srv *instance, email string) *webtest.Response {
	t.Helper()
	return c.Post(srv.URL+"/password/forgot", url.Values{"email": {email}})
}

// resetForm opens a reset link and returns the token of its form.
func resetForm(t *testing.T, c *webtest.Client, srv *instance, l string) string {
	t.Helper()
	res := c.Get(srv.follow(t, l))
	webtest.WantStatus(t, res, http.StatusOK)
	tok, ok := res.Doc(t).Find(`form[action="/password/reset"] input[name="token"]`).Attr("value")
	if !ok || tok == "" {
		t.Fatalf("reset page has no token field:\n%s", res.Body)
	}
	return tok
}

func wantBadLink(t *testing.T, res *webtest.Response, askAgain string) {
	t.Helper()
	if res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Fatalf("%s %s: status %d, want 4xx", res.Request.Method, res.Request.URL.Path, res.StatusCode)
	}
	if got, _ := res.Doc(t).Find("#ask-again").Attr("href"); got != askAgain {
		t.Fatalf("dead-link page offers %q, want %q:\n%.600s", got, askAgain, res.Body)
	}
}

// TestPasswordResetFlow walks forgot → mail → link → new password → log
// in through real SMTP, with sessions on a second instance ended.
func TestPasswordResetFlow(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			sh := newSharedFor(t, b.store, b.db)
			logs := &webtest.SyncBuffer{}
			srv1, srv2 := newInstance(t, sh, options{logs: logs}), newInstance(t, sh, options{})
			const email = "ann@example.com"
			webtest.NewClient(t).SignUp(srv1.URL, email, webtest.Password)
			// Signed in on the other instance, remembered: the reset ends it.
			other := webtest.NewClient(t)
			other.LogIn(srv2.URL, email, webtest.Password, true)

			c := webtest.NewClient(t)
			login := c.Get(srv1.URL + "/login")
			if href, _ := login.Doc(t).Find("#forgot-link").Attr("href"); href != "/password/forgot" {
				t.Fatalf("login page links %q, want /password/forgot", href)
			}
			res := forgot(t, c, srv1, email)
			webtest.WantStatus(t, res, http.StatusOK)
			if res.Doc(t).Find("#forgot-sent").Length() != 1 {
				t.Fatalf("no confirmation on the forgot page:\n%s", res.Body)
			}
			m := sh.mailWith(t, email, "Reset your", 1)
			if !strings.Contains(m.Text, "1 hour") || !strings.Contains(m.Text, "If this was not you") {
				t.Errorf("reset mail lacks its validity or what to do if it was not you:\n%s", m.Text)
			}
			l := link(t, m, "/password/reset?token=")

			// Opening the link twice changes nothing (mail scanners).
			resetForm(t, c, srv1, l)
			tok := resetForm(t, c, srv2, l)

			res = c.Post(srv1.URL+"/password/reset", url.Values{"token": {tok}, "new_password": {"short"}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			if got := res.Doc(t).Find("#new_password-error").Text(); !strings.Contains(got, "at least 8") {
				t.Fatalf("policy error = %q", got)
			}
			res = c.Post(srv1.URL+"/password/reset", url.Values{"token": {tok}, "new_password": {newPassword}})
			webtest.WantRedirect(t, res, "/login")
			if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy = %q, want no-referrer", got)
			}
			res = c.Get(srv1.URL + "/login")
			if got := res.Doc(t).Find(".alert-info").Text(); !strings.Contains(got, "password has been reset") {
				t.Errorf("login page notice = %q", got)
			}

			if got := other.SignedInAs(srv2.URL); got != "" {
				t.Fatalf("session on the other instance still signed in as %q after the reset", got)
			}
			res = webtest.NewClient(t).Post(srv2.URL+"/login", url.Values{"email": {email}, "password": {webtest.Password}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			c.LogIn(srv2.URL, email, newPassword, false)

			if !strings.Contains(logs.String(), "event=password_reset") {
				t.Error("no password_reset audit event in the log")
			}
			notice := sh.mailWith(t, email, "password was changed", 1)
			if link(t, notice, "/password/forgot") == "" {
				t.Fatal("notice has no way to secure the account")
			}
			// The link worked once.
			wantBadLink(t, c.Get(srv1.follow(t, l)), "/password/forgot")
			wantBadLink(t, c.Post(srv1.URL+"/password/reset", url.Values{"token": {tok}, "new_password": {"another good passphrase"}}),
				"/password/forgot")
		})
	}
}

// TestForgotSamePage: a known and an unknown address get the same page
// (but for the address shown), status and cookies; only the known one is
// mailed.
func TestForgotSamePage(t *testing.T) {
	sh := newShared(t, "memory")
	srv := newInstance(t, sh, options{})
	webtest.NewClient(t).SignUp(srv.URL, "known@example.com", webtest.Password)

	known := forgot(t, webtest.NewClient(t), srv, "known@example.com")
	unknown := forgot(t, webtest.NewClient(t), srv, "unknown@example.com")
	if known.StatusCode != http.StatusOK || unknown.StatusCode != http.StatusOK {
		t.Fatalf("statuses %d and %d, want 200 both", known.StatusCode, unknown.StatusCode)
	}
	if a, b := strings.ReplaceAll(known.Body, "known@", "X@"), strings.ReplaceAll(unknown.Body, "unknown@", "X@"); a != b {
		t.Fatalf("pages differ:\n%s\n---\n%s", a, b)
	}
	if len(known.Cookies()) != 0 || len(unknown.Cookies()) != 0 {
		t.Fatalf("cookies set: %v / %v", known.Cookies(), unknown.Cookies())
	}
	sh.mailWith(t, "known@example.com", "Reset your", 1)
	if n := sh.mailCount(t, "password_reset", "unknown@example.com"); n != 0 {
		t.Fatalf("%d reset mails queued for an unknown address", n)
	}
	t.Run("invalid address", func(t *testing.T) {
		res := forgot(t, webtest.NewClient(t), srv, "not an address")
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	})
}

// TestResetTokens covers the links that must not work.
func TestResetTokens(t *testing.T) {
	for _, dbName := range []string{"sqlite", "postgres"} {
		t.Run(dbName, func(t *testing.T) {
			sh := newSharedFor(t, "memory", dbName)
			srv := newInstance(t, sh, options{maxMails: 20})
			const email = "ann@example.com"
			webtest.NewClient(t).SignUp(srv.URL, email, webtest.Password)
			c := webtest.NewClient(t)
			post := func(tok string) *webtest.Response {
				return c.Post(srv.URL+"/password/reset", url.Values{"token": {tok}, "new_password": {newPassword}})
			}

			t.Run("superseded", func(t *testing.T) {
				forgot(t, c, srv, email)
				first := link(t, sh.mailWith(t, email, "Reset your", 1), "token=")
				forgot(t, c, srv, email)
				second := link(t, sh.mailWith(t, email, "Reset your", 2), "token=")
				wantBadLink(t, c.Get(srv.follow(t, first)), "/password/forgot")
				resetForm(t, c, srv, second)
			})
			t.Run("expired", func(t *testing.T) {
				forgot(t, c, srv, email)
				l := link(t, sh.mailWith(t, email, "Reset your", 3), "token=")
				tok := resetForm(t, c, srv, l)
				if _, err := sh.db.SQL().Exec(`UPDATE one_time_tokens SET expires_at = created_at`); err != nil {
					t.Fatal(err)
				}
				wantBadLink(t, c.Get(srv.follow(t, l)), "/password/forgot")
				wantBadLink(t, post(tok), "/password/forgot")
			})
			t.Run("tampered", func(t *testing.T) {
				forgot(t, c, srv, email)
				tok := resetForm(t, c, srv, link(t, sh.mailWith(t, email, "Reset your", 4), "token="))
				flipped := []byte(tok)
				flipped[3] ^= 1
				for name, bad := range map[string]string{
					"one character": string(flipped), "truncated": tok[:len(tok)-1], "longer": tok + "A",
					"empty": "", "not base64": strings.Repeat("*", len(tok)),
				} {
					t.Run(name, func(t *testing.T) {
						wantBadLink(t, c.Get(srv.URL+"/password/reset?token="+url.QueryEscape(bad)), "/password/forgot")
						wantBadLink(t, post(bad), "/password/forgot")
					})
				}
				// The real one still works.
				webtest.WantRedirect(t, post(tok), "/login")
			})
			t.Run("wrong purpose", func(t *testing.T) {
				const other = "bob@example.com"
				webtest.NewClient(t).SignUp(srv.URL, other, webtest.Password)
				verify := link(t, sh.mailWith(t, other, "Confirm your address", 1), "/email/verify?token=")
				tok := strings.SplitN(verify, "token=", 2)[1]
				wantBadLink(t, c.Get(srv.URL+"/password/reset?token="+tok), "/password/forgot")
				wantBadLink(t, post(tok), "/password/forgot")
				// And a reset link cannot verify an address.
				forgot(t, c, srv, other)
				reset := link(t, sh.mailWith(t, other, "Reset your", 1), "token=")
				rtok := strings.SplitN(reset, "token=", 2)[1]
				wantBadLink(t, c.Get(srv.URL+"/email/verify?token="+rtok), "/login")
				wantBadLink(t, c.Post(srv.URL+"/email/verify", url.Values{"token": {rtok}}), "/login")
			})
		})
	}
}

// TestVerificationOptional: the account works at once, a banner asks to
// verify, "resend" supersedes the first link, the link confirms.
func TestVerificationOptional(t *testing.T) {
	for _, b := range backends[:2] {
		t.Run(b.name, func(t *testing.T) {
			sh := newSharedFor(t, b.store, b.db)
			srv := newInstance(t, sh, options{})
			const email = "ann@example.com"
			c := webtest.NewClient(t)
			c.SignUp(srv.URL, email, webtest.Password)
			res := c.Get(srv.URL + "/account")
			if res.Doc(t).Find("#verify-banner").Length() != 1 {
				t.Fatal("no verification banner on the account page")
			}
			first := link(t, sh.mailWith(t, email, "Confirm your address", 1), "/email/verify?token=")

			webtest.WantRedirect(t, c.Post(srv.URL+"/email/verify/resend", nil), "/account")
			second := link(t, sh.mailWith(t, email, "Confirm your address", 2), "/email/verify?token=")
			wantBadLink(t, c.Get(srv.follow(t, first)), "/account")

			res = c.Get(srv.follow(t, second))
			webtest.WantStatus(t, res, http.StatusOK)
			if c.Get(srv.URL+"/account").Doc(t).Find("#verify-banner").Length() != 1 {
				t.Fatal("opening the link verified the address: GET must change nothing")
			}
			tok, _ := res.Doc(t).Find(`form[action="/email/verify"] input[name="token"]`).Attr("value")
			webtest.WantRedirect(t, c.Post(srv.URL+"/email/verify", url.Values{"token": {tok}}), "/account")
			doc := c.Get(srv.URL + "/account").Doc(t)
			if doc.Find("#verify-banner").Length() != 0 {
				t.Fatal("banner still shown after verification")
			}
			if got := doc.Find("#email-status").Text(); !strings.Contains(got, "confirmed") {
				t.Fatalf("email status %q", got)
			}
			wantBadLink(t, c.Post(srv.URL+"/email/verify", url.Values{"token": {tok}}), "/account")
		})
	}
}

// TestVerificationRequired: sign-up answers one page for new and taken
// addresses and signs nobody in; the owner of a taken address is mailed;
// an unverified account cannot log in until it follows its link.
func TestVerificationRequired(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			sh := newSharedFor(t, b.store, b.db)
			srv := newInstance(t, sh, options{requireVerification: true})
			const email = "ann@example.com"
			signup := func(addr string) *webtest.Response {
				return webtest.NewClient(t).Post(srv.URL+"/signup", url.Values{"email": {addr}, "password": {webtest.Password}})
			}
			fresh := signup(email)
			webtest.WantStatus(t, fresh, http.StatusOK)
			if fresh.Cookie("sid") != nil {
				t.Fatal("sign-up set a session cookie")
			}
			taken := signup(email)
			webtest.WantStatus(t, taken, http.StatusOK)
			if fresh.Body != taken.Body || taken.Cookie("sid") != nil {
				t.Fatalf("pages for a new and a taken address differ:\n%s\n---\n%s", fresh.Body, taken.Body)
			}
			if fresh.Doc(t).Find("#check-email").Length() != 1 {
				t.Fatalf("no check-your-email page:\n%s", fresh.Body)
			}
			owner := sh.mailWith(t, email, "tried to sign up", 1)
			link(t, owner, "/password/forgot")
			link(t, owner, "/login")

			// Log-in before verification: the same page, nobody signed in.
			c := webtest.NewClient(t)
			res := c.Post(srv.URL+"/login", url.Values{"email": {email}, "password": {webtest.Password}})
			webtest.WantStatus(t, res, http.StatusOK)
			if res.Doc(t).Find("#check-email").Length() != 1 || c.SignedInAs(srv.URL) != "" {
				t.Fatalf("unverified log-in: want the check-your-email page and no session:\n%s", res.Body)
			}
			// Resend from that page.
			webtest.WantStatus(t, c.Post(srv.URL+"/email/verify/resend", url.Values{"email": {email}}), http.StatusOK)
			l := link(t, sh.mailWith(t, email, "Confirm your address", 2), "/email/verify?token=")
			tok, _ := c.Get(srv.follow(t, l)).Doc(t).Find(`input[name="token"]`).Attr("value")
			webtest.WantRedirect(t, c.Post(srv.URL+"/email/verify", url.Values{"token": {tok}}), "/login")
			c.LogIn(srv.URL, email, webtest.Password, false)
			// Resending to an unknown address answers alike and mails nobody.
			res = webtest.NewClient(t).Post(srv.URL+"/email/verify/resend", url.Values{"email": {"nobody@example.com"}})
			webtest.WantStatus(t, res, http.StatusOK)
			if n := sh.mailCount(t, "verify_email", "nobody@example.com"); n != 0 {
				t.Fatalf("%d mails queued for an unknown address", n)
			}
		})
	}
}

// TestEmailChange: the link goes to the new address, the old one is told,
// the change happens only when the link is followed, and a taken address
// gives no hint.
func TestEmailChange(t *testing.T) {
	for _, b := range backends[:2] {
		t.Run(b.name, func(t *testing.T) {
			sh := newSharedFor(t, b.store, b.db)
			logs := &webtest.SyncBuffer{}
			srv := newInstance(t, sh, options{logs: logs})
			const email, next, taken = "ann@example.com", "ann.new@example.com", "bob@example.com"
			webtest.NewClient(t).SignUp(srv.URL, taken, webtest.Password)
			c := webtest.NewClient(t)
			c.SignUp(srv.URL, email, webtest.Password)
			change := func(to, password string) *webtest.Response {
				return c.Post(srv.URL+"/account/email", url.Values{"new_email": {to}, "password": {password}})
			}
			for _, tt := range []struct{ name, to, password, field string }{
				{"wrong password", next, "wrong password!", "password"},
				{"same address", email, webtest.Password, "new_email"},
				{"invalid address", "nope", webtest.Password, "new_email"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					res := change(tt.to, tt.password)
					webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
					if res.Doc(t).Find("#"+tt.field+"-error").Length() != 1 {
						t.Fatalf("no error on %s:\n%.800s", tt.field, res.Body)
					}
				})
			}

			webtest.WantRedirect(t, change(taken, webtest.Password), "/account")
			sh.mailWith(t, taken, "move a", 1)
			sh.mailWith(t, email, "about to change", 1)

			webtest.WantRedirect(t, change(next, webtest.Password), "/account")
			told := sh.mailWith(t, email, "about to change", 2)
			if !strings.Contains(told.Text, next) {
				t.Errorf("old address not told the new one:\n%s", told.Text)
			}
			l := link(t, sh.mailWith(t, next, "Confirm your new address", 1), "/email/verify?token=")
			if got := c.SignedInAs(srv.URL); got != email {
				t.Fatalf("address changed before the link was followed: %q", got)
			}
			res := c.Get(srv.follow(t, l))
			webtest.WantStatus(t, res, http.StatusOK)
			tok, _ := res.Doc(t).Find(`input[name="token"]`).Attr("value")
			webtest.WantRedirect(t, c.Post(srv.URL+"/email/verify", url.Values{"token": {tok}}), "/account")
			if got := c.SignedInAs(srv.URL); got != next {
				t.Fatalf("signed in as %q after the change, want %s", got, next)
			}
			if c.Get(srv.URL+"/account").Doc(t).Find("#verify-banner").Length() != 0 {
				t.Fatal("the new address is not counted as verified")
			}
			webtest.NewClient(t).LogIn(srv.URL, next, webtest.Password, false)
			if !strings.Contains(logs.String(), "event=email_changed") {
				t.Error("no email_changed audit event in the log")
			}

			t.Run("taken meanwhile", func(t *testing.T) {
				const later = "carol@example.com"
				webtest.WantRedirect(t, change(later, webtest.Password), "/account")
				l := link(t, sh.mailWith(t, later, "Confirm your new address", 1), "/email/verify?token=")
				webtest.NewClient(t).SignUp(srv.URL, later, webtest.Password)
				tok, _ := c.Get(srv.follow(t, l)).Doc(t).Find(`input[name="token"]`).Attr("value")
				res := c.Post(srv.URL+"/email/verify", url.Values{"token": {tok}})
				webtest.WantStatus(t, res, http.StatusConflict)
				if got := c.SignedInAs(srv.URL); got != next {
					t.Fatalf("signed in as %q, want %s unchanged", got, next)
				}
			})
		})
	}
}

// TestNewDeviceNotice: a log-in queues the notice with when, browser,
// IP and the sessions page, unless NOTIFY_NEW_DEVICE is off.
func TestNewDeviceNotice(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("notify=", on), func(t *testing.T) {
			sh := newShared(t, "memory")
			srv := newInstance(t, sh, options{notifyNewDevice: on})
			const email = "ann@example.com"
			webtest.NewClient(t).SignUp(srv.URL, email, webtest.Password)
			c := webtest.NewClient(t)
			c.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
			c.LogIn(srv.URL, email, webtest.Password, false)
			if !on {
				if n := sh.mailCount(t, "new_device", email); n != 0 {
					t.Fatalf("%d notices queued with NOTIFY_NEW_DEVICE=false", n)
				}
				return
			}
			m := sh.mailWith(t, email, "New sign-in", 1)
			for _, want := range []string{"Firefox on Linux", "127.0.0.1", " UTC"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("notice lacks %q:\n%s", want, m.Text)
				}
			}
			link(t, m, "/account/sessions")
		})
	}
}

// TestSignupBrowserIsKnown: the browser that signed up holds a device
// cookie for the account, so logging in again from it mails no new-device
// notice; another browser's login does.
func TestSignupBrowserIsKnown(t *testing.T) {
	sh := newShared(t, "memory")
	srv := newInstance(t, sh, options{notifyNewDevice: true})
	const email = "ann@example.com"
	own := webtest.NewClient(t)
	own.SignUp(srv.URL, email, webtest.Password)
	webtest.WantRedirect(t, own.Post(srv.URL+"/logout", nil), "/")
	own.LogIn(srv.URL, email, webtest.Password, false)
	if n := sh.mailCount(t, "new_device", email); n != 0 {
		t.Fatalf("%d new-device notices after a login from the browser that signed up, want 0", n)
	}
	webtest.NewClient(t).LogIn(srv.URL, email, webtest.Password, false)
	if n := sh.mailCount(t, "new_device", email); n != 1 {
		t.Fatalf("%d new-device notices after a login from another browser, want 1", n)
	}
}

// TestMailThrottle: requests that mail an address are limited per address
// (known or not, alike) and per client IP.
func TestMailThrottle(t *testing.T) {
	sh := newShared(t, "memory")
	srv := newInstance(t, sh, options{maxMails: 2})
	webtest.NewClient(t).SignUp(srv.URL, "known@example.com", webtest.Password) // the first mail to known@
	for _, addr := range []string{"known@example.com", "unknown@example.com"} {
		t.Run(addr, func(t *testing.T) {
			c := webtest.NewClient(t)
			n := 0
			for range 4 {
				res := forgot(t, c, srv, addr)
				if res.StatusCode == http.StatusTooManyRequests {
					if res.Header.Get("Retry-After") == "" {
						t.Fatal("429 without Retry-After")
					}
					break
				}
				webtest.WantStatus(t, res, http.StatusOK)
				n++
			}
			want := 2
			if addr == "known@example.com" {
				want = 1 // sign-up counted
			}
			if n != want {
				t.Fatalf("%d requests passed, want %d", n, want)
			}
		})
	}
}

// TestMailOutage: the mail server is down while resets are asked for;
// when it is back, every mail arrives exactly once, with two instances
// sending from one outbox.
func TestMailOutage(t *testing.T) {
	for _, b := range []struct{ name, store, db string }{{"sqlite", "memory", "sqlite"}, {"postgres", "redis", "postgres"}} {
		t.Run(b.name, func(t *testing.T) {
			sh := newSharedFor(t, b.store, b.db)
			srv1 := newInstance(t, sh, options{maxMails: 50})
			instances := []*instance{srv1}
			if b.db == "postgres" {
				instances = append(instances, newInstance(t, sh, options{maxMails: 50}))
			}
			const n = 6
			var addrs []string
			for i := range n {
				addr := fmt.Sprintf("user%d@example.com", i)
				addrs = append(addrs, addr)
				res := webtest.NewClient(t).Post(srv1.URL+"/signup", url.Values{"email": {addr}, "password": {webtest.Password}})
				webtest.WantRedirect(t, res, "/account")
				sh.mailWith(t, addr, "Confirm your address", 1)
			}
			sh.waitPending(t, 0) // every confirmation marked sent
			sh.sink.Stop()
			for i, addr := range addrs {
				srv := instances[i%len(instances)]
				webtest.WantStatus(t, forgot(t, webtest.NewClient(t), srv, addr), http.StatusOK)
			}
			time.Sleep(200 * time.Millisecond) // senders fail and back off
			if pending, _, err := sh.db.Pending(context.Background()); err != nil || pending != n {
				t.Fatalf("pending during the outage = %d (%v), want %d", pending, err, n)
			}
			for _, srv := range instances {
				if got := counterValue(t, srv, "mail_send_failures_total"); got == 0 {
					t.Errorf("an instance counted no failed attempts during the outage")
				}
			}
			sh.sink.Restart()
			for _, addr := range addrs {
				sh.mailWith(t, addr, "Reset your", 1)
			}
			time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
			for _, addr := range addrs {
				if got := len(sh.sink.MailsTo(addr)); got != 2 {
					t.Errorf("%s received %d mails, want 2 (confirmation, reset)", addr, got)
				}
			}
		})
	}
}

// waitPending waits until the outbox holds n unsent mails.
func (sh *shared) waitPending(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, _, err := sh.db.Pending(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox holds %d unsent mails, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counterValue sums the series of a counter on srv's /metrics.
func counterValue(t *testing.T, srv *instance, name string) float64 {
	t.Helper()
	res := webtest.NewClient(t).Get(srv.URL + "/metrics")
	webtest.WantStatus(t, res, http.StatusOK)
	total := 0.0
	for _, line := range strings.Split(res.Body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += v
	}
	return total
}

// BenchmarkForgot measures "Forgot your password?" for an address with an
// account (a token and a mail written) and one without (nothing written):
// the two must take the same time.
func BenchmarkForgot(b *testing.B) {
	sh := newShared(b, "memory")
	srv := newInstance(b, sh, options{maxMails: 1 << 30, maxMailsPerIP: 1 << 30, noSender: true})
	c := webtest.NewClient(b)
	c.SignUp(srv.URL, "known@example.com", webtest.Password)
	for _, addr := range []string{"known@example.com", "unknown@example.com"} {
		b.Run(strings.Split(addr, "@")[0], func(b *testing.B) {
			form := url.Values{"email": {addr}}
			for b.Loop() {
				if res := c.Post(srv.URL+"/password/forgot", form); res.StatusCode != http.StatusOK {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	}
}

// TestRequestsNeverWaitForSMTP: with a mail server that accepts
// connections and never answers, the sender hangs in it, and requests
// that queue mail still answer at once.
func TestRequestsNeverWaitForSMTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, silent
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	sh := newShared(t, "memory")
	srv := newInstance(t, sh, options{mailURL: "smtp://" + ln.Addr().String()})
	c := webtest.NewClient(t)
	c.SignUp(srv.URL, "ann@example.com", webtest.Password) // queues a confirmation
	select {
	case conn := <-accepted:
		accepted <- conn // keep it for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("the sender never connected to the mail server")
	}
	// The sender is now stuck on the silent server; requests go on.
	webtest.WantStatus(t, forgot(t, c, srv, "ann@example.com"), http.StatusOK)
	webtest.WantRedirect(t, c.Post(srv.URL+"/email/verify/resend", nil), "/account")
	if n := sh.mailCount(t, "password_reset", "ann@example.com"); n != 1 {
		t.Fatalf("%d reset mails queued, want 1", n)
	}
}
