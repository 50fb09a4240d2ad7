package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// timestamp scans a time stored as unix milliseconds (SQLite) or as a
// timestamptz (PostgreSQL).
type timestamp struct{ t *time.Time }

func (ts timestamp) Scan(v any) error {
	switch v := v.(type) {
	case int64:
		*ts.t = time.UnixMilli(v).UTC()
	case time.Time:
		*ts.t = v.UTC()
	default:
		return fmt.Errorf("storage: cannot scan %T into a time", v)
	}
	return nil
}

// arg converts a time to what the dialect stores.
func (d *DB) timeArg(t time.Time) driver.Value {
	if d.dialect == SQLite {
		return t.UnixMilli()
	}
	return t.UTC()
}

const userColumns = `id, email, password_hash, session_gen, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (auth.User, error) {
	var u auth.User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.SessionGen, timestamp{&u.CreatedAt}, timestamp{&u.UpdatedAt})
	return u, mapError(err)
}

// CreateUser inserts an account; a taken email is auth.ErrDuplicateEmail.
func (d *DB) CreateUser(ctx context.Context, email, passwordHash string) (auth.User, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	row := d.db.QueryRowContext(ctx,
		`INSERT INTO users (email, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING `+userColumns,
		email, passwordHash, d.timeArg(now))
	return scanUser(row)
}

const (
	userByIDQuery    = `SELECT ` + userColumns + ` FROM users WHERE id = $1`
	userByEmailQuery = `SELECT ` + userColumns + ` FROM users WHERE lower(email) = lower($1)`
)

// UserByID returns the account with id, or auth.ErrUserNotFound. It is read
// from the database on every call: a change made by another process or
// instance counts at once.
func (d *DB) UserByID(ctx context.Context, id int64) (auth.User, error) {
	return scanUser(d.userByID.QueryRowContext(ctx, id))
}

// UserByEmail returns the account with email (compared case-insensitively),
// or auth.ErrUserNotFound.
func (d *DB) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	return scanUser(d.userByEmail.QueryRowContext(ctx, email))
}

// UpdatePasswordHash replaces the password hash of account id and, in the
// same statement, moves its session generation on, which ends every session
// signed in before (see auth.Sessions). It returns the new generation.
func (d *DB) UpdatePasswordHash(ctx context.Context, id int64, passwordHash string) (int64, error) {
	var gen int64
	err := d.db.QueryRowContext(ctx,
		`UPDATE users SET password_hash = $1, updated_at = $2, session_gen = session_gen + 1 WHERE id = $3 RETURNING session_gen`,
		passwordHash, d.timeArg(time.Now()), id).Scan(&gen)
	return gen, mapError(err)
}

// UpgradePasswordHash replaces the hash of account id by a stronger hash of
// the same password, only if the stored hash is still old: a password
// changed meanwhile is never overwritten. Sessions are left alone. It reports
// whether the hash was replaced.
func (d *DB) UpgradePasswordHash(ctx context.Context, id int64, old, passwordHash string) (bool, error) {
	res, err := d.db.ExecContext(ctx,
		`UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4`,
		passwordHash, d.timeArg(time.Now()), id, old)
	err = expectOne(res, err)
	if errors.Is(err, auth.ErrUserNotFound) {
		return false, nil
	}
	return err == nil, err
}

// NextSessionGeneration moves the session generation of account id on and
// returns the new one.
func (d *DB) NextSessionGeneration(ctx context.Context, id int64) (int64, error) {
	var gen int64
	err := d.db.QueryRowContext(ctx,
		`UPDATE users SET session_gen = session_gen + 1 WHERE id = $1 RETURNING session_gen`, id).Scan(&gen)
	return gen, mapError(err)
}

// DeleteUser removes account id.
func (d *DB) DeleteUser(ctx context.Context, id int64) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
	return expectOne(res, err)
}

func expectOne(res interface{ RowsAffected() (int64, error) }, err error) error {
	if err != nil {
		return mapError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapError(err)
	}
	if n == 0 {
		return auth.ErrUserNotFound
	}
	return nil
}
