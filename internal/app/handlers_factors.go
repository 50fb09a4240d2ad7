package app

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// securityView is what the security page shows.
type securityView struct {
	TOTP          bool
	RecoveryCodes int
	Passkeys      []passkeyView
	// Recent is true while sensitive actions need no confirmation.
	Recent bool
	// PasskeyForm carries the passkey name and error back after a failed
	// registration.
	PasskeyForm *form
}

// passkeyView is one row of the passkey list.
type passkeyView struct {
	ID          int64
	Name        string
	CreatedAgo  string
	CreatedISO  string
	CreatedAt   string
	Blocked     bool
	Used        bool
	LastUsedAgo string
	LastUsedISO string
	LastUsedAt  string
}

func newPasskeyViews(keys []auth.Passkey) []passkeyView {
	now := time.Now()
	views := make([]passkeyView, len(keys))
	for i, k := range keys {
		views[i] = passkeyView{
			ID: k.ID, Name: k.Name, Blocked: k.Blocked,
			CreatedAgo: ago(now, k.CreatedAt), CreatedISO: k.CreatedAt.UTC().Format(time.RFC3339),
			CreatedAt: k.CreatedAt.UTC().Format(exactTime),
		}
		if !k.LastUsedAt.IsZero() {
			views[i].Used = true
			views[i].LastUsedAgo = ago(now, k.LastUsedAt)
			views[i].LastUsedISO = k.LastUsedAt.UTC().Format(time.RFC3339)
			views[i].LastUsedAt = k.LastUsedAt.UTC().Format(exactTime)
		}
	}
	return views
}

// securityView renders the security page with status (and pf, the
// passkey form, when it comes back with an error).
func (app *application) renderSecurity(w http.ResponseWriter, r *http.Request, status int, pf *form) {
	user := currentUser(r)
	st, err := app.factors.Status(r.Context(), user.ID)
	if err != nil {
		app.serverError(w, r, err)
		return
	}
	if pf == nil {
		pf = newForm(nil)
	}
	data := app.newTemplateData(r)
	if status == http.StatusOK {
		data.Notice = app.popNotice(w, r)
	}
	data.Security = &securityView{
		TOTP: st.TOTP, RecoveryCodes: st.RecoveryCodes, Passkeys: newPasskeyViews(st.Passkeys),
		Recent: app.sessions.RecentlyAuthenticated(r.Context()), PasskeyForm: pf,
	}
	app.render(w, r, status, "security", data)
}

func (app *application) securityView(w http.ResponseWriter, r *http.Request) {
	app.renderSecurity(w, r, http.StatusOK, nil)
}

// totpBegin starts the authenticator-app set-up and shows its QR code.
func (app *application) totpBegin(w http.ResponseWriter, r *http.Request) {
	if _, ok := app.parseForm(w, r); !ok {
		return
	}
	setup, err := app.factors.BeginTOTP(r.Context(), *currentUser(r), app.client(r))
	switch {
	case errors.Is(err, auth.ErrTOTPEnabled):
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return
	case err != nil:
		app.serverError(w, r, err)
		return
	}
	app.renderTOTPSetup(w, r, http.StatusOK, setup, newForm(nil))
}

func (app *application) renderTOTPSetup(w http.ResponseWriter, r *http.Request, status int, setup auth.TOTPSetup, f *form) {
	data := app.newTemplateData(r)
	data.TOTPSetup = &setup
	data.Form = f
	app.render(w, r, status, "totp-setup", data)
}

// qrSize is the QR code's width and height in pixels: large enough for a
// phone camera at arm's length.
const qrSize = 240

