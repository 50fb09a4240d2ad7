package app

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// activityPageSize is how many events one page of /account/activity shows.
const activityPageSize = 25

// activityPage is the data of /account/activity.
type activityPage struct {
	Events []activityEntry
	// Older is the query value of the next (older) page, "" on the last.
	Older string
	// Paged is set on every page but the first, to link back to it.
	Paged bool
}

// activityEntry is one event as the activity page shows it.
type activityEntry struct {
	Kind       string // the raw kind, for data-kind
	Title      string // "Signed in"
	Detail     string
	Tone       string // "good", "warn" or "info": the marker beside it
	ByOperator bool
	Device     string // "Firefox on Linux", "" when no user agent was kept
	IP         string
	This       bool // done in the session viewing the page
	ISO        string
	Ago        string
	At         string
}

// activityTitles names the events of the audit trail. A kind missing here
// (added by a later feature) is shown by its name in words.
var activityTitles = map[auth.EventKind]string{
	auth.EventSignup:          "Account created",
	auth.EventLoginSuccess:    "Signed in",
	auth.EventLoginFailure:    "Failed sign-in attempt",
	auth.EventLoginThrottled:  "Sign-in attempts blocked after too many failures",
	auth.EventLogout:          "Signed out",
	auth.EventSessionRevoked:  "Session ended",
	auth.EventPasswordChanged: "Password changed",
	auth.EventAccountDeleted:  "Account deleted",
	auth.EventAccountLocked:   "Account locked",
	auth.EventAccountUnlocked: "Account unlocked",

	auth.EventPasswordReset: "Password reset through a mailed link",
	auth.EventEmailVerified: "Email address confirmed",
	auth.EventEmailChanged:  "Email address changed",

	auth.EventSecondFactorRequired:     "Password accepted, code asked for",
	auth.EventCodeFailure:              "Wrong authenticator code",
	auth.EventCodeReused:               "Authenticator code used twice",
	auth.EventCodeThrottled:            "Code attempts blocked after too many failures",
	auth.EventTOTPSetupStarted:         "Authenticator app set-up started",
	auth.EventTOTPEnabled:              "Authenticator app turned on",
	auth.EventTOTPDisabled:             "Authenticator app turned off",
	auth.EventRecoveryCodeUsed:         "Recovery code used",
	auth.EventRecoveryCodesRegenerated: "New recovery codes made",
	auth.EventPasskeyAdded:             "Passkey added",
	auth.EventPasskeyRemoved:           "Passkey removed",
	auth.EventPasskeyFailure:           "Passkey sign-in refused",
	auth.EventPasskeyCloned:            "Passkey refused: it may have been copied",
	auth.EventReauthenticated:          "Access confirmed for a sensitive action",
	auth.EventReauthFailure:            "Failed confirmation of access",
	auth.EventNotice:                   "Notice sent",
	auth.EventNoticeFailed:             "Notice could not be sent",
}

// activityWarnings are the events a user should look at twice.
var activityWarnings = map[auth.EventKind]bool{
	auth.EventLoginFailure:   true,
	auth.EventLoginThrottled: true,
	auth.EventAccountLocked:  true,
	auth.EventCodeFailure:    true,
	auth.EventCodeReused:     true,
	auth.EventCodeThrottled:  true,
	auth.EventPasskeyFailure: true,
	auth.EventPasskeyCloned:  true,
	auth.EventReauthFailure:  true,
	auth.EventNoticeFailed:   true,
}

// activityDetail words an event's Detail: how a sign-in was made, which
// notice was sent; other details (a passkey's name, "9 left") as they are.
func activityDetail(r auth.AuditRecord) string {
	switch r.Kind {
	case auth.EventLoginSuccess:
		if m, ok := methodTexts[auth.LoginMethod(r.Detail)]; ok {
			return "With " + m
		}
	case auth.EventNotice, auth.EventNoticeFailed:
		return strings.ReplaceAll(r.Detail, "_", " ")
	}
	return r.Detail
}

func activityTitle(k auth.EventKind) string {
	if t, ok := activityTitles[k]; ok {
		return t
	}
	words := strings.ReplaceAll(string(k), "_", " ")
	if words == "" {
		return "Security event"
	}
	return strings.ToUpper(words[:1]) + words[1:]
}

func newActivityViews(records []auth.AuditRecord, currentSession string, now time.Time) []activityEntry {
	views := make([]activityEntry, len(records))
	for i, r := range records {
		v := activityEntry{
			Kind:       string(r.Kind),
			Title:      activityTitle(r.Kind),
			Detail:     activityDetail(r),
			Tone:       "info",
			ByOperator: r.Actor == auth.ActorOperator,
			IP:         r.IP,
			This:       currentSession != "" && r.SessionID == currentSession && r.Kind == auth.EventLoginSuccess,
			ISO:        r.Time.UTC().Format(time.RFC3339),
			Ago:        ago(now, r.Time),
			At:         r.Time.UTC().Format(exactTime),
		}
		switch {
		case activityWarnings[r.Kind]:
			v.Tone = "warn"
		case r.Kind == auth.EventLoginSuccess || r.Kind == auth.EventSignup:
			v.Tone = "good"
		}
		if r.UserAgent != "" {
			v.Device = describeUserAgent(r.UserAgent)
		}
		views[i] = v
	}
	return views
}

// activityView shows the signed-in user's own security events, newest
// first, a page at a time. ?before= names where the page starts.
func (app *application) activityView(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("before")
	before, ok := parseActivityCursor(raw)
	if !ok {
		app.errorPage(w, r, http.StatusBadRequest)
		return
	}
	records, older, err := app.trail.Page(r.Context(), currentUser(r).ID, before, activityPageSize)
	if err != nil {
		app.serverError(w, r, err)
		return
	}
	data := app.newTemplateData(r)
	data.Activity = activityPage{
		Events: newActivityViews(records, app.sessions.SessionID(r.Context()), time.Now()),
		Older:  formatActivityCursor(older),
		Paged:  raw != "",
	}
	app.render(w, r, http.StatusOK, "activity", data)
}

// formatActivityCursor writes c as "UNIXMILLI.ID", "" for the zero cursor.
func formatActivityCursor(c auth.AuditCursor) string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatInt(c.Time.UnixMilli(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// parseActivityCursor reads what formatActivityCursor wrote; "" is the
// newest end. Anything else is refused.
func parseActivityCursor(s string) (auth.AuditCursor, bool) {
	if s == "" {
		return auth.AuditCursor{}, true
	}
	ms, id, ok := strings.Cut(s, ".")
	if !ok {
		return auth.AuditCursor{}, false
	}
	m, err1 := strconv.ParseInt(ms, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || m < 0 || n <= 0 || m > 1<<50 {
		return auth.AuditCursor{}, false
	}
	return auth.AuditCursor{Time: time.UnixMilli(m).UTC(), ID: n}, true
}
