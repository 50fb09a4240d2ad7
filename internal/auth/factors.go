package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Errors of the second factors. Callers compare them with errors.Is.
var (
	// ErrInvalidCode is the one answer to a wrong authenticator-app code or
	// recovery code.
	ErrInvalidCode = errors.New("auth: invalid code")
	// ErrCodeReused means the code was right but already accepted once.
	ErrCodeReused = errors.New("auth: code already used")
	// ErrTOTPNotSetUp means the account has no authenticator app (or no
	// set-up waiting for its first code, for ConfirmTOTP).
	ErrTOTPNotSetUp = errors.New("auth: authenticator app not set up")
	// ErrTOTPEnabled means the authenticator app is already switched on.
	ErrTOTPEnabled = errors.New("auth: authenticator app already on")
	// ErrPasskeyNotFound means the user has no passkey with that id.
	ErrPasskeyNotFound = errors.New("auth: passkey not found")
	// ErrPasskeyExists means the authenticator already holds a passkey of
	// this account.
	ErrPasskeyExists = errors.New("auth: passkey already registered")
	// ErrPasskeyInvalid is the one answer to a passkey response that does
	// not verify (wrong challenge, origin, signature, unknown credential).
	ErrPasskeyInvalid = errors.New("auth: passkey not accepted")
	// ErrPasskeyCloned means the authenticator's signature counter did not
	// advance: two copies of the key may exist, so the login is refused.
	ErrPasskeyCloned = errors.New("auth: passkey signature counter went back")
	// ErrWrongSecretKey means SECRET_KEY is not the key the stored second
	// factors were sealed with.
	ErrWrongSecretKey = errors.New("auth: SECRET_KEY is not the key the database was set up with")
	// ErrFactorNotFound is what a FactorStore returns for a missing row.
	ErrFactorNotFound = errors.New("auth: not found")
)

// TOTPRecord is a stored authenticator-app secret.
type TOTPRecord struct {
	Sealed    []byte // the base32 secret, sealed with AES-256-GCM
	Confirmed bool
	LastStep  int64 // the last 30-second step accepted, so none is accepted twice
}

// PasskeyRecord is a stored passkey.
type PasskeyRecord struct {
	ID           int64
	UserID       int64
	CredentialID []byte
	Name         string
	Credential   []byte // the library's credential record, JSON
	SignCount    uint32
	// Cloned is set once the counter went back: a copy of the key exists,
	// and the passkey signs in no more.
	Cloned     bool
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used
}

// FactorStore persists second factors. Implementations return
// ErrFactorNotFound for a missing row, ErrPasskeyExists for a duplicate
// credential id, and wrap other failures with ErrUnavailable. Every
// "only if" below is one atomic statement, so that instances sharing the
// database cannot both accept one code. The mails given to a change are
// queued in the outbox in the change's own transaction, and only when the
// change is made: a change is never made without its notice, and no notice
// tells of a change that was not made.
type FactorStore interface {
	// TOTP returns the user's authenticator-app record.
	TOTP(ctx context.Context, userID int64) (TOTPRecord, error)
	// PutPendingTOTP stores a new unconfirmed secret, replacing an
	// unconfirmed one; it returns ErrTOTPEnabled if a confirmed one exists.
	PutPendingTOTP(ctx context.Context, userID int64, sealed []byte, at time.Time) error
	// ConfirmTOTP switches the unconfirmed secret on with step as its last
	// used step and replaces the recovery codes, only if it is still
	// unconfirmed; it reports whether it did.
	ConfirmTOTP(ctx context.Context, userID int64, step int64, codeHashes [][]byte, at time.Time, mails ...Mail) (bool, error)
	// UseTOTPStep records step as used, only if the secret is confirmed and
	// step is later than the last used one; it reports whether it did.
	UseTOTPStep(ctx context.Context, userID int64, step int64) (bool, error)
	// DeleteTOTP removes the secret and the recovery codes; it reports
	// whether a confirmed secret was removed.
	DeleteTOTP(ctx context.Context, userID int64, mails ...Mail) (bool, error)
	// ReplaceRecoveryCodes replaces all the user's recovery codes.
	ReplaceRecoveryCodes(ctx context.Context, userID int64, codeHashes [][]byte) error
	// UseRecoveryCode marks the unused code with hash as used; it reports
	// whether there was one.
	UseRecoveryCode(ctx context.Context, userID int64, hash []byte, at time.Time, mails ...Mail) (bool, error)
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)

	// WebAuthnHandle returns the user's WebAuthn user handle.
	WebAuthnHandle(ctx context.Context, userID int64) ([]byte, error)
	// AddWebAuthnHandle stores handle for the user unless one exists, and
	// returns the one stored.
	AddWebAuthnHandle(ctx context.Context, userID int64, handle []byte) ([]byte, error)
	// UserIDByWebAuthnHandle returns the user whose handle is handle.
	UserIDByWebAuthnHandle(ctx context.Context, handle []byte) (int64, error)
	// Passkeys returns the user's passkeys, oldest first.
	Passkeys(ctx context.Context, userID int64) ([]PasskeyRecord, error)
	// AddPasskey stores p and returns its id.
	AddPasskey(ctx context.Context, p PasskeyRecord, mails ...Mail) (int64, error)
	// UsePasskey records a login with passkey id: its new credential record,
	// counter and last-used time, only if the counter advanced (or both the
	// stored and the new counter are 0, for authenticators that keep none);
	// it reports whether it did.
	UsePasskey(ctx context.Context, id int64, credential []byte, signCount uint32, at time.Time) (bool, error)
	// MarkPasskeyCloned blocks passkey id: a copy of it was seen.
	MarkPasskeyCloned(ctx context.Context, id int64) error
	// DeletePasskey removes passkey id of the user; it reports whether it did.
	DeletePasskey(ctx context.Context, userID, id int64, mails ...Mail) (bool, error)

	// KeyCheck returns the check value sealed for purpose, or
	// ErrFactorNotFound.
	KeyCheck(ctx context.Context, purpose string) ([]byte, error)
	// AddKeyCheck stores sealed for purpose unless a value exists.
	AddKeyCheck(ctx context.Context, purpose string, sealed []byte, at time.Time) error
}

