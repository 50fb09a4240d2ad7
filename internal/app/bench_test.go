package app_test

// Benchmarks of the hot paths through the whole handler chain, wired as
// cmd/web wires it (real argon2 parameters, compact codec, default
// timeouts), and the Redis cost of a page view counted by Redis itself.
//
//	go test -run '^$' -bench . -benchmem ./internal/app/
//
// They build their own app rather than use newInstance: the harness takes a
// *testing.T and uses cheap test hashing parameters; both build the
// service with server.New.

import (
	"bufio"
	"cmp"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/secretkey"
	"github.com/sessionlogin/sessionlogin/internal/server"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

const benchEmail = "user@example.com"

// benchConfig picks what differs between benchmark apps; everything else is
// cmd/web's default configuration.
type benchConfig struct {
	store         string // "memory" or "redis"
	redisURL      string // for "redis"; a fresh key prefix is used on it
	params        auth.Argon2Params
	touchInterval time.Duration // zero: the default (one minute)
	maxSessions   int           // zero: the default (auth.DefaultMaxSessions)
	redisPrefix   string        // empty: a fresh test prefix
}

// newBenchApp builds the handler with server.New, as cmd/web does with its
// defaults. Request logs are formatted as in production but discarded.
func newBenchApp(tb testing.TB, cfg benchConfig) http.Handler {
	tb.Helper()
	sc := server.Config{
		DatabaseURL:        "sqlite:" + filepath.Join(tb.TempDir(), "app.db"),
		SessionStore:       cfg.store,
		CookieName:         "sid",
		CookieSecure:       true,
		IdleTimeout:        30 * time.Minute,
		Lifetime:           12 * time.Hour,
		RememberLifetime:   720 * time.Hour,
		TouchInterval:      cfg.touchInterval,
		LoginMaxFailures:   5,
		SecretKey:          secretkey.Generate(),
		LoginFailureWindow: 15 * time.Minute,
		Argon2:             cfg.params,
		PublicURL:          "http://localhost:4000",
		MaxSessions:        cfg.maxSessions,
		// Benchmarks sign up thousands of accounts from one address; each
		// sign-up queues a verification mail, which the mail throttle
		// would refuse after a few. It is not what they measure.
		MaxMailsPerIP: 1 << 30,
	}
	if cfg.store == "redis" {
		sc.RedisURL = cfg.redisURL
		sc.RedisKeyPrefix = cmp.Or(cfg.redisPrefix, testenv.RedisPrefix(tb, cfg.redisURL))
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, err := server.New(context.Background(), sc, logger)
	if err != nil {
		tb.Fatal(err)
	}
	// Mails are queued to the outbox; no sender runs in benchmarks.
	tb.Cleanup(svc.Close)
	return svc.Handler
}

// sinkWriter is a minimal http.ResponseWriter, so that the benchmarks
// measure the handler chain rather than a recorder.
type sinkWriter struct {
	header http.Header
	status int
	n      int
	body   []byte // kept only when keep is set
	keep   bool
}

func (w *sinkWriter) Header() http.Header { return w.header }

func (w *sinkWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *sinkWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	if w.keep {
		w.body = append(w.body, b...)
	}
	return len(b), nil
}

func newRequest(tb testing.TB, method, target, cookie string, form url.Values) *http.Request {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequest(method, "http://127.0.0.1:4000"+target, body)
	if err != nil {
		tb.Fatal(err)
	}
	r.RemoteAddr = "127.0.0.1:50000"
	r.Header.Set("User-Agent", "bench")
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return r
}

// serve runs one request through h and returns the response, body kept.
func serve(tb testing.TB, h http.Handler, r *http.Request) *sinkWriter {
	tb.Helper()
	w := &sinkWriter{header: http.Header{}, keep: true}
	h.ServeHTTP(w, r)
	return w
}

// sessionCookie returns "sid=…" from a response's Set-Cookie.
func sessionCookie(tb testing.TB, w *sinkWriter) string {
	tb.Helper()
	for _, c := range (&http.Response{Header: w.header}).Cookies() {
		if c.Name == "sid" && c.Value != "" {
			return "sid=" + c.Value
		}
	}
	tb.Fatalf("no sid cookie in %v", w.header["Set-Cookie"])
	return ""
}

// signUpAndLogIn creates the benchmark user, logs in through POST /login
// (as the load test does) and returns the session cookie after checking
// that /account shows the user.
func signUpAndLogIn(tb testing.TB, h http.Handler) string {
	tb.Helper()
	creds := url.Values{"email": {benchEmail}, "password": {webtest.Password}}
	if w := serve(tb, h, newRequest(tb, http.MethodPost, "/signup", "", creds)); w.status != http.StatusSeeOther {
		tb.Fatalf("POST /signup: got status %d, want 303; body:\n%.400s", w.status, w.body)
	}
	w := serve(tb, h, newRequest(tb, http.MethodPost, "/login", "", creds))
	if w.status != http.StatusSeeOther {
		tb.Fatalf("POST /login: got status %d, want 303", w.status)
	}
	cookie := sessionCookie(tb, w)
	w = serve(tb, h, newRequest(tb, http.MethodGet, "/account", cookie, nil))
	if w.status != http.StatusOK || !strings.Contains(string(w.body), "<strong>"+benchEmail+"</strong>") {
		tb.Fatalf("GET /account: got status %d, want 200 with %s; body:\n%.400s", w.status, benchEmail, w.body)
	}
	return cookie
}

// BenchmarkPageView is W1 without the network: GET /account with a
// signed-in session cookie, through every middleware, concurrently.
func BenchmarkPageView(b *testing.B) {
	for _, store := range stores {
		b.Run(store, func(b *testing.B) {
			cfg := benchConfig{store: store, params: testParams}
			if store == "redis" {
				cfg.redisURL = testenv.RedisURL(b)
			}
			h := newBenchApp(b, cfg)
			cookie := signUpAndLogIn(b, h)
			// Several requests per core in flight, as under wrk, so that
			// Redis round trips overlap.
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := &sinkWriter{header: http.Header{}}
				for pb.Next() {
					clear(w.header)
					w.status, w.n = 0, 0
					h.ServeHTTP(w, newRequest(b, http.MethodGet, "/account", cookie, nil))
					if w.status != http.StatusOK {
						b.Errorf("GET /account: got status %d, want 200", w.status)
						return
					}
				}
			})
		})
	}
}

