// Package server builds the whole service from one Config: the database,
// the session state (in memory or in Redis), the auth service, the sessions
// and the HTTP handler. cmd/web, the tests and the benchmarks all build the
// service here, so that the wiring exists once. Reading the environment
// and running the *http.Server stay with cmd/web.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/app"
	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/mail"
	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/metrics"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/secretkey"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
	"github.com/sessionlogin/sessionlogin/internal/storage"
)

// Config is everything the service is built from. cmd/web fills it from
// the environment (see README.md for each variable).
type Config struct {
	DatabaseURL    string
	SessionStore   string // "memory" or "redis"
	RedisURL       string // already validated
	RedisKeyPrefix string

	CookieName       string
	CookieSecure     bool
	IdleTimeout      time.Duration
	Lifetime         time.Duration
	RememberLifetime time.Duration
	// TouchInterval is how often a session's last-seen time is written;
	// zero means auth's default.
	TouchInterval time.Duration
	// MaxSessions is how many live sessions one user may have; zero means
	// auth.DefaultMaxSessions.
	MaxSessions int

	LoginMaxFailures   int
	LoginFailureWindow time.Duration
	SignupMaxPerIP     int // zero: sign-ups are not limited
	SignupWindow       time.Duration
	Argon2             auth.Argon2Params
	// HashSlots is how many passwords are hashed at once; zero means
	// auth's default (two per CPU).
	HashSlots int

	// SecretKey is SECRET_KEY: the device-cookie key is derived from it.
	SecretKey secretkey.Key

	TrustedProxies []netip.Prefix
	MetricsAllow   []netip.Prefix

	// PublicURL is the site's origin as users see it: links in mails.
	PublicURL string
	// Mail is where mail goes (MAIL_URL; the zero value writes it to the
	// log), sent as MailFrom. MailTransport and MailSender adjust the
	// transport and the sender loop (tests); their zero values are right
	// for production.
	Mail          mail.Endpoint
	MailFrom      string
	MailTransport mail.TransportOptions
	MailSender    mail.SenderConfig
	// NotifyNewDevice mails a user when an unknown browser signs in;
	// RequireVerification is EMAIL_VERIFICATION=required.
	NotifyNewDevice     bool
	RequireVerification bool
	// MaxMailsPerAddress and MaxMailsPerIP override the mail throttle's
	// limits; zero means auth's defaults.
	MaxMailsPerAddress int
	MaxMailsPerIP      int

	// DB and State, when set, are used instead of opening DatabaseURL and
	// SessionStore, and Close leaves them open. Tests set them to run
	// several instances over one database and one state, as several
	// processes share one database and one Redis.
	DB    *storage.DB
	State *State
	// WrapUsers, when set, wraps the account store, so that a test can
	// hold or count the service's database calls.
	WrapUsers func(auth.UserStore) auth.UserStore
	// Now, when set, is the clock of sessions and second factors (tests
	// move it); nil means time.Now.
	Now func() time.Time
}

// Server is the built service.
type Server struct {
	// Handler serves every route.
	Handler http.Handler

	// The parts, for start-up messages and tests.
	DB       *storage.DB
	State    *State
	Auth     *auth.Service
	Sessions *auth.Sessions
	Recovery *auth.Recovery
	// Factors is the second-factor logic (authenticator apps, recovery
	// codes, passkeys); its notices are mailed through the outbox.
	Factors *auth.Factors
	// Trail is the durable audit log (audit_events); the caller prunes it
	// with Trail.PruneEvery.
	Trail *auth.AuditTrail
	// Sender delivers the outbox. New does not start it: the caller runs
	// Sender.Run for as long as mail should go out, and stops it before
	// Close.
	Sender *mail.Sender

	closers []func()
}

