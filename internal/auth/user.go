// Package auth owns accounts and sign-in: users, password hashing and policy,
// login throttling, the session wrapper that every handler uses to sign a user
// in or out, and the per-user registry of live sessions.
//
// It imports no other internal package. Storage and session back-ends
// implement the small interfaces declared here (UserStore, Counter, Registry).
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
}

// Errors returned by this package and by the back-ends that implement its
// interfaces. Callers compare them with errors.Is.
var (
	// ErrUserNotFound means no account has that id or email.
	ErrUserNotFound = errors.New("auth: user not found")
	// ErrDuplicateEmail means an account with that email already exists.
	ErrDuplicateEmail = errors.New("auth: email already registered")
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
}
