package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Client describes where a request comes from.
type Client struct {
	IP        string
	UserAgent string
	// Device is the value of the browser's device cookie, "" when none.
	Device string
}

// Login is the outcome of a successful Authenticate.
type Login struct {
	User
	// KnownDevice reports whether the browser had signed in to this
	// account before (it presented a valid device cookie for it).
	KnownDevice bool
	// DeviceCookie is the device cookie value to give the browser, naming
	// it a known device for this account; "" when device cookies are off.
	DeviceCookie string
}

// Service is the account logic: sign-up, credential checks with throttling,
// password changes and account deletion. It knows nothing of HTTP or of
// sessions; Sessions does that.
type Service struct {
	users    UserStore
	hasher   *Hasher
	throttle *Throttle
	audit    Auditor
	// dummyHash is verified against when an email is unknown, so that an
	// unknown email costs the same time as a wrong password.
	dummyHash string
}

// NewService returns a Service. It computes one hash at start (for the
// dummy hash), which takes a few tens of milliseconds.
func NewService(users UserStore, hasher *Hasher, throttle *Throttle, audit Auditor) (*Service, error) {
	dummy, err := hasher.Hash(context.Background(), "dummy password used for unknown emails")
	if err != nil {
		return nil, err
	}
	if audit == nil {
		audit = Auditors{}
	}
	return &Service{users: users, hasher: hasher, throttle: throttle, audit: audit, dummyHash: dummy}, nil
}

// SignUp creates an account. Policy violations come back as *FieldError
// (a taken email as ErrDuplicateEmail); too many sign-ups from the client's
// network as a *ThrottledError.
func (s *Service) SignUp(ctx context.Context, email, password string, c Client) (User, error) {
	return s.signUp(ctx, email, password, c, s.users.CreateUser)
}

// signUp checks and hashes, then creates the account with create (which
// may write more in the same transaction, such as a verification mail).
func (s *Service) signUp(ctx context.Context, email, password string, c Client,
	create func(ctx context.Context, email, passwordHash string) (User, error)) (User, error) {
	email, err := ValidateEmail(email)
	if err != nil {
		return User{}, err
	}
	if err := CheckPassword(password, email); err != nil {
		return User{}, err
	}
	// Counted before the email is looked up: every sign-up answers whether
	// an address is registered, so each one spends the budget.
	if err := s.throttle.SignUp(ctx, c.IP); err != nil {
		return User{}, err
	}
	// Checked before hashing so that a taken email does not cost a hash;
	// the unique index still decides a race between two sign-ups.
	if _, err := s.users.UserByEmail(ctx, email); err == nil {
		return User{}, ErrDuplicateEmail
	} else if !errors.Is(err, ErrUserNotFound) {
		return User{}, err
	}
	hash, err := s.hasher.Hash(withClient(ctx, c.IP), password)
	if err != nil {
		return User{}, s.busy(ctx, err, 0, c)
	}
	u, err := create(ctx, email, hash)
	if err != nil {
		return User{}, err
	}
	s.audit.Record(ctx, Event{Kind: EventSignup, UserID: u.ID, IP: c.IP, UserAgent: c.UserAgent})
	return u, nil
}

// Authenticate checks an email and password. It returns ErrInvalidCredentials
// for an unknown email and for a wrong password alike, after the same work,
// and a *ThrottledError when too many attempts failed. An email holding
// control characters or invalid UTF-8 is refused with ErrEmailInvalid
// before any lookup. A hash made with older parameters is replaced after a
// successful check.
func (s *Service) Authenticate(ctx context.Context, email, password string, c Client) (Login, error) {
	if !plainText(email) {
		return Login{}, ErrEmailInvalid
	}
	email = NormalizeEmail(email)
	device := s.throttle.devices.id(c.Device, email)
	u, err := s.attempt(ctx, password, Attempt{Email: email, IP: c.IP, Device: device}, c)
	if err != nil {
		return Login{}, err
	}
	return Login{User: u, KnownDevice: device != "", DeviceCookie: s.throttle.devices.add(c.Device, email)}, nil
}