// BenchmarkLogin is POST /login with the production argon2id parameters
// (auth.DefaultArgon2Params): the cost of a login is the cost of a hash.
// Each login is followed by an untimed logout, so the user's session
// registry stays small.
func BenchmarkLogin(b *testing.B) {
	h := newBenchApp(b, benchConfig{store: "memory", params: auth.DefaultArgon2Params})
	signUpAndLogIn(b, h)
	creds := url.Values{"email": {benchEmail}, "password": {webtest.Password}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := serve(b, h, newRequest(b, http.MethodPost, "/login", "", creds))
		if w.status != http.StatusSeeOther {
			b.Fatalf("POST /login: got status %d, want 303", w.status)
		}
		b.StopTimer()
		if w := serve(b, h, newRequest(b, http.MethodPost, "/logout", sessionCookie(b, w), url.Values{})); w.status != http.StatusSeeOther {
			b.Fatalf("POST /logout: got status %d, want 303", w.status)
		}
		b.StartTimer()
	}
}

// --- Redis commands per page view ------------------------------------------

// startRedis runs a private redis-server on a free loopback port for the
// test and returns its URL. Redis's INFO commandstats counts every command
// of the whole server, so counting needs a server nobody else uses.
func startRedis(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Unavailable(tb, "redis-server not installed: %v", err)
	}
	var lastErr error
	for range 3 { // a free port can be taken between the probe and the start
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		u := "redis://127.0.0.1:" + port + "/0"
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			c, err := redis.DialURL(u, redis.DialConnectTimeout(time.Second))
			if err == nil {
				_, err = c.Do("PING")
				c.Close()
			}
			if lastErr = err; err == nil {
				tb.Cleanup(func() {
					_ = cmd.Process.Kill()
					<-exited
				})
				return u
			}
			select {
			case <-exited:
				deadline = time.Time{}
			default:
			}
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	tb.Fatalf("redis-server did not start: %v", lastErr)
	return ""
}

