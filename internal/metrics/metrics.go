// Package metrics defines the service's Prometheus metrics: HTTP requests by
// route pattern, authentication events, session store operations and the
// SQL connection pool, next to the Go runtime and process collectors; other
// packages' collectors are added with Register.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Metrics holds the service's collectors, registered on its own registry
// (no global state, so tests can build many).
type Metrics struct {
	registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authEvents   *prometheus.CounterVec
	storeOps     *prometheus.CounterVec
	storeErrors  *prometheus.CounterVec
	storeLatency *prometheus.HistogramVec
}

// New returns Metrics with the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by chi route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by chi route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		authEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_events_total",
			Help: "Authentication events: signup, login_success, login_failure, login_throttled, logout, session_revoked, password_changed, account_deleted, password_reset, email_verified, email_changed.",
		}, []string{"event"}),
		storeOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "session_store_operations_total",
			Help: "Session store operations by kind.",
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "session_store_errors_total",
			Help: "Session store operations that failed, by kind.",
		}, []string{"op"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "session_store_operation_duration_seconds",
			Help:    "Session store operation latency by kind.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5, 1},
		}, []string{"op"}),
	}
	reg.MustRegister(m.requests, m.duration, m.authEvents, m.storeOps, m.storeErrors, m.storeLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every event appears from the start, at zero, so rates work at once.
	for _, e := range []auth.EventKind{auth.EventSignup, auth.EventLoginSuccess, auth.EventLoginFailure,
		auth.EventLoginThrottled, auth.EventLogout, auth.EventSessionRevoked, auth.EventPasswordChanged, auth.EventAccountDeleted,
		auth.EventPasswordReset, auth.EventEmailVerified, auth.EventEmailChanged} {
		m.authEvents.WithLabelValues(string(e))
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// ObserveRequest records one HTTP request. route is the chi pattern, never
// the raw path, so label cardinality stays bounded.
func (m *Metrics) ObserveRequest(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// Record counts an authentication event (it is an auth.Auditor).
func (m *Metrics) Record(_ context.Context, e auth.Event) {
	m.authEvents.WithLabelValues(string(e.Kind)).Inc()
}

// ObserveStoreOp records a session store operation (a sessionstore.Observer).
func (m *Metrics) ObserveStoreOp(op string, d time.Duration, err error) {
	m.storeOps.WithLabelValues(op).Inc()
	m.storeLatency.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// WatchDB exports the SQL pool's statistics.
func (m *Metrics) WatchDB(db *sql.DB, name string) {
	m.registry.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// Register adds a collector that another package owns (the Redis pool's
// statistics live with the Redis code, the outbox's with the mail sender).
func (m *Metrics) Register(c prometheus.Collector) {
	m.registry.MustRegister(c)
}
