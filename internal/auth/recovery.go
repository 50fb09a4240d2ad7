package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"time"
)

// Purpose says what a one-time token is for. A token is worthless for any
// other purpose.
type Purpose string

// The purposes of one-time tokens.
const (
	PurposePasswordReset Purpose = "password_reset"
	PurposeVerifyEmail   Purpose = "verify_email"
	PurposeChangeEmail   Purpose = "change_email"
)

// How long a mailed link works.
const (
	ResetTokenTTL  = time.Hour
	VerifyTokenTTL = 24 * time.Hour
	ChangeTokenTTL = 24 * time.Hour
)

// tokenBytes is the size of a one-time token: 256 random bits.
const tokenBytes = 32

// MailKind names a mail the service sends; package mail holds its words.
type MailKind string

// The mails the service sends.
const (
	MailPasswordReset   MailKind = "password_reset"   // the reset link
	MailPasswordChanged MailKind = "password_changed" // after a reset
	MailVerifyEmail     MailKind = "verify_email"     // the sign-up confirmation link
	MailSignupExisting  MailKind = "signup_existing"  // a sign-up with an address that has an account
	MailChangeEmail     MailKind = "change_email"     // the confirmation link, to the new address
	MailEmailChanging   MailKind = "email_changing"   // to the old address, when a change is asked for
	MailEmailTaken      MailKind = "email_taken"      // to a new address that already has an account
	MailNewDevice       MailKind = "new_device"       // a sign-in from a browser never seen on the account
)

// MailKinds lists every kind, for templates and metrics.
var MailKinds = []MailKind{MailPasswordReset, MailPasswordChanged, MailVerifyEmail, MailSignupExisting,
	MailChangeEmail, MailEmailChanging, MailEmailTaken, MailNewDevice,
	MailTOTPEnabled, MailTOTPDisabled, MailPasskeyAdded, MailPasskeyRemoved, MailRecoveryCodeUsed}

// Keys of Mail.Data. Values are plain text; links are absolute URLs.
const (
	DataLink     = "link"     // the one action of the mail (a one-time link or a page)
	DataValid    = "valid"    // how long the link works, in words
	DataForgot   = "forgot"   // the page that mails a reset link
	DataLogin    = "login"    // the log-in page
	DataSessions = "sessions" // the sessions page
	DataEmail    = "email"    // an address the mail is about (the new one of a change)
	DataWhen     = "when"     // when it happened, UTC
	DataDevice   = "device"   // browser and operating system
	DataIP       = "ip"       // the client's address
)

// Mail is a mail to send: what kind, to whom, and the values its text
// needs. It never holds a password or a session token; the one secret it
// may hold is a one-time link.
type Mail struct {
	Kind MailKind
	To   string
	Data map[string]string
}

// Token is a one-time token as stored: only the SHA-256 of the token that
// was mailed.
type Token struct {
	UserID    int64
	Purpose   Purpose
	Hash      []byte
	Email     string // the address the link was mailed to
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
}

// Change is what redeeming a token does to its account, in the same
// transaction as marking the token used.
type Change struct {
	// PasswordHash, when set, replaces the password hash.
	PasswordHash string
	// VerifyEmail marks the account's address verified, if it is still the
	// token's address.
	VerifyEmail bool
	// ReplaceEmail makes the token's address the account's address,
	// verified (ErrDuplicateEmail when another account has it by then).
	ReplaceEmail bool
}

// Errors of the recovery flows.
var (
	// ErrTokenInvalid means a link is unknown, used, superseded, expired,
	// for another purpose or mangled: one answer for all, as none of them
	// can be acted on.
	ErrTokenInvalid = errors.New("auth: link invalid or expired")
	// ErrSameEmail means an address change to the address in use.
	ErrSameEmail = errors.New("auth: that is already the account's address")
)

