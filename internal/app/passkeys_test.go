package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// ceremony asks for a ceremony's options as the passkey script does.
func ceremony(c *webtest.Client, u string) *webtest.Response {
	return c.Send(http.MethodPost, u, strings.NewReader("{}"), http.Header{
		"Accept": {"application/json"}, "Content-Type": {"application/json"},
	})
}

// addPasskey registers a new passkey of a on c's account, named name.
func addPasskey(t *testing.T, c *webtest.Client, base string, a *authenticator, name string) *passkey {
	t.Helper()
	opts := ceremony(c, base+"/account/passkeys/options")
	webtest.WantStatus(t, opts, http.StatusOK)
	answer, pk := a.create(opts.Body)
	webtest.WantRedirect(t, c.Post(base+"/account/passkeys", url.Values{"credential": {answer}, "name": {name}}), "/account/security")
	return pk
}

// passkeyLogIn signs in with pk from the login page: no email typed.
func passkeyLogIn(t *testing.T, c *webtest.Client, base string, a *authenticator, pk *passkey) *webtest.Response {
	t.Helper()
	opts := ceremony(c, base+"/login/passkey/options")
	webtest.WantStatus(t, opts, http.StatusOK)
	return c.Post(base+"/login/passkey", url.Values{"credential": {a.get(opts.Body, pk)}})
}