// commandCalls returns Redis's calls per command (INFO commandstats),
// without INFO itself.
func commandCalls(tb testing.TB, redisURL string) map[string]int64 {
	tb.Helper()
	c, err := redis.DialURL(redisURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	info, err := redis.String(c.Do("INFO", "commandstats"))
	if err != nil {
		tb.Fatal(err)
	}
	calls := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		// cmdstat_get:calls=12,usec=34,usec_per_call=2.83,...
		name, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "cmdstat_"), ":calls=")
		if !ok || name == "info" {
			continue
		}
		n, err := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		if err != nil {
			tb.Fatalf("commandstats line %q: %v", sc.Text(), err)
		}
		calls[name] = n
	}
	return calls
}

// commandsPerView serves views sequential GET /account requests with cookie
// and returns the Redis commands they caused, per command, and in total.
// Commands run inside a Lua script count too (Redis counts them), so a
// script costs more than one.
func commandsPerView(tb testing.TB, h http.Handler, redisURL, cookie string, views int) (map[string]int64, int64) {
	tb.Helper()
	before := commandCalls(tb, redisURL)
	w := &sinkWriter{header: http.Header{}}
	for range views {
		clear(w.header)
		w.status, w.n = 0, 0
		h.ServeHTTP(w, newRequest(tb, http.MethodGet, "/account", cookie, nil))
		if w.status != http.StatusOK {
			tb.Fatalf("GET /account: got status %d, want 200", w.status)
		}
	}
	delta := map[string]int64{}
	var total int64
	for name, n := range commandCalls(tb, redisURL) {
		if d := n - before[name]; d != 0 {
			delta[name] = d
			total += d
		}
	}
	return delta, total
}

func formatCalls(m map[string]int64) string {
	var parts []string
	for name, n := range m {
		parts = append(parts, name+"="+strconv.FormatInt(n, 10))
	}
	return strings.Join(parts, " ")
}

// maxCommandsPerView is the budget of a page view in a steady stream of
// them: one GET, plus a little for the occasional expiry refresh and
// registry touch.
const maxCommandsPerView = 1.1

// TestPageViewRedisCommands checks the Redis budget of a page view: a
// steady stream of signed-in page views costs one command each, because
// the session's expiry is rewritten only after a tenth of the idle timeout
// and the registry is touched at most once a minute. Rewriting the session
// or touching the registry on every view would at least double it.
func TestPageViewRedisCommands(t *testing.T) {
	u := startRedis(t)
	h := newBenchApp(t, benchConfig{store: "redis", redisURL: u, params: testParams})
	cookie := signUpAndLogIn(t, h)
	const views = 200
	calls, total := commandsPerView(t, h, u, cookie, views)
	if got := float64(total) / views; got > maxCommandsPerView {
		t.Errorf("got %.2f Redis commands per page view (%s), want at most %.1f", got, formatCalls(calls), maxCommandsPerView)
	}
	if got := calls["get"]; got != views {
		t.Errorf("got %d GETs for %d page views, want one each", got, views)
	}
}

// BenchmarkPageViewRedisCommands reports Redis commands per page view
// (redis-cmds/op), counted by a private Redis's INFO commandstats:
//
//   - steady: the default configuration under a stream of views, as W1;
//   - touch-every-view: the registry touched on every view (touch interval
//     1ns), i.e. the cost of the one view per minute and session that
//     records "last seen". With one touch a minute, a session seen at
//     least once a second stays within maxCommandsPerView.
func BenchmarkPageViewRedisCommands(b *testing.B) {
	cases := []struct {
		name  string
		touch time.Duration
	}{
		{"steady", 0},
		{"touch-every-view", time.Nanosecond},
	}
	u := startRedis(b)
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := newBenchApp(b, benchConfig{store: "redis", redisURL: u, params: testParams, touchInterval: tc.touch})
			cookie := signUpAndLogIn(b, h)
			b.ResetTimer()
			calls, total := commandsPerView(b, h, u, cookie, b.N)
			b.StopTimer()
			b.ReportMetric(float64(total)/float64(b.N), "redis-cmds/op")
			b.Logf("N=%d: %s", b.N, formatCalls(calls))
		})
	}
}
