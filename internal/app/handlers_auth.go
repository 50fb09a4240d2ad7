package app

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

func (app *application) home(w http.ResponseWriter, r *http.Request) {
	data := app.newTemplateData(r)
	data.Notice = app.popNotice(w, r)
	app.render(w, r, http.StatusOK, "home", data)
}

// fieldError puts err beside its field when it is an *auth.FieldError, and
// reports whether it was one.
func fieldError(f *form, err error) bool {
	var fe *auth.FieldError
	if !errors.As(err, &fe) {
		return false
	}
	f.AddError(fe.Field, fe.Message)
	return true
}

const invalidCredentials = "Invalid email or password."

func (app *application) signupView(w http.ResponseWriter, r *http.Request) {
	if currentUser(r) != nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	app.render(w, r, http.StatusOK, "signup", app.newTemplateData(r))
}

func (app *application) signupPost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	// The policy is checked here too, without the throttle, so that every
	// field's error shows at once and a typo costs no sign-up.
	email, password := f.Get("email"), f.Get("password")
	_, err := auth.ValidateEmail(email)
	fieldError(f, err)
	fieldError(f, auth.CheckPassword(password, email))
	status := http.StatusUnprocessableEntity
	if !f.HasErrors() {
		if err := app.sessions.Ping(r.Context()); err != nil {
			app.serverError(w, r, err)
			return
		}
		user, err := app.recovery.SignUp(r.Context(), email, password, app.client(r))
		switch {
		case app.recovery.VerificationRequired() && (err == nil || errors.Is(err, auth.ErrDuplicateEmail)):
			// One page for a new address and a taken one; nobody is signed in.
			app.checkEmail(w, r, http.StatusOK, f)
			return
		case err == nil:
			if err := app.sessions.LogIn(r.Context(), user, false, app.client(r)); err != nil {
				app.serverError(w, r, err)
				return
			}
			// The browser that made the account is its first device: its
			// next log-in is neither a "new device" to mail about nor
			// judged on the budgets an attacker can use up.
			app.setDeviceCookie(w, app.auth.DeviceLogin(user, app.credentialClient(r)))
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		case fieldError(f, err):
		case throttled(w, f, err):
			status = http.StatusTooManyRequests
		default:
			app.serverError(w, r, err)
			return
		}
	}
	data := app.newTemplateData(r)
	data.Form = f
	app.render(w, r, status, "signup", data)
}

func (app *application) loginView(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if currentUser(r) != nil {
		http.Redirect(w, r, orDefault(next, "/account"), http.StatusSeeOther)
		return
	}
	data := app.newTemplateData(r)
	data.Notice = app.popNotice(w, r)
	data.Form = newForm(map[string][]string{"next": {next}})
	app.render(w, r, http.StatusOK, "login", data)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (app *application) loginPost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	f.values.Set("next", safeNext(f.Get("next")))
	f.Required("email", "Enter your email address.")
	f.Required("password", "Enter your password.")
	status := http.StatusUnprocessableEntity
	if !f.HasErrors() {
		c := app.credentialClient(r)
		login, err := app.auth.Authenticate(r.Context(), f.Get("email"), f.Get("password"), c)
		switch {
		case err == nil && app.recovery.VerificationRequired() && !login.User.EmailVerified():
			// Never signed in before the address is verified; the page
			// can send the link again.
			app.checkEmail(w, r, http.StatusOK, f)
			return
		case err == nil:
			// Only a right password gets this far, so whether the account
			// has a second factor changes neither the answer nor the time
			// of a wrong one. The pending state holds no user id: nothing
			// protected is reachable before the code.
			remember := f.Get("remember") == "on"
			twoFactor, err := app.factors.TOTPEnabled(r.Context(), login.ID)
			if err != nil {
				app.serverError(w, r, err)
				return
			}
			if twoFactor {
				if err := app.sessions.BeginSecondFactor(r.Context(), login, remember, c); err != nil {
					app.serverError(w, r, err)
					return
				}
				target := "/login/second-factor"
				if next := f.Get("next"); next != "" {
					target += "?next=" + url.QueryEscape(next)
				}
				http.Redirect(w, r, target, http.StatusSeeOther)
				return
			}
			app.completeLogin(w, r, login, remember, auth.MethodPassword, c, f.Get("next"))
			return
		case errors.Is(err, auth.ErrInvalidCredentials):
			f.Message = invalidCredentials
		case fieldError(f, err):
		case throttled(w, f, err):
			status = http.StatusTooManyRequests
		default:
			app.serverError(w, r, err)
			return
		}
	}
	data := app.newTemplateData(r)
	data.Form = f
	app.render(w, r, status, "login", data)
}

// completeLogin signs login's user in once every step is done (password,
// password and second factor, or passkey), then gives the browser its
// device cookie, mails the new-device notice when the browser is unknown,
// and goes to next. With EMAIL_VERIFICATION=required an unverified
// account is not signed in whatever proved it: it gets the "check your
// email" page, as at the password step.
func (app *application) completeLogin(w http.ResponseWriter, r *http.Request, login auth.Login, remember bool,
	method auth.LoginMethod, c auth.Client, next string) {
	if app.recovery.VerificationRequired() && !login.User.EmailVerified() {
		app.sessions.CancelSecondFactor(r.Context())
		app.checkEmail(w, r, http.StatusOK, newForm(map[string][]string{"email": {login.Email}}))
		return
	}
	if err := app.sessions.LogInWith(r.Context(), login.User, remember, method, c); err != nil {
		app.serverError(w, r, err)
		return
	}
	app.setDeviceCookie(w, login)
	app.notifySignIn(r, login.User, login.KnownDevice)
	http.Redirect(w, r, orDefault(next, "/account"), http.StatusSeeOther)
}

// throttled reports whether err is a *auth.ThrottledError, and if so sets
// Retry-After and tells the form which limit was reached and how long to
// wait.
func throttled(w http.ResponseWriter, f *form, err error) bool {
	var te *auth.ThrottledError
	if !errors.As(err, &te) {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(te.RetryAfter)))
	wait := humanWait(te.RetryAfter)
	switch te.Cause {
	case auth.CauseSignups:
		f.Message = "Too many sign-ups from your network. Please wait " + wait + " before trying again."
	case auth.CauseMails:
		f.Message = "Too many emails were asked for. Please wait " + wait + " before trying again."
	case auth.CauseBusy:
		f.Message = "Too many requests from your network at once. Please wait " + wait + " before trying again."
	default:
		f.Message = "Too many failed attempts. Please wait " + wait + " before trying again."
	}
	return true
}

func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func humanWait(d time.Duration) string {
	switch m := int(math.Ceil(d.Minutes())); {
	case d < time.Minute:
		return "a minute"
	case m == 1:
		return "1 minute"
	default:
		return strconv.Itoa(m) + " minutes"
	}
}

func (app *application) logoutPost(w http.ResponseWriter, r *http.Request) {
	if err := app.sessions.LogOut(r.Context(), app.client(r)); err != nil {
		app.serverError(w, r, err)
		return
	}
	app.setNotice(w, "logged-out")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
