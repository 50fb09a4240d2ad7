package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// virtualAuthenticator gives the tab a DevTools virtual authenticator, as
// a phone or a laptop with a fingerprint reader would be: CTAP2, resident
// keys (passkeys), user verification that succeeds, presence simulated.
func (b *browser) virtualAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
			// cdproto always sends a credential's trust-group field, which
			// an authenticator without the extension refuses.
			HasCmtgKey: true,
		},
	})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// credentials returns the passkeys the virtual authenticator holds.
func (b *browser) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		b.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// removeCredential takes a passkey out of the virtual authenticator.
func (b *browser) removeCredential(id webauthn.AuthenticatorID, c *webauthn.Credential) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: id, CredentialID: c.CredentialID}); err != nil {
		b.t.Fatalf("WebAuthn.removeCredential: %v", err)
	}
}

// addCredential puts a passkey (with its private key and counter) into
// the virtual authenticator.
func (b *browser) addCredential(id webauthn.AuthenticatorID, c *webauthn.Credential) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	cc := *c
	if len(cc.CmtgKeys) == 0 {
		cc.ActiveCmtgKeyIndex = nil // reported, but refused without keys
	}
	if _, err := chromedp.Call(ctx, webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: id, Credential: &cc}); err != nil {
		b.t.Fatalf("WebAuthn.addCredential: %v", err)
	}
}

