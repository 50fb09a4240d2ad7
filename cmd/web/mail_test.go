package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/smtptest"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// mailEnv points the service at a fresh SMTP sink, with PUBLIC_URL its
// own address by name (localhost: passkeys need a domain), and returns the
// variables and the sink.
func mailEnv(t *testing.T) (map[string]string, *smtptest.Server) {
	t.Helper()
	sink := smtptest.Start(t)
	addr := freeAddr(t)
	return map[string]string{
		"ADDR":       addr,
		"PUBLIC_URL": localURL(t, addr),
		"MAIL_URL":   sink.URL(),
		"MAIL_FROM":  "Sessionlogin <accounts@example.com>",
	}, sink
}

// TestEndToEndMail drives run with MAIL_URL at a real SMTP server, on
// Redis and PostgreSQL: sign-up with required verification (the link
// confirms, then log-in works), password reset through the mailed link,
// and a new-device notice, each through the mail the server received.
func TestEndToEndMail(t *testing.T) {
	env, sink := mailEnv(t)
	for k, v := range redisEnv(t) {
		env[k] = v
	}
	env["DATABASE_URL"] = testenv.PostgresURL(t)
	env["EMAIL_VERIFICATION"] = "required"
	srv := startServer(t, env)
	email := e2eEmail()

	c := webtest.NewClient(t)
	res := c.Post(srv.URL+"/signup", url.Values{"email": {email}, "password": {webtest.Password}})
	webtest.WantStatus(t, res, http.StatusOK)
	if res.Doc(t).Find("#check-email").Length() != 1 {
		t.Fatalf("sign-up with verification required: no check-your-email page:\n%s", res.Body)
	}
	confirm := sink.WaitCount(t, email, 1)[0]
	if confirm.From != "accounts@example.com" || !strings.Contains(confirm.Subject, "Confirm") {
		t.Fatalf("first mail: from %q, subject %q", confirm.From, confirm.Subject)
	}
	link := confirm.Link(srv.URL + "/email/verify?token=")
	if link == "" {
		t.Fatalf("no link to %s in:\n%s", srv.URL, confirm.Text)
	}
	tok, _ := c.Get(link).Doc(t).Find(`input[name="token"]`).Attr("value")
	webtest.WantRedirect(t, c.Post(srv.URL+"/email/verify", url.Values{"token": {tok}}), "/login")
	c.LogIn(srv.URL, email, webtest.Password, false)
	if m := sink.WaitCount(t, email, 2)[1]; !strings.Contains(m.Subject, "New sign-in") {
		t.Fatalf("second mail %q, want the new-device notice", m.Subject)
	}

	res = webtest.NewClient(t).Post(srv.URL+"/password/forgot", url.Values{"email": {email}})
	webtest.WantStatus(t, res, http.StatusOK)
	reset := sink.WaitCount(t, email, 3)[2]
	link = reset.Link(srv.URL + "/password/reset?token=")
	if link == "" {
		t.Fatalf("no reset link in:\n%s", reset.Text)
	}
	r := webtest.NewClient(t)
	tok, _ = r.Get(link).Doc(t).Find(`input[name="token"]`).Attr("value")
	webtest.WantRedirect(t, r.Post(srv.URL+"/password/reset", url.Values{"token": {tok}, "new_password": {"another long passphrase"}}), "/login")
	if got := c.SignedInAs(srv.URL); got != "" {
		t.Fatalf("session before the reset still signed in as %q", got)
	}
	r.LogIn(srv.URL, email, "another long passphrase", false)
	if m := sink.WaitCount(t, email, 4)[3]; !strings.Contains(m.Subject, "password was changed") {
		t.Fatalf("fourth mail %q, want the password-changed notice", m.Subject)
	}

	// The last mail is marked sent just after the server took it.
	deadline := time.Now().Add(15 * time.Second)
	for _, want := range []string{`mail_sent_total{kind="password_reset"} 1`, "mail_outbox_pending 0"} {
		for !strings.Contains(webtest.NewClient(t).Get(srv.URL+"/metrics").Body, want) {
			if time.Now().After(deadline) {
				t.Fatalf("/metrics lacks %q", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestLogMailer: with the default MAIL_URL (log:), mails and their links
// are written to the log, so a reset works with no mail server.
func TestLogMailer(t *testing.T) {
	addr := freeAddr(t)
	srv := startServer(t, map[string]string{"ADDR": addr, "PUBLIC_URL": localURL(t, addr)})
	email := e2eEmail()
	webtest.NewClient(t).SignUp(srv.URL, email, webtest.Password)
	webtest.WantStatus(t, webtest.NewClient(t).Post(srv.URL+"/password/forgot", url.Values{"email": {email}}), http.StatusOK)
	linkRE := regexp.MustCompile(regexp.QuoteMeta(srv.URL) + `/password/reset\?token=[A-Za-z0-9_-]{43}`)
	deadline := time.Now().Add(15 * time.Second)
	for !linkRE.MatchString(srv.Logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no reset link in the log:\n%s", srv.Logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	link := linkRE.FindString(srv.Logs.String())
	webtest.WantStatus(t, webtest.NewClient(t).Get(link), http.StatusOK)
}
