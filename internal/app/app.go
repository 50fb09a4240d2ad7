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
	Metrics  *metrics.Metrics
	// Recovery is account recovery by email: password reset, address
	// verification and change, new-device notices.
	Recovery *auth.Recovery
	// Trail is the durable audit log that /account/activity reads.
	Trail *auth.AuditTrail
	// Factors is the second-factor logic: authenticator apps, recovery
	// codes, passkeys.
	Factors *auth.Factors
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// MetricsAllow are the networks whose clients (as decided after
	// TrustedProxies) may read /metrics; everyone else gets a 404.
	MetricsAllow []netip.Prefix
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
	recovery  *auth.Recovery
	factors   *auth.Factors
	metrics   *metrics.Metrics
	proxies   []netip.Prefix
	metricsOK []netip.Prefix
	trail     *auth.AuditTrail
	secure    bool
	checks    []Check
	templates map[string]*template.Template
	router    *chi.Mux
}

// New returns the service's HTTP handler. It parses every template first,
// so a broken template fails start-up rather than a request.
func New(cfg Config) (http.Handler, error) {
	if cfg.Logger == nil || cfg.Auth == nil || cfg.Sessions == nil || cfg.Metrics == nil || cfg.Recovery == nil || cfg.Trail == nil || cfg.Factors == nil {
		return nil, fmt.Errorf("app: Logger, Auth, Sessions, Metrics, Recovery, Trail and Factors are required")
	}
	templates, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	app := &application{
		log:       cfg.Logger,
		auth:      cfg.Auth,
		sessions:  cfg.Sessions,
		recovery:  cfg.Recovery,
		factors:   cfg.Factors,
		metrics:   cfg.Metrics,
		proxies:   cfg.TrustedProxies,
		metricsOK: cfg.MetricsAllow,
		trail:     cfg.Trail,
		secure:    cfg.SecureCookies,
		checks:    cfg.Checks,
		templates: templates,
	}
	app.router = app.routes()
	return app.router, nil
}
