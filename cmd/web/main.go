// Command web serves the site: sign up, log in, log out and manage sessions.
// All configuration comes from environment variables (see README.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/app"
	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/metrics"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
	"github.com/sessionlogin/sessionlogin/internal/storage"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGINT or SIGTERM.
const shutdownTimeout = 20 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for a configuration error, 1 for anything else.
func exitCode(err error) int {
	var ce *configError
	if errors.As(err, &ce) {
		return 2
	}
	return 1
}

// run builds the service from the environment and serves until ctx ends,
// then shuts down gracefully.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)

	db, err := storage.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()

	m := metrics.New()
	m.WatchDB(db.SQL(), string(db.Dialect()))

	state, err := openState(cfg, m)
	if err != nil {
		return err
	}
	defer state.close()
	store := sessionstore.New(state.backend, cfg.IdleTimeout, m)

	audit := auth.Auditors{auth.NewAuditLog(logger), m}
	throttle := auth.NewThrottle(state.counter, auth.ThrottleConfig{
		MaxFailures: cfg.LoginMaxFailures,
		Window:      cfg.LoginFailureWindow,
	})
	service, err := auth.NewService(db, auth.NewHasher(auth.DefaultArgon2Params), throttle, audit)
	if err != nil {
		return err
	}
	sessions := auth.NewSessions(store, state.registry, audit, auth.SessionConfig{
		CookieName:       cfg.CookieName,
		Secure:           cfg.CookieSecure,
		Lifetime:         cfg.Lifetime,
		RememberLifetime: cfg.RememberLifetime,
		Codec:            sessionstore.Codec{},
	})
	handler, err := app.New(app.Config{
		Logger:         logger,
		Auth:           service,
		Sessions:       sessions,
		Metrics:        m,
		TrustedProxies: cfg.TrustedProxies,
		SecureCookies:  cfg.CookieSecure,
		Checks: []app.Check{
			{Name: "database", Ping: db.Ping},
			{Name: "session store", Ping: store.Ping},
		},
	})
	if err != nil {
		return err
	}

	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("listening", "addr", ln.Addr().String(), "database", string(db.Dialect()),
		"session_store", cfg.SessionStore)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
