package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/mail"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/secretkey"
	"github.com/sessionlogin/sessionlogin/internal/storage"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

// envOf returns a getenv over vars.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestParseConfigDefaults checks that an empty environment gives the
// contract's defaults.
func TestParseConfigDefaults(t *testing.T) {
	got, err := parseConfig(envOf(nil))
	if err != nil {
		t.Fatalf("parseConfig(empty): %v", err)
	}
	want := config{
		Addr:               ":4000",
		DatabaseURL:        "sqlite:data/app.db",
		SessionStore:       "memory",
		RedisURL:           "redis://127.0.0.1:6379/0",
		RedisKeyPrefix:     "sl:",
		CookieName:         "sid",
		IdleTimeout:        30 * time.Minute,
		Lifetime:           12 * time.Hour,
		RememberLifetime:   720 * time.Hour,
		LoginMaxFailures:   5,
		LoginFailureWindow: 15 * time.Minute,
		SignupMaxPerIP:     10,
		SignupWindow:       time.Hour,
		CookieSecure:       true,
		TrustedProxies:     nil,
		MetricsAllow:       []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		LogLevel:           slog.LevelInfo,
		LogFormat:          "text",
		PublicURL:          "http://localhost:4000",
		Mail:               mail.Endpoint{Scheme: mail.SchemeLog},
		MailFrom:           `"Sessionlogin" <no-reply@localhost>`,
		NotifyNewDevice:    true,
		EmailVerification:  "optional",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults:\ngot  %+v\nwant %+v", got, want)
	}
}

