// Package storage keeps accounts in SQL: SQLite (pure Go, modernc.org/sqlite)
// or PostgreSQL (pgx). It opens the database, applies the embedded
// migrations with goose, and implements auth.UserStore, auth.RecoveryStore
// (one-time tokens, and mails queued in the same transaction as their
// change) and mail.Outbox, mapping driver errors to auth's errors.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/migrations"
)

// Dialect names a supported database.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the account database.
type DB struct {
	db      *sql.DB
	dialect Dialect
	// The lookups of every page view and login, prepared once: SQLite
	// would otherwise compile them on every call, which costs more than
	// running them; database/sql prepares them again on each pooled
	// connection as needed.
	userByID    *sql.Stmt
	userByEmail *sql.Stmt
}

// ParseURL checks a DATABASE_URL: "sqlite:PATH" or "postgres://…"
// ("postgresql://…" too). It returns the dialect and, for SQLite, the path.
func ParseURL(raw string) (Dialect, string, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(raw, "sqlite:")
		if path == "" {
			return "", "", errors.New("sqlite: needs a file path, as in sqlite:data/app.db")
		}
		if path == ":memory:" || strings.Contains(path, "mode=memory") {
			// Each pooled connection would see its own empty database.
			return "", "", errors.New("sqlite: an in-memory database cannot be shared by a connection pool; use a file")
		}
		return SQLite, path, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return "", "", err
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return "", "", errors.New("postgres: no host")
		}
		return Postgres, "", nil
	default:
		return "", "", errors.New(`must start with "sqlite:" or "postgres://"`)
	}
}

// ErrSchemaOutdated means the database lacks migrations this binary
// carries: apply them (start the server, or bin/web admin migrate up).
var ErrSchemaOutdated = errors.New("the database schema is not up to date")

// Open connects to the database named by rawURL and brings its schema up to
// date, as the server does at start-up. For SQLite, the folder of the file
// is created.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	d, err := Connect(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if _, err := d.Migrate(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if err := d.prepare(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// OpenCurrent connects to the database named by rawURL and checks, without
// changing anything, that its schema is up to date (ErrSchemaOutdated if
// not). The admin command uses it: a tool run against a live database
// should not change its schema as a side effect.
func OpenCurrent(ctx context.Context, rawURL string) (*DB, error) {
	d, err := Connect(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	migrations, err := d.Migrations(ctx)
	if err != nil {
		d.Close()
		return nil, err
	}
	for _, m := range migrations {
		if !m.Applied {
			d.Close()
			return nil, ErrSchemaOutdated
		}
	}
	if err := d.prepare(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Connect connects to the database named by rawURL without looking at its
// schema: only Migrations, Migrate and Close may be used on the result
// until a schema is in place (bin/web admin migrate uses it).
func Connect(ctx context.Context, rawURL string) (*DB, error) {
	dialect, path, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var db *sql.DB
	switch dialect {
	case SQLite:
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, err
			}
		}
		// WAL lets readers run beside a writer; busy_timeout makes a writer
		// wait for the lock instead of failing; _txlock=immediate takes the
		// write lock at BEGIN, so transactions cannot deadlock upgrading it.
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
			"&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		if db, err = sql.Open("sqlite", dsn); err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
	case Postgres:
		if db, err = sql.Open("pgx", withConnectTimeout(rawURL)); err != nil {
			return nil, err
		}
		// A few connections per core of this instance, as PostgreSQL's own
		// advice on pool sizes goes: more only make its backends wait for
		// each other's CPU. Paired 10 s W1 runs on 2 cores gave 10.9k and
		// 11.9k req/s with 8 against 10.1k and 9.6k with 32; a full
		// comparison did not separate them (docs/BENCHMARKS.md).
		n := max(8, 4*runtime.GOMAXPROCS(0))
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	return &DB{db: db, dialect: dialect}, nil
}

// prepare readies the statements of the hot paths; on failure d is closed.
func (d *DB) prepare(ctx context.Context) error {
	var err error
	if d.userByID, err = d.db.PrepareContext(ctx, userByIDQuery); err == nil {
		d.userByEmail, err = d.db.PrepareContext(ctx, userByEmailQuery)
	}
	if err != nil {
		d.Close()
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

// pgConnectTimeout is the connect_timeout (seconds) used when DATABASE_URL
// sets none. pgx waits forever by default, so a server that accepts
// connections but never answers would hang every request needing a new
// connection instead of failing it with a 503. Queries are not bounded.
const pgConnectTimeout = "2"

// withConnectTimeout adds connect_timeout to a postgres:// URL that has
// none.
func withConnectTimeout(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Query().Has("connect_timeout") {
		return rawURL
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += "connect_timeout=" + pgConnectTimeout
	return u.String()
}

// Migration is one embedded schema migration and whether the database has
// it.
type Migration struct {
	Version   int64
	Name      string // the file name, as in 00001_create_users.sql
	Applied   bool
	AppliedAt time.Time
}

// provider returns goose's migration provider for the database.
func (d *DB) provider() (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations.FS, string(d.dialect))
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	gd := goose.DialectSQLite3
	if d.dialect == Postgres {
		gd = goose.DialectPostgres
		// Instances starting together take turns instead of racing.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(gd, d.db, fsys, opts...)
}

// Migrations lists the embedded migrations, oldest first, with whether
// each is applied. It changes nothing (beyond creating goose's version
// table in an empty database).
func (d *DB) Migrations(ctx context.Context) ([]Migration, error) {
	p, err := d.provider()
	if err != nil {
		return nil, err
	}
	status, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Migration, len(status))
	for i, st := range status {
		out[i] = Migration{
			Version: st.Source.Version, Name: filepath.Base(st.Source.Path),
			Applied: st.State == goose.StateApplied, AppliedAt: st.AppliedAt,
		}
	}
	return out, nil
}

// Migrate applies the pending migrations and returns those it applied.
func (d *DB) Migrate(ctx context.Context) ([]Migration, error) {
	p, err := d.provider()
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(results))
	for i, r := range results {
		out[i] = Migration{Version: r.Source.Version, Name: filepath.Base(r.Source.Path), Applied: true}
	}
	return out, nil
}

// Dialect returns the database's dialect.
func (d *DB) Dialect() Dialect { return d.dialect }

// SQL returns the database handle (for metrics of its pool).
func (d *DB) SQL() *sql.DB { return d.db }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Close closes the database.
func (d *DB) Close() error {
	for _, s := range []*sql.Stmt{d.userByID, d.userByEmail} {
		if s != nil {
			_ = s.Close()
		}
	}
	return d.db.Close()
}

// mapError turns driver errors into auth errors.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return auth.ErrUserNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		return auth.ErrDuplicateEmail
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return auth.ErrDuplicateEmail
	}
	return fmt.Errorf("%w: database: %v", auth.ErrUnavailable, err)
}
