// Package app is the HTTP side of the service: routes, handlers, middleware,
// templates, forms and error pages. It talks to accounts and sessions only
// through package auth, and never knows which session store or database is
// in use.
package app

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/go-chi/chi/v5"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/metrics"
)

// Check is a readiness check: a dependency the service cannot serve without.
type Check struct {
	Name string // shown in /readyz, e.g. "database"
	Ping func(context.Context) error
}

// Config holds everything New needs.
type Config struct {
	Logger   *slog.Logger
	Auth     *auth.Service
	Sessions *auth.Sessions
	// Factors is the second-factor logic: authenticator apps, recovery
	// codes, passkeys.
	Factors *auth.Factors
	Metrics *metrics.Metrics
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SecureCookies marks the service's own small cookies (notices) Secure,
	// like the session cookie.
	SecureCookies bool
	// Checks are run by /readyz.
	Checks []Check
}

// application holds the handlers' dependencies. Handlers are its methods,
// named resource + action (loginPost, accountView).
type application struct {
	log       *slog.Logger
	auth      *auth.Service
	sessions  *auth.Sessions
	factors   *auth.Factors
	metrics   *metrics.Metrics
	proxies   []string
	secure    bool
	checks    []Check
	templates map[string]*template.Template
	pages     *pageCache
	router    *chi.Mux
}

// New returns the service's HTTP handler. It parses every template first,
// so a broken template fails start-up rather than a request.
func New(cfg Config) (http.Handler, error) {
	if cfg.Logger == nil || cfg.Auth == nil || cfg.Sessions == nil || cfg.Factors == nil || cfg.Metrics == nil {
		return nil, fmt.Errorf("app: Logger, Auth, Sessions, Factors and Metrics are required")
	}
	templates, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	proxies := make([]string, len(cfg.TrustedProxies))
	for i, p := range cfg.TrustedProxies {
		proxies[i] = p.String()
	}
	app := &application{
		log:       cfg.Logger,
		auth:      cfg.Auth,
		sessions:  cfg.Sessions,
		factors:   cfg.Factors,
		metrics:   cfg.Metrics,
		proxies:   proxies,
		secure:    cfg.SecureCookies,
		checks:    cfg.Checks,
		templates: templates,
		pages:     newPageCache(),
	}
	app.router = app.routes()
	return app.router, nil
}