// TestParseConfigValues checks that good values are taken as given.
func TestParseConfigValues(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(config) (got, want any)
	}{
		{"ADDR host:port", map[string]string{"ADDR": "127.0.0.1:8080"},
			func(c config) (any, any) { return c.Addr, "127.0.0.1:8080" }},
		{"DATABASE_URL postgres", map[string]string{"DATABASE_URL": "postgres://u@db:5432/app?sslmode=disable"},
			func(c config) (any, any) { return c.DatabaseURL, "postgres://u@db:5432/app?sslmode=disable" }},
		{"SESSION_STORE redis", map[string]string{"SESSION_STORE": "redis"},
			func(c config) (any, any) { return c.SessionStore, "redis" }},
		{"REDIS_URL", map[string]string{"REDIS_URL": "redis://:pw@cache:6380/3"},
			func(c config) (any, any) { return c.RedisURL, "redis://:pw@cache:6380/3" }},
		{"REDIS_URL sentinel", map[string]string{"REDIS_URL": "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379,[fd00::3]/mymaster/2"},
			func(c config) (any, any) {
				return c.RedisURL, "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379,[fd00::3]/mymaster/2"
			}},
		{"PUBLIC_URL origin", map[string]string{"PUBLIC_URL": "https://login.example.com/"},
			func(c config) (any, any) { return c.PublicURL, "https://login.example.com" }},
		{"PUBLIC_URL with port", map[string]string{"PUBLIC_URL": "http://localhost:8080"},
			func(c config) (any, any) { return c.PublicURL, "http://localhost:8080" }},
		{"REDIS_KEY_PREFIX", map[string]string{"REDIS_KEY_PREFIX": "app1:"},
			func(c config) (any, any) { return c.RedisKeyPrefix, "app1:" }},
		{"SESSION_COOKIE_NAME", map[string]string{"SESSION_COOKIE_NAME": "__Host-sid"},
			func(c config) (any, any) { return c.CookieName, "__Host-sid" }},
		{"SESSION_IDLE_TIMEOUT", map[string]string{"SESSION_IDLE_TIMEOUT": "90s"},
			func(c config) (any, any) { return c.IdleTimeout, 90 * time.Second }},
		{"SESSION_LIFETIME", map[string]string{"SESSION_LIFETIME": "2h30m"},
			func(c config) (any, any) { return c.Lifetime, 150 * time.Minute }},
		{"REMEMBER_ME_LIFETIME", map[string]string{"REMEMBER_ME_LIFETIME": "24h"},
			func(c config) (any, any) { return c.RememberLifetime, 24 * time.Hour }},
		{"LOGIN_MAX_FAILURES", map[string]string{"LOGIN_MAX_FAILURES": "10"},
			func(c config) (any, any) { return c.LoginMaxFailures, 10 }},
		{"LOGIN_FAILURE_WINDOW", map[string]string{"LOGIN_FAILURE_WINDOW": "1h"},
			func(c config) (any, any) { return c.LoginFailureWindow, time.Hour }},
		{"SIGNUP_MAX_PER_IP default", nil,
			func(c config) (any, any) { return c.SignupMaxPerIP, 10 }},
		{"SIGNUP_MAX_PER_IP", map[string]string{"SIGNUP_MAX_PER_IP": "3"},
			func(c config) (any, any) { return c.SignupMaxPerIP, 3 }},
		{"SIGNUP_WINDOW default", nil,
			func(c config) (any, any) { return c.SignupWindow, time.Hour }},
		{"SIGNUP_WINDOW", map[string]string{"SIGNUP_WINDOW": "24h"},
			func(c config) (any, any) { return c.SignupWindow, 24 * time.Hour }},
		{"COOKIE_SECURE false", map[string]string{"COOKIE_SECURE": "false"},
			func(c config) (any, any) { return c.CookieSecure, false }},
		{"TRUSTED_PROXIES CIDRs and an address", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 ,fd00::/8"},
			func(c config) (any, any) {
				return c.TrustedProxies, []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"),
					netip.MustParsePrefix("192.168.1.7/32"),
					netip.MustParsePrefix("fd00::/8"),
				}
			}},
		{"METRICS_ALLOW a network and an address", map[string]string{"METRICS_ALLOW": "10.1.0.0/16,2001:db8::7"},
			func(c config) (any, any) {
				return c.MetricsAllow, []netip.Prefix{
					netip.MustParsePrefix("10.1.0.0/16"),
					netip.MustParsePrefix("2001:db8::7/128"),
				}
			}},
		{"LOG_LEVEL debug", map[string]string{"LOG_LEVEL": "debug"},
			func(c config) (any, any) { return c.LogLevel, slog.LevelDebug }},
		{"LOG_LEVEL ERROR", map[string]string{"LOG_LEVEL": "ERROR"},
			func(c config) (any, any) { return c.LogLevel, slog.LevelError }},
		{"LOG_FORMAT json", map[string]string{"LOG_FORMAT": "json"},
			func(c config) (any, any) { return c.LogFormat, "json" }},
		{"PUBLIC_URL https with port, trailing slash", map[string]string{"PUBLIC_URL": "https://login.example.com:8443/"},
			func(c config) (any, any) { return c.PublicURL, "https://login.example.com:8443" }},
		{"MAIL_URL smtp with credentials", map[string]string{"MAIL_URL": "smtp://ann:s%40cret@mail.example.com:2525"},
			func(c config) (any, any) {
				return c.Mail, mail.Endpoint{Scheme: mail.SchemeSMTP, Host: "mail.example.com", Port: 2525, Username: "ann", Password: "s@cret"}
			}},
		{"MAIL_URL smtps default port", map[string]string{"MAIL_URL": "smtps://mail.example.com"},
			func(c config) (any, any) {
				return c.Mail, mail.Endpoint{Scheme: mail.SchemeSMTPS, Host: "mail.example.com", Port: 465}
			}},
		{"MAIL_FROM bare address", map[string]string{"MAIL_FROM": "accounts@example.com"},
			func(c config) (any, any) { return c.MailFrom, "<accounts@example.com>" }},
		{"NOTIFY_NEW_DEVICE false", map[string]string{"NOTIFY_NEW_DEVICE": "false"},
			func(c config) (any, any) { return c.NotifyNewDevice, false }},
		{"EMAIL_VERIFICATION required", map[string]string{"EMAIL_VERIFICATION": "required"},
			func(c config) (any, any) { return c.EmailVerification, "required" }},
		{"surrounding spaces ignored", map[string]string{"SESSION_STORE": " redis "},
			func(c config) (any, any) { return c.SessionStore, "redis" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(envOf(tt.env))
			if err != nil {
				t.Fatalf("parseConfig(%v): %v", tt.env, err)
			}
			if got, want := tt.check(cfg); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

// badValues lists, per variable, values that must stop start-up.
var badValues = []struct {
	name, value string
}{
	{"ADDR", "4000"},
	{"SECRET_KEY", "not-base64!"},
	{"SECRET_KEY", "c2hvcnQ="},
	{"ADDR", ":99999"},
	{"ADDR", ":http-alt"},
	{"ADDR", "localhost"},
	{"DATABASE_URL", "mysql://db/app"},
	{"DATABASE_URL", "postgres://%zz/app"},
	{"DATABASE_URL", "postgres:///app"},
	{"DATABASE_URL", "sqlite:"},
	{"DATABASE_URL", "sqlite::memory:"},
	{"DATABASE_URL", "data/app.db"},
	{"SESSION_STORE", "bogus"},
	{"SESSION_STORE", "Redis"},
	{"SESSION_STORE", "memcached"},
	{"REDIS_URL", "http://127.0.0.1:6379"},
	{"REDIS_URL", "redis://%zz"},
	{"REDIS_URL", "redis://"},
	{"REDIS_URL", "127.0.0.1:6379"},
	{"REDIS_URL", "redis://127.0.0.1:6379/zero"},
	{"REDIS_URL", "localhost"},
	{"REDIS_URL", "unix:///tmp/redis.sock"},
	{"REDIS_URL", "redis:///0"},
	{"REDIS_URL", "redis://127.0.0 .1:6379"},
	{"REDIS_URL", "redis+sentinel://10.0.0.1:26379"},
	{"REDIS_URL", "redis+sentinel://10.0.0.1:26379/"},
	{"REDIS_URL", "redis+sentinel:///mymaster"},
	{"REDIS_URL", "redis+sentinel://10.0.0.1:26379/mymaster/zero"},
	{"REDIS_URL", "redis+sentinel://10.0.0.1:99999/mymaster"},
	{"REDIS_URL", "redis+sentinel://a:1,,b:2/mymaster"},
	{"REDIS_URL", "redis+sentinel://pw@10.0.0.1:26379/mymaster"},
	{"REDIS_URL", "redis+sentinel:10.0.0.1:26379/mymaster"},
	{"SESSION_COOKIE_NAME", "my sid"},
	{"SESSION_COOKIE_NAME", "sid;"},
	{"SESSION_COOKIE_NAME", "s=d"},
	{"SESSION_COOKIE_NAME", "sïd"},
	{"SESSION_IDLE_TIMEOUT", "30"},
	{"SESSION_IDLE_TIMEOUT", "half an hour"},
	{"SESSION_IDLE_TIMEOUT", "0"},
	{"SESSION_IDLE_TIMEOUT", "-5m"},
	{"SESSION_LIFETIME", "12"},
	{"SESSION_LIFETIME", "1d"},
	{"SESSION_LIFETIME", "-1h"},
	{"REMEMBER_ME_LIFETIME", "30 days"},
	{"REMEMBER_ME_LIFETIME", "0s"},
	{"LOGIN_FAILURE_WINDOW", "15"},
	{"LOGIN_FAILURE_WINDOW", "-15m"},
	{"LOGIN_MAX_FAILURES", "0"},
	{"LOGIN_MAX_FAILURES", "-1"},
	{"LOGIN_MAX_FAILURES", "five"},
	{"LOGIN_MAX_FAILURES", "2.5"},
	{"LOGIN_MAX_FAILURES", "99999999999999999999"},
	{"SIGNUP_MAX_PER_IP", "0"},
	{"SIGNUP_MAX_PER_IP", "ten"},
	{"SIGNUP_MAX_PER_IP", "-3"},
	{"SIGNUP_WINDOW", "60"},
	{"SIGNUP_WINDOW", "0s"},
	{"SIGNUP_WINDOW", "an hour"},
	{"COOKIE_SECURE", "maybe"},
	{"COOKIE_SECURE", "yes"},
	{"TRUSTED_PROXIES", "10.0.0.0/33"},
	{"TRUSTED_PROXIES", "proxy.internal"},
	{"TRUSTED_PROXIES", "10.0.0.0/8,bad"},
	{"METRICS_ALLOW", "everyone"},
	{"METRICS_ALLOW", "127.0.0.0/8,10.0.0.0/40"},
	{"METRICS_ALLOW", "0.0.0.0/-1"},
	{"LOG_LEVEL", "verbose"},
	{"LOG_LEVEL", "trace"},
	{"LOG_FORMAT", "xml"},
	{"LOG_FORMAT", "JSON "},
	{"PUBLIC_URL", "localhost:4000"},
	{"PUBLIC_URL", "ftp://example.com"},
	{"PUBLIC_URL", "https://"},
	{"PUBLIC_URL", "https://example.com/app"},
	{"PUBLIC_URL", "https://example.com/?x=1"},
	{"PUBLIC_URL", "https://user@example.com"},
	{"MAIL_URL", "smtp://"},
	{"MAIL_URL", "http://mail.example.com"},
	{"MAIL_URL", "smtp://mail.example.com:0"},
	{"MAIL_URL", "smtp://mail.example.com:25/x"},
	{"MAIL_URL", "mail.example.com:25"},
	{"MAIL_URL", "logs"},
	{"MAIL_FROM", "not an address"},
	{"MAIL_FROM", "Name <>"},
	{"NOTIFY_NEW_DEVICE", "sometimes"},
	{"EMAIL_VERIFICATION", "mandatory"},
	{"EMAIL_VERIFICATION", "Required"},
	{"PUBLIC_URL", "https://example.com:99999"},
	{"PUBLIC_URL", "http://127.0.0.1:8080"},
	{"PUBLIC_URL", "https://[2001:db8::1]"},
}

// TestParseConfigBadValues checks that each bad value is refused with a
// *configError naming its variable on one line, which main turns into
// exit status 2.
func TestParseConfigBadValues(t *testing.T) {
	for _, tt := range badValues {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := parseConfig(envOf(map[string]string{tt.name: tt.value}))
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("got error %v (%T), want a *configError", err, err)
			}
			if ce.Var != tt.name {
				t.Errorf("got Var %q, want %q", ce.Var, tt.name)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.name) || strings.Contains(msg, "\n") {
				t.Errorf("got message %q, want one line naming %s", msg, tt.name)
			}
			if got := exitCode(err); got != 2 {
				t.Errorf("got exit code %d, want 2", got)
			}
		})
	}
}

