package server_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/secretkey"
	"github.com/sessionlogin/sessionlogin/internal/server"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

// config is a small working configuration on a fresh SQLite file.
func config(t *testing.T, store string) server.Config {
	cfg := server.Config{
		DatabaseURL:        "sqlite:" + filepath.Join(t.TempDir(), "app.db"),
		SessionStore:       store,
		CookieName:         "sid",
		IdleTimeout:        30 * time.Minute,
		Lifetime:           12 * time.Hour,
		RememberLifetime:   720 * time.Hour,
		LoginMaxFailures:   5,
		SecretKey:          secretkey.Generate(),
		LoginFailureWindow: 15 * time.Minute,
		Argon2:             auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		MetricsAllow:       []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		PublicURL:          "http://localhost:4000",
	}
	if store == "redis" {
		cfg.RedisURL = testenv.RedisURL(t)
		cfg.RedisKeyPrefix = testenv.RedisPrefix(t, cfg.RedisURL)
	}
	return cfg
}

// TestNew builds the service on each store and checks that it is ready and
// exports the metrics of what it opened: the SQL pool always, the Redis
// pool (redisstate's collector) with Redis.
func TestNew(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			svc, err := server.New(t.Context(), config(t, store), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer svc.Close()
			if (svc.State.Pool != nil) != (store == "redis") {
				t.Fatalf("State.Pool = %v for the %s store", svc.State.Pool, store)
			}
			get := func(path string) (int, string) {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.RemoteAddr = "127.0.0.1:40000"
				svc.Handler.ServeHTTP(rec, req)
				b, _ := io.ReadAll(rec.Body)
				return rec.Code, string(b)
			}
			if code, body := get("/readyz"); code != http.StatusOK {
				t.Fatalf("GET /readyz: %d\n%s", code, body)
			}
			_, metrics := get("/metrics")
			wants := []string{`go_sql_open_connections{db_name="sqlite"}`}
			if store == "redis" {
				wants = append(wants, "redis_pool_active_connections")
			}
			for _, want := range wants {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

// TestNewBadDatabase checks that a database that cannot be opened is an
// error, and that what was opened is released.
func TestNewBadDatabase(t *testing.T) {
	cfg := config(t, "memory")
	cfg.DatabaseURL = "sqlite:" + filepath.Join(t.TempDir(), "missing", "dir", "\x00", "app.db")
	if _, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("New with an unusable database: got nil, want an error")
	}
}

func TestOpenStateUnknownStore(t *testing.T) {
	if _, err := server.OpenState(t.Context(), server.Config{SessionStore: "memcached"}, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("OpenState(memcached): got nil, want an error")
	}
}

// TestNewRefusesAnotherSecretKey checks that New refuses a database whose
// second factors were sealed under another SECRET_KEY, with
// auth.ErrWrongSecretKey (cmd/web exits 2 on it), and accepts the right
// key again.
func TestNewRefusesAnotherSecretKey(t *testing.T) {
	cfg := config(t, "memory")
	svc, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	svc.Close()
	other := cfg
	other.SecretKey = secretkey.Generate()
	if _, err := server.New(t.Context(), other, slog.New(slog.DiscardHandler)); !errors.Is(err, auth.ErrWrongSecretKey) {
		t.Fatalf("New with another key: got %v, want ErrWrongSecretKey", err)
	}
	svc, err = server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New with the first key again: %v", err)
	}
	svc.Close()
}