// totpQR serves the QR code of the pending set-up as a PNG, from the
// service itself, so that the CSP (img-src 'self') holds and the secret
// goes to no other site.
func (app *application) totpQR(w http.ResponseWriter, r *http.Request) {
	setup, err := app.factors.PendingTOTP(r.Context(), *currentUser(r))
	switch {
	case errors.Is(err, auth.ErrTOTPNotSetUp), errors.Is(err, auth.ErrTOTPEnabled):
		app.errorPage(w, r, http.StatusNotFound)
		return
	case err != nil:
		app.serverError(w, r, err)
		return
	}
	png, err := setup.PNG(qrSize)
	if err != nil {
		app.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	_, _ = w.Write(png)
}

// codeMessages are the answers to a wrong code.
var codeMessages = map[error]string{
	auth.ErrInvalidCode: "That code is not right. Check your authenticator app and try again.",
	auth.ErrCodeReused:  "That code has already been used. Wait for your app to show the next one.",
}

func codeMessage(err error) string {
	for e, msg := range codeMessages {
		if errors.Is(err, e) {
			return msg
		}
	}
	return ""
}

// totpConfirm switches the authenticator app on when the code is right,
// and shows the recovery codes, once.
func (app *application) totpConfirm(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	user := *currentUser(r)
	f := newForm(values)
	f.Required("code", "Enter the 6-digit code from your authenticator app.")
	status := http.StatusUnprocessableEntity
	if !f.HasErrors() {
		codes, err := app.factors.ConfirmTOTP(r.Context(), user, f.Get("code"), app.client(r))
		switch {
		case err == nil:
			data := app.newTemplateData(r)
			data.RecoveryCodes = codes
			data.Notice = "Two-factor authentication is on. From now on, you will be asked for a code from your app when you log in."
			app.render(w, r, http.StatusOK, "recovery-codes", data)
			return
		case errors.Is(err, auth.ErrTOTPNotSetUp), errors.Is(err, auth.ErrTOTPEnabled):
			http.Redirect(w, r, "/account/security", http.StatusSeeOther)
			return
		case codeMessage(err) != "":
			f.AddError("code", codeMessage(err))
		case throttled(w, f, err):
			status = http.StatusTooManyRequests
		default:
			app.serverError(w, r, err)
			return
		}
	}
	setup, err := app.factors.PendingTOTP(r.Context(), user)
	if err != nil {
		if errors.Is(err, auth.ErrTOTPNotSetUp) || errors.Is(err, auth.ErrTOTPEnabled) {
			http.Redirect(w, r, "/account/security", http.StatusSeeOther)
			return
		}
		app.serverError(w, r, err)
		return
	}
	app.renderTOTPSetup(w, r, status, setup, f)
}

// totpDisable switches the authenticator app off (a sensitive action).
func (app *application) totpDisable(w http.ResponseWriter, r *http.Request) {
	if _, ok := app.parseForm(w, r); !ok {
		return
	}
	err := app.factors.DisableTOTP(r.Context(), currentUser(r).ID, app.client(r))
	if err != nil && !errors.Is(err, auth.ErrTOTPNotSetUp) {
		app.serverError(w, r, err)
		return
	}
	app.setNotice(w, "totp-disabled")
	http.Redirect(w, r, "/account/security", http.StatusSeeOther)
}

// recoveryCodesPost replaces the recovery codes and shows the new ones,
// once (a sensitive action).
func (app *application) recoveryCodesPost(w http.ResponseWriter, r *http.Request) {
	if _, ok := app.parseForm(w, r); !ok {
		return
	}
	codes, err := app.factors.RegenerateRecoveryCodes(r.Context(), currentUser(r).ID, app.client(r))
	switch {
	case errors.Is(err, auth.ErrTOTPNotSetUp):
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return
	case err != nil:
		app.serverError(w, r, err)
		return
	}
	data := app.newTemplateData(r)
	data.RecoveryCodes = codes
	data.Notice = "New recovery codes were made. The old ones no longer work."
	app.render(w, r, http.StatusOK, "recovery-codes", data)
}

// secondFactorView asks for the code after a right password.
func (app *application) secondFactorView(w http.ResponseWriter, r *http.Request) {
	if currentUser(r) != nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	if _, ok := app.sessions.PendingSecondFactor(r.Context()); !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	data := app.newTemplateData(r)
	data.Form = newForm(url.Values{"next": {safeNext(r.URL.Query().Get("next"))}})
	app.render(w, r, http.StatusOK, "second-factor", data)
}

// secondFactorPost checks the code (or a recovery code) of the pending
// login, and only then signs the user in.
func (app *application) secondFactorPost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	pending, ok := app.sessions.PendingSecondFactor(r.Context())
	if !ok {
		app.setNotice(w, "login-expired")
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	f := newForm(values)
	f.values.Set("next", safeNext(f.Get("next")))
	recovery := f.Get("method") == "recovery" || (f.Get("code") == "" && f.Get("recovery_code") != "")
	if recovery {
		f.values.Del("code")
		f.Required("recovery_code", "Enter one of your recovery codes.")
	} else {
		f.Required("code", "Enter the 6-digit code from your authenticator app.")
	}
	status := http.StatusUnprocessableEntity
	if !f.HasErrors() {
		c := app.client(r)
		method, err := app.factors.VerifyCode(r.Context(), pending.UserID, f.Get("code"), f.Get("recovery_code"), c)
		field := "code"
		if recovery {
			field = "recovery_code"
		}
		switch {
		case err == nil:
			user, err := app.auth.User(r.Context(), pending.UserID)
			if err != nil {
				app.serverError(w, r, err)
				return
			}
			how := auth.MethodPasswordTOTP
			if method == auth.SecondFactorRecovery {
				how = auth.MethodPasswordRecovery
			}
			login := auth.Login{User: user, KnownDevice: pending.KnownDevice, DeviceCookie: pending.DeviceCookie}
			app.completeLogin(w, r, login, pending.Remember, how, c, f.Get("next"))
			return
		case errors.Is(err, auth.ErrTOTPNotSetUp), errors.Is(err, auth.ErrUserNotFound):
			// Switched off or deleted meanwhile: start again from the
			// password.
			app.sessions.CancelSecondFactor(r.Context())
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		case errors.Is(err, auth.ErrInvalidCode) && field == "recovery_code":
			f.AddError(field, "That recovery code is not right, or has been used already.")
		case codeMessage(err) != "":
			f.AddError(field, codeMessage(err))
		case throttled(w, f, err):
			status = http.StatusTooManyRequests
		default:
			app.serverError(w, r, err)
			return
		}
	}
	data := app.newTemplateData(r)
	data.Form = f
	app.render(w, r, status, "second-factor", data)
}

// passkeyDelete removes one of the user's passkeys (a sensitive action).
func (app *application) passkeyDelete(w http.ResponseWriter, r *http.Request) {
	if _, ok := app.parseForm(w, r); !ok {
		return
	}
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		app.errorPage(w, r, http.StatusNotFound)
		return
	}
	err = app.factors.DeletePasskey(r.Context(), currentUser(r).ID, id, app.client(r))
	switch {
	case errors.Is(err, auth.ErrPasskeyNotFound):
		app.errorPage(w, r, http.StatusNotFound)
		return
	case err != nil:
		app.serverError(w, r, err)
		return
	}
	app.setNotice(w, "passkey-removed")
	http.Redirect(w, r, "/account/security", http.StatusSeeOther)
}