// waitVisible waits until sel is shown (the passkey forms are hidden
// until the script shows them).
func (b *browser) waitVisible(sel string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// TestBrowserPasskeys adds a passkey on the security page with Chromium's
// virtual authenticator, logs out, signs in with the passkey from the
// login page without typing an email (with the button, then from the email
// field's autofill), sees a copy of the key with an old signature counter
// refused, and removes the passkey.
func TestBrowserPasskeys(t *testing.T) {
	// WebAuthn needs a domain (an IP address cannot be a relying party id):
	// the site is http://localhost:PORT, which browsers treat as secure.
	addr := freeAddr(t)
	base := localURL(t, addr)
	startBrowserServer(t, map[string]string{"ADDR": addr, "PUBLIC_URL": base})
	b := startBrowser(t, t.TempDir())
	auth := b.virtualAuthenticator()
	email := browserEmail("passkey")

	wantPageStatus(t, "signup", b.signup(base, email, browserPassword), http.StatusOK)
	b.navigate(base + "/account/security")
	b.waitVisible("#passkey-register")
	if got := b.doc().Find("#no-passkeys").Length(); got != 1 {
		t.Fatalf("security page: want the no-passkeys line before adding one")
	}
	b.fill("#passkey-name", "Test laptop")
	wantPageStatus(t, "add a passkey", b.submit("#passkey-register"), http.StatusOK)
	if got, want := b.location(), base+"/account/security"; got != want {
		t.Fatalf("after adding a passkey: location %s, want %s", got, want)
	}
	doc := b.doc()
	if got := strings.TrimSpace(doc.Find(".passkey .passkey-name").Text()); got != "Test laptop" {
		t.Fatalf("passkey list: got %q, want one passkey named Test laptop\n%s", got, doc.Find("main").Text())
	}
	if got := strings.TrimSpace(doc.Find(".passkey .session-meta").Text()); !strings.Contains(got, "never used") {
		t.Errorf("new passkey: %q, want it never used", got)
	}
	creds := b.credentials(auth)
	if len(creds) != 1 || !creds[0].IsResidentCredential {
		t.Fatalf("the authenticator holds %d credentials (want 1 resident one)", len(creds))
	}

	wantPageStatus(t, "logout", b.submit(`nav form[action="/logout"] button`), http.StatusOK)
	b.navigate(base + "/login")
	b.waitVisible("#passkey-login")
	if got := b.doc().Find(`#email[autocomplete="username webauthn"]`).Length(); got != 1 {
		t.Error(`the email field does not offer passkeys in its autofill (autocomplete="username webauthn")`)
	}
	wantPageStatus(t, "sign in with a passkey", b.submit("#passkey-login"), http.StatusOK)
	if got, want := b.location(), base+"/account"; got != want {
		t.Fatalf("after the passkey sign-in: location %s, want %s", got, want)
	}
	if got := b.signedInAs(base); got != email {
		t.Fatalf("after the passkey sign-in: signed in as %q, want %q", got, email)
	}
	b.navigate(base + "/account/sessions")
	if got := b.doc().Find(".session-current .session-method").Text(); got != "with passkey" {
		t.Errorf("sessions page: method %q, want %q", got, "with passkey")
	}
	b.navigate(base + "/account/security")
	if got := b.doc().Find(".passkey .session-meta").Text(); !strings.Contains(got, "last used") {
		t.Errorf("passkey after use: %q, want a last-used time", got)
	}

	// The email field's autofill offers the passkey too (conditional UI):
	// the virtual authenticator picks it as soon as the field has the
	// focus, as a user would in the autofill list.
	wantPageStatus(t, "logout", b.submit(`nav form[action="/logout"] button`), http.StatusOK)
	b.navigate(base + "/login")
	b.waitVisible("#passkey-login")
	wantPageStatus(t, "sign in from the email field's autofill", b.loadBy("focus #email", chromedp.Click(chromedp.CSS("#email"))), http.StatusOK)
	if got := b.signedInAs(base); got != email {
		t.Fatalf("after the autofill sign-in: signed in as %q, want %q", got, email)
	}

	// A copy of the key that signs with a counter the site has already
	// seen: the signature is good, but the login is refused.
	used := b.credentials(auth)[0]
	if used.SignCount < 1 {
		t.Fatalf("the virtual authenticator keeps no counter (%v)", used.SignCount)
	}
	clone := *used
	clone.SignCount = 0
	b.removeCredential(auth, used)
	b.addCredential(auth, &clone)
	wantPageStatus(t, "logout", b.submit(`nav form[action="/logout"] button`), http.StatusOK)
	b.navigate(base + "/login")
	b.waitVisible("#passkey-login")
	wantPageStatus(t, "sign in with the copied passkey", b.submit("#passkey-login"), http.StatusUnprocessableEntity)
	if got := b.doc().Find(`.alert-error[role="alert"]`).Text(); !strings.Contains(got, "could not be used") {
		t.Errorf("copied passkey: message %q", got)
	}
	b.removeCredential(auth, &clone)
	if got := b.signedInAs(base); got != "" {
		t.Fatalf("a copied passkey signed in as %q", got)
	}
	// The copy blocks the passkey for good, even once its counter runs
	// ahead of the one stored.
	clone.SignCount = used.SignCount + 10
	b.addCredential(auth, &clone)
	b.navigate(base + "/login")
	b.waitVisible("#passkey-login")
	wantPageStatus(t, "sign in with the copy again", b.submit("#passkey-login"), http.StatusUnprocessableEntity)
	b.removeCredential(auth, &clone)
	if got := b.signedInAs(base); got != "" {
		t.Fatalf("a blocked passkey signed in as %q", got)
	}

	// Chrome logged the two 422 pages; nothing else may be on the console.
	for _, e := range b.takeConsole() {
		if e.Level != "verbose" && e.Level != "info" && !strings.HasPrefix(e.Text, mainDocumentStatus+"422") {
			t.Errorf("console: %v", e)
		}
	}

	// Removing it (the password login just now is a recent authentication).
	wantPageStatus(t, "login", b.login(base, email, browserPassword, false), http.StatusOK)
	b.navigate(base + "/account/security")
	if got := b.doc().Find(".passkey .tag-danger").Length(); got != 1 {
		t.Errorf("security page: the blocked passkey is not marked")
	}
	wantPageStatus(t, "remove the passkey", b.submit(`.passkey form[action$="/delete"] button`), http.StatusOK)
	doc = b.doc()
	if doc.Find(".passkey").Length() != 0 || doc.Find("#no-passkeys").Length() != 1 {
		t.Fatalf("after removing: %d passkeys listed", doc.Find(".passkey").Length())
	}
	if problems := b.consoleProblems(base + "/account/security"); len(problems) > 0 {
		t.Errorf("console: %v", problems)
	}
}
