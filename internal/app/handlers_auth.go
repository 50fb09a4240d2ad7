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

// Messages shown beside the fields. Policy errors map to plain sentences.
var fieldMessages = map[error]string{
	auth.ErrEmailRequired:    "Enter your email address.",
	auth.ErrEmailInvalid:     "Enter a valid email address, like name@example.com.",
	auth.ErrDuplicateEmail:   "An account with this email already exists. Log in instead?",
	auth.ErrPasswordTooShort: "Use at least 8 characters.",
	auth.ErrPasswordTooLong:  "Use at most 256 characters.",
	auth.ErrPasswordIsEmail:  "Your password must not be your email address.",
	auth.ErrPasswordCommon:   "This password is too common and easy to guess. Choose another, such as a few unrelated words.",
}

// policyMessage returns the message for a policy error, or "".
func policyMessage(err error) string {
	for e, msg := range fieldMessages {
		if errors.Is(err, e) {
			return msg
		}
	}
	return ""
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
	email, password := f.Get("email"), f.Get("password")
	if _, err := auth.ValidateEmail(email); err != nil {
		f.AddError("email", policyMessage(err))
	}
	if err := auth.CheckPassword(password, email); err != nil {
		f.AddError("password", policyMessage(err))
	}
	if !f.HasErrors() {
		if err := app.sessions.Ping(r.Context()); err != nil {
			app.serverError(w, r, err)
			return
		}
		user, err := app.auth.SignUp(r.Context(), email, password, app.client(r))
		switch {
		case err == nil:
			if err := app.sessions.LogIn(r.Context(), user, false, app.client(r)); err != nil {
				app.serverError(w, r, err)
				return
			}
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		case errors.Is(err, auth.ErrDuplicateEmail), errors.Is(err, auth.ErrEmailInvalid), errors.Is(err, auth.ErrEmailRequired):
			f.AddError("email", policyMessage(err))
		case policyMessage(err) != "":
			f.AddError("password", policyMessage(err))
		default:
			app.serverError(w, r, err)
			return
		}
	}
	data := app.newTemplateData(r)
	data.Form = f
	app.render(w, r, http.StatusUnprocessableEntity, "signup", data)
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
		c := app.client(r)
		user, err := app.auth.Authenticate(r.Context(), f.Get("email"), f.Get("password"), c)
		switch {
		case err == nil:
			// Only a right password gets this far, so whether the account
			// has a second factor changes neither the answer nor the time
			// of a wrong one. The pending state holds no user id: nothing
			// protected is reachable before the code.
			remember := f.Get("remember") == "on"
			twoFactor, err := app.factors.TOTPEnabled(r.Context(), user.ID)
			if err != nil {
				app.serverError(w, r, err)
				return
			}
			if twoFactor {
				if err := app.sessions.BeginSecondFactor(r.Context(), user, remember, c); err != nil {
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
			if err := app.sessions.LogIn(r.Context(), user, remember, c); err != nil {
				app.serverError(w, r, err)
				return
			}
			http.Redirect(w, r, orDefault(f.Get("next"), "/account"), http.StatusSeeOther)
			return
		case errors.Is(err, auth.ErrInvalidCredentials):
			f.Message = invalidCredentials
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

// throttled reports whether err is a *auth.ThrottledError, and if so sets
// Retry-After and tells the form how long to wait.
func throttled(w http.ResponseWriter, f *form, err error) bool {
	var te *auth.ThrottledError
	if !errors.As(err, &te) {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(te.RetryAfter)))
	f.Message = "Too many failed attempts. Please wait " + humanWait(te.RetryAfter) + " before trying again."
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
