package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/mail"
)

// The outbox (mail.Outbox). Mails are claimed in batches under a lease:
// claim names the sender, claimed_until ends the lease, and every later
// update checks claim, so a sender that lost its lease changes nothing.
// On PostgreSQL, FOR UPDATE SKIP LOCKED lets senders of several instances
// claim at once without waiting for, or taking, each other's mails; on
// SQLite the single statement is atomic on its own.

// Claim leases up to limit mails due at now to claim until now+lease.
func (d *DB) Claim(ctx context.Context, claim string, now time.Time, lease time.Duration, limit int) ([]mail.Queued, error) {
	skipLocked := ""
	if d.dialect == Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := d.db.QueryContext(ctx, `UPDATE mail_outbox SET claim = $1, claimed_until = $2
		WHERE id IN (SELECT id FROM mail_outbox
			WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $3
			AND (claimed_until IS NULL OR claimed_until <= $3)
			ORDER BY id LIMIT $4`+skipLocked+`)
		RETURNING id, kind, recipient, data, attempts, created_at`,
		claim, d.timeArg(now.Add(lease)), d.timeArg(now), limit)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var out []mail.Queued
	for rows.Next() {
		var q mail.Queued
		var kind, data string
		if err := rows.Scan(&q.ID, &kind, &q.Mail.To, &data, &q.Attempts, timestamp{&q.CreatedAt}); err != nil {
			return nil, mapError(err)
		}
		q.Mail.Kind = auth.MailKind(kind)
		if err := json.Unmarshal([]byte(data), &q.Mail.Data); err != nil {
			return nil, fmt.Errorf("outbox mail %d: %w", q.ID, err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, mapError(err)
	}
	slices.SortFunc(out, func(a, b mail.Queued) int { return int(a.ID - b.ID) })
	return out, nil
}

// finish runs an update of mail id that holds only while claim holds it.
func (d *DB) finish(ctx context.Context, query string, id int64, claim string, args ...any) error {
	n, err := affected(d.db.ExecContext(ctx, query, append([]any{id, claim}, args...)...))
	if err != nil {
		return err
	}
	if n == 0 {
		return mail.ErrLeaseLost
	}
	return nil
}

// Sent marks mail id sent, and forgets its data (its link is a secret).
func (d *DB) Sent(ctx context.Context, id int64, claim string, now time.Time) error {
	return d.finish(ctx, `UPDATE mail_outbox SET sent_at = $3, data = '{}', claim = NULL, claimed_until = NULL,
		last_error = NULL WHERE id = $1 AND claim = $2`, id, claim, d.timeArg(now))
}

// Retry counts a failed attempt on mail id and makes it due again at next.
func (d *DB) Retry(ctx context.Context, id int64, claim string, next time.Time, reason string) error {
	return d.finish(ctx, `UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $3, claim = NULL,
		claimed_until = NULL, last_error = $4 WHERE id = $1 AND claim = $2`, id, claim, d.timeArg(next), reason)
}

// Fail gives up on mail id after a permanent refusal.
func (d *DB) Fail(ctx context.Context, id int64, claim string, now time.Time, reason string) error {
	return d.finish(ctx, `UPDATE mail_outbox SET attempts = attempts + 1, failed_at = $3, data = '{}', claim = NULL,
		claimed_until = NULL, last_error = $4 WHERE id = $1 AND claim = $2`, id, claim, d.timeArg(now), reason)
}

// Pending returns how many mails wait to be sent and when the oldest of
// them was queued (zero when none).
func (d *DB) Pending(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest time.Time
	err := d.db.QueryRowContext(ctx,
		`SELECT count(*), min(created_at) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL`).
		Scan(&n, nullTimestamp{&oldest})
	return n, oldest, mapError(err)
}

// Purge deletes mails sent or given up before before, and tokens expired
// before it.
func (d *DB) Purge(ctx context.Context, before time.Time) error {
	b := d.timeArg(before)
	if _, err := d.db.ExecContext(ctx, `DELETE FROM mail_outbox WHERE sent_at < $1 OR failed_at < $1`, b); err != nil {
		return mapError(err)
	}
	_, err := d.db.ExecContext(ctx, `DELETE FROM one_time_tokens WHERE expires_at < $1`, b)
	return mapError(err)
}
