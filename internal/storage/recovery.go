package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// querier is what both *sql.DB and *sql.Tx offer: statements shared by a
// lone write and a transaction take one.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction, committed when fn returns nil. On SQLite
// it takes the write lock at BEGIN (_txlock=immediate).
func (d *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return mapError(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return mapError(err)
	}
	return nil
}

// queueMails writes mails to the outbox, due at once.
func (d *DB) queueMails(ctx context.Context, q querier, mails []auth.Mail) error {
	now := d.timeArg(time.Now())
	for _, m := range mails {
		data, err := json.Marshal(m.Data)
		if err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx,
			`INSERT INTO mail_outbox (kind, recipient, data, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $4)`,
			string(m.Kind), m.To, string(data), now); err != nil {
			return mapError(err)
		}
	}
	return nil
}

// QueueMail writes mails to the outbox (auth.RecoveryStore).
func (d *DB) QueueMail(ctx context.Context, mails ...auth.Mail) error {
	return d.inTx(ctx, func(tx *sql.Tx) error { return d.queueMails(ctx, tx, mails) })
}

// issueToken supersedes the user's unused tokens of t's purpose and
// stores t.
func (d *DB) issueToken(ctx context.Context, q querier, t auth.Token) error {
	now := time.Now()
	if _, err := q.ExecContext(ctx,
		`UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`,
		d.timeArg(now), t.UserID, string(t.Purpose)); err != nil {
		return mapError(err)
	}
	_, err := q.ExecContext(ctx,
		`INSERT INTO one_time_tokens (user_id, purpose, token_hash, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.UserID, string(t.Purpose), t.Hash, t.Email, d.timeArg(now), d.timeArg(t.ExpiresAt))
	return mapError(err)
}

// IssueToken stores t, superseding older tokens of its user and purpose,
// and queues mails, in one transaction (auth.RecoveryStore).
func (d *DB) IssueToken(ctx context.Context, t auth.Token, mails ...auth.Mail) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if err := d.issueToken(ctx, tx, t); err != nil {
			return err
		}
		return d.queueMails(ctx, tx, mails)
	})
}

// CreateUserWithToken creates an account and t for it, and queues mails,
// in one transaction (auth.RecoveryStore).
func (d *DB) CreateUserWithToken(ctx context.Context, email, passwordHash string, t auth.Token, mails ...auth.Mail) (auth.User, error) {
	var u auth.User
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if u, err = d.createUser(ctx, tx, email, passwordHash); err != nil {
			return err
		}
		t.UserID = u.ID
		if err := d.issueToken(ctx, tx, t); err != nil {
			return err
		}
		return d.queueMails(ctx, tx, mails)
	})
	return u, err
}

// Token returns the token whose SHA-256 is hash, or auth.ErrTokenInvalid
// (auth.RecoveryStore).
func (d *DB) Token(ctx context.Context, hash []byte) (auth.Token, error) {
	var t auth.Token
	var purpose string
	err := d.db.QueryRowContext(ctx,
		`SELECT user_id, purpose, token_hash, email, expires_at, used_at FROM one_time_tokens WHERE token_hash = $1`, hash).
		Scan(&t.UserID, &purpose, &t.Hash, &t.Email, timestamp{&t.ExpiresAt}, nullTimestamp{&t.UsedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Token{}, auth.ErrTokenInvalid
	}
	if err != nil {
		return auth.Token{}, mapError(err)
	}
	t.Purpose = auth.Purpose(purpose)
	return t, nil
}

// RedeemToken marks t used if it still can be, applies c to its account
// and queues mails, in one transaction (auth.RecoveryStore). Two requests
// racing with one link: the second finds it used.
func (d *DB) RedeemToken(ctx context.Context, t auth.Token, now time.Time, c auth.Change, mails ...auth.Mail) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE one_time_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1`,
			d.timeArg(now), t.Hash, string(t.Purpose))
		if err := expectOne(res, err); errors.Is(err, auth.ErrUserNotFound) {
			return auth.ErrTokenInvalid
		} else if err != nil {
			return err
		}
		if c.PasswordHash != "" {
			if _, err := d.setPasswordHash(ctx, tx, t.UserID, c.PasswordHash); err != nil {
				return err
			}
		}
		if c.VerifyEmail {
			if _, err := tx.ExecContext(ctx,
				`UPDATE users SET email_verified_at = $1, updated_at = $1 WHERE id = $2 AND email = $3 AND email_verified_at IS NULL`,
				d.timeArg(now), t.UserID, t.Email); err != nil {
				return mapError(err)
			}
		}
		if c.ReplaceEmail {
			res, err := tx.ExecContext(ctx,
				`UPDATE users SET email = $1, email_verified_at = $2, updated_at = $2 WHERE id = $3`,
				t.Email, d.timeArg(now), t.UserID)
			if err := expectOne(res, err); err != nil {
				return err
			}
		}
		return d.queueMails(ctx, tx, mails)
	})
}
