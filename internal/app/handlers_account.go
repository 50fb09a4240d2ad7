package app

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

func (app *application) accountView(w http.ResponseWriter, r *http.Request) {
	data := app.newTemplateData(r)
	data.Notice = app.popNotice(w, r)
	app.render(w, r, http.StatusOK, "account", data)
}

// passwordPost changes the password, which ends every session of the user,
// then keeps this one signed in under a new token (a privilege change).
func (app *application) passwordPost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	f.Required("current_password", "Enter your current password.")
	f.Required("new_password", "Enter a new password.")
	status := http.StatusUnprocessableEntity
	if !f.HasErrors() {
		c := app.credentialClient(r)
		gen, err := app.auth.ChangePassword(r.Context(), currentUser(r).ID, f.Get("current_password"), f.Get("new_password"), c)
		switch {
		case err == nil:
			if err := app.sessions.PasswordChanged(r.Context(), gen, c); err != nil {
				app.serverError(w, r, err)
				return
			}
			app.setNotice(w, "password-changed")
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		case errors.Is(err, auth.ErrInvalidCredentials):
			f.AddError("current_password", "Your current password is incorrect.")
		case throttled(w, f, err):
			status = http.StatusTooManyRequests
		case fieldError(f, err):
		default:
			app.serverError(w, r, err)
			return
		}
	}
	data := app.newTemplateData(r)
	data.PasswordForm = f
	app.render(w, r, status, "account", data)
}

// accountDeletePost removes the account after checking the password, ends
// every session of the user and expires this one's cookie.
func (app *application) accountDeletePost(w http.ResponseWriter, r *http.Request) {
	values, ok := app.parseForm(w, r)
	if !ok {
		return
	}
	f := newForm(values)
	f.Required("password", "Enter your password to confirm.")
	status := http.StatusUnprocessableEntity
	if !f.HasErrors() {
		c := app.credentialClient(r)
		err := app.auth.DeleteAccount(r.Context(), currentUser(r).ID, f.Get("password"), c)
		switch {
		case err == nil:
			if err := app.sessions.RevokeAll(r.Context(), c); err != nil {
				app.serverError(w, r, err)
				return
			}
			app.setNotice(w, "account-deleted")
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		case errors.Is(err, auth.ErrInvalidCredentials):
			f.AddError("password", "Your password is incorrect.")
		case throttled(w, f, err):
			status = http.StatusTooManyRequests
		default:
			app.serverError(w, r, err)
			return
		}
	}
	data := app.newTemplateData(r)
	data.DeleteForm = f
	app.render(w, r, status, "account", data)
}

func (app *application) sessionsView(w http.ResponseWriter, r *http.Request) {
	infos, err := app.sessions.List(r.Context(), currentUser(r).ID)
	if err != nil {
		app.serverError(w, r, err)
		return
	}
	data := app.newTemplateData(r)
	data.Notice = app.popNotice(w, r)
	data.Sessions = newSessionViews(infos)
	app.render(w, r, http.StatusOK, "sessions", data)
}

func (app *application) sessionsRevokeOthersPost(w http.ResponseWriter, r *http.Request) {
	if _, err := app.sessions.RevokeOthers(r.Context(), app.client(r)); err != nil {
		app.serverError(w, r, err)
		return
	}
	app.setNotice(w, "sessions-ended")
	http.Redirect(w, r, "/account/sessions", http.StatusSeeOther)
}

func (app *application) sessionRevokePost(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	current := id == app.sessions.SessionID(r.Context())
	err := app.sessions.Revoke(r.Context(), id, app.client(r))
	switch {
	case errors.Is(err, auth.ErrSessionNotFound):
		app.errorPage(w, r, http.StatusNotFound)
		return
	case err != nil:
		app.serverError(w, r, err)
		return
	}
	if current {
		app.setNotice(w, "logged-out")
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	app.setNotice(w, "session-ended")
	http.Redirect(w, r, "/account/sessions", http.StatusSeeOther)
}