// RecoveryStore keeps one-time tokens and the mail outbox. Every method
// that takes mails writes them to the outbox in the same transaction as
// its change, so that a mail is queued if and only if the change happened.
type RecoveryStore interface {
	// QueueMail writes mails to the outbox.
	QueueMail(ctx context.Context, mails ...Mail) error
	// IssueToken stores t, marks the user's unused tokens of the same
	// purpose used (a newer link supersedes older ones), and queues mails.
	IssueToken(ctx context.Context, t Token, mails ...Mail) error
	// CreateUserWithToken creates an account, then t for it (t.UserID is
	// filled in), and queues mails.
	CreateUserWithToken(ctx context.Context, email, passwordHash string, t Token, mails ...Mail) (User, error)
	// Token returns the token whose hash is hash, or ErrTokenInvalid.
	Token(ctx context.Context, hash []byte) (Token, error)
	// RedeemToken marks t used, only if it is still unused and unexpired
	// at now (else ErrTokenInvalid), applies c to its account, and queues
	// mails.
	RedeemToken(ctx context.Context, t Token, now time.Time, c Change, mails ...Mail) error
	// MarkEmailVerified marks the account's current address verified as
	// of at, keeping an earlier confirmation's time.
	MarkEmailVerified(ctx context.Context, userID int64, at time.Time) error
}

// QueueObserver is told of mails once they are committed to the outbox:
// the sender wakes up to send them at once, and counts them.
type QueueObserver interface {
	Queued(m Mail)
}

// RecoveryConfig configures Recovery.
type RecoveryConfig struct {
	// PublicURL is the site's origin as users see it, without a trailing
	// slash; links in mails start with it.
	PublicURL string
	// RequireVerification refuses sign-in until the address is verified,
	// and makes sign-up answer alike for new and taken addresses.
	RequireVerification bool
	// NotifyNewDevice mails the user when a browser signs in for the
	// first time.
	NotifyNewDevice bool
	// MaxMailsPerAddress and MaxMailsPerIP bound the mail-sending requests
	// (reset, verification, sign-up, address change) per address and per
	// client IP within MailWindow. Zero means 5, 30 and one hour.
	MaxMailsPerAddress int
	MaxMailsPerIP      int
	MailWindow         time.Duration
	// MinResponse is the least time a request that may or may not mail an
	// existing account takes, so that its duration does not tell which.
	// Zero means 150 ms; negative means none.
	MinResponse time.Duration
	// Observer, if set, is told of every queued mail.
	Observer QueueObserver
}

// Recovery is account recovery by email: password reset, address
// verification and change, and new-device notices. Every mail goes to the
// outbox in the same transaction as the change it reports; a sender
// delivers it later, so no request waits for a mail server.
type Recovery struct {
	svc     *Service
	store   RecoveryStore
	counter Counter
	cfg     RecoveryConfig
	now     func() time.Time
}

// NewRecovery returns a Recovery over the accounts of svc. Mail-sending
// requests are counted in counter (the login throttle's counter will do:
// keys do not collide).
func NewRecovery(svc *Service, store RecoveryStore, counter Counter, cfg RecoveryConfig) *Recovery {
	if cfg.MaxMailsPerAddress <= 0 {
		cfg.MaxMailsPerAddress = 5
	}
	if cfg.MaxMailsPerIP <= 0 {
		cfg.MaxMailsPerIP = 30
	}
	if cfg.MailWindow <= 0 {
		cfg.MailWindow = time.Hour
	}
	if cfg.MinResponse == 0 {
		cfg.MinResponse = 150 * time.Millisecond
	}
	return &Recovery{svc: svc, store: store, counter: counter, cfg: cfg, now: time.Now}
}

// VerificationRequired reports whether sign-in waits for a verified address.
func (r *Recovery) VerificationRequired() bool { return r.cfg.RequireVerification }

// url returns the absolute URL of path on the site.
func (r *Recovery) url(path string) string { return r.cfg.PublicURL + path }

// newToken returns a fresh token (as mailed) and its stored form.
func (r *Recovery) newToken(userID int64, p Purpose, email string, ttl time.Duration) (string, Token) {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	raw := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256(b)
	return raw, Token{UserID: userID, Purpose: p, Hash: sum[:], Email: email, ExpiresAt: r.now().Add(ttl)}
}

// tokenHash decodes a token from a link and returns its SHA-256.
func tokenHash(raw string) ([]byte, bool) {
	if len(raw) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) != tokenBytes {
		return nil, false
	}
	sum := sha256.Sum256(b)
	return sum[:], true
}

// token returns the stored token of raw when it can still be used for one
// of purposes, else ErrTokenInvalid.
func (r *Recovery) token(ctx context.Context, raw string, purposes ...Purpose) (Token, error) {
	hash, ok := tokenHash(raw)
	if !ok {
		return Token{}, ErrTokenInvalid
	}
	t, err := r.store.Token(ctx, hash)
	if err != nil {
		return Token{}, err
	}
	if !slices.Contains(purposes, t.Purpose) || !t.UsedAt.IsZero() || !r.now().Before(t.ExpiresAt) {
		return Token{}, ErrTokenInvalid
	}
	return t, nil
}

