package app

import (
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

func TestActivityCursorRoundTrip(t *testing.T) {
	c := auth.AuditCursor{Time: time.UnixMilli(1765090000123).UTC(), ID: 42}
	s := formatActivityCursor(c)
	if s != "1765090000123.42" {
		t.Fatalf("format: got %q", s)
	}
	got, ok := parseActivityCursor(s)
	if !ok || got != c {
		t.Fatalf("parse(%q) = %+v, %v; want %+v", s, got, ok, c)
	}
	if s := formatActivityCursor(auth.AuditCursor{}); s != "" {
		t.Fatalf("the zero cursor formats as %q, want empty", s)
	}
}

// TestActivityTitle checks that an event kind this page does not know yet
// (added by a later feature) still reads as words.
func TestActivityTitle(t *testing.T) {
	for kind, want := range map[auth.EventKind]string{
		auth.EventLoginSuccess: "Signed in",
		"session_cap_reached":  "Session cap reached",
		"":                     "Security event",
	} {
		if got := activityTitle(kind); got != want {
			t.Errorf("activityTitle(%q) = %q, want %q", kind, got, want)
		}
	}
}

// TestActivityTitlesCoverEvents checks that every event the features
// record has proper words on the page, not its name.
func TestActivityTitlesCoverEvents(t *testing.T) {
	for _, kind := range []auth.EventKind{
		auth.EventPasswordReset, auth.EventEmailVerified, auth.EventEmailChanged,
		auth.EventAccountLocked, auth.EventAccountUnlocked,
		auth.EventSecondFactorRequired, auth.EventCodeFailure, auth.EventCodeReused, auth.EventCodeThrottled,
		auth.EventTOTPSetupStarted, auth.EventTOTPEnabled, auth.EventTOTPDisabled,
		auth.EventRecoveryCodeUsed, auth.EventRecoveryCodesRegenerated,
		auth.EventPasskeyAdded, auth.EventPasskeyRemoved, auth.EventPasskeyFailure, auth.EventPasskeyCloned,
		auth.EventReauthenticated, auth.EventReauthFailure, auth.EventNotice, auth.EventNoticeFailed,
	} {
		if _, ok := activityTitles[kind]; !ok {
			t.Errorf("%s has no title", kind)
		}
	}
}

// TestActivityDetail checks that a sign-in's method reads as words.
func TestActivityDetail(t *testing.T) {
	for _, tt := range []struct {
		r    auth.AuditRecord
		want string
	}{
		{auth.AuditRecord{Kind: auth.EventLoginSuccess, Detail: "password+totp"}, "With password + authenticator app"},
		{auth.AuditRecord{Kind: auth.EventLoginSuccess, Detail: "passkey"}, "With passkey"},
		{auth.AuditRecord{Kind: auth.EventPasskeyAdded, Detail: "MacBook Air"}, "MacBook Air"},
		{auth.AuditRecord{Kind: auth.EventNotice, Detail: "totp_enabled"}, "totp enabled"},
	} {
		if got := activityDetail(tt.r); got != tt.want {
			t.Errorf("activityDetail(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}
