package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// This file implements auth.FactorStore: authenticator-app secrets,
// recovery codes, WebAuthn handles and passkeys, and the secret-key check.
// Every conditional change is one statement, so that two instances cannot
// both accept one code or one counter value.

// factorError maps a missing row to auth.ErrFactorNotFound and wraps
// everything else as unavailable.
func factorError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return auth.ErrFactorNotFound
	default:
		return fmt.Errorf("%w: database: %v", auth.ErrUnavailable, err)
	}
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// changed runs an UPDATE or DELETE and reports whether it touched a row.
func (d *DB) changed(ctx context.Context, q string, args ...any) (bool, error) {
	return rowChanged(d.db.ExecContext(ctx, q, args...))
}

// rowChanged reports whether a statement's result touched a row.
func rowChanged(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, factorError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, factorError(err)
	}
	return n > 0, nil
}

// changeQueuing runs change in a transaction and, when it reports a
// change, queues mails in the same transaction (see auth.FactorStore): no
// change without its notice, no notice without its change.
func (d *DB) changeQueuing(ctx context.Context, mails []auth.Mail, change func(tx *sql.Tx) (bool, error)) (bool, error) {
	var done bool
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if done, err = change(tx); err != nil || !done {
			return err
		}
		return d.queueMails(ctx, tx, mails)
	})
	return done && err == nil, err
}

// execQueuing is changeQueuing of one UPDATE or DELETE.
func (d *DB) execQueuing(ctx context.Context, mails []auth.Mail, q string, args ...any) (bool, error) {
	return d.changeQueuing(ctx, mails, func(tx *sql.Tx) (bool, error) {
		return rowChanged(tx.ExecContext(ctx, q, args...))
	})
}

// TOTP returns the user's authenticator-app record.
func (d *DB) TOTP(ctx context.Context, userID int64) (auth.TOTPRecord, error) {
	var rec auth.TOTPRecord
	var confirmed time.Time
	err := d.db.QueryRowContext(ctx,
		`SELECT secret, confirmed_at, last_step FROM totp_secrets WHERE user_id = $1`, userID).
		Scan(&rec.Sealed, nullTimestamp{&confirmed}, &rec.LastStep)
	rec.Confirmed = !confirmed.IsZero()
	return rec, factorError(err)
}

// PutPendingTOTP stores an unconfirmed secret unless a confirmed one exists.
func (d *DB) PutPendingTOTP(ctx context.Context, userID int64, sealed []byte, at time.Time) error {
	ok, err := d.changed(ctx, `INSERT INTO totp_secrets (user_id, secret, last_step, created_at) VALUES ($1, $2, 0, $3)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = 0, created_at = excluded.created_at
		WHERE totp_secrets.confirmed_at IS NULL`, userID, sealed, d.timeArg(at))
	if err != nil {
		return err
	}
	if !ok {
		return auth.ErrTOTPEnabled
	}
	return nil
}

