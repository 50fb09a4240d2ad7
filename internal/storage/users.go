package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"runtime"
	"sync"
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

const userColumns = `id, email, password_hash, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (auth.User, error) {
	var u auth.User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, timestamp{&u.CreatedAt}, timestamp{&u.UpdatedAt})
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

// UserByID returns the account with id, or auth.ErrUserNotFound.
func (d *DB) UserByID(ctx context.Context, id int64) (auth.User, error) {
	return scanUser(d.queryRow(ctx, userByIDQuery, id))
}

// UserByEmail returns the account with email (compared case-insensitively),
// or auth.ErrUserNotFound.
func (d *DB) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	return scanUser(d.queryRow(ctx, userByEmailQuery, email))
}

// SQLite compiles every query it is given, and for these lookups (one per
// page view) compiling costs more than running, so on SQLite they run as
// statements prepared once per database; database/sql prepares them again
// on each pooled connection as needed. PostgreSQL's driver (pgx) already
// caches prepared statements per connection.
//
// sqliteStmts maps stmtKey to *sql.Stmt. An entry lives as long as its DB:
// a cleanup drops it once the DB is unreachable.
var sqliteStmts sync.Map

type stmtKey struct {
	db    *sql.DB
	query string
}

// queryRow runs a single-row query, prepared on SQLite.
func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if d.dialect != SQLite {
		return d.db.QueryRowContext(ctx, query, args...)
	}
	k := stmtKey{db: d.db, query: query}
	if s, ok := sqliteStmts.Load(k); ok {
		return s.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	s, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		// Not cached; the unprepared query reports the error through its row.
		return d.db.QueryRowContext(ctx, query, args...)
	}
	if prev, loaded := sqliteStmts.LoadOrStore(k, s); loaded {
		_ = s.Close()
		s = prev.(*sql.Stmt)
	} else {
		runtime.AddCleanup(d, func(k stmtKey) {
			if s, ok := sqliteStmts.LoadAndDelete(k); ok {
				_ = s.(*sql.Stmt).Close()
			}
		}, k)
	}
	return s.QueryRowContext(ctx, args...)
}

// UpdatePasswordHash replaces the password hash of account id.
func (d *DB) UpdatePasswordHash(ctx context.Context, id int64, passwordHash string) error {
	res, err := d.db.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`,
		passwordHash, d.timeArg(time.Now()), id)
	return expectOne(res, err)
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