// DeviceLogin returns the Login of user signed in without a password (a
// passkey): whether the browser is a known device for the account, and the
// device cookie naming it one from now on, as Authenticate does after a
// right password.
func (s *Service) DeviceLogin(user User, c Client) Login {
	email := NormalizeEmail(user.Email)
	return Login{
		User:         user,
		KnownDevice:  s.throttle.devices.id(c.Device, email) != "",
		DeviceCookie: s.throttle.devices.add(c.Device, email),
	}
}

// attempt checks password against the account of a.Email under the login
// throttle. Whether the password is right is looked at only by the
// throttle's last step, which decides both answers alike (see Throttle):
// an attempt past the budget takes the same path, the same time and
// leaves the same records whichever password it carried.
func (s *Service) attempt(ctx context.Context, password string, a Attempt, c Client) (User, error) {
	if err := s.throttle.Check(ctx, a); err != nil {
		return User{}, s.throttled(ctx, err, 0, c)
	}
	u, rehash, err := s.verify(withClient(ctx, c.IP), a.Email, password)
	if errors.Is(err, ErrInvalidCredentials) {
		if ferr := s.throttle.Fail(ctx, a); ferr != nil {
			return User{}, s.throttled(ctx, ferr, u.ID, c)
		}
		e := Event{Kind: EventLoginFailure, UserID: u.ID, IP: c.IP, UserAgent: c.UserAgent}
		if errors.Is(err, errLocked) {
			e.Detail = "account locked"
		}
		s.audit.Record(ctx, e)
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, s.busy(ctx, err, u.ID, c)
	}
	if err := s.throttle.Succeed(ctx, a); err != nil {
		return User{}, s.throttled(ctx, err, u.ID, c)
	}
	// Only now: a new hash costs time, which a right password answered as
	// throttled must not show.
	if rehash {
		if h, err := s.hasher.Hash(withClient(ctx, c.IP), password); err == nil {
			// Not UpdatePasswordHash: the password is the same, so the
			// user's sessions stay; and a change that landed meanwhile wins.
			ok, err := s.users.UpgradePasswordHash(ctx, u.ID, u.PasswordHash, h)
			if err != nil {
				return User{}, err
			}
			if ok {
				u.PasswordHash = h
			}
		}
	}
	return u, nil
}

// throttled records a throttling event when err is a *ThrottledError, and
// returns err.
func (s *Service) throttled(ctx context.Context, err error, userID int64, c Client) error {
	var te *ThrottledError
	if errors.As(err, &te) {
		s.audit.Record(ctx, Event{Kind: EventLoginThrottled, UserID: userID, IP: c.IP, UserAgent: c.UserAgent})
	}
	return err
}

// busy turns a full hashing queue into a *ThrottledError.
func (s *Service) busy(ctx context.Context, err error, userID int64, c Client) error {
	if errors.Is(err, errQueueFull) {
		return s.throttled(ctx, &ThrottledError{RetryAfter: time.Second, Cause: CauseBusy}, userID, c)
	}
	return err
}

// errLocked is verify's answer for a locked account: invalid credentials
// to every caller, told apart only for the audit log.
var errLocked = fmt.Errorf("%w (account locked)", ErrInvalidCredentials)

// verify checks password against the account of email, and reports whether
// its hash should be replaced. On a wrong password the returned user still
// carries the account id, for the audit log only. A locked account fails
// whatever the password, after the same work, so that a lock reveals
// nothing about the password either.
func (s *Service) verify(ctx context.Context, email, password string) (User, bool, error) {
	if email == "" || utf8.RuneCountInString(password) > MaxPasswordLength {
		// No account can match; nothing about any account is revealed.
		return User{}, false, ErrInvalidCredentials
	}
	u, err := s.users.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrUserNotFound):
		if _, _, err := s.hasher.Verify(ctx, password, s.dummyHash); err != nil {
			return User{}, false, err
		}
		return User{}, false, ErrInvalidCredentials
	case err != nil:
		return User{}, false, err
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil && !errors.Is(err, ErrMalformedHash) {
		return User{ID: u.ID}, false, err
	}
	if u.Locked() {
		return User{ID: u.ID}, false, errLocked
	}
	if !ok {
		return User{ID: u.ID}, false, ErrInvalidCredentials
	}
	return u, rehash, nil
}

// User returns the account with id.
func (s *Service) User(ctx context.Context, id int64) (User, error) {
	return s.users.UserByID(ctx, id)
}

