package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/mail"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/secretkey"
	"github.com/sessionlogin/sessionlogin/internal/server"
	"github.com/sessionlogin/sessionlogin/internal/storage"
)

// config is the whole configuration, read once from the environment.
type config struct {
	Addr               string
	DatabaseURL        string
	SessionStore       string // "memory" or "redis"
	RedisURL           string
	RedisKeyPrefix     string
	CookieName         string
	IdleTimeout        time.Duration
	Lifetime           time.Duration
	RememberLifetime   time.Duration
	LoginMaxFailures   int
	LoginFailureWindow time.Duration
	SignupMaxPerIP     int
	SignupWindow       time.Duration
	CookieSecure       bool
	TrustedProxies     []netip.Prefix
	MetricsAllow       []netip.Prefix
	LogLevel           slog.Level
	LogFormat          string // "text" or "json"
	// SecretKey is SECRET_KEY; not Valid when unset, and then secretKey
	// keeps one in the data folder.
	SecretKey secretkey.Key
	// PublicURL is the site's origin as users see it ("https://example.com"),
	// no trailing slash: the start of every link in mails, and the
	// WebAuthn relying party id and origin.
	PublicURL         string
	Mail              mail.Endpoint
	MailFrom          string
	NotifyNewDevice   bool
	EmailVerification string // "optional" or "required"
}

// configError names the variable whose value is wrong; main exits 2 on it.
type configError struct {
	Var string
	Err error
}

func (e *configError) Error() string { return fmt.Sprintf("config: %s: %v", e.Var, e.Err) }

func (e *configError) Unwrap() error { return e.Err }

// parseConfig reads and validates every variable; the first bad one is
// reported.
func parseConfig(getenv func(string) string) (config, error) {
	p := &envParser{getenv: getenv}
	cfg := config{
		Addr:               p.addr("ADDR", ":4000"),
		DatabaseURL:        p.databaseURL("DATABASE_URL", "sqlite:data/app.db"),
		SessionStore:       p.oneOf("SESSION_STORE", "memory", "memory", "redis"),
		RedisURL:           p.redisURL("REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisKeyPrefix:     p.str("REDIS_KEY_PREFIX", "sl:"),
		CookieName:         p.cookieName("SESSION_COOKIE_NAME", "sid"),
		IdleTimeout:        p.duration("SESSION_IDLE_TIMEOUT", 30*time.Minute),
		Lifetime:           p.duration("SESSION_LIFETIME", 12*time.Hour),
		RememberLifetime:   p.duration("REMEMBER_ME_LIFETIME", 720*time.Hour),
		LoginMaxFailures:   p.positiveInt("LOGIN_MAX_FAILURES", 5),
		LoginFailureWindow: p.duration("LOGIN_FAILURE_WINDOW", 15*time.Minute),
		SignupMaxPerIP:     p.positiveInt("SIGNUP_MAX_PER_IP", 10),
		SignupWindow:       p.duration("SIGNUP_WINDOW", time.Hour),
		CookieSecure:       p.boolean("COOKIE_SECURE", true),
		TrustedProxies:     p.prefixes("TRUSTED_PROXIES", ""),
		MetricsAllow:       p.prefixes("METRICS_ALLOW", "127.0.0.0/8,::1/128"),
		LogLevel:           p.logLevel("LOG_LEVEL", slog.LevelInfo),
		LogFormat:          p.oneOf("LOG_FORMAT", "text", "text", "json"),
		SecretKey:          p.secretKey("SECRET_KEY"),
		PublicURL:          p.publicURL("PUBLIC_URL", "http://localhost:4000"),
		Mail:               p.mailURL("MAIL_URL", "log:"),
		MailFrom:           p.mailFrom("MAIL_FROM", "Sessionlogin <no-reply@localhost>"),
		NotifyNewDevice:    p.boolean("NOTIFY_NEW_DEVICE", true),
		EmailVerification:  p.oneOf("EMAIL_VERIFICATION", "optional", "optional", "required"),
	}
	if p.err != nil {
		return config{}, p.err
	}
	return cfg, nil
}

// server returns what the service is built from.
func (c config) server() server.Config {
	return server.Config{
		DatabaseURL:         c.DatabaseURL,
		SessionStore:        c.SessionStore,
		RedisURL:            c.RedisURL,
		RedisKeyPrefix:      c.RedisKeyPrefix,
		CookieName:          c.CookieName,
		CookieSecure:        c.CookieSecure,
		IdleTimeout:         c.IdleTimeout,
		Lifetime:            c.Lifetime,
		RememberLifetime:    c.RememberLifetime,
		LoginMaxFailures:    c.LoginMaxFailures,
		LoginFailureWindow:  c.LoginFailureWindow,
		SignupMaxPerIP:      c.SignupMaxPerIP,
		SignupWindow:        c.SignupWindow,
		Argon2:              argon2Params,
		TrustedProxies:      c.TrustedProxies,
		MetricsAllow:        c.MetricsAllow,
		PublicURL:           c.PublicURL,
		Mail:                c.Mail,
		MailFrom:            c.MailFrom,
		NotifyNewDevice:     c.NotifyNewDevice,
		RequireVerification: c.EmailVerification == "required",
	}
}

// envParser reads variables, keeping the first error.
type envParser struct {
	getenv func(string) string
	err    error
}

// get returns the value of name, or def when unset or empty.
func (p *envParser) get(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *envParser) fail(name string, err error) {
	if p.err == nil {
		p.err = &configError{Var: name, Err: err}
	}
}

func (p *envParser) str(name, def string) string { return p.get(name, def) }

func (p *envParser) addr(name, def string) string {
	v := p.get(name, def)
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		p.fail(name, fmt.Errorf("want host:port or :port, got %q", v))
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail(name, fmt.Errorf("bad port in %q", v))
	}
	_ = host
	return v
}