func (r *Recovery) queued(mails ...Mail) {
	if r.cfg.Observer == nil {
		return
	}
	for _, m := range mails {
		r.cfg.Observer.Queued(m)
	}
}

func mailAddressKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "mail:" + hex.EncodeToString(sum[:16])
}

func mailIPKey(ip string) string { return "mailip:" + clientNetwork(ip) }

// allowMail counts a request that may send a mail to email from ip, and
// returns a *ThrottledError past the limits, so that nobody can flood a
// mailbox or use the service to mail many. Unknown and known addresses
// are counted alike.
func (r *Recovery) allowMail(ctx context.Context, email, ip string) error {
	return take(ctx, r.counter, r.cfg.MailWindow, CauseMails, []Budget{
		{Key: mailAddressKey(email), Limit: int64(r.cfg.MaxMailsPerAddress)},
		{Key: mailIPKey(ip), Limit: int64(r.cfg.MaxMailsPerIP)},
	})
}

// mailTarget validates email, counts a request to mail it against the
// mail throttle, and returns its account; found is false when it has none.
func (r *Recovery) mailTarget(ctx context.Context, email, ip string) (u User, found bool, err error) {
	if email, err = ValidateEmail(email); err != nil {
		return User{}, false, err
	}
	if err := r.allowMail(ctx, email, ip); err != nil {
		return User{}, false, err
	}
	u, err = r.svc.users.UserByEmail(ctx, email)
	if errors.Is(err, ErrUserNotFound) {
		return User{}, false, nil
	}
	return u, err == nil, err
}

