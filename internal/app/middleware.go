package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

type contextKey int

const (
	userContextKey contextKey = iota
	requestIDContextKey
)

// maxFormBytes caps request bodies: every form here is a few hundred bytes.
const maxFormBytes = 64 << 10

// contentSecurityPolicy allows nothing inline and nothing from elsewhere.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (app *application) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v) // the server's own signal to abort the response
				}
				w.Header().Set("Connection", "close")
				app.serverError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// requestIDs are a random per-process prefix and a counter: unique, cheap,
// and never taken from the client (a client-chosen id could forge log lines).
var (
	requestIDPrefix = func() string {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}()
	requestIDCounter atomic.Uint64
)

func (app *application) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestIDPrefix + "-" + strconv.FormatUint(requestIDCounter.Add(1), 10)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDContextKey, id)))
	})
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDContextKey).(string)
	return id
}

// clientIP believes X-Forwarded-For only from TRUSTED_PROXIES (taking the
// right-most address that is not a trusted proxy); otherwise the client is
// the socket's peer. chi's RealIP would believe any client.
func (app *application) clientIP() func(http.Handler) http.Handler {
	if len(app.proxies) == 0 {
		return middleware.ClientIPFromRemoteAddr
	}
	return middleware.ClientIPFromXFF(app.proxies...)
}

// client describes the request's origin for auth: IP and user agent.
func (app *application) client(r *http.Request) auth.Client {
	ip := middleware.GetClientIP(r.Context())
	if ip == "" {
		// chi found no usable address (an unparsable X-Forwarded-For from
		// a trusted proxy): fall back to the peer, without its port, which
		// changes per connection and would give each one its own budget.
		ip = r.RemoteAddr
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
	}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return auth.Client{IP: ip, UserAgent: ua}
}

// logRequest logs one line per request (never cookies, tokens or bodies)
// and records the request metrics by chi route pattern.
func (app *application) logRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		d := time.Since(start)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		route := "unmatched"
		if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
			route = rctx.RoutePattern()
		}
		app.metrics.ObserveRequest(route, r.Method, status, d)
		app.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Duration("duration", d),
			slog.String("request_id", requestIDFrom(r.Context())))
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses state-changing requests from other origins (Go's
// CrossOriginProtection: Sec-Fetch-Site, else Origin against Host) with a
// 403 page. Safe methods pass, which is why no state changes on GET.
func (app *application) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.log.LogAttrs(r.Context(), slog.LevelWarn, "cross-origin request refused",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("origin", r.Header.Get("Origin")), slog.String("request_id", requestIDFrom(r.Context())))
		app.errorPage(w, r, http.StatusForbidden)
	}))
	return cop.Handler(next)
}

// guardWriter sits under SCS's LoadAndSave. When saving the session fails,
// SCS hands the error to sessionError with this writer, which writes a 503
// page; the handler's own response, written after, must then be dropped.
type guardWriter struct {
	http.ResponseWriter
	failed bool
}

func (g *guardWriter) WriteHeader(code int) {
	if !g.failed {
		g.ResponseWriter.WriteHeader(code)
	}
}

func (g *guardWriter) Write(b []byte) (int, error) {
	if g.failed {
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}

func (g *guardWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// loadSession is SCS's LoadAndSave, with store failures answered by a 503
// page instead of SCS's bare 500.
func (app *application) loadSession(next http.Handler) http.Handler {
	h := app.sessions.LoadAndSave(next, app.sessionError)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&guardWriter{ResponseWriter: w}, r)
	})
}

func (app *application) sessionError(w http.ResponseWriter, r *http.Request, err error) {
	app.logError(r, fmt.Errorf("session store: %w", err))
	// Headers the handler set for its own response (a redirect's Location,
	// the session cookie) must not ride on the error page.
	w.Header().Del("Location")
	w.Header().Del("Set-Cookie")
	w.Header().Set("Retry-After", "5")
	app.errorPage(w, r, http.StatusServiceUnavailable)
	if g, ok := w.(*guardWriter); ok {
		g.failed = true
	}
}

// authenticate loads the signed-in user, if any, for this request. A
// session whose user no longer exists, or that a password change or "end
// all sessions" ended (its generation is old), is ended.
func (app *application) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, ok := app.sessions.UserID(r.Context())
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		user, err := app.auth.User(r.Context(), uid)
		switch {
		case errors.Is(err, auth.ErrUserNotFound):
			if err := app.sessions.LogOut(r.Context(), app.client(r)); err != nil {
				app.serverError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
			return
		case err != nil:
			app.serverError(w, r, err)
			return
		}
		// A session of an older generation was ended by a password change
		// or "end all sessions", even one the registry had lost.
		if valid, err := app.sessions.Verify(r.Context(), user); err != nil {
			app.serverError(w, r, err)
			return
		} else if !valid {
			next.ServeHTTP(w, r)
			return
		}
		app.sessions.Touch(r.Context())
		ctx := context.WithValue(r.Context(), userContextKey, &user)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// currentUser returns the signed-in user, or nil.
func currentUser(r *http.Request) *auth.User {
	u, _ := r.Context().Value(userContextKey).(*auth.User)
	return u
}

// requireAuthentication sends anonymous visitors to the login page (back
// here afterwards, for pages one can go back to) and keeps protected pages
// out of every cache.
func (app *application) requireAuthentication(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if currentUser(r) == nil {
			target := "/login"
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}
