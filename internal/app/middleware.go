package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

type contextKey int

const (
	userContextKey contextKey = iota
	requestIDContextKey
	clientIPContextKey
)

// maxFormBytes caps request bodies: every form here is a few hundred bytes.
const maxFormBytes = 64 << 10

// contentSecurityPolicy allows nothing inline and nothing from elsewhere.
// The one script (passkeys) is a file of the site; it fetches the WebAuthn
// options from the site itself (connect-src).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
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

// requestID gives each request a random id (never taken from the client,
// whose id could forge log lines; never a counter, which would tell anyone
// reading X-Request-Id how much traffic the site has).
func (app *application) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := rand.Text()[:16] // 80 random bits: unique enough for log lines
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDContextKey, id)))
	})
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDContextKey).(string)
	return id
}

// clientIP decides, once per request, which address is the client: the
// socket's peer, or, when the peer is one of TRUSTED_PROXIES, the
// right-most X-Forwarded-For entry that is not itself a trusted proxy.
// chi's RealIP would believe any client, and chi's ClientIPFromXFF drops
// entries with a port ("198.51.100.9:5555", "[2001:db8::1]:443"), which
// some proxies send; both forms are accepted here.
func (app *application) clientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), app.proxies)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPContextKey, ip)))
	})
}

// clientAddr returns the client's address for a request from remoteAddr
// carrying the X-Forwarded-For header values xff. An entry that does not
// parse stops the walk: what lies left of it cannot be trusted, so the
// client is then the last trusted hop (at worst the proxy itself).
func clientAddr(remoteAddr string, xff []string, trusted []netip.Prefix) netip.Addr {
	client, ok := parseAddr(remoteAddr)
	if !ok || !inPrefixes(client, trusted) {
		return client
	}
	for i := len(xff) - 1; i >= 0; i-- {
		entries := strings.Split(xff[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			addr, ok := parseAddr(entries[j])
			if !ok {
				return client
			}
			client = addr
			if !inPrefixes(addr, trusted) {
				return client
			}
		}
	}
	return client
}

// parseAddr parses an address as found in RemoteAddr or X-Forwarded-For:
// "198.51.100.9", "198.51.100.9:5555", "2001:db8::1", "[2001:db8::1]" or
// "[2001:db8::1]:443". IPv4-mapped IPv6 addresses become IPv4 and zones are
// dropped, so that one client always has one key.
func parseAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		switch {
		case perr == nil:
			addr = ap.Addr()
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
			if addr, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}, false
			}
		default:
			return netip.Addr{}, false
		}
	}
	return addr.Unmap().WithZone(""), true
}

func inPrefixes(addr netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// clientAddrFrom returns the client address clientIP decided; the zero
// Addr if the peer address did not parse (never the case with net/http).
func clientAddrFrom(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(clientIPContextKey).(netip.Addr)
	return ip
}

// client describes the request's origin for auth: IP and user agent.
func (app *application) client(r *http.Request) auth.Client {
	ip := ""
	if addr := clientAddrFrom(r.Context()); addr.IsValid() {
		ip = addr.String()
	}
	return auth.Client{IP: ip, UserAgent: truncate(r.UserAgent(), maxUserAgent)}
}

// Values a client chooses are cut to these lengths before they are logged
// or stored: a request may carry kilobytes in each, and log lines (and the
// session list, for the user agent) would grow with them.
const (
	maxLoggedValue = 256
	maxUserAgent   = 512
)

// truncate cuts s to at most n bytes, at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// metricsMethod is the method label of the request metrics: one of a fixed
// set, because any token is a valid method for net/http, and a label value
// per method a client invents would grow memory without bound.
func metricsMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost:
		return m
	}
	return "OTHER"
}

// logRequest logs one line per request (never cookies, tokens or bodies;
// client-chosen values truncated) and records the request metrics by chi
// route pattern, labels taken from fixed sets only.
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
		// The pattern is one of the routes in routes.go, never the raw path.
		route := "unmatched"
		if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
			route = rctx.RoutePattern()
		}
		app.metrics.ObserveRequest(route, metricsMethod(r.Method), status, d)
		app.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", truncate(r.Method, maxLoggedValue)),
			slog.String("route", route),
			slog.String("path", truncate(r.URL.Path, maxLoggedValue)),
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
			slog.String("method", truncate(r.Method, maxLoggedValue)),
			slog.String("path", truncate(r.URL.Path, maxLoggedValue)),
			slog.String("origin", truncate(r.Header.Get("Origin"), maxLoggedValue)),
			slog.String("request_id", requestIDFrom(r.Context())))
		app.errorPage(w, r, http.StatusForbidden)
	}))
	return cop.Handler(next)
}

// guardWriter sits under SCS's LoadAndSave. When loading or saving the
// session fails, SCS hands the error to this writer (an
// auth.StoreErrorWriter), which writes a 503 page; the handler's own
// response, written after a failed save, must then be dropped.
type guardWriter struct {
	http.ResponseWriter
	app    *application
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

// StoreError answers a session store failure with the 503 page instead of
// SCS's bare 500.
func (g *guardWriter) StoreError(r *http.Request, err error) {
	g.app.logError(r, fmt.Errorf("session store: %w", err))
	// Headers the handler set for its own response (a redirect's Location,
	// the session cookie) must not ride on the error page.
	h := g.Header()
	h.Del("Location")
	h.Del("Set-Cookie")
	h.Set("Retry-After", "5")
	g.app.errorPage(g, r, http.StatusServiceUnavailable)
	g.failed = true
}

// loadSession is SCS's LoadAndSave, with store failures answered by the
// guardWriter.
func (app *application) loadSession(next http.Handler) http.Handler {
	h := app.sessions.LoadAndSave(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&guardWriter{ResponseWriter: w, app: app}, r)
	})
}

// authenticate loads the signed-in user, if any, for this request. A
// session whose user no longer exists, was locked by an operator, or that a
// password change or "end all sessions" ended (its generation is old), is
// ended: the account is read on every request, so a lock or a revocation
// takes effect on every instance at the next request, even for a session
// the registry lost.
//
// Every response to a signed-in user is marked no-store: it may show
// account data (the home page names the user), and a shared or back-button
// cache must not keep it.
func (app *application) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, ok := app.sessions.UserID(r.Context())
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		user, err := app.auth.User(r.Context(), uid)
		switch {
		case errors.Is(err, auth.ErrUserNotFound), err == nil && user.Locked():
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
