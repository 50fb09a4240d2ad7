package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// MaxPasskeyName is the longest passkey name kept, in characters.
const MaxPasskeyName = 64

// MaxPasskeys is how many passkeys one account may hold.
const MaxPasskeys = 20

// ErrTooManyPasskeys means the account holds MaxPasskeys already.
var ErrTooManyPasskeys = errors.New("auth: too many passkeys")

// waUser is an account as the WebAuthn library sees it.
type waUser struct {
	user   User
	handle []byte
	creds  []webauthn.Credential
	recs   []PasskeyRecord
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.user.Email }
func (u *waUser) WebAuthnDisplayName() string                { return u.user.Email }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// waUser loads user with their handle and passkeys. create makes a handle
// when the user has none (a first registration).
func (f *Factors) waUser(ctx context.Context, user User, create bool) (*waUser, error) {
	handle, err := f.store.WebAuthnHandle(ctx, user.ID)
	if errors.Is(err, ErrFactorNotFound) && create {
		// Random, never the account id: the handle is stored by
		// authenticators and sent to anyone who asks for a passkey.
		h := make([]byte, 32)
		if _, err := rand.Read(h); err != nil {
			return nil, err
		}
		handle, err = f.store.AddWebAuthnHandle(ctx, user.ID, h)
	}
	if err != nil {
		return nil, err
	}
	recs, err := f.store.Passkeys(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	u := &waUser{user: user, handle: handle, recs: recs}
	for _, r := range recs {
		var cred webauthn.Credential
		if err := json.Unmarshal(r.Credential, &cred); err != nil {
			continue // unreadable: as good as absent
		}
		u.creds = append(u.creds, cred)
	}
	return u, nil
}

// Passkeys returns the user's passkeys, oldest first.
func (f *Factors) Passkeys(ctx context.Context, userID int64) ([]Passkey, error) {
	recs, err := f.store.Passkeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]Passkey, len(recs))
	for i, r := range recs {
		out[i] = Passkey{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, Blocked: r.Cloned}
	}
	return out, nil
}

// Ceremony is one WebAuthn ceremony begun: Options go to the browser (for
// navigator.credentials), State stays on the server, in the session, until
// the browser's answer comes back.
type Ceremony struct {
	Options []byte // JSON
	State   []byte // JSON of the library's session data
}

// BeginPasskeyRegistration starts adding a passkey to user's account. The
// authenticator is told which passkeys of the account it may hold already,
// so that it does not make a second one.
func (f *Factors) BeginPasskeyRegistration(ctx context.Context, user User) (Ceremony, error) {
	u, err := f.waUser(ctx, user, true)
	if err != nil {
		return Ceremony{}, err
	}
	if len(u.recs) >= MaxPasskeys {
		return Ceremony{}, ErrTooManyPasskeys
	}
	creation, session, err := f.wa.BeginRegistration(u,
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return Ceremony{}, err
	}
	return newCeremony(creation, session)
}

func newCeremony(options any, session *webauthn.SessionData) (Ceremony, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, err
	}
	s, err := json.Marshal(session)
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{Options: o, State: s}, nil
}

// PasskeyName returns name trimmed to what is kept, or a default.
func PasskeyName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	if name == "" {
		return "Passkey"
	}
	if utf8.RuneCountInString(name) > MaxPasskeyName {
		name = string([]rune(name)[:MaxPasskeyName])
	}
	return name
}

// FinishPasskeyRegistration verifies the browser's response to the
// ceremony whose state is state, and stores the new passkey under name.
// ErrPasskeyInvalid when it does not verify.
func (f *Factors) FinishPasskeyRegistration(ctx context.Context, user User, state, response []byte, name string, c Client) (Passkey, error) {
	var session webauthn.SessionData
	if len(state) == 0 || json.Unmarshal(state, &session) != nil {
		return Passkey{}, ErrPasskeyInvalid
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Passkey{}, ErrPasskeyInvalid
	}
	u, err := f.waUser(ctx, user, false)
	if err != nil {
		return Passkey{}, err
	}
	cred, err := f.wa.CreateCredential(u, session, parsed)
	if err != nil {
		return Passkey{}, ErrPasskeyInvalid
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return Passkey{}, err
	}
	now := f.now()
	rec := PasskeyRecord{
		UserID: user.ID, CredentialID: cred.ID, Name: PasskeyName(name), Credential: raw,
		SignCount: cred.Authenticator.SignCount, CreatedAt: now,
	}
	n := f.prepareNotice(ctx, user.ID, NoticePasskeyAdded, c, map[string]string{"name": rec.Name})
	if rec.ID, err = f.store.AddPasskey(ctx, rec, n.mails...); err != nil {
		return Passkey{}, err
	}
	f.audit.Record(ctx, Event{Kind: EventPasskeyAdded, UserID: user.ID, IP: c.IP, UserAgent: c.UserAgent, Detail: rec.Name})
	f.queued(ctx, n)
	return Passkey{ID: rec.ID, Name: rec.Name, CreatedAt: now}, nil
}

