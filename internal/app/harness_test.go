package app_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/mail"
	"github.com/sessionlogin/sessionlogin/internal/secretkey"
	"github.com/sessionlogin/sessionlogin/internal/server"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
	"github.com/sessionlogin/sessionlogin/internal/smtptest"
	"github.com/sessionlogin/sessionlogin/internal/storage"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// testParams are cheap argon2id parameters: tests exercise the logic, not
// the cost (the cost is measured in benchmarks).
var testParams = auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// stores lists the session back-ends every behaviour is tested on.
var stores = []string{"memory", "redis"}

// shared is state that several app instances share: one database and one
// session state (a Redis key prefix, or one in-process state, as if the
// instances were one process).
type shared struct {
	store  string
	db     *storage.DB
	state  *server.State
	prefix string           // the Redis key prefix, for "redis"
	sink   *smtptest.Server // the mail server every instance sends to
}

// options tune a test instance.
type options struct {
	idle             time.Duration
	lifetime         time.Duration
	rememberLifetime time.Duration
	maxFailures      int
	window           time.Duration
	trustedProxies   string
	// metricsAllow is METRICS_ALLOW; empty means loopback, as in cmd/web.
	metricsAllow string
	logs         io.Writer
	// params overrides testParams (the timing test needs the real cost).
	params *auth.Argon2Params
	// touchInterval is auth.SessionConfig.TouchInterval; 1ns makes every
	// authenticated request write its session.
	touchInterval time.Duration
	// wrapBackend, when set, wraps the session back-end, so that a test can
	// watch what reaches the store.
	wrapBackend func(sessionstore.Backend) sessionstore.Backend
	// wrapUsers, when set, wraps the account store, so that a test can hold
	// requests at a known point.
	wrapUsers func(auth.UserStore) auth.UserStore
	// hashSlots is how many hashes run at once (0: the default).
	hashSlots int
	// maxSignups is auth.ThrottleConfig.MaxSignups (0: no limit).
	maxSignups int
	// requireVerification is EMAIL_VERIFICATION=required; notifyNewDevice
	// is NOTIFY_NEW_DEVICE.
	requireVerification bool
	notifyNewDevice     bool
	// maxMails and maxMailsPerIP override the mail throttle's limits.
	maxMails      int
	maxMailsPerIP int
	// noSender leaves the outbox undelivered by this instance.
	noSender bool
	// mailURL sends this instance's mail elsewhere than the shared sink.
	mailURL string
	// clock, when set, is the clock of sessions and factors.
	clock *clock
	// maxSessions is auth.SessionConfig.MaxSessions.
	maxSessions int
}

// testSecretKey is the SECRET_KEY of test instances; instances on one
// shared state use the same key, as the instances of a deployment do.
var testSecretKey = secretkey.Generate()

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
	if o.metricsAllow == "" {
		o.metricsAllow = "127.0.0.0/8,::1/128"
	}
	if o.logs == nil {
		o.logs = io.Discard
	}
	if o.params == nil {
		o.params = &testParams
	}
}

// newShared opens a fresh SQLite database and the session state: for
// "redis", a fresh key prefix on TEST_REDIS_URL.
func newShared(t testing.TB, store string) *shared {
	t.Helper()
	return newSharedOn(t, store, "sqlite:"+filepath.Join(t.TempDir(), "app.db"))
}

// newSharedOn is newShared on the database of dbURL.
func newSharedOn(t testing.TB, store, dbURL string) *shared {
	t.Helper()
	db, err := storage.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := server.Config{SessionStore: store}
	if store == "redis" {
		cfg.RedisURL = testenv.RedisURL(t)
		cfg.RedisKeyPrefix = testenv.RedisPrefix(t, cfg.RedisURL)
	}
	state, err := server.OpenState(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open %s state: %v", store, err)
	}
	t.Cleanup(state.Close)
	return &shared{store: store, db: db, state: state, prefix: cfg.RedisKeyPrefix, sink: smtptest.Start(t)}
}

