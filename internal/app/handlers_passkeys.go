package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Passkeys take two requests. The script (ui/static/js/passkeys.js) asks
// for the ceremony's options with a JSON POST, whose state the session
// keeps; the browser's answer then comes back as an ordinary form post (a
// hidden field "credential" holding its JSON), answered like any form:
// 303 on success, the page again with the error otherwise.

// The ceremonies a session may have under way, one of each kind at most.
const (
	ceremonyLogin    = "login"
	ceremonyRegister = "register"
	ceremonyReauth   = "reauth"
)

// writeJSON sends v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// beginCeremony keeps the ceremony's state in the session under kind and
// sends its options to the script.
func (app *application) beginCeremony(w http.ResponseWriter, r *http.Request, kind string, c auth.Ceremony, err error) {
	if err != nil {
		app.logError(r, err)
		status := http.StatusInternalServerError
		if errors.Is(err, auth.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, map[string]string{"error": "Passkeys are not available right now. Please try again."})
		return
	}
	app.sessions.PutCeremony(r.Context(), kind, c.State)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(c.Options)))
	_, _ = w.Write(c.Options)
}

// passkeyLoginOptions starts a sign-in with a passkey (no email typed).
func (app *application) passkeyLoginOptions(w http.ResponseWriter, r *http.Request) {
	c, err := app.factors.BeginPasskeyLogin()
	app.beginCeremony(w, r, ceremonyLogin, c, err)
}

// passkeyAnswer decodes a form carrying the browser's answer to a sign-in
// ceremony of kind (its next field made safe by next), and returns the
// account the passkey signs in, or why not. ok is false when the form
// could not be read (already answered).
func (app *application) passkeyAnswer(w http.ResponseWriter, r *http.Request, kind string, next func(string) string) (*form, auth.User, bool, error) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return nil, auth.User{}, false, nil
	}
	f := newForm(values)
	f.values.Set("next", next(f.Get("next")))
	state := app.sessions.TakeCeremony(r.Context(), kind)
	user, err := app.factors.FinishPasskeyLogin(r.Context(), state, []byte(f.Get("credential")), app.client(r))
	return f, user, true, err
}

const passkeyRefused = "That passkey could not be used to sign in. Try again, or log in with your password."

// passkeyLoginPost signs in with the passkey the browser answered with. A
// passkey verifies its user (PIN, biometrics), so this is a whole login:
// no second factor is asked.
func (app *application) passkeyLoginPost(w http.ResponseWriter, r *http.Request) {
	f, user, ok, err := app.passkeyAnswer(w, r, ceremonyLogin, safeNext)
	if !ok {
		return
	}
	c := app.credentialClient(r)
	switch {
	case err == nil:
		// A passkey login is a whole login: the browser becomes a known
		// device, and an unknown one gets the notice.
		app.completeLogin(w, r, app.auth.DeviceLogin(user, c), f.Get("remember") == "on", auth.MethodPasskey, c, f.Get("next"))
		return
	case errors.Is(err, auth.ErrPasskeyInvalid), errors.Is(err, auth.ErrPasskeyCloned):
		f.Message = passkeyRefused
		// The page comes back without the autofill offer of passkeys,
		// which would otherwise try the same passkey again at once.
		f.values.Set("passkey", "failed")
	default:
		app.serverError(w, r, err)
		return
	}
	f.values.Del("credential")
	data := app.newTemplateData(r)
	data.Form = f
	app.render(w, r, http.StatusUnprocessableEntity, "login", data)
}

// passkeyRegisterOptions starts adding a passkey (a sensitive action).
func (app *application) passkeyRegisterOptions(w http.ResponseWriter, r *http.Request) {
	c, err := app.factors.BeginPasskeyRegistration(r.Context(), *currentUser(r))
	if errors.Is(err, auth.ErrTooManyPasskeys) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{
			"error": "You have " + strconv.Itoa(auth.MaxPasskeys) + " passkeys already. Remove one first."})
		return
	}
	app.beginCeremony(w, r, ceremonyRegister, c, err)
}

// passkeyRegisterPost stores the passkey the browser made.
func (app *application) passkeyRegisterPost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	state := app.sessions.TakeCeremony(r.Context(), ceremonyRegister)
	_, err := app.factors.FinishPasskeyRegistration(r.Context(), *currentUser(r), state,
		[]byte(f.Get("credential")), f.Get("name"), app.client(r))
	switch {
	case err == nil:
		app.setNotice(w, "passkey-added")
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return
	case errors.Is(err, auth.ErrPasskeyInvalid):
		f.Message = "The passkey could not be added. Please try again."
	case errors.Is(err, auth.ErrPasskeyExists):
		f.Message = "This passkey is already registered to an account."
	default:
		app.serverError(w, r, err)
		return
	}
	f.values.Del("credential")
	app.renderSecurity(w, r, http.StatusUnprocessableEntity, f)
}