func insertRecoveryCodes(ctx context.Context, tx *sql.Tx, userID int64, hashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return factorError(err)
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)`, userID, h); err != nil {
			return factorError(err)
		}
	}
	return nil
}

// ConfirmTOTP switches an unconfirmed secret on, replaces the recovery
// codes and queues mails, in one transaction.
func (d *DB) ConfirmTOTP(ctx context.Context, userID, step int64, codeHashes [][]byte, at time.Time, mails ...auth.Mail) (bool, error) {
	return d.changeQueuing(ctx, mails, func(tx *sql.Tx) (bool, error) {
		done, err := rowChanged(tx.ExecContext(ctx, `UPDATE totp_secrets SET confirmed_at = $1, last_step = $2
			WHERE user_id = $3 AND confirmed_at IS NULL`, d.timeArg(at), step, userID))
		if err != nil || !done {
			return false, err
		}
		return true, insertRecoveryCodes(ctx, tx, userID, codeHashes)
	})
}

// UseTOTPStep records step as used if it is later than the last one.
func (d *DB) UseTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	return d.changed(ctx, `UPDATE totp_secrets SET last_step = $1
		WHERE user_id = $2 AND confirmed_at IS NOT NULL AND last_step < $1`, step, userID)
}

// DeleteTOTP removes the secret and the recovery codes, and queues mails
// if a confirmed secret was removed, in one transaction.
func (d *DB) DeleteTOTP(ctx context.Context, userID int64, mails ...auth.Mail) (bool, error) {
	return d.changeQueuing(ctx, mails, func(tx *sql.Tx) (bool, error) {
		done, err := rowChanged(tx.ExecContext(ctx, `DELETE FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL`, userID))
		if err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return false, factorError(err)
		}
		return done, nil
	})
}

// ReplaceRecoveryCodes replaces all the user's recovery codes.
func (d *DB) ReplaceRecoveryCodes(ctx context.Context, userID int64, codeHashes [][]byte) error {
	return d.inTx(ctx, func(tx *sql.Tx) error { return insertRecoveryCodes(ctx, tx, userID, codeHashes) })
}

// UseRecoveryCode spends the unused code with hash, and queues mails if it
// did.
func (d *DB) UseRecoveryCode(ctx context.Context, userID int64, hash []byte, at time.Time, mails ...auth.Mail) (bool, error) {
	return d.execQueuing(ctx, mails, `UPDATE recovery_codes SET used_at = $1
		WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`, d.timeArg(at), userID, hash)
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (d *DB) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	return n, factorError(err)
}

// WebAuthnHandle returns the user's WebAuthn user handle.
func (d *DB) WebAuthnHandle(ctx context.Context, userID int64) ([]byte, error) {
	var h []byte
	err := d.db.QueryRowContext(ctx, `SELECT handle FROM webauthn_users WHERE user_id = $1`, userID).Scan(&h)
	return h, factorError(err)
}

// AddWebAuthnHandle stores handle unless the user has one, and returns the
// one stored.
func (d *DB) AddWebAuthnHandle(ctx context.Context, userID int64, handle []byte) ([]byte, error) {
	if _, err := d.db.ExecContext(ctx, `INSERT INTO webauthn_users (user_id, handle) VALUES ($1, $2)
		ON CONFLICT (user_id) DO NOTHING`, userID, handle); err != nil {
		return nil, factorError(err)
	}
	return d.WebAuthnHandle(ctx, userID)
}

// UserIDByWebAuthnHandle returns the user whose handle is handle.
func (d *DB) UserIDByWebAuthnHandle(ctx context.Context, handle []byte) (int64, error) {
	var id int64
	err := d.db.QueryRowContext(ctx, `SELECT user_id FROM webauthn_users WHERE handle = $1`, handle).Scan(&id)
	return id, factorError(err)
}

// Passkeys returns the user's passkeys, oldest first.
func (d *DB) Passkeys(ctx context.Context, userID int64) ([]auth.PasskeyRecord, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, user_id, credential_id, name, credential, sign_count, cloned, created_at, last_used_at
		FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, factorError(err)
	}
	defer rows.Close()
	var out []auth.PasskeyRecord
	for rows.Next() {
		var p auth.PasskeyRecord
		var count int64
		if err := rows.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.Name, &p.Credential, &count, &p.Cloned,
			timestamp{&p.CreatedAt}, nullTimestamp{&p.LastUsedAt}); err != nil {
			return nil, factorError(err)
		}
		p.SignCount = uint32(count)
		out = append(out, p)
	}
	return out, factorError(rows.Err())
}

// AddPasskey stores p and queues mails, in one transaction; a credential
// id already stored is auth.ErrPasskeyExists.
func (d *DB) AddPasskey(ctx context.Context, p auth.PasskeyRecord, mails ...auth.Mail) (int64, error) {
	var id int64
	_, err := d.changeQueuing(ctx, mails, func(tx *sql.Tx) (bool, error) {
		err := tx.QueryRowContext(ctx, `INSERT INTO passkeys (user_id, credential_id, name, credential, sign_count, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			p.UserID, p.CredentialID, p.Name, p.Credential, int64(p.SignCount), d.timeArg(p.CreatedAt)).Scan(&id)
		if isUniqueViolation(err) {
			return false, auth.ErrPasskeyExists
		}
		return err == nil, factorError(err)
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// UsePasskey records a login if the signature counter advanced (or stays
// 0 on an authenticator that keeps none).
func (d *DB) UsePasskey(ctx context.Context, id int64, credential []byte, signCount uint32, at time.Time) (bool, error) {
	return d.changed(ctx, `UPDATE passkeys SET credential = $1, sign_count = $2, last_used_at = $3
		WHERE id = $4 AND cloned = FALSE AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))`,
		credential, int64(signCount), d.timeArg(at), id)
}

// MarkPasskeyCloned blocks passkey id for good.
func (d *DB) MarkPasskeyCloned(ctx context.Context, id int64) error {
	_, err := d.db.ExecContext(ctx, `UPDATE passkeys SET cloned = TRUE WHERE id = $1`, id)
	return factorError(err)
}

// DeletePasskey removes passkey id of the user, and queues mails if it did.
func (d *DB) DeletePasskey(ctx context.Context, userID, id int64, mails ...auth.Mail) (bool, error) {
	return d.execQueuing(ctx, mails, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
}

// KeyCheck returns the check value sealed for purpose.
func (d *DB) KeyCheck(ctx context.Context, purpose string) ([]byte, error) {
	var b []byte
	err := d.db.QueryRowContext(ctx, `SELECT sealed FROM secret_key_checks WHERE purpose = $1`, purpose).Scan(&b)
	return b, factorError(err)
}

// AddKeyCheck stores sealed for purpose unless a value exists.
func (d *DB) AddKeyCheck(ctx context.Context, purpose string, sealed []byte, at time.Time) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO secret_key_checks (purpose, sealed, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (purpose) DO NOTHING`, purpose, sealed, d.timeArg(at))
	return factorError(err)
}

var _ auth.FactorStore = (*DB)(nil)
