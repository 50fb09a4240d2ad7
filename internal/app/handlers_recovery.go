package app

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Pages reached through a one-time link carry the token in their address:
// they are never cached, and send no Referer anywhere.
func tokenPage(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// badLink answers a link that cannot be used (unknown, used, superseded,
// expired, mangled, or for something else) with a page that says so and
// offers a new one.
func (app *application) badLink(w http.ResponseWriter, r *http.Request, askAgain string) {
	data := app.newTemplateData(r)
	data.AskAgain = askAgain
	app.render(w, r, http.StatusBadRequest, "badlink", data)
}

func (app *application) forgotView(w http.ResponseWriter, r *http.Request) {
	data := app.newTemplateData(r)
	data.Form = newForm(map[string][]string{"email": {r.URL.Query().Get("email")}})
	app.render(w, r, http.StatusOK, "forgot", data)
}

// forgotPost answers every valid address with the same page, in the same
// time, whether or not it has an account (auth pads the time).
func (app *application) forgotPost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	f.Required("email", "Enter your email address.")
	status := http.StatusUnprocessableEntity
	if !f.HasErrors() {
		err := app.recovery.RequestPasswordReset(r.Context(), f.Get("email"), app.client(r))
		switch {
		case err == nil:
			data := app.newTemplateData(r)
			data.Form = f
			data.Sent = true
			app.render(w, r, http.StatusOK, "forgot", data)
			return
		case throttled(w, f, err):
			status = http.StatusTooManyRequests
		case fieldError(f, err):
		default:
			app.serverError(w, r, err)
			return
		}
	}
	data := app.newTemplateData(r)
	data.Form = f
	app.render(w, r, status, "forgot", data)
}

// resetView shows the new-password form of a reset link. It changes
// nothing, so mail scanners that follow links do no harm.
func (app *application) resetView(w http.ResponseWriter, r *http.Request) {
	tokenPage(w)
	token := r.URL.Query().Get("token")
	err := app.recovery.CheckResetToken(r.Context(), token)
	switch {
	case errors.Is(err, auth.ErrTokenInvalid):
		app.badLink(w, r, "/password/forgot")
		return
	case err != nil:
		app.serverError(w, r, err)
		return
	}
	data := app.newTemplateData(r)
	data.Token = token
	app.render(w, r, http.StatusOK, "reset", data)
}

// resetPost sets the new password, ends every session of the account on
// every instance, and sends the visitor to log in.
func (app *application) resetPost(w http.ResponseWriter, r *http.Request) {
	tokenPage(w)
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	f.Required("new_password", "Enter a new password.")
	if !f.HasErrors() {
		c := app.client(r)
		user, err := app.recovery.ResetPassword(r.Context(), f.Get("token"), f.Get("new_password"), c)
		switch {
		case err == nil:
			if err := app.sessions.EndAll(r.Context(), user.ID, c); err != nil {
				app.serverError(w, r, err)
				return
			}
			app.setNotice(w, "password-reset")
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		case errors.Is(err, auth.ErrTokenInvalid):
			app.badLink(w, r, "/password/forgot")
			return
		case fieldError(f, err):
		default:
			app.serverError(w, r, err)
			return
		}
	}
	data := app.newTemplateData(r)
	data.Form = f
	data.Token = f.Get("token")
	app.render(w, r, http.StatusUnprocessableEntity, "reset", data)
}

// verifyView shows the confirm button of an address link (sign-up
// verification or address change). It changes nothing.
func (app *application) verifyView(w http.ResponseWriter, r *http.Request) {
	tokenPage(w)
	token := r.URL.Query().Get("token")
	purpose, err := app.recovery.CheckEmailToken(r.Context(), token)
	switch {
	case errors.Is(err, auth.ErrTokenInvalid):
		app.badLink(w, r, app.askAgainEmail(r))
		return
	case err != nil:
		app.serverError(w, r, err)
		return
	}
	data := app.newTemplateData(r)
	data.Token = token
	data.Purpose = purpose
	app.render(w, r, http.StatusOK, "verify", data)
}

// askAgainEmail is where a dead address link sends its visitor: the
// account page (which can resend) when signed in, else the log-in page
// (which shows the "check your email" page, with resend, to an unverified
// account).
func (app *application) askAgainEmail(r *http.Request) string {
	if currentUser(r) != nil {
		return "/account"
	}
	return "/login"
}

