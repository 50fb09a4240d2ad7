package app

import "net/http"

// Notices are one-shot messages shown after a redirect ("You have been
// logged out"). They travel in a short-lived cookie holding only a code,
// not in the session: a logged-out visitor must not get a new session just
// to carry a message, and a code cannot inject text into the page.
const noticeCookie = "notice"

var notices = map[string]string{
	"logged-out":       "You have been logged out.",
	"account-deleted":  "Your account has been deleted and all its sessions ended.",
	"password-changed": "Your password has been changed. Your other sessions were signed out.",
	"session-ended":    "The session has been ended.",
	"sessions-ended":   "All your other sessions have been ended.",
	"password-reset":   "Your password has been reset and every session signed out. Log in with your new password.",
	"email-verified":   "Thank you: your email address is confirmed.",
	"email-changed":    "Your email address has been changed.",
	"email-change-sent": "We sent a confirmation link to the new address. Your address changes when you follow it; " +
		"until then it stays as it is.",
	"verification-sent": "We sent you a new confirmation link. Earlier links no longer work.",
	"totp-disabled":     "Two-factor authentication is off. Your recovery codes no longer work.",
	"passkey-added":     "Your passkey has been added. You can now sign in with it.",
	"passkey-removed":   "The passkey has been removed.",
	"login-expired":     "The log-in took too long. Please enter your password again.",
}

func (app *application) setNotice(w http.ResponseWriter, code string) {
	http.SetCookie(w, &http.Cookie{
		Name: noticeCookie, Value: code, Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: app.secure, SameSite: http.SameSiteLaxMode,
	})
}

// popNotice returns the pending notice, if any, and clears it.
func (app *application) popNotice(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(noticeCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{
		Name: noticeCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: app.secure, SameSite: http.SameSiteLaxMode,
	})
	return notices[c.Value]
}
