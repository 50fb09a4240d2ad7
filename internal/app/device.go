package app

import (
	"net/http"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// deviceCookie names the browser as one that signed in to some accounts
// before (see auth.Throttle): its logins to them keep their own failure
// budget while an attacker uses up the shared ones.
const (
	deviceCookie         = "device"
	deviceCookieLifetime = 365 * 24 * time.Hour
)

// credentialClient is app.client with the browser's device cookie, for
// the handlers that check a password.
func (app *application) credentialClient(r *http.Request) auth.Client {
	c := app.client(r)
	if ck, err := r.Cookie(deviceCookie); err == nil {
		c.Device = ck.Value
	}
	return c
}

// setDeviceCookie gives the browser the device cookie of a successful login.
func (app *application) setDeviceCookie(w http.ResponseWriter, login auth.Login) {
	if login.DeviceCookie == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: login.DeviceCookie, Path: "/",
		MaxAge:   int(deviceCookieLifetime.Seconds()),
		HttpOnly: true, Secure: app.secure, SameSite: http.SameSiteLaxMode,
	})
}
