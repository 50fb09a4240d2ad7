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

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/mail"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/server"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGINT or SIGTERM.
const shutdownTimeout = 20 * time.Second

// auditPruneInterval is how often the audit trail drops events older than
// auth.AuditRetention.
const auditPruneInterval = time.Hour

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "admin" {
		os.Exit(admin(ctx, os.Args[2:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "unknown command %q; run bin/web to serve or bin/web admin help\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(ctx, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for a configuration error (a bad variable, or a Redis too
// old to use), 1 for anything else.
func exitCode(err error) int {
	var ce *configError
	var ve *redisstate.VersionError
	if errors.As(err, &ce) || errors.As(err, &ve) {
		return 2
	}
	return 1
}

// newServer is server.New, with a SECRET_KEY that is not the key the
// database's second factors were sealed with reported as a configError
// (exit 2): starting would lock every user of an authenticator app out.
func newServer(ctx context.Context, sc server.Config, logger *slog.Logger) (*server.Server, error) {
	svc, err := server.New(ctx, sc, logger)
	if errors.Is(err, auth.ErrWrongSecretKey) {
		return nil, &configError{Var: "SECRET_KEY", Err: errors.New("not the key this database's second factors were sealed with (restore the old key)")}
	}
	return svc, err
}

// run builds the service from the environment and serves until ctx ends,
// then shuts down gracefully.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)

	key, err := cfg.secretKey(logger)
	if err != nil {
		return err
	}
	sc := cfg.server()
	sc.SecretKey = key
	svc, err := newServer(ctx, sc, logger)
	if err != nil {
		return err
	}
	defer svc.Close()

	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           svc.Handler,
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
	logger.Info("listening", "addr", ln.Addr().String(), "database", string(svc.DB.Dialect()),
		"session_store", cfg.SessionStore, "mail", cfg.Mail.String(), "public_url", cfg.PublicURL)

	// The sender outlives the server's shutdown (requests being drained
	// may still queue mail) and stops before the database closes (defers
	// run last-in first-out). Mails it has not sent stay in the outbox.
	senderCtx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		svc.Sender.Run(senderCtx)
	}()
	defer func() {
		stopSender()
		<-senderDone
	}()

	pruneCtx, stopPrune := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		svc.Trail.PruneEvery(pruneCtx, auditPruneInterval)
	}()
	// Stopped and waited for before the database closes (defers run last
	// first).
	defer func() { stopPrune(); <-pruned }()

	if cfg.Mail.Scheme == mail.SchemeLog {
		logger.Warn("MAIL_URL=log: mails, links included, are written to this log and not sent; set MAIL_URL to an SMTP server in production")
	}

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

// newLogger returns the service's logger, writing each line straight to w
// (nothing waits in memory for a crash to lose).
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
