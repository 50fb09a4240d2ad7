// Package auth owns accounts and sign-in: users, password hashing and policy,
// login throttling, the session wrapper that every handler uses to sign a user
// in or out, the per-user registry of live sessions, and account recovery by
// email (one-time links, and which mails to queue; package mail words and
// sends them).
//
// It imports no other internal package. Storage and session back-ends
// implement the small interfaces declared here (UserStore, RecoveryStore,
// Counter, Registry).
package auth

import (
	"context"
	"errors"
	"time"
)

// User is an account. Only its ID is ever kept in a session; the rest is
// loaded per request so that a change (or a deletion) takes effect at once.
type User struct {
	ID           int64
	Email        string
	PasswordHash string
	// SessionGen is the account's session generation. Each session records
	// it at login and is valid only while it still matches: moving it on
	// (a password change, "end all sessions") ends every session at once,
	// without the registry.
	SessionGen int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// EmailVerifiedAt is when the current address was confirmed by a
	// mailed link; zero while it is not.
	EmailVerifiedAt time.Time
	// LockedAt is when an operator locked the account (zero: not locked).
	// A locked account cannot sign in, and its sessions end.
	LockedAt time.Time
}

// EmailVerified reports whether the account's address has been confirmed.
func (u User) EmailVerified() bool { return !u.EmailVerifiedAt.IsZero() }

// Locked reports whether an operator locked the account.
func (u User) Locked() bool { return !u.LockedAt.IsZero() }

// Errors returned by this package and by the back-ends that implement its
// interfaces. Callers compare them with errors.Is.
var (
	// ErrUserNotFound means no account has that id or email.
	ErrUserNotFound = errors.New("auth: user not found")
	// ErrDuplicateEmail means an account with that email already exists.
	ErrDuplicateEmail = &FieldError{Field: "email", Message: "An account with this email already exists. Log in instead?"}
	// ErrInvalidCredentials is the one answer to a wrong email or password,
	// so that a caller cannot tell which of the two was wrong.
	ErrInvalidCredentials = errors.New("auth: invalid email or password")
	// ErrSessionNotFound means no live session of the user has that id.
	ErrSessionNotFound = errors.New("auth: session not found")
	// ErrUnavailable wraps failures of the database or the session store,
	// which callers report as "service unavailable" rather than bad input.
	ErrUnavailable = errors.New("auth: backing service unavailable")
)

// UserStore persists accounts. Emails passed in are already normalised by
// NormalizeEmail. Implementations map their driver errors to ErrUserNotFound
// and ErrDuplicateEmail, and wrap everything else with ErrUnavailable.
type UserStore interface {
	CreateUser(ctx context.Context, email, passwordHash string) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	// UpdatePasswordHash sets a new password and, in the same step, moves
	// the session generation on; it returns the new generation.
	UpdatePasswordHash(ctx context.Context, id int64, passwordHash string) (int64, error)
	// UpgradePasswordHash replaces old by a stronger hash of the same
	// password, only if old is still stored, leaving sessions alone; it
	// reports whether it did.
	UpgradePasswordHash(ctx context.Context, id int64, old, passwordHash string) (bool, error)
	// NextSessionGeneration moves the session generation on and returns it.
	NextSessionGeneration(ctx context.Context, id int64) (int64, error)
	DeleteUser(ctx context.Context, id int64) error
	// SetLockedAt locks account id as of at, or unlocks it when at is zero.
	SetLockedAt(ctx context.Context, id int64, at time.Time) error
}
