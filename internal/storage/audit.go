package storage

import (
	"context"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// AddAuditRecord stores r (implements auth.AuditStore).
func (d *DB) AddAuditRecord(ctx context.Context, r auth.AuditRecord) error {
	_, err := d.db.ExecContext(ctx,
		`INSERT INTO audit_events (user_id, kind, at, ip, user_agent, session_id, actor, detail)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.UserID, string(r.Kind), d.timeArg(r.Time), r.IP, r.UserAgent, r.SessionID, string(r.Actor), r.Detail)
	return mapError(err)
}

const auditColumns = `id, user_id, kind, at, ip, user_agent, session_id, actor, detail`

// AuditRecords returns up to limit records of userID older than before,
// newest first. The row comparison walks the (user_id, at, id) index from
// the cursor on, on both dialects.
func (d *DB) AuditRecords(ctx context.Context, userID int64, before auth.AuditCursor, limit int) ([]auth.AuditRecord, error) {
	q := `SELECT ` + auditColumns + ` FROM audit_events WHERE user_id = $1`
	args := []any{userID, limit}
	if !before.IsZero() {
		q += ` AND (at, id) < ($3, $4)`
		args = append(args, d.timeArg(before.Time), before.ID)
	}
	q += ` ORDER BY at DESC, id DESC LIMIT $2`
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var out []auth.AuditRecord
	for rows.Next() {
		var r auth.AuditRecord
		var kind, actor string
		if err := rows.Scan(&r.ID, &r.UserID, &kind, timestamp{&r.Time}, &r.IP, &r.UserAgent,
			&r.SessionID, &actor, &r.Detail); err != nil {
			return nil, mapError(err)
		}
		r.Kind, r.Actor = auth.EventKind(kind), auth.Actor(actor)
		out = append(out, r)
	}
	return out, mapError(rows.Err())
}

// PruneAuditRecords deletes up to limit records older than cutoff, oldest
// first, and returns how many it deleted.
func (d *DB) PruneAuditRecords(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	res, err := d.db.ExecContext(ctx,
		`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2)`,
		d.timeArg(cutoff), limit)
	if err != nil {
		return 0, mapError(err)
	}
	n, err := res.RowsAffected()
	return int(n), mapError(err)
}
