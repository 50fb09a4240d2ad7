package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/app"
	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/metrics"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
	"github.com/sessionlogin/sessionlogin/internal/storage"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
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
		s.registry = memstate.NewRegistry()
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
		backend = redisstate.NewSessionBackend(sh.pool, sh.prefix)
		registry = redisstate.NewRegistry(sh.pool, sh.prefix)
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
	sessions := auth.NewSessions(store, registry, audit, auth.SessionConfig{
		CookieName: "sid", Secure: true, Lifetime: o.lifetime, RememberLifetime: o.rememberLifetime,
		Codec: sessionstore.Codec{}, TouchInterval: o.touchInterval,
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

// client is a browser-like HTTP client with its own cookie handling (so
// Secure cookies work over the plain-HTTP test server) that never follows
// redirects, so tests see every 303.
type client struct {
	t       *testing.T
	http    *http.Client
	mu      sync.Mutex
	cookies map[string]*http.Cookie
	header  http.Header // extra headers on every request
}

func newClient(t *testing.T) *client {
	return &client{
		t: t,
		http: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       10 * time.Second,
		},
		cookies: map[string]*http.Cookie{},
		header:  http.Header{},
	}
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	Body string
}

// Doc parses the body as HTML.
func (r *response) Doc(t *testing.T) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// Cookie returns the Set-Cookie of name in this response, or nil.
func (r *response) Cookie(name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (c *client) do(req *http.Request) *response {
	c.t.Helper()
	c.mu.Lock()
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	c.mu.Unlock()
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	c.mu.Lock()
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	c.mu.Unlock()
	return &response{Response: res, Body: string(body)}
}

func (c *client) get(u string) *response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

func (c *client) post(u string, form url.Values) *response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewBufferString(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// cookie returns the value of the client's cookie name ("" if none).
func (c *client) cookie(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ck, ok := c.cookies[name]; ok {
		return ck.Value
	}
	return ""
}

// setCookie sets (or, with value "", removes) a cookie, as an attacker or a
// replayed request would.
func (c *client) setCookie(name, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if value == "" {
		delete(c.cookies, name)
		return
	}
	c.cookies[name] = &http.Cookie{Name: name, Value: value}
}

const testPassword = "correct horse battery staple"

// signup creates an account through the form and checks the 303.
func (c *client) signup(base, email, password string) {
	c.t.Helper()
	res := c.post(base+"/signup", url.Values{"email": {email}, "password": {password}})
	wantRedirect(c.t, res, "/account")
}

// login signs in through the form and checks the 303.
func (c *client) login(base, email, password string, remember bool) *response {
	c.t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	if remember {
		form.Set("remember", "on")
	}
	res := c.post(base+"/login", form)
	wantRedirect(c.t, res, "/account")
	return res
}

func wantStatus(t *testing.T, res *response, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s %s: got status %d, want %d; body:\n%.600s", res.Request.Method, res.Request.URL.Path, res.StatusCode, want, res.Body)
	}
}

func wantRedirect(t *testing.T, res *response, location string) {
	t.Helper()
	wantStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != location {
		t.Fatalf("%s %s: got Location %q, want %q", res.Request.Method, res.Request.URL.Path, got, location)
	}
}

// signedInAs returns the email shown on /account, or "" when /account
// redirects to the login page.
func (c *client) signedInAs(base string) string {
	c.t.Helper()
	res := c.get(base + "/account")
	if res.StatusCode == http.StatusSeeOther {
		return ""
	}
	wantStatus(c.t, res, http.StatusOK)
	return strings.TrimSpace(res.Doc(c.t).Find("#profile-heading ~ p strong").First().Text())
}

// send makes a request with extra headers (h may be nil); body may be nil.
func (c *client) send(method, u string, body io.Reader, h http.Header) *response {
	c.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	return c.do(req)
}

// postWith posts form with extra headers, e.g. Origin or Sec-Fetch-Site.
func (c *client) postWith(u string, form url.Values, h http.Header) *response {
	c.t.Helper()
	hh := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for k, vs := range h {
		hh[k] = vs
	}
	return c.send(http.MethodPost, u, strings.NewReader(form.Encode()), hh)
}

// withToken returns a fresh client holding only the session token, as a
// thief replaying a stolen cookie would.
func withToken(t *testing.T, token string) *client {
	t.Helper()
	c := newClient(t)
	c.setCookie("sid", token)
	return c
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
	found, err := sh.memory.Exists(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return found[0]
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

// syncBuffer is a log destination that tests may read while the server
// writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