// checkPassword verifies the password of the signed-in user id before a
// sensitive change, throttled like a login.
func (s *Service) checkPassword(ctx context.Context, id int64, password string, c Client) (User, error) {
	u, err := s.users.UserByID(ctx, id)
	if err != nil {
		return User{}, err
	}
	a := Attempt{Email: u.Email, IP: c.IP, Device: s.throttle.devices.id(c.Device, u.Email)}
	return s.attempt(ctx, password, a, c)
}

// ChangePassword replaces the password of user id after checking the
// current one (ErrInvalidCredentials when wrong). Policy errors about the
// new password come on the field "new_password". Every session of the user
// ends with it; it returns the user's new session generation, to which the
// caller carries the current session over (Sessions.PasswordChanged).
func (s *Service) ChangePassword(ctx context.Context, id int64, current, next string, c Client) (int64, error) {
	if utf8.RuneCountInString(next) > MaxPasswordLength {
		return 0, onField(ErrPasswordTooLong, "new_password")
	}
	u, err := s.checkPassword(ctx, id, current, c)
	if err != nil {
		return 0, err
	}
	return s.setPassword(ctx, u, next, c)
}

// setPassword gives account u the password next, if the policy allows it.
// Every session of the user ends with it (its session generation moves on);
// it returns the new generation.
func (s *Service) setPassword(ctx context.Context, u User, next string, c Client) (int64, error) {
	if err := CheckPassword(next, u.Email); err != nil {
		return 0, onField(err, "new_password")
	}
	hash, err := s.hasher.Hash(withClient(ctx, c.IP), next)
	if err != nil {
		return 0, s.busy(ctx, err, u.ID, c)
	}
	gen, err := s.users.UpdatePasswordHash(ctx, u.ID, hash)
	if err != nil {
		return 0, err
	}
	s.audit.Record(ctx, Event{Kind: EventPasswordChanged, UserID: u.ID, IP: c.IP, UserAgent: c.UserAgent})
	return gen, nil
}

// DeleteAccount removes user id after checking the password. The caller
// ends all of the user's sessions.
func (s *Service) DeleteAccount(ctx context.Context, id int64, password string, c Client) error {
	if _, err := s.checkPassword(ctx, id, password, c); err != nil {
		return err
	}
	return s.remove(ctx, id, c)
}

func (s *Service) remove(ctx context.Context, id int64, c Client) error {
	if err := s.users.DeleteUser(ctx, id); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	s.audit.Record(ctx, Event{Kind: EventAccountDeleted, UserID: id, IP: c.IP, UserAgent: c.UserAgent})
	return nil
}

// The operator's actions (the admin command) follow. They ask for no
// password: the operator is trusted with the database already. Run them
// under AsOperator so that their events say so. The caller ends the
// account's sessions where the action calls for it (Sessions.EndAll).

// UserByEmail returns the account with email, or ErrUserNotFound.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.users.UserByEmail(ctx, NormalizeEmail(email))
}

// SetPassword gives account id a new password without asking for the
// current one; the password policy applies.
func (s *Service) SetPassword(ctx context.Context, id int64, password string, c Client) error {
	if utf8.RuneCountInString(password) > MaxPasswordLength {
		return ErrPasswordTooLong
	}
	u, err := s.users.UserByID(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.setPassword(ctx, u, password, c)
	return err
}

// Lock stops account id from signing in. A lock already in place keeps its
// time.
func (s *Service) Lock(ctx context.Context, id int64, c Client) error {
	u, err := s.users.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if !u.Locked() {
		if err := s.users.SetLockedAt(ctx, id, time.Now().UTC()); err != nil {
			return err
		}
	}
	s.audit.Record(ctx, Event{Kind: EventAccountLocked, UserID: id, IP: c.IP, UserAgent: c.UserAgent})
	return nil
}

// Unlock lets account id sign in again.
func (s *Service) Unlock(ctx context.Context, id int64, c Client) error {
	if err := s.users.SetLockedAt(ctx, id, time.Time{}); err != nil {
		return err
	}
	s.audit.Record(ctx, Event{Kind: EventAccountUnlocked, UserID: id, IP: c.IP, UserAgent: c.UserAgent})
	return nil
}

// RemoveAccount deletes account id without asking for its password.
func (s *Service) RemoveAccount(ctx context.Context, id int64, c Client) error {
	return s.remove(ctx, id, c)
}
