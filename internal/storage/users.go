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

// UserByID returns the account with id, or auth.ErrUserNotFound. On
// SQLite it may come from the account cache (see userCache).
func (d *DB) UserByID(ctx context.Context, id int64) (auth.User, error) {
	if d.dialect != SQLite {
		return scanUser(d.db.QueryRowContext(ctx, userByIDQuery, id))
	}
	x := d.sqlite()
	now := time.Now()
	if u, ok := x.users.get(id, now); ok {
		return u, nil
	}
	epoch := x.users.currentEpoch()
	u, err := scanUser(x.queryRow(ctx, d.db, userByIDQuery, id))
	if err == nil {
		x.users.put(id, u, epoch, now)
	}
	return u, err
}

// UserByEmail returns the account with email (compared case-insensitively),
// or auth.ErrUserNotFound.
func (d *DB) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	if d.dialect != SQLite {
		return scanUser(d.db.QueryRowContext(ctx, userByEmailQuery, email))
	}
	return scanUser(d.sqlite().queryRow(ctx, d.db, userByEmailQuery, email))
}

// UpdatePasswordHash replaces the password hash of account id.
func (d *DB) UpdatePasswordHash(ctx context.Context, id int64, passwordHash string) error {
	defer d.accountsChanged()
	res, err := d.db.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`,
		passwordHash, d.timeArg(time.Now()), id)
	return expectOne(res, err)
}

// DeleteUser removes account id.
func (d *DB) DeleteUser(ctx context.Context, id int64) error {
	defer d.accountsChanged()
	res, err := d.db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
	return expectOne(res, err)
}

// accountsChanged empties the account cache after a write (deferred, so it
// runs once the write is committed or failed: a read that began before
// then cannot fill the cache with what it read).
func (d *DB) accountsChanged() {
	if d.dialect == SQLite {
		d.sqlite().users.invalidate()
	}
}

// The account of a signed-in user is read on every page view. On SQLite
// (modernc.org/sqlite, C translated to Go) that read costs more than the
// rest of a page view's database and session work together: compiling the
// query, and database/sql's and the driver's per-query overhead. So on
// SQLite the two lookups run as statements prepared once, and accounts
// read by id are reused for up to userCacheTTL. PostgreSQL is read as is:
// pgx caches prepared statements itself, and several instances usually
// share one PostgreSQL database, where a per-process cache would be stale
// for changes made through the other instances.
//
// sqliteState maps a SQLite *sql.DB to its *sqliteExtras. An entry lives as
// long as its DB: a cleanup drops it (and closes the statements) once the
// DB is unreachable.
var sqliteState sync.Map

type sqliteExtras struct {
	stmts sync.Map // query → *sql.Stmt
	users userCache
}

func (d *DB) sqlite() *sqliteExtras {
	if x, ok := sqliteState.Load(d.db); ok {
		return x.(*sqliteExtras)
	}
	x, loaded := sqliteState.LoadOrStore(d.db, &sqliteExtras{users: userCache{m: map[int64]cachedUser{}}})
	if !loaded {
		runtime.AddCleanup(d, func(db *sql.DB) {
			if x, ok := sqliteState.LoadAndDelete(db); ok {
				x.(*sqliteExtras).stmts.Range(func(_, s any) bool {
					_ = s.(*sql.Stmt).Close()
					return true
				})
			}
		}, d.db)
	}
	return x.(*sqliteExtras)
}

// queryRow runs a single-row query as a statement prepared once;
// database/sql prepares it again on each pooled connection as needed.
func (x *sqliteExtras) queryRow(ctx context.Context, db *sql.DB, query string, args ...any) *sql.Row {
	if s, ok := x.stmts.Load(query); ok {
		return s.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	s, err := db.PrepareContext(ctx, query)
	if err != nil {
		// Not kept; the unprepared query reports the error through its row.
		return db.QueryRowContext(ctx, query, args...)
	}
	if prev, loaded := x.stmts.LoadOrStore(query, s); loaded {
		_ = s.Close()
		s = prev.(*sql.Stmt)
	}
	return s.QueryRowContext(ctx, args...)
}

// userCacheTTL is how long an account read by id is reused. A change made
// through this process (UpdatePasswordHash, DeleteUser) empties the cache
// at once, so the service itself never sees a stale account: a deleted
// account's session ends on its next request. A change made behind the
// process's back (another process on the same file, an operator's SQL) is
// seen within userCacheTTL. A second still spares nearly every read under
// load, where one signed-in user makes many requests a second.
const userCacheTTL = time.Second

// userCacheMax bounds the cache; when full, it starts again empty.
const userCacheMax = 4096

// userCache keeps accounts read by id. Every write through this process
// moves it to a new epoch and empties it; a read that began in an older
// epoch may not fill it, so it never holds what a write replaced.
type userCache struct {
	mu    sync.RWMutex
	epoch uint64
	m     map[int64]cachedUser
}

type cachedUser struct {
	user auth.User
	read time.Time
}

func (c *userCache) get(id int64, now time.Time) (auth.User, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[id]
	if !ok || now.Sub(e.read) >= userCacheTTL {
		return auth.User{}, false
	}
	return e.user, true
}

func (c *userCache) currentEpoch() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// put keeps u, read at read time by a lookup that began in epoch.
func (c *userCache) put(id int64, u auth.User, epoch uint64, read time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	if len(c.m) >= userCacheMax {
		clear(c.m)
	}
	c.m[id] = cachedUser{user: u, read: read}
}

func (c *userCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.m)
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