// TestParseConfigFirstBadValue checks that with several bad values the
// error names one of them, not a variable that is fine.
func TestParseConfigFirstBadValue(t *testing.T) {
	_, err := parseConfig(envOf(map[string]string{"SESSION_STORE": "bogus", "LOG_FORMAT": "xml"}))
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("got error %v, want a *configError", err)
	}
	if ce.Var != "SESSION_STORE" && ce.Var != "LOG_FORMAT" {
		t.Fatalf("got Var %q, want SESSION_STORE or LOG_FORMAT", ce.Var)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"config error", &configError{Var: "ADDR", Err: errors.New("bad")}, 2},
		{"wrapped config error", fmt.Errorf("start: %w", &configError{Var: "ADDR", Err: errors.New("bad")}), 2},
		{"Redis too old", fmt.Errorf("start: %w", &redisstate.VersionError{Server: "Redis 6.2.14", Problem: "too old"}), 2},
		{"other error", errors.New("database: connection refused"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// TestRunBadConfigTouchesNothing checks that run refuses a bad value
// before opening anything: no database file appears.
func TestRunBadConfigTouchesNothing(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "app.db")
	var out bytes.Buffer
	err := run(context.Background(), envOf(map[string]string{
		"ADDR":          freeAddr(t),
		"DATABASE_URL":  "sqlite:" + dbPath,
		"SESSION_STORE": "bogus",
	}), &out, &out)
	var ce *configError
	if !errors.As(err, &ce) || ce.Var != "SESSION_STORE" {
		t.Fatalf("run: got %v, want a *configError for SESSION_STORE", err)
	}
	if _, err := os.Stat(dbPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("database file: got stat error %v, want it never created", err)
	}
}

// TestBinaryBadConfig builds the real binary and starts it with a bad
// value: it must exit with status 2 and exactly one line on stderr naming
// the variable.
func TestBinaryBadConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Unavailable(t, "go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "web")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = dir // if it got as far as opening data/app.db, it would be here
	cmd.Env = []string{"SESSION_STORE=bogus", "ADDR=127.0.0.1:0"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("binary with a bad SESSION_STORE still running after 30s")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("got exit %v, want exit status 2; stderr:\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "SESSION_STORE") {
		t.Fatalf("stderr: got %q, want exactly one line naming SESSION_STORE", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: got %q, want nothing", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data folder: got stat error %v, want nothing created", err)
	}
}

// FuzzParseConfig feeds arbitrary values to several variables: parseConfig
// must never panic, and either succeeds with a config that keeps every
// documented bound, or fails with a one-line *configError naming one of
// the variables.
func FuzzParseConfig(f *testing.F) {
	f.Add(":4000", "sqlite:data/app.db", "memory", "redis://127.0.0.1:6379/0", "30m", "5", "10.0.0.0/8", "sid")
	f.Add("127.0.0.1:0", "postgres://u@h/db", "redis", "rediss://:pw@h:1/2", "1h", "1", "::1", "__Host-x")
	f.Add(":1", "sqlite:x.db", "redis", "redis+sentinel://:pw@a:1,[::1]/m/1", "1h", "1", "", "sid")
	f.Add("", "", "", "", "", "", "", "")
	f.Add("[::1]:80", "postgres://%zz", "bogus", "redis://%", "-1s", "0", "1.2.3.4/99", "a b")
	f.Add(":65536", "sqlite::memory:", "Redis", "redis://h/x", "9223372036854775807ns", "-9", ",,", "é")
	f.Fuzz(func(t *testing.T, addr, dbURL, store, redisURL, idle, maxFailures, proxies, cookie string) {
		vars := map[string]string{
			"ADDR":                 addr,
			"DATABASE_URL":         dbURL,
			"SESSION_STORE":        store,
			"REDIS_URL":            redisURL,
			"SESSION_IDLE_TIMEOUT": idle,
			"LOGIN_MAX_FAILURES":   maxFailures,
			"TRUSTED_PROXIES":      proxies,
			"SESSION_COOKIE_NAME":  cookie,
		}
		cfg, err := parseConfig(envOf(vars))
		if err != nil {
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("got error %v (%T), want a *configError", err, err)
			}
			if _, ok := vars[ce.Var]; !ok {
				t.Fatalf("error names %q, which was not set", ce.Var)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q spans more than one line", err.Error())
			}
			if exitCode(err) != 2 {
				t.Fatalf("exit code %d for a config error, want 2", exitCode(err))
			}
			return
		}
		if cfg.SessionStore != "memory" && cfg.SessionStore != "redis" {
			t.Fatalf("accepted SESSION_STORE %q", cfg.SessionStore)
		}
		if _, _, err := storage.ParseURL(cfg.DatabaseURL); err != nil {
			t.Fatalf("accepted DATABASE_URL %q: %v", cfg.DatabaseURL, err)
		}
		if err := redisstate.ValidateURL(cfg.RedisURL); err != nil {
			t.Fatalf("accepted REDIS_URL %q: %v", cfg.RedisURL, err)
		}
		if cfg.IdleTimeout < time.Second {
			t.Fatalf("accepted SESSION_IDLE_TIMEOUT %v", cfg.IdleTimeout)
		}
		if cfg.LoginMaxFailures < 1 {
			t.Fatalf("accepted LOGIN_MAX_FAILURES %d", cfg.LoginMaxFailures)
		}
		if cfg.CookieName == "" || strings.ContainsAny(cfg.CookieName, " ;=,\t\r\n\"") {
			t.Fatalf("accepted SESSION_COOKIE_NAME %q", cfg.CookieName)
		}
		for _, p := range cfg.TrustedProxies {
			if !p.IsValid() {
				t.Fatalf("accepted an invalid proxy prefix %v from %q", p, proxies)
			}
		}
	})
}

// TestSecretKeyKeptInDataFolder checks that without SECRET_KEY a key is
// generated into the SQLite file's folder once and then reused, and that
// SECRET_KEY, when set, wins.
func TestSecretKeyKeptInDataFolder(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseConfig(envOf(map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "app.db")}))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	k1, err := cfg.secretKey(logger)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "production must set SECRET_KEY") {
		t.Errorf("first start logged %q, want a warning that production must set SECRET_KEY", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); err != nil {
		t.Fatalf("key file: %v", err)
	}
	k2, err := cfg.secretKey(logger)
	if err != nil || k2 != k1 {
		t.Fatalf("second start: err %v, same key %v", err, k2 == k1)
	}

	set := secretkey.Generate()
	cfg, err = parseConfig(envOf(map[string]string{
		"DATABASE_URL": "sqlite:" + filepath.Join(dir, "app.db"), "SECRET_KEY": set.String(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := cfg.secretKey(logger); got != set {
		t.Error("SECRET_KEY set: got the data folder's key")
	}
}

// TestWrongSecretKeyStopsStartup starts the service on a database with one
// SECRET_KEY, then with another: the second start stops before serving,
// with one line naming SECRET_KEY and exit status 2, rather than at the
// first login that needs a second factor.
func TestWrongSecretKeyStopsStartup(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "app.db")
	first := secretkey.Generate()
	srv := startServer(t, map[string]string{"DATABASE_URL": db, "SECRET_KEY": first.String()})
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	err := run(context.Background(), envOf(map[string]string{
		"ADDR": freeAddr(t), "DATABASE_URL": db, "SECRET_KEY": secretkey.Generate().String(),
	}), &out, &out)
	var ce *configError
	if !errors.As(err, &ce) || ce.Var != "SECRET_KEY" {
		t.Fatalf("run with another key: got %v, want a *configError for SECRET_KEY", err)
	}
	if got := exitCode(err); got != 2 {
		t.Errorf("exit code %d, want 2", got)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "SECRET_KEY") {
		t.Errorf("error %q: want one line naming SECRET_KEY", msg)
	}

	// The right key starts again.
	startServer(t, map[string]string{"DATABASE_URL": db, "SECRET_KEY": first.String()})
}
