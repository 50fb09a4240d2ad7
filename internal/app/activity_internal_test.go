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
		"email_changed":        "Email changed",
		"totp_enabled":         "Totp enabled",
		"":                     "Security event",
	} {
		if got := activityTitle(kind); got != want {
			t.Errorf("activityTitle(%q) = %q, want %q", kind, got, want)
		}
	}
}
