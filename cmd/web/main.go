// Command web serves the site: sign up, log in, log out and manage sessions.
// All configuration comes from environment variables (see README.md).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
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
	logger, flushLogs := newLogger(cfg, stdout)
	defer flushLogs()

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
	service, err := auth.NewService(db, auth.NewHasher(argon2Params), throttle, audit)
	if err != nil {
		return err
	}
	sessions := auth.NewSessions(store, state.registry, db, audit, auth.SessionConfig{
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

// newLogger returns the service's logger and a function that writes out
// what it still holds (call it before exiting).
//
// Output to a file (stdout, in production) is buffered: one line per
// request would otherwise cost a write system call per request. Buffered
// lines are written every logFlushInterval, whenever logBufferSize bytes
// are waiting, right after any warning or error, and at shutdown. What a
// crash (a fatal runtime error, SIGKILL) loses is at most the last
// logFlushInterval of info and debug lines; warnings and errors are out
// before the code that logged them goes on. Other writers (tests) get every
// line at once.
func newLogger(cfg config, w io.Writer) (*slog.Logger, func()) {
	flush := func() {}
	var buffered *logBuffer
	if f, ok := w.(*os.File); ok {
		buffered = newLogBuffer(f)
		w, flush = buffered, buffered.close
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	if buffered != nil {
		h = flushOnWarn{Handler: h, buf: buffered}
	}
	return slog.New(h), flush
}

const (
	logFlushInterval = 100 * time.Millisecond
	logBufferSize    = 64 << 10
)

// logBuffer is an io.Writer that buffers for a file and writes out every
// logFlushInterval.
type logBuffer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	closed bool // after close, every write goes out at once
	stop   chan struct{}
	done   chan struct{}
}

func newLogBuffer(f *os.File) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(f, logBufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(logFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.flush()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err == nil && b.closed {
		err = b.w.Flush()
	}
	return n, err
}

func (b *logBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush()
}

// close stops the periodic flush and writes out the rest.
func (b *logBuffer) close() {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	_ = b.w.Flush()
}

// flushOnWarn writes the buffer out after every record at warning level or
// above, so that no warning or error waits in memory.
type flushOnWarn struct {
	slog.Handler
	buf *logBuffer
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.buf.flush()
	}
	return err
}

func (h flushOnWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnWarn{Handler: h.Handler.WithAttrs(attrs), buf: h.buf}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{Handler: h.Handler.WithGroup(name), buf: h.buf}
}
