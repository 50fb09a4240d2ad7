package auth

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Client describes where a request comes from.
type Client struct {
	IP        string
	UserAgent string
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

// SignUp creates an account. Policy violations come back as the policy
// errors of this package; a taken email as ErrDuplicateEmail.
func (s *Service) SignUp(ctx context.Context, email, password string, c Client) (User, error) {
	email, err := ValidateEmail(email)
	if err != nil {
		return User{}, err
	}
	if err := CheckPassword(password, email); err != nil {
		return User{}, err
	}
	// Checked before hashing so that a taken email does not cost a hash;
	// the unique index still decides a race between two sign-ups.
	if _, err := s.users.UserByEmail(ctx, email); err == nil {
		return User{}, ErrDuplicateEmail
	} else if !errors.Is(err, ErrUserNotFound) {
		return User{}, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	u, err := s.users.CreateUser(ctx, email, hash)
	if err != nil {
		return User{}, err
	}
	s.audit.Record(ctx, Event{Kind: EventSignup, UserID: u.ID, IP: c.IP})
	return u, nil
}

// Authenticate checks an email and password. It returns ErrInvalidCredentials
// for an unknown email and for a wrong password alike, after the same work,
// and a *ThrottledError when too many attempts failed. A hash made with older
// parameters is replaced after a successful check.
func (s *Service) Authenticate(ctx context.Context, email, password string, c Client) (User, error) {
	email = NormalizeEmail(email)
	return s.attempt(ctx, email, password, c)
}

// attempt checks password against the account of email under the login
// throttle.
func (s *Service) attempt(ctx context.Context, email, password string, c Client) (User, error) {
	if err := s.throttle.Check(ctx, email, c.IP); err != nil {
		return User{}, s.throttled(ctx, err, 0, c)
	}
	u, err := s.verify(ctx, email, password)
	if errors.Is(err, ErrInvalidCredentials) {
		s.audit.Record(ctx, Event{Kind: EventLoginFailure, UserID: u.ID, IP: c.IP})
		if ferr := s.throttle.Fail(ctx, email, c.IP); ferr != nil {
			return User{}, s.throttled(ctx, ferr, u.ID, c)
		}
		return User{}, err
	}
	if err != nil {
		return User{}, err
	}
	if err := s.throttle.Succeed(ctx, email, c.IP); err != nil {
		return User{}, s.throttled(ctx, err, u.ID, c)
	}
	return u, nil
}

// throttled records a throttling event when err is a *ThrottledError, and
// returns err.
func (s *Service) throttled(ctx context.Context, err error, userID int64, c Client) error {
	var te *ThrottledError
	if errors.As(err, &te) {
		s.audit.Record(ctx, Event{Kind: EventLoginThrottled, UserID: userID, IP: c.IP})
	}
	return err
}

// verify checks password against the account of email. On a wrong password
// the returned user still carries the account id, for the audit log only.
func (s *Service) verify(ctx context.Context, email, password string) (User, error) {
	if email == "" || utf8.RuneCountInString(password) > MaxPasswordLength {
		// No account can match; nothing about any account is revealed.
		return User{}, ErrInvalidCredentials
	}
	u, err := s.users.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrUserNotFound):
		if _, _, err := s.hasher.Verify(ctx, password, s.dummyHash); err != nil {
			return User{}, err
		}
		return User{}, ErrInvalidCredentials
	case err != nil:
		return User{}, err
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil && !errors.Is(err, ErrMalformedHash) {
		return User{}, err
	}
	if !ok {
		return User{ID: u.ID}, ErrInvalidCredentials
	}
	if rehash {
		if h, err := s.hasher.Hash(ctx, password); err == nil {
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
	return s.attempt(ctx, u.Email, password, c)
}

// ChangePassword replaces the password of user id after checking the
// current one (ErrInvalidCredentials when wrong). Every session of the user
// ends with it; it returns the user's new session generation, to which the
// caller carries the current session over (Sessions.PasswordChanged).
func (s *Service) ChangePassword(ctx context.Context, id int64, current, next string, c Client) (int64, error) {
	if utf8.RuneCountInString(next) > MaxPasswordLength {
		return 0, ErrPasswordTooLong
	}
	u, err := s.checkPassword(ctx, id, current, c)
	if err != nil {
		return 0, err
	}
	if err := CheckPassword(next, u.Email); err != nil {
		return 0, err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return 0, err
	}
	gen, err := s.users.UpdatePasswordHash(ctx, id, hash)
	if err != nil {
		return 0, err
	}
	s.audit.Record(ctx, Event{Kind: EventPasswordChanged, UserID: id, IP: c.IP})
	return gen, nil
}

// DeleteAccount removes user id after checking the password. The caller
// ends all of the user's sessions.
func (s *Service) DeleteAccount(ctx context.Context, id int64, password string, c Client) error {
	if _, err := s.checkPassword(ctx, id, password, c); err != nil {
		return err
	}
	if err := s.users.DeleteUser(ctx, id); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	s.audit.Record(ctx, Event{Kind: EventAccountDeleted, UserID: id, IP: c.IP})
	return nil
}
