package app

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// routes is the whole URL surface of the service, on one screen.
func (app *application) routes() *chi.Mux {
	r := chi.NewRouter()

	// Global chain, outermost first:
	//  - recoverPanic first, so a panic anywhere below becomes a 500 page;
	//  - requestID before logRequest, so every log line carries the id;
	//  - clientIP before logRequest and handlers: it decides, once, which
	//    address is the client (X-Forwarded-For only from TRUSTED_PROXIES);
	//  - logRequest wraps everything that can set a status, including
	//    404/405 pages, and records the metrics;
	//  - securityHeaders and limitBody apply to every response and request.
	r.Use(app.recoverPanic)
	r.Use(app.requestID)
	r.Use(app.clientIP)
	r.Use(app.logRequest)
	r.Use(securityHeaders)
	r.Use(limitBody)
	r.Use(middleware.GetHead) // HEAD works wherever GET does (load balancer probes)

	// Session chain:
	//  - crossOrigin first: a forged cross-site POST is refused before it
	//    can load, renew or write any session;
	//  - loadSession (SCS LoadAndSave) before authenticate, which reads the
	//    user id from the loaded session.
	session := chi.Chain(app.crossOrigin, app.loadSession, app.authenticate)
	notFound := session.HandlerFunc(app.notFound)
	r.NotFound(notFound.ServeHTTP)
	r.MethodNotAllowed(session.HandlerFunc(app.methodNotAllowed).ServeHTTP)

	// No session for these: they must answer while the store is down, and
	// must not create sessions. /metrics outside METRICS_ALLOW and static
	// directories answer the very 404 of an unknown address.
	r.Get("/healthz", app.healthz)
	r.Get("/readyz", app.readyz)
	r.Method(http.MethodGet, "/metrics", app.metricsView(notFound))
	r.Handle("/static/*", staticFiles(notFound))

	r.Group(func(r chi.Router) {
		r.Use(session...)

		r.Get("/", app.home)
		r.Get("/signup", app.signupView)
		r.Post("/signup", app.signupPost)
		r.Get("/login", app.loginView)
		r.Post("/login", app.loginPost)
		r.Get("/login/second-factor", app.secondFactorView)
		r.Post("/login/second-factor", app.secondFactorPost)
		r.Post("/login/passkey/options", app.passkeyLoginOptions)
		r.Post("/login/passkey", app.passkeyLoginPost)
		r.Post("/logout", app.logoutPost)
		r.Get("/password/forgot", app.forgotView)
		r.Post("/password/forgot", app.forgotPost)
		r.Get("/password/reset", app.resetView)
		r.Post("/password/reset", app.resetPost)
		r.Get("/email/verify", app.verifyView)
		r.Post("/email/verify", app.verifyPost)
		r.Post("/email/verify/resend", app.verifyResendPost)

		// Protected: requireAuthentication sends anonymous visitors to
		// /login?next=… and marks every response no-store.
		r.Group(func(r chi.Router) {
			r.Use(app.requireAuthentication)

			r.Get("/account", app.accountView)
			r.Get("/account/sessions", app.sessionsView)
			r.Post("/account/sessions/{id}/revoke", app.sessionRevokePost)
			r.Get("/account/activity", app.activityView)
			r.Get("/account/security", app.securityView)
			r.Get("/account/totp/qr.png", app.totpQR)
			r.Post("/account/totp/confirm", app.totpConfirm)
			r.Get("/confirm-access", app.confirmAccessView)
			r.Post("/confirm-access", app.confirmAccessPost)
			r.Post("/confirm-access/passkey/options", app.confirmPasskeyOptions)
			r.Post("/confirm-access/passkey", app.confirmPasskeyPost)

			// Sensitive actions ("sudo mode"): without an authentication
			// in the last auth.ReauthWindow, requireRecentAuth sends the
			// user to /confirm-access, then back to the page named here,
			// the one that offers the action.
			r.With(app.requireRecentAuth("/account")).Post("/account/password", app.passwordPost)
			r.With(app.requireRecentAuth("/account")).Post("/account/delete", app.accountDeletePost)
			r.With(app.requireRecentAuth("/account")).Post("/account/email", app.emailChangePost)
			r.With(app.requireRecentAuth("/account/sessions")).Post("/account/sessions/revoke-others", app.sessionsRevokeOthersPost)
			r.Group(func(r chi.Router) {
				r.Use(app.requireRecentAuth("/account/security"))
				r.Post("/account/totp", app.totpBegin)
				r.Post("/account/totp/disable", app.totpDisable)
				r.Post("/account/recovery-codes", app.recoveryCodesPost)
				r.Post("/account/passkeys/options", app.passkeyRegisterOptions)
				r.Post("/account/passkeys", app.passkeyRegisterPost)
				r.Post("/account/passkeys/{id}/delete", app.passkeyDelete)
			})
		})
	})
	return r
}
