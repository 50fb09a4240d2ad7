package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/app"
	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/metrics"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
	"github.com/sessionlogin/sessionlogin/internal/storage"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// testParams are cheap argon2id parameters: tests exercise the logic, not
// the cost (the cost is measured in benchmarks).
var testParams = auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// stores lists the session back-ends every behaviour is tested on.
var stores = []string{"memory", "redis"}

// shared is state that several app instances share: one database and, for
// Redis, one Redis prefix; for memory, one in-process state (as if the
// instances were one process).
type shared struct {
	store    string
	db       *storage.DB
	pool     *redis.Pool
	prefix   string
	memory   *memstate.SessionBackend
	registry *memstate.Registry
	counter  *memstate.Counter
}

// options tune a test instance.
type options struct {
	idle             time.Duration
	lifetime         time.Duration
	rememberLifetime time.Duration
	maxFailures      int
	window           time.Duration
	trustedProxies   string
	logs             io.Writer
	// params overrides testParams (the timing test needs the real cost).
	params *auth.Argon2Params
	// touchInterval is auth.SessionConfig.TouchInterval; 1ns makes every
	// authenticated request write its session.
	touchInterval time.Duration
	// wrapBackend, when set, wraps the session back-end, so that a test can
	// watch what reaches the store.
	wrapBackend func(sessionstore.Backend) sessionstore.Backend
	// maxSessions is auth.SessionConfig.MaxSessions.
	maxSessions int
}

func (o *options) defaults() {
	if o.idle == 0 {
		o.idle = 30 * time.Minute
	}
	if o.lifetime == 0 {
		o.lifetime = 12 * time.Hour
	}
	if o.rememberLifetime == 0 {
		o.rememberLifetime = 720 * time.Hour
	}
	if o.maxFailures == 0 {
		o.maxFailures = 5
	}
	if o.window == 0 {
		o.window = 15 * time.Minute
	}
	if o.logs == nil {
		o.logs = io.Discard
	}
	if o.params == nil {
		o.params = &testParams
	}
}

// newShared opens a fresh SQLite database and, for "redis", a fresh key
// prefix on TEST_REDIS_URL.
func newShared(t testing.TB, store string) *shared {
	t.Helper()
	db, err := storage.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	s := &shared{store: store, db: db}
	switch store {
	case "redis":
		u := testenv.RedisURL(t)
		pool, err := redisstate.NewPool(u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close() })
		s.pool = pool
		s.prefix = testenv.RedisPrefix(t, u)
	default:
		s.memory = memstate.NewSessionBackend()
		t.Cleanup(s.memory.Close)
		s.registry = memstate.NewRegistry(s.memory, sessionstore.TombstoneTTL)
		s.counter = memstate.NewCounter(1000)
	}
	return s
}

// instance is one running app over shared state.
type instance struct {
	*httptest.Server
	Sessions *auth.Sessions
	Auth     *auth.Service
}

// newInstance starts an app over sh, as cmd/web wires it.
func newInstance(t testing.TB, sh *shared, o options) *instance {
	t.Helper()
	o.defaults()
	var (
		backend  sessionstore.Backend
		registry auth.Registry
		counter  auth.Counter
	)
	if sh.store == "redis" {
		b := redisstate.NewSessionBackend(sh.pool, sh.prefix)
		backend, registry = b, redisstate.NewRegistry(b, sessionstore.TombstoneTTL)
		counter = redisstate.NewCounter(sh.pool, sh.prefix)
	} else {
		backend, registry, counter = sh.memory, sh.registry, sh.counter
	}
	if o.wrapBackend != nil {
		backend = o.wrapBackend(backend)
	}
	m := metrics.New()
	logger := slog.New(slog.NewTextHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := sessionstore.New(backend, o.idle, m)
	audit := auth.Auditors{auth.NewAuditLog(logger), m}
	svc, err := auth.NewService(sh.db, auth.NewHasher(*o.params),
		auth.NewThrottle(counter, auth.ThrottleConfig{MaxFailures: o.maxFailures, Window: o.window}), audit)
	if err != nil {
		t.Fatal(err)
	}
	sessions := auth.NewSessions(store, registry, sh.db, audit, auth.SessionConfig{
		CookieName: "sid", Secure: true, Lifetime: o.lifetime, RememberLifetime: o.rememberLifetime,
		Codec: sessionstore.Codec{}, TouchInterval: o.touchInterval, MaxSessions: o.maxSessions,
	})
	var proxies []netip.Prefix
	for _, p := range strings.Split(o.trustedProxies, ",") {
		if p != "" {
			proxies = append(proxies, netip.MustParsePrefix(p))
		}
	}
	h, err := app.New(app.Config{
		Logger: logger, Auth: svc, Sessions: sessions, Metrics: m, TrustedProxies: proxies,
		SecureCookies: true,
		Checks:        []app.Check{{Name: "database", Ping: sh.db.Ping}, {Name: "session store", Ping: store.Ping}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &instance{Server: srv, Sessions: sessions, Auth: svc}
}

// The HTTP client and assertions are shared with cmd/web's tests.
type (
	client   = webtest.Client
	response = webtest.Response
)

var (
	newClient    = webtest.NewClient
	wantStatus   = webtest.WantStatus
	wantRedirect = webtest.WantRedirect
)

const testPassword = webtest.Password

// withToken returns a fresh client holding only the session token, as a
// thief replaying a stolen cookie would.
func withToken(t *testing.T, token string) *client {
	return webtest.WithToken(t, "sid", token)
}

// storeKey is the key a session token has in the store: SCS hashes tokens
// (HashTokenInStore), base64url(sha256(token)).
func storeKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sessionStored reports whether the session of token exists in the store,
// asking the back-end directly (EXISTS in Redis), not through the app.
func (sh *shared) sessionStored(t *testing.T, token string) bool {
	t.Helper()
	key := storeKey(token)
	if sh.store == "redis" {
		conn := sh.pool.Get()
		defer conn.Close()
		n, err := redis.Int(conn.Do("EXISTS", sh.prefix+"s:"+key))
		if err != nil {
			t.Fatalf("EXISTS: %v", err)
		}
		return n == 1
	}
	values, err := sh.memory.Values(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return values[0] != nil
}

// userID returns the id of the account with email.
func (sh *shared) userID(t *testing.T, email string) int64 {
	t.Helper()
	u, err := sh.db.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u.ID
}

type syncBuffer = webtest.SyncBuffer