// New opens what cfg names (unless given) and builds the service. Logs go
// to logger. Call Close when done.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Server, err error) {
	s := &Server{DB: cfg.DB, State: cfg.State}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.DB == nil {
		if s.DB, err = storage.Open(ctx, cfg.DatabaseURL); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		s.closers = append(s.closers, func() { _ = s.DB.Close() })
	}
	if s.State == nil {
		if s.State, err = OpenState(ctx, cfg, logger); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.State.Close)
	}

	m := metrics.New()
	m.WatchDB(s.DB.SQL(), string(s.DB.Dialect()))
	if s.State.Pool != nil {
		m.Register(redisstate.NewPoolCollector(s.State.Pool))
	}
	store := sessionstore.New(s.State.Backend, cfg.IdleTimeout, m)
	s.Trail = auth.NewAuditTrail(s.DB, logger)
	audit := auth.Auditors{auth.NewAuditLog(logger), m, s.Trail}
	if !cfg.SecretKey.Valid() {
		return nil, errors.New("server: a SecretKey is required")
	}
	throttle := auth.NewThrottle(s.State.Counter, auth.ThrottleConfig{
		MaxFailures:  cfg.LoginMaxFailures,
		Window:       cfg.LoginFailureWindow,
		MaxSignups:   cfg.SignupMaxPerIP,
		SignupWindow: cfg.SignupWindow,
		DeviceKey:    cfg.SecretKey.Derive("device-cookie"),
	})
	hasher := auth.NewHasher(cfg.Argon2)
	if cfg.HashSlots > 0 {
		hasher = auth.NewHasherSlots(cfg.Argon2, cfg.HashSlots)
	}
	var users auth.UserStore = s.DB
	if cfg.WrapUsers != nil {
		users = cfg.WrapUsers(users)
	}
	if s.Auth, err = auth.NewService(users, hasher, throttle, audit); err != nil {
		return nil, err
	}
	s.Sessions = auth.NewSessions(store, s.State.Registry, s.DB, audit, auth.SessionConfig{
		CookieName:       cfg.CookieName,
		Secure:           cfg.CookieSecure,
		Lifetime:         cfg.Lifetime,
		RememberLifetime: cfg.RememberLifetime,
		Codec:            sessionstore.Codec{},
		TouchInterval:    cfg.TouchInterval,
		Now:              cfg.Now,
		MaxSessions:      cfg.MaxSessions,
	})
	if cfg.Mail.Scheme == "" {
		cfg.Mail.Scheme = mail.SchemeLog
	}
	transport := mail.NewTransport(cfg.Mail, cfg.MailFrom, logger, cfg.MailTransport)
	if s.Sender, err = mail.NewSender(s.DB, transport, logger, cfg.MailSender); err != nil {
		return nil, err
	}
	m.Register(s.Sender)
	s.Recovery = auth.NewRecovery(s.Auth, s.DB, s.State.Counter, auth.RecoveryConfig{
		PublicURL:           cfg.PublicURL,
		RequireVerification: cfg.RequireVerification,
		NotifyNewDevice:     cfg.NotifyNewDevice,
		MaxMailsPerAddress:  cfg.MaxMailsPerAddress,
		MaxMailsPerIP:       cfg.MaxMailsPerIP,
		Observer:            s.Sender,
	})
	// Secrets of authenticator apps are sealed, and recovery codes hashed,
	// with keys derived from SECRET_KEY; each notice is a mail queued in
	// the outbox (Recovery.Notify).
	s.Factors, err = auth.NewFactors(auth.FactorsConfig{
		Users: users, Store: s.DB,
		SealKey: cfg.SecretKey.Derive("totp"), HashKey: cfg.SecretKey.Derive("recovery-codes"),
		PublicURL: cfg.PublicURL, Issuer: "Sessionlogin",
		Counter: s.State.Counter, MaxFailures: cfg.LoginMaxFailures, Window: cfg.LoginFailureWindow,
		Audit: audit, Notifier: s.Recovery, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	// A wrong SECRET_KEY stops start-up (auth.ErrWrongSecretKey) rather
	// than every login of an authenticator app's user.
	if err := s.Factors.CheckKey(ctx); err != nil {
		return nil, fmt.Errorf("secret key check: %w", err)
	}
	s.Handler, err = app.New(app.Config{
		Logger:         logger,
		Auth:           s.Auth,
		Sessions:       s.Sessions,
		Recovery:       s.Recovery,
		Factors:        s.Factors,
		Trail:          s.Trail,
		Metrics:        m,
		TrustedProxies: cfg.TrustedProxies,
		MetricsAllow:   cfg.MetricsAllow,
		SecureCookies:  cfg.CookieSecure,
		Checks: []app.Check{
			{Name: "database", Ping: s.DB.Ping},
			{Name: "session store", Ping: store.Ping},
		},
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Close releases what New opened, in reverse order.
func (s *Server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// State is where sessions, the session registry and the login counters
// live: all in this process, or all in one Redis.
type State struct {
	Backend  sessionstore.Backend
	Registry auth.Registry
	Counter  auth.Counter
	// Pool is the Redis pool, nil for the memory store.
	Pool *redis.Pool

	close func()
}

// versionCheckTimeout bounds the start-up question to Redis.
const versionCheckTimeout = 5 * time.Second

// OpenState is the one place that picks the session store. For Redis it
// checks the server's version first: one older than redisstate.MinVersion
// is refused with a *redisstate.VersionError. A Redis that does not answer
// is not an error: the service starts and answers 503 until it does, as it
// does when Redis goes away later.
func OpenState(ctx context.Context, cfg Config, logger *slog.Logger) (*State, error) {
	switch cfg.SessionStore {
	case "redis":
		pool := redisstate.NewPool(cfg.RedisURL)
		vctx, cancel := context.WithTimeout(ctx, versionCheckTimeout)
		defer cancel()
		if err := redisstate.CheckVersion(vctx, pool); err != nil {
			var ve *redisstate.VersionError
			if errors.As(err, &ve) {
				_ = pool.Close()
				return nil, err
			}
			logger.Warn("redis does not answer; its version is checked at the next start", "error", err.Error())
		}
		return RedisState(pool, cfg.RedisKeyPrefix), nil
	case "memory", "":
		b := memstate.NewSessionBackend()
		return &State{
			Backend:  b,
			Registry: memstate.NewRegistry(b, sessionstore.TombstoneTTL),
			Counter:  memstate.NewCounter(memstate.DefaultCounterCapacity),
			close:    b.Close,
		}, nil
	default:
		return nil, fmt.Errorf("unknown session store %q", cfg.SessionStore)
	}
}

// RedisState keeps sessions, the registry and the counters in the Redis of
// pool, under keys starting with prefix. Close closes the pool.
func RedisState(pool *redis.Pool, prefix string) *State {
	b := redisstate.NewSessionBackend(pool, prefix)
	return &State{
		Backend:  b,
		Registry: redisstate.NewRegistry(b, sessionstore.TombstoneTTL),
		Counter:  redisstate.NewCounter(pool, prefix),
		Pool:     pool,
		close:    func() { _ = pool.Close() },
	}
}

// Close releases the state's resources (the Redis pool).
func (st *State) Close() {
	if st.close != nil {
		st.close()
	}
}