// instance is one running app over shared state.
type instance struct {
	*httptest.Server
	Sessions *auth.Sessions
	Auth     *auth.Service
	Sender   *mail.Sender
	Factors  *auth.Factors
}

// newInstance starts an app over sh, built by server.New as cmd/web builds
// it.
func newInstance(t testing.TB, sh *shared, o options) *instance {
	t.Helper()
	o.defaults()
	state := sh.state
	if o.wrapBackend != nil {
		wrapped := *state
		wrapped.Backend = o.wrapBackend(state.Backend)
		state = &wrapped
	}
	logger := slog.New(slog.NewTextHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := server.New(context.Background(), server.Config{
		CookieName:         "sid",
		CookieSecure:       true,
		IdleTimeout:        o.idle,
		Lifetime:           o.lifetime,
		RememberLifetime:   o.rememberLifetime,
		TouchInterval:      o.touchInterval,
		MaxSessions:        o.maxSessions,
		LoginMaxFailures:   o.maxFailures,
		LoginFailureWindow: o.window,
		SignupMaxPerIP:     o.maxSignups,
		SignupWindow:       time.Hour,
		Argon2:             *o.params,
		HashSlots:          o.hashSlots,
		SecretKey:          testSecretKey,
		WrapUsers:          o.wrapUsers,
		TrustedProxies:     prefixes(o.trustedProxies),
		MetricsAllow:       prefixes(o.metricsAllow),
		DB:                 sh.db,
		State:              state,

		PublicURL:           publicURL,
		Mail:                mustEndpoint(t, cmp.Or(o.mailURL, sh.sink.URL())),
		MailFrom:            "Sessionlogin <no-reply@example.com>",
		MailSender:          fastSender,
		NotifyNewDevice:     o.notifyNewDevice,
		RequireVerification: o.requireVerification,
		MaxMailsPerAddress:  o.maxMails,
		MaxMailsPerIP:       o.maxMailsPerIP,
		Now:                 o.clock.nowFunc(),
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if !o.noSender {
		runSender(t, svc.Sender)
	}
	t.Cleanup(svc.Close)
	srv := httptest.NewServer(svc.Handler)
	t.Cleanup(srv.Close)
	return &instance{Server: srv, Sessions: svc.Sessions, Auth: svc.Auth, Sender: svc.Sender, Factors: svc.Factors}
}

// clock is a test clock that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d.
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// nowFunc returns c.Now, or nil (the real clock) for a nil c.
func (c *clock) nowFunc() func() time.Time {
	if c == nil {
		return nil
	}
	return c.Now
}

// publicURL is PUBLIC_URL in tests: links in mails start with it, and
// tests follow them on whichever instance they choose (see follow).
const publicURL = "https://app.example"

// fastSender makes senders deliver and retry within milliseconds.
var fastSender = mail.SenderConfig{Poll: 20 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}

func mustEndpoint(t testing.TB, raw string) mail.Endpoint {
	t.Helper()
	e, err := mail.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// runSender runs s until the test ends, and checks that it stops.
func runSender(t testing.TB, s *mail.Sender) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("mail sender did not stop within 20s")
		}
	})
}

// follow turns a link from a mail into the same address on srv.
func (srv *instance) follow(t testing.TB, link string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(link, publicURL)
	if !ok || !strings.HasPrefix(rest, "/") {
		t.Fatalf("link %q does not start with PUBLIC_URL %s", link, publicURL)
	}
	return srv.URL + rest
}

// prefixes parses a comma-separated list of CIDRs.
func prefixes(list string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range strings.Split(list, ",") {
		if p != "" {
			out = append(out, netip.MustParsePrefix(p))
		}
	}
	return out
}

// withToken returns a fresh client holding only the session token, as a
// thief replaying a stolen cookie would.
func withToken(t *testing.T, token string) *webtest.Client {
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
		conn := sh.state.Pool.Get()
		defer conn.Close()
		n, err := redis.Int(conn.Do("EXISTS", sh.prefix+"s:"+key))
		if err != nil {
			t.Fatalf("EXISTS: %v", err)
		}
		return n == 1
	}
	values, err := sh.state.Backend.Values(context.Background(), key)
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