// TestPasskeys walks the passkey flows over HTTP with a software
// authenticator: adding one, signing in with it (a whole login, even with
// the authenticator app on), answers that must be refused (replayed,
// another origin, a copied key), confirming access, and removing it.
func TestPasskeys(t *testing.T) {
	sh := newShared(t, "memory")
	clk := newClock()
	srv := newInstance(t, sh, options{clock: clk})
	a := newAuthenticator(t)
	c := webtest.NewClient(t)
	c.SignUp(srv.URL, "ann@example.com", webtest.Password)
	laptop := addPasskey(t, c, srv.URL, a, "  Work   laptop ")
	phone := addPasskey(t, c, srv.URL, a, "")
	doc := c.Get(srv.URL + "/account/security").Doc(t)
	var names []string
	for _, n := range doc.Find(".passkey-name").Nodes {
		names = append(names, strings.TrimSpace(n.FirstChild.Data))
	}
	if strings.Join(names, "|") != "Work laptop|Passkey" {
		t.Fatalf("passkeys listed: %q, want Work laptop and Passkey", names)
	}
	enableTOTP(t, c, srv.URL, clk.Now())
	webtest.WantRedirect(t, c.Post(srv.URL+"/logout", nil), "/")

	// A passkey is a whole login: no second step, though 2FA is on.
	before := c.Cookie("sid")
	res := passkeyLogIn(t, c, srv.URL, a, laptop)
	webtest.WantRedirect(t, res, "/account")
	if c.Cookie("sid") == before {
		t.Error("the passkey login kept the token")
	}
	if got := c.SignedInAs(srv.URL); got != "ann@example.com" {
		t.Fatalf("after the passkey login: signed in as %q", got)
	}
	if got := c.Get(srv.URL + "/account/sessions").Doc(t).Find(".session-current .session-method").Text(); got != "with passkey" {
		t.Errorf("sessions page: method %q, want with passkey", got)
	}
	if got := c.Get(srv.URL + "/account/security").Doc(t).Find(".passkey").First().Text(); !strings.Contains(got, "last used") {
		t.Errorf("passkey after use: %q, want a last-used time", got)
	}

	refused := func(name string, answer func(opts string) string) {
		t.Helper()
		other := webtest.NewClient(t)
		opts := ceremony(other, srv.URL+"/login/passkey/options")
		res := other.Post(srv.URL+"/login/passkey", url.Values{"credential": {answer(opts.Body)}})
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		if got := res.Doc(t).Find(`.alert-error`).Text(); !strings.Contains(got, "could not be used") {
			t.Errorf("%s: message %q", name, got)
		}
		if got := other.SignedInAs(srv.URL); got != "" {
			t.Fatalf("%s signed in as %q", name, got)
		}
	}
	// An answer to another challenge (a replayed one).
	old := ceremony(webtest.NewClient(t), srv.URL+"/login/passkey/options").Body
	refused("an answer to another challenge", func(string) string { return a.get(old, phone) })
	// An answer made for another site.
	a.origin = "http://evil.example"
	refused("an answer for another origin", func(opts string) string { return a.get(opts, phone) })
	a.origin = publicURL
	// No answer, or garbage.
	refused("garbage", func(string) string { return `{"id":"x"}` })
	// A ceremony answered twice: the state is used once.
	twice := webtest.NewClient(t)
	opts := ceremony(twice, srv.URL+"/login/passkey/options")
	answer := a.get(opts.Body, phone)
	webtest.WantRedirect(t, twice.Post(srv.URL+"/login/passkey", url.Values{"credential": {answer}}), "/account")
	webtest.WantRedirect(t, twice.Post(srv.URL+"/logout", nil), "/")
	webtest.WantStatus(t, twice.Post(srv.URL+"/login/passkey", url.Values{"credential": {answer}}), http.StatusUnprocessableEntity)

	// A copy of the laptop's key, whose counter is behind: refused, and
	// the passkey blocked even once the copy's counter runs ahead.
	copied := *laptop
	copied.count = 0
	refused("a copied key", func(opts string) string { return a.get(opts, &copied) })
	copied.count = 1000
	refused("a blocked passkey", func(opts string) string { return a.get(opts, &copied) })
	refused("the original of a blocked passkey", func(opts string) string { return a.get(opts, laptop) })
	if got := c.Get(srv.URL + "/account/security").Doc(t).Find(".passkey .tag-danger").Length(); got != 1 {
		t.Errorf("security page: %d passkeys marked blocked, want 1", got)
	}

	// Adding and removing passkeys ask for a recent authentication; the
	// script's request for options gets the address to go to.
	clk.Add(auth.ReauthWindow + time.Minute)
	res = ceremony(c, srv.URL+"/account/passkeys/options")
	webtest.WantStatus(t, res, http.StatusForbidden)
	var redirect struct{ Redirect string }
	if err := json.Unmarshal([]byte(res.Body), &redirect); err != nil || redirect.Redirect != "/confirm-access?next=%2Faccount%2Fsecurity" {
		t.Fatalf("options without a recent authentication: %v %q", err, res.Body)
	}
	confirm := c.Get(srv.URL + redirect.Redirect)
	webtest.WantStatus(t, confirm, http.StatusOK)
	if confirm.Doc(t).Find(`form[action="/confirm-access/passkey"] #passkey-confirm`).Length() != 1 {
		t.Fatal("the confirm page offers no passkey")
	}

	// Another account's passkey does not confirm this one's access.
	mallory := webtest.NewClient(t)
	mallory.SignUp(srv.URL, "mallory@example.com", webtest.Password)
	theirs := addPasskey(t, mallory, srv.URL, a, "Mallory's")
	opts = ceremony(c, srv.URL+"/confirm-access/passkey/options")
	res = c.Post(srv.URL+"/confirm-access/passkey", url.Values{"credential": {a.get(opts.Body, theirs)}, "next": {"/account/security"}})
	webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	if got := res.Doc(t).Find(".alert-error").Text(); !strings.Contains(got, "another account") {
		t.Errorf("another account's passkey: message %q", got)
	}

	opts = ceremony(c, srv.URL+"/confirm-access/passkey/options")
	res = c.Post(srv.URL+"/confirm-access/passkey", url.Values{"credential": {a.get(opts.Body, phone)}, "next": {"/account/security"}})
	webtest.WantRedirect(t, res, "/account/security")
	del := c.Get(srv.URL+"/account/security").Doc(t).Find(`.passkey form[action$="/delete"]`).First().AttrOr("action", "")
	webtest.WantRedirect(t, c.Post(srv.URL+del, nil), "/account/security")
	webtest.WantStatus(t, c.Post(srv.URL+del, nil), http.StatusNotFound)
	if got := c.Get(srv.URL + "/account/security").Doc(t).Find(".passkey").Length(); got != 1 {
		t.Errorf("after removing one of two: %d passkeys", got)
	}
	// Nobody removes another account's passkey.
	theirDel := mallory.Get(srv.URL+"/account/security").Doc(t).Find(`.passkey form[action$="/delete"]`).AttrOr("action", "")
	webtest.WantStatus(t, c.Post(srv.URL+theirDel, nil), http.StatusNotFound)
}