// NoticeKind names a notice mailed to the user after a change to the
// account's factors.
type NoticeKind string

// The notices Factors sends.
const (
	NoticeTOTPEnabled      NoticeKind = "totp_enabled"
	NoticeTOTPDisabled     NoticeKind = "totp_disabled"
	NoticePasskeyAdded     NoticeKind = "passkey_added"
	NoticePasskeyRemoved   NoticeKind = "passkey_removed"
	NoticeRecoveryCodeUsed NoticeKind = "recovery_code_used"
)

// Notifier tells the user of changes to the account's factors. Factors
// asks it for a notice's mails before the change and hands them to the
// FactorStore with the change, which queues them in the same transaction;
// once the change is made, Queued is told. details are plain values to
// show (a passkey's name, the client's IP), never secrets.
type Notifier interface {
	NoticeMails(ctx context.Context, userID int64, kind NoticeKind, details map[string]string) ([]Mail, error)
	Queued(ctx context.Context, userID int64, kind NoticeKind, details map[string]string, mails []Mail)
}

// AuditNotifier is the Notifier used when none is given: it mails
// nothing, and records each notice in the audit log.
type AuditNotifier struct{ Audit Auditor }

// NoticeMails returns no mail.
func (n AuditNotifier) NoticeMails(context.Context, int64, NoticeKind, map[string]string) ([]Mail, error) {
	return nil, nil
}

// Queued records the notice as an audit event.
func (n AuditNotifier) Queued(ctx context.Context, userID int64, kind NoticeKind, details map[string]string, _ []Mail) {
	n.Audit.Record(ctx, Event{Kind: EventNotice, UserID: userID, IP: details["ip"], Detail: string(kind)})
}

// FactorsConfig configures Factors.
type FactorsConfig struct {
	Users UserStore
	Store FactorStore
	// SealKey (32 bytes) encrypts authenticator-app secrets at rest;
	// HashKey keys the hashes of recovery codes. Both come from SECRET_KEY.
	SealKey []byte
	HashKey []byte
	// PublicURL is the site's origin as users see it: the WebAuthn relying
	// party id is its host name, and the only origin accepted.
	PublicURL string
	// Issuer names the service in authenticator apps and passkey prompts.
	Issuer string
	// Counter keeps the failed-code counts (Redis when shared);
	// MaxFailures wrong codes per account in Window are allowed.
	Counter     Counter
	MaxFailures int
	Window      time.Duration
	Audit       Auditor
	// Notifier queues notice mails; nil records them in the audit log.
	Notifier Notifier
	// Now is the clock of codes and passkey times; nil means time.Now.
	Now func() time.Time
}

