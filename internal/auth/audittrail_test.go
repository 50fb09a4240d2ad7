package auth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

func TestAuditTrail(t *testing.T) {
	db := openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "app.db"))
	trail := auth.NewAuditTrail(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()

	trail.Record(ctx, auth.Event{Kind: auth.EventLoginFailure, IP: "192.0.2.9"}) // no account: not kept
	trail.Record(ctx, auth.Event{Kind: auth.EventSignup, UserID: 7, IP: "192.0.2.1", UserAgent: strings.Repeat("u", 600)})
	trail.Record(auth.AsOperator(ctx), auth.Event{Kind: auth.EventAccountLocked, UserID: 7})
	// A request whose client went away still leaves its record.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	trail.Record(gone, auth.Event{Kind: auth.EventLogout, UserID: 7, SessionID: "s1", Detail: "d"})
	trail.Record(ctx, auth.Event{Kind: auth.EventSignup, UserID: 8})

	var got []auth.AuditRecord
	var cur auth.AuditCursor
	for pages := 1; ; pages++ {
		page, next, err := trail.Page(ctx, 7, cur, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next.IsZero() {
			if pages != 2 {
				t.Fatalf("got %d pages of 2, want 2", pages)
			}
			break
		}
		cur = next
	}
	kinds := make([]auth.EventKind, len(got))
	for i, r := range got {
		kinds[i] = r.Kind
	}
	if want := []auth.EventKind{auth.EventLogout, auth.EventAccountLocked, auth.EventSignup}; !slices.Equal(kinds, want) {
		t.Fatalf("user 7's events: got %v, want %v", kinds, want)
	}
	if got[0].SessionID != "s1" || got[0].Detail != "d" || got[0].Actor != auth.ActorUser {
		t.Errorf("logout record: got %+v", got[0])
	}
	if got[1].Actor != auth.ActorOperator {
		t.Errorf("lock record: actor %q, want operator", got[1].Actor)
	}
	if len(got[2].UserAgent) != 256 || got[2].IP != "192.0.2.1" {
		t.Errorf("signup record: user agent of %d bytes, IP %q; want 256 bytes, 192.0.2.1", len(got[2].UserAgent), got[2].IP)
	}
}

// TestAuditTrailPrune checks that events older than the retention go,
// more than one batch of them, and newer ones stay.
func TestAuditTrailPrune(t *testing.T) {
	db := openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "app.db"))
	trail := auth.NewAuditTrail(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	old := time.Now().Add(-auth.AuditRetention - time.Hour)
	const oldCount = 1500 // more than one delete's batch
	for i := range oldCount {
		if err := db.AddAuditRecord(ctx, auth.AuditRecord{UserID: 1, Kind: "old", Time: old.Add(time.Duration(i) * time.Millisecond), Actor: auth.ActorUser}); err != nil {
			t.Fatal(err)
		}
	}
	trail.Record(ctx, auth.Event{Kind: auth.EventSignup, UserID: 1})
	n, err := trail.Prune(ctx)
	if err != nil || n != oldCount {
		t.Fatalf("Prune: got %d, %v; want %d", n, err, oldCount)
	}
	left, _, err := trail.Page(ctx, 1, auth.AuditCursor{}, 10)
	if err != nil || len(left) != 1 || left[0].Kind != auth.EventSignup {
		t.Fatalf("after prune: got %+v, %v; want the signup only", left, err)
	}
}

// TestLockedAccountCannotSignIn checks that a locked account fails like a
// wrong password, whatever the password, is audited as such, and counts
// towards the throttle.
func TestLockedAccountCannotSignIn(t *testing.T) {
	f := newFixture(t, auth.ThrottleConfig{MaxFailures: 2})
	ctx := context.Background()
	u, err := f.svc.SignUp(ctx, annEmail, annPass, clientA)
	if err != nil {
		t.Fatal(err)
	}
	op := auth.AsOperator(ctx)
	if err := f.svc.Lock(op, u.ID, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	f.audit.take()
	if _, err := f.svc.Authenticate(ctx, annEmail, annPass, clientA); !errors.Is(err, auth.ErrInvalidCredentials) || err != auth.ErrInvalidCredentials {
		t.Fatalf("right password of a locked account: got %v, want exactly ErrInvalidCredentials", err)
	}
	f.audit.want(t, auth.Event{Kind: auth.EventLoginFailure, UserID: u.ID, IP: clientA.IP, UserAgent: clientA.UserAgent, Detail: "account locked"})
	if _, err := f.svc.Authenticate(ctx, annEmail, annPass, clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("second attempt: got %v, want ErrInvalidCredentials", err)
	}
	var te *auth.ThrottledError
	if _, err := f.svc.Authenticate(ctx, annEmail, annPass, clientA); !errors.As(err, &te) {
		t.Fatalf("third attempt, past the limit of 2: got %v, want throttled", err)
	}
	if err := f.svc.Unlock(op, u.ID, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, annEmail, annPass, clientB); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	if err := f.svc.SetPassword(op, u.ID, "password", auth.Client{}); !errors.Is(err, auth.ErrPasswordCommon) {
		t.Fatalf("SetPassword with a common password: got %v, want ErrPasswordCommon", err)
	}
	if err := f.svc.Lock(op, 999999, auth.Client{}); !errors.Is(err, auth.ErrUserNotFound) {
		t.Fatalf("Lock of a missing account: got %v, want ErrUserNotFound", err)
	}
}