// confirmView is what the confirm-access page offers.
type confirmView struct {
	TOTP     bool
	Passkeys bool
}

// confirmTarget is where a confirmation goes back to: next when local,
// else the security page.
func confirmTarget(next string) string { return orDefault(safeNext(next), "/account/security") }

// confirmAccessView asks the signed-in user to prove again who they are
// before a sensitive action.
func (app *application) confirmAccessView(w http.ResponseWriter, r *http.Request) {
	next := confirmTarget(r.URL.Query().Get("next"))
	if app.sessions.RecentlyAuthenticated(r.Context()) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	app.renderConfirm(w, r, http.StatusOK, newForm(url.Values{"next": {next}}))
}

func (app *application) renderConfirm(w http.ResponseWriter, r *http.Request, status int, f *form) {
	st, err := app.factors.Status(r.Context(), currentUser(r).ID)
	if err != nil {
		app.serverError(w, r, err)
		return
	}
	data := app.newTemplateData(r)
	data.Form = f
	data.Confirm = &confirmView{TOTP: st.TOTP, Passkeys: len(st.Passkeys) > 0}
	app.render(w, r, status, "confirm-access", data)
}

// confirmAccessPost checks the password, or the app's code, throttled like
// a login, then returns to the action.
func (app *application) confirmAccessPost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	f.values.Set("next", confirmTarget(f.Get("next")))
	user, c := currentUser(r), app.client(r)
	code := f.Get("method") == "code" || f.Get("code") != ""
	if code {
		f.Required("code", "Enter the 6-digit code from your authenticator app.")
	} else {
		f.Required("password", "Enter your password.")
	}
	status := http.StatusUnprocessableEntity
	if !f.HasErrors() {
		var err error
		if code {
			_, err = app.factors.VerifyCode(r.Context(), user.ID, f.Get("code"), "", c)
		} else {
			err = app.auth.VerifyPassword(r.Context(), user.ID, f.Get("password"), c)
		}
		switch {
		case err == nil:
			app.sessions.Reauthenticated(r.Context(), c)
			http.Redirect(w, r, f.Get("next"), http.StatusSeeOther)
			return
		case errors.Is(err, auth.ErrInvalidCredentials):
			f.AddError("password", "Your password is incorrect.")
		case errors.Is(err, auth.ErrTOTPNotSetUp):
			f.AddError("code", "Two-factor authentication is off: confirm with your password.")
		case codeMessage(err) != "":
			f.AddError("code", codeMessage(err))
		case throttled(w, f, err):
			status = http.StatusTooManyRequests
		default:
			app.serverError(w, r, err)
			return
		}
		if !errors.As(err, new(*auth.ThrottledError)) {
			app.factors.RecordReauthFailure(r.Context(), user.ID, c)
		}
	}
	app.renderConfirm(w, r, status, f)
}

// confirmPasskeyOptions starts a confirmation with a passkey.
func (app *application) confirmPasskeyOptions(w http.ResponseWriter, r *http.Request) {
	c, err := app.factors.BeginPasskeyLogin()
	app.beginCeremony(w, r, ceremonyReauth, c, err)
}

// confirmPasskeyPost confirms access with a passkey of the signed-in user.
func (app *application) confirmPasskeyPost(w http.ResponseWriter, r *http.Request) {
	f, got, ok, err := app.passkeyAnswer(w, r, ceremonyReauth, confirmTarget)
	if !ok {
		return
	}
	user, c := currentUser(r), app.client(r)
	switch {
	case err == nil && got.ID == user.ID:
		app.sessions.Reauthenticated(r.Context(), c)
		http.Redirect(w, r, f.Get("next"), http.StatusSeeOther)
		return
	case err == nil:
		f.Message = "That passkey belongs to another account."
	case errors.Is(err, auth.ErrPasskeyInvalid), errors.Is(err, auth.ErrPasskeyCloned):
		f.Message = "That passkey could not be used. Try again, or confirm with your password."
	default:
		app.serverError(w, r, err)
		return
	}
	app.factors.RecordReauthFailure(r.Context(), user.ID, c)
	f.values.Del("credential")
	app.renderConfirm(w, r, http.StatusUnprocessableEntity, f)
}

// requireRecentAuth guards a sensitive action: without an authentication
// within auth.ReauthWindow, the user is sent to /confirm-access, and from
// there back to page, the page that offers the action (a POST cannot be
// replayed after the detour: the user submits it again). The script's
// JSON requests get 403 with the address to go to instead.
func (app *application) requireRecentAuth(page string) func(http.Handler) http.Handler {
	target := "/confirm-access?next=" + url.QueryEscape(page)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if app.sessions.RecentlyAuthenticated(r.Context()) {
				next.ServeHTTP(w, r)
				return
			}
			if r.Header.Get("Accept") == "application/json" {
				writeJSON(w, http.StatusForbidden, map[string]string{"redirect": target})
				return
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
		})
	}
}