// Factors is the second-factor logic: authenticator apps (TOTP), recovery
// codes and passkeys (WebAuthn). Like Service, it knows nothing of HTTP or
// of sessions: Sessions holds the pending and re-authentication states.
type Factors struct {
	users    UserStore
	store    FactorStore
	aead     cipher.AEAD
	hashKey  []byte
	issuer   string
	wa       *webauthn.WebAuthn
	limiter  *codeLimiter
	audit    Auditor
	notifier Notifier
	now      func() time.Time
}

// NewFactors checks cfg and returns a Factors.
func NewFactors(cfg FactorsConfig) (*Factors, error) {
	if cfg.Users == nil || cfg.Store == nil || cfg.Counter == nil {
		return nil, errors.New("auth: factors: Users, Store and Counter are required")
	}
	if len(cfg.SealKey) != 32 || len(cfg.HashKey) < 32 {
		return nil, errors.New("auth: factors: SealKey must be 32 bytes and HashKey at least 32")
	}
	block, err := aes.NewCipher(cfg.SealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	origin, host, err := ParsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("auth: factors: %w", err)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Sessionlogin"
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: cfg.Issuer,
		RPOrigins:     []string{origin},
		// Passkeys: discoverable credentials that verify their user (PIN,
		// biometrics), so one is a whole login, not a second factor.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: webauthn: %w", err)
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 5
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	audit := cfg.Audit
	if audit == nil {
		audit = Auditors{}
	}
	notifier := cfg.Notifier
	if notifier == nil {
		notifier = AuditNotifier{Audit: audit}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Factors{
		users: cfg.Users, store: cfg.Store, aead: aead, hashKey: cfg.HashKey, issuer: cfg.Issuer, wa: wa,
		limiter: &codeLimiter{counter: cfg.Counter, max: cfg.MaxFailures, window: cfg.Window},
		audit:   audit, notifier: notifier, now: now,
	}, nil
}

// ParsePublicURL checks a PUBLIC_URL: an absolute http or https URL with a
// host name (not an IP address) and nothing after it but "/". It returns the origin
// ("https://example.com") and the host name ("example.com").
func ParsePublicURL(raw string) (origin, host string, err error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("not a URL: %q", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", fmt.Errorf("want an http:// or https:// URL, got %q", raw)
	case u.Host == "" || u.Hostname() == "":
		return "", "", fmt.Errorf("no host in %q", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return "", "", fmt.Errorf("want an origin such as https://example.com, with no path, got %q", raw)
	}
	// WebAuthn binds passkeys to a domain: an IP address cannot be a
	// relying party id, so the site would start without working passkeys.
	if _, err := netip.ParseAddr(u.Hostname()); err == nil {
		return "", "", fmt.Errorf("want a domain name (localhost for local use), not an IP address: passkeys are bound to a domain, got %q", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("bad port in %q", raw)
		}
	}
	return u.Scheme + "://" + u.Host, u.Hostname(), nil
}

// keyCheckPurpose names the check value of the sealing key.
const keyCheckPurpose = "totp"

// keyCheckText is what the check value holds, sealed.
const keyCheckText = "sessionlogin second-factor key check"

// CheckKey verifies that the sealing key is the one the database was set
// up with, sealing a check value on first start. It returns
// ErrWrongSecretKey otherwise, so that a wrong SECRET_KEY stops start-up
// rather than someone's login.
func (f *Factors) CheckKey(ctx context.Context) error {
	sealed, err := f.store.KeyCheck(ctx, keyCheckPurpose)
	if errors.Is(err, ErrFactorNotFound) {
		s, serr := f.seal([]byte(keyCheckText), keyCheckPurpose)
		if serr != nil {
			return serr
		}
		if err := f.store.AddKeyCheck(ctx, keyCheckPurpose, s, f.now()); err != nil {
			return err
		}
		// Read back: of instances starting together with different keys,
		// the one whose value was not stored must fail here.
		sealed, err = f.store.KeyCheck(ctx, keyCheckPurpose)
	}
	if err != nil {
		return err
	}
	plain, err := f.open(sealed, keyCheckPurpose)
	if err != nil || string(plain) != keyCheckText {
		return ErrWrongSecretKey
	}
	return nil
}

// seal encrypts plain with AES-256-GCM; ad binds the result to its place
// (a user's row), so a sealed value copied elsewhere does not open.
func (f *Factors) seal(plain []byte, ad string) ([]byte, error) {
	nonce := make([]byte, f.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return f.aead.Seal(nonce, nonce, plain, []byte(ad)), nil
}

func (f *Factors) open(sealed []byte, ad string) ([]byte, error) {
	n := f.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("auth: sealed value too short")
	}
	return f.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
}

// notice is a notice prepared before the change it tells of: its mails go
// to the FactorStore with the change.
type notice struct {
	userID  int64
	kind    NoticeKind
	client  Client
	details map[string]string
	mails   []Mail
	failed  bool // the mails could not be made
}

// prepareNotice asks the Notifier for the mails of a notice. When they
// cannot be made (the account could not be read), the change goes ahead
// without them, and queued records the failure once the change is made:
// refusing a user the removal of a lost passkey because a mail cannot be
// written would be worse.
func (f *Factors) prepareNotice(ctx context.Context, userID int64, kind NoticeKind, c Client, details map[string]string) notice {
	if details == nil {
		details = map[string]string{}
	}
	details["ip"] = c.IP
	n := notice{userID: userID, kind: kind, client: c, details: details}
	mails, err := f.notifier.NoticeMails(ctx, userID, kind, details)
	if err != nil {
		n.failed = true
		return n
	}
	n.mails = mails
	return n
}

// queued is called once the change of n is made (and so its mails are in
// the outbox): it tells the Notifier, or records that the mails could not
// be made.
func (f *Factors) queued(ctx context.Context, n notice) {
	if n.failed {
		f.audit.Record(ctx, Event{Kind: EventNoticeFailed, UserID: n.userID, IP: n.client.IP, UserAgent: n.client.UserAgent, Detail: string(n.kind)})
		return
	}
	f.notifier.Queued(ctx, n.userID, n.kind, n.details, n.mails)
}

// RecordReauthFailure records a failed confirmation of access (a wrong
// password, code or passkey before a sensitive action).
func (f *Factors) RecordReauthFailure(ctx context.Context, userID int64, c Client) {
	f.audit.Record(ctx, Event{Kind: EventReauthFailure, UserID: userID, IP: c.IP, UserAgent: c.UserAgent})
}

// Status is what the security page shows about a user's factors.
type Status struct {
	TOTP          bool // the authenticator app is on
	RecoveryCodes int  // unused recovery codes
	Passkeys      []Passkey
}

// Passkey is a passkey as shown to its owner.
type Passkey struct {
	ID         int64
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used
	// Blocked means a copy of the passkey was seen: it signs in no more.
	Blocked bool
}

// Status returns the user's factors.
func (f *Factors) Status(ctx context.Context, userID int64) (Status, error) {
	var st Status
	on, err := f.TOTPEnabled(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	st.TOTP = on
	if on {
		if st.RecoveryCodes, err = f.store.RecoveryCodesLeft(ctx, userID); err != nil {
			return Status{}, err
		}
	}
	if st.Passkeys, err = f.Passkeys(ctx, userID); err != nil {
		return Status{}, err
	}
	return st, nil
}

// TOTPEnabled reports whether the user's authenticator app is on: such a
// user is asked for a code after the password.
func (f *Factors) TOTPEnabled(ctx context.Context, userID int64) (bool, error) {
	rec, err := f.store.TOTP(ctx, userID)
	switch {
	case errors.Is(err, ErrFactorNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return rec.Confirmed, nil
}

// codeLimiter throttles wrong codes per account. The password was right
// (the attacker has it), so the limit is per account, not per address: an
// attacker with many addresses gets no more guesses. Like Throttle, it
// looks at the count again after a failure, so parallel guesses learn no
// more than the limit allows.
type codeLimiter struct {
	counter Counter
	max     int
	window  time.Duration
}

func codeKey(userID int64) string { return "code:" + strconv.FormatInt(userID, 10) }

func (l *codeLimiter) wait(c Count, slack int64) error {
	if c.N >= int64(l.max)+slack {
		return &ThrottledError{RetryAfter: max(c.TTL, time.Second)}
	}
	return nil
}

func (l *codeLimiter) check(ctx context.Context, userID int64) error {
	counts, err := l.counter.Counts(ctx, codeKey(userID))
	if err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	return l.wait(counts[0], 0)
}

func (l *codeLimiter) fail(ctx context.Context, userID int64) error {
	// Take counts the failure only while under the limit; past it, the
	// count as found says how long to wait.
	taken, counts, err := l.counter.Take(ctx, l.window, Budget{Key: codeKey(userID), Limit: int64(l.max)})
	if err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	if !taken {
		return l.wait(counts[0], 0)
	}
	return nil
}

func (l *codeLimiter) succeed(ctx context.Context, userID int64) error {
	if err := l.check(ctx, userID); err != nil {
		return err
	}
	if err := l.counter.Reset(ctx, codeKey(userID)); err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	return nil
}
