package auth

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// AuditRetention is how long the audit trail keeps an event.
const AuditRetention = 90 * 24 * time.Hour

// auditWriteTimeout bounds one write to the trail. The write outlives the
// request's own context (a client hanging up must not erase the record of
// what it did), so it needs a bound of its own.
const auditWriteTimeout = 5 * time.Second

// AuditRecord is an event as the audit trail keeps it.
type AuditRecord struct {
	ID        int64
	UserID    int64
	Kind      EventKind
	Time      time.Time
	IP        string
	UserAgent string
	SessionID string
	Actor     Actor
	Detail    string
}

// AuditCursor is a position in a user's events, newest first: a page
// holds the events strictly older than it. The zero cursor is the newest
// end. Pages are keyed on (Time, ID) rather than counted by offset, so a
// page costs the same however far back it is, and events added meanwhile
// shift nothing.
type AuditCursor struct {
	Time time.Time
	ID   int64
}

// IsZero reports whether c is the newest end.
func (c AuditCursor) IsZero() bool { return c.ID == 0 && c.Time.IsZero() }

// AuditStore keeps audit records durably.
type AuditStore interface {
	// AddAuditRecord stores r; r.ID is ignored.
	AddAuditRecord(ctx context.Context, r AuditRecord) error
	// AuditRecords returns up to limit records of userID older than
	// before (all of them when before is zero), newest first.
	AuditRecords(ctx context.Context, userID int64, before AuditCursor, limit int) ([]AuditRecord, error)
	// PruneAuditRecords deletes up to limit records older than cutoff and
	// returns how many it deleted.
	PruneAuditRecords(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// AuditTrail is the durable audit log: an Auditor that keeps every event
// of an account in an AuditStore for AuditRetention, for the account's
// activity page and for operators. Events without an account (a failed
// login for an unknown email) go to the log lines only: kept here they
// would let anyone fill the table with addresses of their choosing.
type AuditTrail struct {
	store AuditStore
	log   *slog.Logger
	now   func() time.Time
}

// NewAuditTrail returns an AuditTrail over store; failed writes are logged
// to l.
func NewAuditTrail(store AuditStore, l *slog.Logger) *AuditTrail {
	return &AuditTrail{store: store, log: l, now: time.Now}
}

// Record stores e for its account. A failure is logged, not returned: the
// action the event describes has already happened.
func (a *AuditTrail) Record(ctx context.Context, e Event) {
	if e.UserID == 0 {
		return
	}
	ua := e.UserAgent
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	r := AuditRecord{
		UserID: e.UserID, Kind: e.Kind, Time: a.now().UTC().Truncate(time.Millisecond),
		IP: e.IP, UserAgent: ua, SessionID: e.SessionID, Actor: ActorOf(ctx), Detail: e.Detail,
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	if err := a.store.AddAuditRecord(wctx, r); err != nil {
		a.log.LogAttrs(ctx, slog.LevelError, "audit trail write failed",
			slog.String("event", string(e.Kind)), slog.Int64("user_id", e.UserID), slog.String("error", err.Error()))
	}
}

// Page returns up to n events of userID older than before, newest first,
// and the cursor of the next (older) page, zero when there is none.
func (a *AuditTrail) Page(ctx context.Context, userID int64, before AuditCursor, n int) ([]AuditRecord, AuditCursor, error) {
	records, err := a.store.AuditRecords(ctx, userID, before, n+1)
	if err != nil {
		return nil, AuditCursor{}, err
	}
	if len(records) <= n {
		return records, AuditCursor{}, nil
	}
	records = records[:n]
	last := records[n-1]
	return records, AuditCursor{Time: last.Time, ID: last.ID}, nil
}

// pruneBatch is how many records one delete removes: small enough that no
// delete holds the table (and, on SQLite, the one write lock) for long.
const pruneBatch = 1000

// Prune deletes the events older than AuditRetention, a batch at a time,
// and returns how many it deleted. It stops early when ctx ends.
func (a *AuditTrail) Prune(ctx context.Context) (int, error) {
	cutoff := a.now().Add(-AuditRetention)
	total := 0
	for {
		n, err := a.store.PruneAuditRecords(ctx, cutoff, pruneBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune audit trail: %w", err)
		}
		if n < pruneBatch || ctx.Err() != nil {
			return total, nil
		}
	}
}

// PruneEvery runs Prune now and then every interval until ctx ends,
// logging what it does. Every instance may run it: deleting is idempotent.
func (a *AuditTrail) PruneEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := a.Prune(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.LogAttrs(ctx, slog.LevelWarn, "audit trail prune failed", slog.String("error", err.Error()))
		case n > 0:
			a.log.LogAttrs(ctx, slog.LevelInfo, "audit trail pruned", slog.Int("deleted", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