func (p *envParser) databaseURL(name, def string) string {
	v := p.get(name, def)
	if _, _, err := storage.ParseURL(v); err != nil {
		p.fail(name, err)
	}
	return v
}

func (p *envParser) redisURL(name, def string) string {
	v := p.get(name, def)
	if err := redisstate.ValidateURL(v); err != nil {
		p.fail(name, err)
	}
	return v
}

func (p *envParser) oneOf(name, def string, allowed ...string) string {
	v := p.get(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, fmt.Errorf("want one of %s, got %q", strings.Join(allowed, ", "), v))
	return ""
}

func (p *envParser) duration(name string, def time.Duration) time.Duration {
	v := p.get(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, fmt.Errorf("want a Go duration such as 30m or 12h, got %q", v))
		return 0
	}
	if d < time.Second {
		p.fail(name, fmt.Errorf("must be at least 1s, got %s", v))
	}
	return d
}

func (p *envParser) positiveInt(name string, def int) int {
	v := p.get(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		p.fail(name, fmt.Errorf("want a positive whole number, got %q", v))
	}
	return n
}

func (p *envParser) boolean(name string, def bool) bool {
	v := p.get(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, fmt.Errorf("want true or false, got %q", v))
	}
	return b
}

func (p *envParser) cookieName(name, def string) string {
	v := p.get(name, def)
	for _, c := range v {
		// RFC 6265 token: no separators, spaces or controls.
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			p.fail(name, fmt.Errorf("%q is not a valid cookie name", v))
			break
		}
	}
	return v
}

// prefixes reads a comma-separated list of CIDRs; a bare address means
// that one host.
func (p *envParser) prefixes(name, def string) []netip.Prefix {
	v := p.get(name, def)
	if v == "" {
		return nil
	}
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				p.fail(name, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", s))
				return nil
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, pfx.Masked())
	}
	return out
}

func (p *envParser) logLevel(name string, def slog.Level) slog.Level {
	v := p.get(name, "")
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, errors.New("want debug, info, warn or error, got "+strconv.Quote(v)))
	}
	return l
}

// secretKey reads an optional base64 key of secretkey.Size bytes.
func (p *envParser) secretKey(name string) secretkey.Key {
	v := p.get(name, "")
	if v == "" {
		return secretkey.Key{}
	}
	k, err := secretkey.Parse(v)
	if err != nil {
		p.fail(name, err)
	}
	return k
}

// publicURL reads an absolute http(s) origin, returned without a trailing
// slash.
func (p *envParser) publicURL(name, def string) string {
	v := p.get(name, def)
	origin, _, err := auth.ParsePublicURL(v)
	if err != nil {
		p.fail(name, err)
	}
	return origin
}

// dataDir is the folder of the embedded state: the SQLite file's folder,
// or data/ beside the working directory when the database is PostgreSQL.
func (cfg config) dataDir() string {
	if dialect, path, err := storage.ParseURL(cfg.DatabaseURL); err == nil && dialect == storage.SQLite {
		return filepath.Dir(path)
	}
	return "data"
}

// secretKey returns SECRET_KEY, or the key kept in the data folder,
// generated on first start, so that `make run` needs no configuration.
// Several instances must share one key: they set SECRET_KEY.
func (cfg config) secretKey(logger *slog.Logger) (secretkey.Key, error) {
	if cfg.SecretKey.Valid() {
		return cfg.SecretKey, nil
	}
	path := filepath.Join(cfg.dataDir(), "secret.key")
	k, created, err := secretkey.LoadOrCreate(path)
	if err != nil {
		return secretkey.Key{}, fmt.Errorf("secret key: %w", err)
	}
	if created {
		logger.Warn("SECRET_KEY is not set: generated a key into the data folder; production must set SECRET_KEY, the same on every instance", "file", path)
	}
	return k, nil
}

func (p *envParser) mailURL(name, def string) mail.Endpoint {
	e, err := mail.ParseURL(p.get(name, def))
	if err != nil {
		p.fail(name, err)
	}
	return e
}

func (p *envParser) mailFrom(name, def string) string {
	from, err := mail.ParseFrom(p.get(name, def))
	if err != nil {
		p.fail(name, err)
	}
	return from
}