func (app *application) verifyPost(w http.ResponseWriter, r *http.Request) {
	tokenPage(w)
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	purpose, err := app.recovery.ConfirmEmail(r.Context(), values.Get("token"), app.client(r))
	switch {
	case errors.Is(err, auth.ErrTokenInvalid):
		app.badLink(w, r, app.askAgainEmail(r))
		return
	case errors.Is(err, auth.ErrDuplicateEmail):
		// Only whoever holds the new mailbox gets here.
		data := app.newTemplateData(r)
		data.AskAgain = app.askAgainEmail(r)
		data.Purpose = auth.PurposeChangeEmail
		app.render(w, r, http.StatusConflict, "badlink", data)
		return
	case err != nil:
		app.serverError(w, r, err)
		return
	}
	notice := "email-verified"
	if purpose == auth.PurposeChangeEmail {
		notice = "email-changed"
	}
	app.setNotice(w, notice)
	http.Redirect(w, r, app.askAgainEmail(r), http.StatusSeeOther)
}

// verifyResendPost sends a new verification link: to the signed-in
// user's address, or to the address in the form (from the "check your
// email" page), answering alike whether or not it has an account.
func (app *application) verifyResendPost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	user := currentUser(r)
	if user != nil {
		f.values.Set("email", user.Email)
	}
	err := app.recovery.ResendVerification(r.Context(), f.Get("email"), app.client(r))
	status := http.StatusOK
	switch {
	case err == nil:
		if user != nil {
			app.setNotice(w, "verification-sent")
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		}
	case throttled(w, f, err):
		status = http.StatusTooManyRequests
	default:
		app.serverError(w, r, err)
		return
	}
	if user != nil {
		app.errorPage(w, r, status)
		return
	}
	app.checkEmail(w, r, status, f)
}

// checkEmail renders the "check your email" page: after a sign-up when
// verification is required (the same for a new address and a taken one),
// and at the log-in of an unverified account. It can send the link again.
func (app *application) checkEmail(w http.ResponseWriter, r *http.Request, status int, f *form) {
	data := app.newTemplateData(r)
	data.Form = newForm(map[string][]string{"email": {auth.NormalizeEmail(f.Get("email"))}})
	data.Form.Message = f.Message
	app.render(w, r, status, "checkemail", data)
}

// emailChangePost mails a confirmation link to a new address, after the
// password. A taken address gets the same answer.
func (app *application) emailChangePost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	f.Required("new_email", "Enter the new email address.")
	f.Required("password", "Enter your password to confirm.")
	status := http.StatusUnprocessableEntity
	if !f.HasErrors() {
		err := app.recovery.RequestEmailChange(r.Context(), currentUser(r).ID, f.Get("new_email"), f.Get("password"), app.client(r))
		switch {
		case err == nil:
			app.setNotice(w, "email-change-sent")
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		case errors.Is(err, auth.ErrSameEmail):
			f.AddError("new_email", "This is already your address.")
		case errors.Is(err, auth.ErrInvalidCredentials):
			f.AddError("password", "Your password is incorrect.")
		case throttled(w, f, err):
			status = http.StatusTooManyRequests
		case fieldError(f, err):
		default:
			app.serverError(w, r, err)
			return
		}
	}
	data := app.newTemplateData(r)
	data.EmailForm = f
	app.render(w, r, status, "account", data)
}

// notifySignIn queues the new-device notice after a successful log-in.
// knownDevice says whether this browser signed in to the account before.
// A failure to queue it is logged: the log-in itself succeeded.
func (app *application) notifySignIn(r *http.Request, user auth.User, knownDevice bool) {
	c := app.client(r)
	err := app.recovery.SignedIn(r.Context(), user, knownDevice, auth.SignIn{
		When: time.Now(), Device: describeUserAgent(c.UserAgent), IP: c.IP,
	})
	if err != nil {
		app.log.LogAttrs(r.Context(), slog.LevelWarn, "new-device notice not queued",
			slog.String("error", err.Error()), slog.String("request_id", requestIDFrom(r.Context())))
	}
}