// pad waits until MinResponse has passed since start (or ctx ends), so
// that requests mailing an account and requests for unknown addresses
// take the same time.
func (r *Recovery) pad(ctx context.Context, start time.Time) {
	left := r.cfg.MinResponse - time.Since(start)
	if left <= 0 {
		return
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// RequestPasswordReset mails a reset link to email when it has an account,
// and does nothing else otherwise, in the same time either way. A newer
// link supersedes older ones. Only an invalid address or a
// *ThrottledError is reported.
func (r *Recovery) RequestPasswordReset(ctx context.Context, email string, c Client) error {
	defer r.pad(ctx, time.Now())
	u, found, err := r.mailTarget(ctx, email, c.IP)
	if err != nil || !found {
		return err
	}
	raw, t := r.newToken(u.ID, PurposePasswordReset, u.Email, ResetTokenTTL)
	m := Mail{Kind: MailPasswordReset, To: u.Email, Data: map[string]string{
		DataLink:   r.url("/password/reset?token=" + raw),
		DataValid:  "1 hour",
		DataForgot: r.url("/password/forgot"),
	}}
	if err := r.store.IssueToken(ctx, t, m); err != nil {
		return err
	}
	r.queued(m)
	return nil
}

// CheckResetToken reports whether a reset link can still be used
// (ErrTokenInvalid if not). It changes nothing: mail scanners follow links.
func (r *Recovery) CheckResetToken(ctx context.Context, raw string) error {
	_, err := r.token(ctx, raw, PurposePasswordReset)
	return err
}

// ResetPassword sets a new password through a reset link, which then no
// longer works, and queues a notice to the account's address. Following
// the link also proves the address. The caller ends every session of the
// returned user.
func (r *Recovery) ResetPassword(ctx context.Context, raw, password string, c Client) (User, error) {
	t, err := r.token(ctx, raw, PurposePasswordReset)
	if err != nil {
		return User{}, err
	}
	u, err := r.svc.users.UserByID(ctx, t.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return User{}, ErrTokenInvalid
	}
	if err != nil {
		return User{}, err
	}
	if err := CheckPassword(password, u.Email); err != nil {
		return User{}, onField(err, "new_password")
	}
	hash, err := r.svc.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	now := r.now()
	notice := Mail{Kind: MailPasswordChanged, To: u.Email, Data: map[string]string{
		DataWhen:   now.UTC().Format(mailTimeLayout),
		DataIP:     c.IP,
		DataForgot: r.url("/password/forgot"),
	}}
	if err := r.store.RedeemToken(ctx, t, now, Change{PasswordHash: hash, VerifyEmail: true}, notice); err != nil {
		return User{}, err
	}
	r.queued(notice)
	r.svc.audit.Record(ctx, Event{Kind: EventPasswordReset, UserID: u.ID, IP: c.IP})
	return u, nil
}

// mailTimeLayout is how times are written in mails.
const mailTimeLayout = "Monday 2 January 2006, 15:04 UTC"

func (r *Recovery) verifyMail(email, raw string) Mail {
	return Mail{Kind: MailVerifyEmail, To: email, Data: map[string]string{
		DataLink:  r.url("/email/verify?token=" + raw),
		DataValid: "24 hours",
	}}
}

// SignUp creates an account, as Service.SignUp does, and queues the mail
// that verifies its address in the same transaction. Only sign-ups that
// mail count against the mail throttle.
//
// When verification is required, a taken address costs the same time and
// returns ErrDuplicateEmail, and its owner is mailed instead (how to log in
// or reset the password): the caller shows one page for both, so that
// sign-up tells nobody whether an address has an account.
func (r *Recovery) SignUp(ctx context.Context, email, password string, c Client) (User, error) {
	u, err := r.svc.signUp(ctx, email, password, c, func(ctx context.Context, email, hash string) (User, error) {
		if err := r.allowMail(ctx, email, c.IP); err != nil {
			return User{}, err
		}
		raw, t := r.newToken(0, PurposeVerifyEmail, email, VerifyTokenTTL)
		m := r.verifyMail(email, raw)
		u, err := r.store.CreateUserWithToken(ctx, email, hash, t, m)
		if err == nil {
			r.queued(m)
		}
		return u, err
	})
	if !errors.Is(err, ErrDuplicateEmail) || !r.cfg.RequireVerification {
		return u, err
	}
	// The work a new address costs, so that the time tells nothing.
	email = NormalizeEmail(email)
	if err := r.allowMail(ctx, email, c.IP); err != nil {
		return User{}, err
	}
	if _, err := r.svc.hasher.Hash(ctx, password); err != nil {
		return User{}, err
	}
	m := Mail{Kind: MailSignupExisting, To: email, Data: map[string]string{
		DataLogin:  r.url("/login"),
		DataForgot: r.url("/password/forgot"),
	}}
	if err := r.store.QueueMail(ctx, m); err != nil {
		return User{}, err
	}
	r.queued(m)
	return User{}, ErrDuplicateEmail
}

// ResendVerification mails a new verification link to email when it
// belongs to an account whose address is not verified yet, superseding
// older links; it does nothing else otherwise, in the same time. Only a
// *ThrottledError is reported to the caller as such.
func (r *Recovery) ResendVerification(ctx context.Context, email string, c Client) error {
	defer r.pad(ctx, time.Now())
	if _, err := ValidateEmail(email); err != nil {
		return nil // the page answers as for any address
	}
	u, found, err := r.mailTarget(ctx, email, c.IP)
	if err != nil || !found || u.EmailVerified() {
		return err
	}
	raw, t := r.newToken(u.ID, PurposeVerifyEmail, u.Email, VerifyTokenTTL)
	m := r.verifyMail(u.Email, raw)
	if err := r.store.IssueToken(ctx, t, m); err != nil {
		return err
	}
	r.queued(m)
	return nil
}

// CheckEmailToken returns the purpose of an address link (verification
// or change) that can still be used, or ErrTokenInvalid. It changes
// nothing.
func (r *Recovery) CheckEmailToken(ctx context.Context, raw string) (Purpose, error) {
	t, err := r.token(ctx, raw, PurposeVerifyEmail, PurposeChangeEmail)
	return t.Purpose, err
}

// ConfirmEmail follows an address link: it verifies the sign-up address,
// or makes the new address of a change the account's address. A change
// to an address taken meanwhile is ErrDuplicateEmail.
func (r *Recovery) ConfirmEmail(ctx context.Context, raw string, c Client) (Purpose, error) {
	t, err := r.token(ctx, raw, PurposeVerifyEmail, PurposeChangeEmail)
	if err != nil {
		return "", err
	}
	change, event := Change{ReplaceEmail: true}, EventEmailChanged
	if t.Purpose == PurposeVerifyEmail {
		u, err := r.svc.users.UserByID(ctx, t.UserID)
		if err != nil && !errors.Is(err, ErrUserNotFound) {
			return "", err
		}
		if err != nil || u.Email != t.Email {
			// The address changed since: this link proves nothing now.
			return "", ErrTokenInvalid
		}
		change, event = Change{VerifyEmail: true}, EventEmailVerified
	}
	if err := r.store.RedeemToken(ctx, t, r.now(), change); err != nil {
		return "", err
	}
	r.svc.audit.Record(ctx, Event{Kind: event, UserID: t.UserID, IP: c.IP})
	return t.Purpose, nil
}

// RequestEmailChange asks to move account userID to newEmail, after
// checking its password (throttled like a login): a confirmation link
// goes to the new address, and the current address is told. When another
// account has newEmail, that address is told so instead of getting a link,
// and the caller answers as if the link went: only the owner of the new
// mailbox learns that it is taken.
func (r *Recovery) RequestEmailChange(ctx context.Context, userID int64, newEmail, password string, c Client) error {
	newEmail, err := ValidateEmail(newEmail)
	if err != nil {
		return onField(err, "new_email")
	}
	u, err := r.svc.checkPassword(ctx, userID, password, c)
	if err != nil {
		return err
	}
	if newEmail == u.Email {
		return ErrSameEmail
	}
	if err := r.allowMail(ctx, newEmail, c.IP); err != nil {
		return err
	}
	notice := Mail{Kind: MailEmailChanging, To: u.Email, Data: map[string]string{
		DataEmail:    newEmail,
		DataForgot:   r.url("/password/forgot"),
		DataSessions: r.url("/account/sessions"),
	}}
	_, err = r.svc.users.UserByEmail(ctx, newEmail)
	switch {
	case err == nil:
		taken := Mail{Kind: MailEmailTaken, To: newEmail, Data: map[string]string{
			DataLogin:  r.url("/login"),
			DataForgot: r.url("/password/forgot"),
		}}
		if err := r.store.QueueMail(ctx, notice, taken); err != nil {
			return err
		}
		r.queued(notice, taken)
		return nil
	case !errors.Is(err, ErrUserNotFound):
		return err
	}
	raw, t := r.newToken(u.ID, PurposeChangeEmail, newEmail, ChangeTokenTTL)
	link := Mail{Kind: MailChangeEmail, To: newEmail, Data: map[string]string{
		DataLink:  r.url("/email/verify?token=" + raw),
		DataValid: "24 hours",
		DataEmail: newEmail,
	}}
	if err := r.store.IssueToken(ctx, t, link, notice); err != nil {
		return err
	}
	r.queued(link, notice)
	return nil
}

// MarkVerified confirms account id's address without a link: an
// operator's word (bin/web admin verify-email) that the address is the
// user's. It reports whether the address was unconfirmed until now.
func (r *Recovery) MarkVerified(ctx context.Context, id int64, c Client) (bool, error) {
	u, err := r.svc.users.UserByID(ctx, id)
	if err != nil {
		return false, err
	}
	if u.EmailVerified() {
		return false, nil
	}
	if err := r.store.MarkEmailVerified(ctx, id, r.now()); err != nil {
		return false, err
	}
	r.svc.audit.Record(ctx, Event{Kind: EventEmailVerified, UserID: id, IP: c.IP, UserAgent: c.UserAgent})
	return true, nil
}

// SignIn describes a successful sign-in, for the new-device notice.
type SignIn struct {
	When   time.Time
	Device string // browser and operating system, in words
	IP     string
}

// SignedIn queues the new-device notice after a successful sign-in from a
// browser that never signed in to the account before (knownDevice false),
// when NotifyNewDevice is on.
func (r *Recovery) SignedIn(ctx context.Context, u User, knownDevice bool, s SignIn) error {
	if !r.cfg.NotifyNewDevice || knownDevice {
		return nil
	}
	m := Mail{Kind: MailNewDevice, To: u.Email, Data: map[string]string{
		DataWhen:     s.When.UTC().Format(mailTimeLayout),
		DataDevice:   s.Device,
		DataIP:       s.IP,
		DataSessions: r.url("/account/sessions"),
		DataForgot:   r.url("/password/forgot"),
	}}
	if err := r.store.QueueMail(ctx, m); err != nil {
		return err
	}
	r.queued(m)
	return nil
}