// BeginPasskeyLogin starts a sign-in with a passkey: a discoverable
// ceremony (no email typed; the authenticator offers the site's passkeys).
func (f *Factors) BeginPasskeyLogin() (Ceremony, error) {
	assertion, session, err := f.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Ceremony{}, err
	}
	return newCeremony(assertion, session)
}

// FinishPasskeyLogin verifies the browser's answer to a BeginPasskeyLogin
// ceremony and returns the account it signs in. The credential must be a
// stored passkey of the account its user handle names, signed with its
// key, with user verification, for this site's origin, and with a
// signature counter that advanced: a counter that goes back means a copy
// of the key exists, and the login is refused (ErrPasskeyCloned).
func (f *Factors) FinishPasskeyLogin(ctx context.Context, state, response []byte, c Client) (User, error) {
	var session webauthn.SessionData
	if len(state) == 0 || json.Unmarshal(state, &session) != nil {
		return User{}, ErrPasskeyInvalid
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return User{}, ErrPasskeyInvalid
	}
	var found *waUser
	var lookupErr error
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		uid, err := f.store.UserIDByWebAuthnHandle(ctx, userHandle)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		user, err := f.users.UserByID(ctx, uid)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		u, err := f.waUser(ctx, user, false)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		found = u
		return u, nil
	}
	_, cred, err := f.wa.ValidatePasskeyLogin(handler, session, parsed)
	if lookupErr != nil && errors.Is(lookupErr, ErrUnavailable) {
		return User{}, lookupErr
	}
	if err != nil || found == nil {
		var uid int64
		if found != nil {
			uid = found.user.ID
		}
		f.audit.Record(ctx, Event{Kind: EventPasskeyFailure, UserID: uid, IP: c.IP, UserAgent: c.UserAgent})
		return User{}, ErrPasskeyInvalid
	}
	var rec PasskeyRecord
	for _, r := range found.recs {
		if bytes.Equal(r.CredentialID, cred.ID) {
			rec = r
		}
	}
	if rec.ID == 0 || rec.Cloned {
		return User{}, f.passkeyCloned(ctx, found.user.ID, rec, c, false)
	}
	if cred.Authenticator.CloneWarning {
		return User{}, f.passkeyCloned(ctx, found.user.ID, rec, c, true)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return User{}, err
	}
	// The counter is compared again in the update itself: two logins
	// with one counter value, on two instances, cannot both pass.
	ok, err := f.store.UsePasskey(ctx, rec.ID, raw, cred.Authenticator.SignCount, f.now())
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, f.passkeyCloned(ctx, found.user.ID, rec, c, true)
	}
	return found.user, nil
}

// passkeyCloned refuses a login with passkey rec, whose counter did not
// advance (a copy of its key exists) or which is blocked already. A new
// copy blocks it for good: a clone whose counter runs ahead of the stored
// one would pass the next comparison, so the first one seen is the last.
func (f *Factors) passkeyCloned(ctx context.Context, userID int64, rec PasskeyRecord, c Client, block bool) error {
	f.audit.Record(ctx, Event{Kind: EventPasskeyCloned, UserID: userID, IP: c.IP, UserAgent: c.UserAgent, Detail: rec.Name})
	if block && rec.ID != 0 {
		if err := f.store.MarkPasskeyCloned(ctx, rec.ID); err != nil {
			return err
		}
	}
	return ErrPasskeyCloned
}

// DeletePasskey removes passkey id of user userID. ErrPasskeyNotFound
// when the user has no such passkey.
func (f *Factors) DeletePasskey(ctx context.Context, userID, id int64, c Client) error {
	recs, err := f.store.Passkeys(ctx, userID)
	if err != nil {
		return err
	}
	name := ""
	for _, r := range recs {
		if r.ID == id {
			name = r.Name
		}
	}
	n := f.prepareNotice(ctx, userID, NoticePasskeyRemoved, c, map[string]string{"name": name})
	done, err := f.store.DeletePasskey(ctx, userID, id, n.mails...)
	if err != nil {
		return err
	}
	if !done {
		return ErrPasskeyNotFound
	}
	f.audit.Record(ctx, Event{Kind: EventPasskeyRemoved, UserID: userID, IP: c.IP, UserAgent: c.UserAgent, Detail: name})
	f.queued(ctx, n)
	return nil
}
