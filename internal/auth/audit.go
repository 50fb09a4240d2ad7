package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// EventKind names a security-relevant event.
type EventKind string

// The events recorded by Service and Sessions.
const (
	EventSignup          EventKind = "signup"
	EventLoginSuccess    EventKind = "login_success"
	EventLoginFailure    EventKind = "login_failure"
	EventLoginThrottled  EventKind = "login_throttled"
	EventLogout          EventKind = "logout"
	EventSessionRevoked  EventKind = "session_revoked"
	EventPasswordChanged EventKind = "password_changed"
	EventAccountDeleted  EventKind = "account_deleted"
	EventPasswordReset   EventKind = "password_reset"
	EventEmailVerified   EventKind = "email_verified"
	EventEmailChanged    EventKind = "email_changed"
	EventAccountLocked   EventKind = "account_locked"
	EventAccountUnlocked EventKind = "account_unlocked"

	// Second factors and re-authentication.
	EventSecondFactorRequired     EventKind = "second_factor_required" // right password, code asked
	EventCodeFailure              EventKind = "code_failure"
	EventCodeReused               EventKind = "code_reused"
	EventCodeThrottled            EventKind = "code_throttled"
	EventTOTPSetupStarted         EventKind = "totp_setup_started"
	EventTOTPEnabled              EventKind = "totp_enabled"
	EventTOTPDisabled             EventKind = "totp_disabled"
	EventRecoveryCodeUsed         EventKind = "recovery_code_used"
	EventRecoveryCodesRegenerated EventKind = "recovery_codes_regenerated"
	EventPasskeyAdded             EventKind = "passkey_added"
	EventPasskeyRemoved           EventKind = "passkey_removed"
	EventPasskeyFailure           EventKind = "passkey_failure"
	EventPasskeyCloned            EventKind = "passkey_cloned" // counter went back: login refused
	EventReauthenticated          EventKind = "reauthenticated"
	EventReauthFailure            EventKind = "reauth_failure"
	EventNotice                   EventKind = "notice"        // a notice for the user (Detail: its kind)
	EventNoticeFailed             EventKind = "notice_failed" // the notice could not be queued
)

// Actor says who caused an event: the account's user (through the site)
// or an operator (through the admin command).
type Actor string

// The actors.
const (
	ActorUser     Actor = "user"
	ActorOperator Actor = "operator"
)

type actorKey struct{}

// AsOperator returns a context in which every event is recorded as done by
// the operator. The admin command runs under it, so that events recorded
// deep inside Service and Sessions (each ended session, say) carry the
// operator without every method taking an actor.
func AsOperator(ctx context.Context) context.Context {
	return context.WithValue(ctx, actorKey{}, ActorOperator)
}

// ActorOf returns who acts in ctx: the operator under AsOperator, else the
// user.
func ActorOf(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return ActorUser
}

// Event is one security-relevant action. It never holds a session token or
// a password: SessionID is the opaque registry id.
type Event struct {
	Kind      EventKind
	UserID    int64 // 0 when no account is known (a failed login for an unknown email)
	IP        string
	UserAgent string
	SessionID string
	// Detail qualifies the event: how a login was made ("passkey"), a
	// passkey's name, a notice's kind. Never a secret.
	Detail string
}

// Auditor receives events: the audit log, metrics.
type Auditor interface {
	Record(ctx context.Context, e Event)
}

// Auditors fans an event out to several auditors.
type Auditors []Auditor

// Record passes e to every auditor.
func (as Auditors) Record(ctx context.Context, e Event) {
	for _, a := range as {
		a.Record(ctx, e)
	}
}

// AuditLog writes events as structured log records. Session ids are logged
// as an HMAC under a per-process random salt: records of one session can be
// correlated, but a log reader learns nothing usable about the session.
type AuditLog struct {
	log  *slog.Logger
	salt []byte
}

// NewAuditLog returns an AuditLog writing to l.
func NewAuditLog(l *slog.Logger) *AuditLog {
	salt := make([]byte, 32)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails on supported platforms
	return &AuditLog{log: l, salt: salt}
}

// Record logs e at info level (warn for failures and throttling).
func (a *AuditLog) Record(ctx context.Context, e Event) {
	level := slog.LevelInfo
	switch e.Kind {
	case EventLoginFailure, EventLoginThrottled, EventCodeFailure, EventCodeReused, EventCodeThrottled,
		EventPasskeyFailure, EventPasskeyCloned, EventReauthFailure, EventNoticeFailed:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("event", string(e.Kind)),
		slog.Int64("user_id", e.UserID),
		slog.String("ip", e.IP),
		slog.String("actor", string(ActorOf(ctx))),
	}
	if e.SessionID != "" {
		attrs = append(attrs, slog.String("session", a.hash(e.SessionID)))
	}
	if e.Detail != "" {
		attrs = append(attrs, slog.String("detail", e.Detail))
	}
	a.log.LogAttrs(ctx, level, "audit", attrs...)
}

func (a *AuditLog) hash(id string) string {
	m := hmac.New(sha256.New, a.salt)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)[:12])
}
