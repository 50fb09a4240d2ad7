package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// timestamp scans a time stored as unix milliseconds (SQLite) or as a
// timestamptz (PostgreSQL); NULL scans as the zero time.
type timestamp struct{ t *time.Time }

func (ts timestamp) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*ts.t = time.Time{}
	case int64:
		*ts.t = time.UnixMilli(v).UTC()
	case time.Time:
		*ts.t = v.UTC()
	default:
		return fmt.Errorf("storage: cannot scan %T into a time", v)
	}
	return nil
}

// nullTimestamp scans a time that may be NULL (left zero).
type nullTimestamp struct{ t *time.Time }

func (ts nullTimestamp) Scan(v any) error {
	if v == nil {
		*ts.t = time.Time{}
		return nil
	}
	return timestamp(ts).Scan(v)
}

// arg converts a time to what the dialect stores.
func (d *DB) timeArg(t time.Time) driver.Value {
	if d.dialect == SQLite {
		return t.UnixMilli()
	}
	return t.UTC()
}

// nullTimeArg is timeArg, with the zero time as NULL.
func (d *DB) nullTimeArg(t time.Time) driver.Value {
	if t.IsZero() {
		return nil
	}
	return d.timeArg(t.Truncate(time.Millisecond))
}

const userColumns = `id, email, password_hash, session_gen, created_at, updated_at, email_verified_at, locked_at`

func scanUser(row interface{ Scan(...any) error }) (auth.User, error) {
	var u auth.User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.SessionGen, timestamp{&u.CreatedAt}, timestamp{&u.UpdatedAt},
		nullTimestamp{&u.EmailVerifiedAt}, nullTimestamp{&u.LockedAt})
	return u, mapError(err)
}

// CreateUser inserts an account; a taken email is auth.ErrDuplicateEmail.
func (d *DB) CreateUser(ctx context.Context, email, passwordHash string) (auth.User, error) {
	return d.createUser(ctx, d.db, email, passwordHash)
}

func (d *DB) createUser(ctx context.Context, q querier, email, passwordHash string) (auth.User, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	row := q.QueryRowContext(ctx,
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
	return d.setPasswordHash(ctx, d.db, id, passwordHash)
}

// setPasswordHash is the one statement that replaces a password hash (and
// so moves the session generation on), used by a password change and,
// inside its transaction, by a reset.
func (d *DB) setPasswordHash(ctx context.Context, q querier, id int64, passwordHash string) (int64, error) {
	var gen int64
	err := q.QueryRowContext(ctx,
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

// SetLockedAt locks account id as of at, or unlocks it when at is zero.
func (d *DB) SetLockedAt(ctx context.Context, id int64, at time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE users SET locked_at = $1, updated_at = $2 WHERE id = $3`,
		d.nullTimeArg(at), d.timeArg(time.Now()), id)
	return expectOne(res, err)
}

// MarkEmailVerified marks account id's current address verified as of at,
// unless it was already (the first confirmation's time stays).
func (d *DB) MarkEmailVerified(ctx context.Context, id int64, at time.Time) error {
	res, err := d.db.ExecContext(ctx,
		`UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), updated_at = $2 WHERE id = $3`,
		d.timeArg(at), d.timeArg(time.Now()), id)
	return expectOne(res, err)
}

// Users returns up to limit accounts with an id above afterID, in id
// order, whose email contains query (case-insensitively; "" matches all).
// Pages are keyed on the id, so listing a large table costs no offset scan.
func (d *DB) Users(ctx context.Context, query string, afterID int64, limit int) ([]auth.User, error) {
	q := `SELECT ` + userColumns + ` FROM users WHERE id > $1`
	args := []any{afterID}
	if query != "" {
		q += ` AND lower(email) LIKE $2 ESCAPE '\'`
		args = append(args, "%"+likeEscaper.Replace(strings.ToLower(query))+"%")
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit)
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var users []auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, mapError(rows.Err())
}

// likeEscaper makes a search text match itself literally in a LIKE
// pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// affected returns how many rows a statement changed, with errors mapped.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, mapError(err)
	}
	n, err := res.RowsAffected()
	return n, mapError(err)
}

func expectOne(res sql.Result, err error) error {
	n, err := affected(res, err)
	if err != nil {
		return err
	}
	if n == 0 {
		return auth.ErrUserNotFound
	}
	return nil
}
