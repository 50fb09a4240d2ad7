package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Session keys. Handlers never touch them: they call Sessions' methods, so
// that nobody can sign a user in without renewing the token first.
const (
	keyUserID    = "uid"
	keySessionID = "sid"  // opaque registry id of this session
	keySeen      = "seen" // unix seconds of the last registry touch
	keyAuthAt    = "auth" // unix seconds of the last authentication (sudo mode)

	// The pending state between a right password and the second factor.
	// It holds no keyUserID: nothing protected is reachable from it.
	keyPendingUser     = "p_uid"
	keyPendingAt       = "p_at"
	keyPendingRemember = "p_rem"
	keyPendingKnown    = "p_known"
	keyPendingDevice   = "p_dev"

	// keyCeremony prefixes the state of a WebAuthn ceremony under way.
	keyCeremony = "wa_"
)

// PendingWindow is how long the second step of a login may take after the
// right password.
const PendingWindow = 5 * time.Minute

// ReauthWindow is how recent an authentication must be for a sensitive
// action (changing the password, switching 2FA off, …).
const ReauthWindow = 10 * time.Minute

// LoginMethod says how a session signed in; the sessions page shows it.
type LoginMethod string

// The ways to sign in.
const (
	MethodPassword         LoginMethod = "password"
	MethodPasswordTOTP     LoginMethod = "password+totp"
	MethodPasswordRecovery LoginMethod = "password+recovery"
	MethodPasskey          LoginMethod = "passkey"
)

// defaultTouchInterval is how often a session's last-seen time is written
// to the registry: often enough for "last active 3 minutes ago", rare
// enough that a page view costs no write.
const defaultTouchInterval = time.Minute

// pruneAbove is the registry size from which a login first drops entries of
// sessions that ended on their own (idle or absolute expiry).
const pruneAbove = 32

// registryGrace is how long a new entry counts as alive without its session
// in the store: longer than any request takes to save its session.
const registryGrace = time.Minute

// RegistryEntry describes one signed-in session in the per-user registry.
type RegistryEntry struct {
	ID        string // opaque random id, safe to show and to put in URLs
	StoreKey  string // the session's key in the store: a hash of its token, never the token
	Created   time.Time
	LastSeen  time.Time
	IP        string
	UserAgent string
	Remember  bool
	Method    string // a LoginMethod; empty for sessions older than the field
}

// Registry indexes live sessions by user, so that listing or ending a
// user's sessions costs O(that user's sessions), never a scan of the store.
type Registry interface {
	// Add inserts or replaces e under userID, keeps the user's index for at
	// least ttl, and returns how many entries the user now has.
	Add(ctx context.Context, userID int64, e RegistryEntry, ttl time.Duration) (int, error)
	// Replace overwrites entry e.ID with e, atomically, only if the entry
	// still exists, and reports whether it did.
	Replace(ctx context.Context, userID int64, e RegistryEntry) (bool, error)
	// Touch sets the last-seen time of entry id.
	Touch(ctx context.Context, userID int64, id string, seen time.Time) error
	// List returns the user's entries, in no particular order.
	List(ctx context.Context, userID int64) ([]RegistryEntry, error)
	// Remove deletes entries; unknown ids are ignored.
	Remove(ctx context.Context, userID int64, ids ...string) error
}

// SessionStore is the session store: an scs.Store that can also tell which
// keys are still alive, and whether it answers at all.
type SessionStore interface {
	scs.Store
	Alive(ctx context.Context, keys ...string) ([]bool, error)
	Ping(ctx context.Context) error
}

// SessionConfig configures Sessions.
type SessionConfig struct {
	CookieName string
	Secure     bool
	// Lifetime is the absolute lifetime of a session without remember-me;
	// RememberLifetime that of a remembered one.
	Lifetime         time.Duration
	RememberLifetime time.Duration
	// Codec encodes session data for the store; nil means SCS's gob codec.
	Codec scs.Codec
	// TouchInterval is how often a session's last-seen time is recorded;
	// zero means one minute.
	TouchInterval time.Duration
	// Now is the clock of the pending and re-authentication windows and of
	// the registry; nil means time.Now. Tests move it forward.
	Now func() time.Time
}

// SessionInfo is one of a user's live sessions, as shown to the user.
type SessionInfo struct {
	ID        string
	Created   time.Time
	LastSeen  time.Time
	IP        string
	UserAgent string
	Remember  bool
	Method    LoginMethod
	Current   bool
}

// Sessions wraps the SCS session manager. It is the only code that reads or
// writes session keys: LogIn renews the token before it stores the user id,
// LogOut destroys the session in the store and expires the cookie, and the
// registry is kept in step with both.
//
// A second factor fits between Service.Authenticate and LogIn:
// BeginSecondFactor renews the token into a pending state that holds no
// user id, and LogInWith signs the user in once the second step succeeds.
type Sessions struct {
	sm       *scs.SessionManager
	store    SessionStore
	registry Registry
	audit    Auditor
	cfg      SessionConfig
	now      func() time.Time
}

// NewSessions builds the session manager: HttpOnly, SameSite=Lax, Path=/,
// no Domain, a browser-session cookie unless remember-me is chosen. The idle
// timeout is not SCS's: the store enforces it (see package sessionstore),
// because SCS would rewrite every session on every request to enforce it.
func NewSessions(store SessionStore, registry Registry, audit Auditor, cfg SessionConfig) *Sessions {
	sm := scs.New()
	sm.Store = store
	sm.Lifetime = cfg.Lifetime
	sm.IdleTimeout = 0
	sm.HashTokenInStore = true // a copy of the store holds no usable token
	sm.Cookie.Name = cfg.CookieName
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	sm.Cookie.Domain = ""
	sm.Cookie.Secure = cfg.Secure
	sm.Cookie.Persist = false
	sm.ErrorFunc = storeError
	if cfg.Codec != nil {
		sm.Codec = cfg.Codec
	}
	if audit == nil {
		audit = Auditors{}
	}
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = defaultTouchInterval
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Sessions{sm: sm, store: store, registry: registry, audit: audit, cfg: cfg, now: now}
}

// LoadAndSave is SCS's middleware: it loads the session named by the
// request's cookie and saves it, with the cookie, before the response is
// written. A store failure goes to the writer given to the middleware when
// it is a StoreErrorWriter, else it is answered with a bare 503.
func (s *Sessions) LoadAndSave(next http.Handler) http.Handler {
	return s.sm.LoadAndSave(next)
}

// StoreErrorWriter is a response writer that answers a session store
// failure itself (with the site's own error page). SCS has one error
// function per session manager, set at construction; it hands each
// failure to the writer of the request that met it.
type StoreErrorWriter interface {
	http.ResponseWriter
	StoreError(r *http.Request, err error)
}

// storeError is SCS's error function: loading or saving the session failed.
func storeError(w http.ResponseWriter, r *http.Request, err error) {
	if sw, ok := w.(StoreErrorWriter); ok {
		sw.StoreError(r, err)
		return
	}
	http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
}

// storeKey is the key SCS uses for token when HashTokenInStore is set.
func storeKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newSessionID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
}

// LogIn signs user in on this request's session: a new token first (so a
// token planted before login is worthless), then the user id. remember picks
// a persistent cookie and the longer lifetime.
func (s *Sessions) LogIn(ctx context.Context, user User, remember bool, c Client) error {
	return s.LogInWith(ctx, user, remember, MethodPassword, c)
}

// LogInWith is LogIn recording how the user signed in. A login is an
// authentication: sensitive actions need none for ReauthWindow.
func (s *Sessions) LogInWith(ctx context.Context, user User, remember bool, method LoginMethod, c Client) error {
	if err := s.sm.RenewToken(ctx); err != nil {
		return unavailable("renew token", err)
	}
	if err := s.sm.Clear(ctx); err != nil {
		return unavailable("clear session", err)
	}
	now := s.now()
	if remember {
		s.sm.SetDeadline(ctx, now.Add(s.cfg.RememberLifetime))
		s.sm.RememberMe(ctx, true)
	}
	// Registered before the user id is put: if the registry fails, the
	// session saved with the 503 page holds no user, so no signed-in
	// session ever exists outside the registry.
	id := newSessionID()
	entry := RegistryEntry{
		ID: id, StoreKey: storeKey(s.sm.Token(ctx)), Created: now, LastSeen: now,
		IP: c.IP, UserAgent: c.UserAgent, Remember: remember, Method: string(method),
	}
	n, err := s.registry.Add(ctx, user.ID, entry, max(s.cfg.Lifetime, s.cfg.RememberLifetime))
	if err != nil {
		return unavailable("registry add", err)
	}
	if n > pruneAbove {
		if _, err := s.live(ctx, user.ID); err != nil {
			return err
		}
	}
	s.sm.Put(ctx, keyUserID, user.ID)
	s.sm.Put(ctx, keySessionID, id)
	s.sm.Put(ctx, keySeen, now.Unix())
	s.sm.Put(ctx, keyAuthAt, now.Unix())
	s.audit.Record(ctx, Event{Kind: EventLoginSuccess, UserID: user.ID, IP: c.IP, UserAgent: c.UserAgent, SessionID: id, Detail: string(method)})
	return nil
}

// BeginSecondFactor starts the second step of a login after a right
// password: a new token, whose session holds only the pending user, the
// time and the remember-me choice; UserID stays false. The caller calls
// LogInWith once the second factor is right. The device facts of the
// password step (known device, device cookie) wait with it, so that the
// completed login gives the cookie and the notice as a one-step login does.
func (s *Sessions) BeginSecondFactor(ctx context.Context, login Login, remember bool, c Client) error {
	user := login.User
	if err := s.sm.RenewToken(ctx); err != nil {
		return unavailable("renew token", err)
	}
	if err := s.sm.Clear(ctx); err != nil {
		return unavailable("clear session", err)
	}
	s.sm.Put(ctx, keyPendingUser, user.ID)
	s.sm.Put(ctx, keyPendingAt, s.now().Unix())
	s.sm.Put(ctx, keyPendingRemember, remember)
	s.sm.Put(ctx, keyPendingKnown, login.KnownDevice)
	s.sm.Put(ctx, keyPendingDevice, login.DeviceCookie)
	s.audit.Record(ctx, Event{Kind: EventSecondFactorRequired, UserID: user.ID, IP: c.IP, UserAgent: c.UserAgent})
	return nil
}

// PendingLogin is a login waiting for its second factor.
type PendingLogin struct {
	UserID   int64
	Remember bool
	// KnownDevice and DeviceCookie are those of the password step's Login.
	KnownDevice  bool
	DeviceCookie string
}

// PendingSecondFactor returns the login waiting for its second factor on
// this session, if one began within PendingWindow; an expired one is
// dropped.
func (s *Sessions) PendingSecondFactor(ctx context.Context) (PendingLogin, bool) {
	uid := s.sm.GetInt64(ctx, keyPendingUser)
	if uid == 0 {
		return PendingLogin{}, false
	}
	at := time.Unix(s.sm.GetInt64(ctx, keyPendingAt), 0)
	if age := s.now().Sub(at); age < 0 || age > PendingWindow {
		s.CancelSecondFactor(ctx)
		return PendingLogin{}, false
	}
	return PendingLogin{
		UserID:       uid,
		Remember:     s.sm.GetBool(ctx, keyPendingRemember),
		KnownDevice:  s.sm.GetBool(ctx, keyPendingKnown),
		DeviceCookie: s.sm.GetString(ctx, keyPendingDevice),
	}, true
}

// CancelSecondFactor drops the pending login, if any.
func (s *Sessions) CancelSecondFactor(ctx context.Context) {
	for _, k := range []string{keyPendingUser, keyPendingAt, keyPendingRemember, keyPendingKnown, keyPendingDevice} {
		s.sm.Remove(ctx, k)
	}
}

// Reauthenticated records that the signed-in user has just proved who they
// are again (password, code or passkey): sensitive actions are allowed for
// ReauthWindow.
func (s *Sessions) Reauthenticated(ctx context.Context, c Client) {
	uid, ok := s.UserID(ctx)
	if !ok {
		return
	}
	s.sm.Put(ctx, keyAuthAt, s.now().Unix())
	s.audit.Record(ctx, Event{Kind: EventReauthenticated, UserID: uid, IP: c.IP, UserAgent: c.UserAgent, SessionID: s.SessionID(ctx)})
}

// RecentlyAuthenticated reports whether the signed-in user signed in or
// re-authenticated within ReauthWindow.
func (s *Sessions) RecentlyAuthenticated(ctx context.Context) bool {
	if _, ok := s.UserID(ctx); !ok {
		return false
	}
	at := s.sm.GetInt64(ctx, keyAuthAt)
	if at == 0 {
		return false
	}
	age := s.now().Sub(time.Unix(at, 0))
	return age >= 0 && age <= ReauthWindow
}

// PutCeremony keeps the server side of a WebAuthn ceremony (kind names it:
// "login", "register", "reauth") until TakeCeremony.
func (s *Sessions) PutCeremony(ctx context.Context, kind string, state []byte) {
	s.sm.Put(ctx, keyCeremony+kind, state)
}

// TakeCeremony returns and forgets the state of the ceremony kind: each is
// answered once.
func (s *Sessions) TakeCeremony(ctx context.Context, kind string) []byte {
	return s.sm.PopBytes(ctx, keyCeremony+kind)
}

// LogOut ends this request's session: deleted from the store (for good: see
// package sessionstore), removed from the registry, cookie expired.
func (s *Sessions) LogOut(ctx context.Context, c Client) error {
	uid := s.sm.GetInt64(ctx, keyUserID)
	id := s.sm.GetString(ctx, keySessionID)
	if err := s.sm.Destroy(ctx); err != nil {
		return unavailable("destroy session", err)
	}
	if uid == 0 {
		return nil
	}
	if err := s.registry.Remove(ctx, uid, id); err != nil {
		return unavailable("registry remove", err)
	}
	s.audit.Record(ctx, Event{Kind: EventLogout, UserID: uid, IP: c.IP, UserAgent: c.UserAgent, SessionID: id})
	return nil
}

// UserID returns the signed-in user's id, if any.
func (s *Sessions) UserID(ctx context.Context) (int64, bool) {
	id := s.sm.GetInt64(ctx, keyUserID)
	return id, id != 0
}

// Touch records activity of the signed-in session in the registry, at most
// once per TouchInterval, so that most page views write nothing.
func (s *Sessions) Touch(ctx context.Context) error {
	uid, ok := s.UserID(ctx)
	if !ok {
		return nil
	}
	now := s.now()
	if now.Sub(time.Unix(s.sm.GetInt64(ctx, keySeen), 0)) < s.cfg.TouchInterval {
		return nil
	}
	s.sm.Put(ctx, keySeen, now.Unix())
	if err := s.registry.Touch(ctx, uid, s.sm.GetString(ctx, keySessionID), now); err != nil {
		return unavailable("registry touch", err)
	}
	return nil
}

// Renew gives the signed-in session a new token, keeping it signed in: used
// after a privilege change such as a new password.
func (s *Sessions) Renew(ctx context.Context) error {
	uid, ok := s.UserID(ctx)
	if !ok {
		return nil
	}
	// A session ended (logged out, revoked) while this request ran must not
	// come back under a new token: the store's tombstone guards only the
	// old one. So renew only a session that still exists, and is still
	// registered, and otherwise finish ending it.
	alive, err := s.store.Alive(ctx, storeKey(s.sm.Token(ctx)))
	if err != nil {
		return unavailable("store alive", err)
	}
	if !alive[0] {
		return s.destroy(ctx)
	}
	// RenewToken resets the absolute deadline; a remembered session keeps
	// its own.
	deadline := s.sm.Deadline(ctx)
	if err := s.sm.RenewToken(ctx); err != nil {
		return unavailable("renew token", err)
	}
	s.sm.SetDeadline(ctx, deadline)
	id := s.sm.GetString(ctx, keySessionID)
	entries, err := s.registry.List(ctx, uid)
	if err != nil {
		return unavailable("registry list", err)
	}
	for _, e := range entries {
		if e.ID != id {
			continue
		}
		// Only if still registered, in one step: a revocation landing
		// before it removed the entry (so the session ends here); one
		// landing after it finds the new key and ends that.
		e.StoreKey = storeKey(s.sm.Token(ctx))
		found, err := s.registry.Replace(ctx, uid, e)
		if err != nil {
			return unavailable("registry replace", err)
		}
		if found {
			return nil
		}
	}
	return s.destroy(ctx)
}

// destroy ends this request's session without an audit event: it was
// already ended by the request that logged it out or revoked it.
func (s *Sessions) destroy(ctx context.Context) error {
	if err := s.sm.Destroy(ctx); err != nil {
		return unavailable("destroy session", err)
	}
	return nil
}

// live returns the user's registry entries whose sessions still exist,
// dropping the others from the registry.
func (s *Sessions) live(ctx context.Context, userID int64) ([]RegistryEntry, error) {
	entries, err := s.registry.List(ctx, userID)
	if err != nil {
		return nil, unavailable("registry list", err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.StoreKey
	}
	alive, err := s.store.Alive(ctx, keys...)
	if err != nil {
		return nil, unavailable("store alive", err)
	}
	var live []RegistryEntry
	var dead []string
	now := s.now()
	for i, e := range entries {
		// A session is registered before its request saves it to the
		// store: one this young may just not be saved yet.
		if alive[i] || now.Sub(e.Created) < registryGrace {
			live = append(live, e)
		} else {
			dead = append(dead, e.ID)
		}
	}
	if len(dead) > 0 {
		if err := s.registry.Remove(ctx, userID, dead...); err != nil {
			return nil, unavailable("registry remove", err)
		}
	}
	return live, nil
}

// List returns the user's live sessions, this one first, then the most
// recently active.
func (s *Sessions) List(ctx context.Context, userID int64) ([]SessionInfo, error) {
	return s.list(ctx, userID, s.sm.GetString(ctx, keySessionID))
}

// Live returns the live sessions of userID, most recently active first,
// outside any request (the admin command has no session of its own).
func (s *Sessions) Live(ctx context.Context, userID int64) ([]SessionInfo, error) {
	return s.list(ctx, userID, "")
}

// list returns the live sessions of userID, the one with id current first,
// then the most recently active.
func (s *Sessions) list(ctx context.Context, userID int64, current string) ([]SessionInfo, error) {
	entries, err := s.live(ctx, userID)
	if err != nil {
		return nil, err
	}
	infos := make([]SessionInfo, 0, len(entries))
	for _, e := range entries {
		infos = append(infos, SessionInfo{
			ID: e.ID, Created: e.Created, LastSeen: e.LastSeen, IP: e.IP,
			UserAgent: e.UserAgent, Remember: e.Remember, Method: LoginMethod(e.Method), Current: e.ID == current,
		})
	}
	slices.SortFunc(infos, func(a, b SessionInfo) int {
		switch {
		case a.Current != b.Current:
			if a.Current {
				return -1
			}
			return 1
		default:
			return b.LastSeen.Compare(a.LastSeen)
		}
	})
	return infos, nil
}

// end deletes the sessions of entries from the store and the registry. The
// store refuses to let an in-flight request write them back.
func (s *Sessions) end(ctx context.Context, userID int64, entries []RegistryEntry, c Client) error {
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if err := s.store.Delete(e.StoreKey); err != nil {
			return unavailable("store delete", err)
		}
		ids = append(ids, e.ID)
	}
	if err := s.registry.Remove(ctx, userID, ids...); err != nil {
		return unavailable("registry remove", err)
	}
	for _, id := range ids {
		s.audit.Record(ctx, Event{Kind: EventSessionRevoked, UserID: userID, IP: c.IP, UserAgent: c.UserAgent, SessionID: id})
	}
	return nil
}

// Revoke ends session id of the signed-in user. Ending this very session is
// a log-out. ErrSessionNotFound when the user has no such live session.
func (s *Sessions) Revoke(ctx context.Context, id string, c Client) error {
	uid, ok := s.UserID(ctx)
	if !ok {
		return ErrSessionNotFound
	}
	if id == s.sm.GetString(ctx, keySessionID) {
		return s.LogOut(ctx, c)
	}
	entries, err := s.registry.List(ctx, uid)
	if err != nil {
		return unavailable("registry list", err)
	}
	for _, e := range entries {
		if e.ID == id {
			return s.end(ctx, uid, []RegistryEntry{e}, c)
		}
	}
	return ErrSessionNotFound
}

// RevokeOthers ends every session of the signed-in user but this one and
// returns how many it ended.
func (s *Sessions) RevokeOthers(ctx context.Context, c Client) (int, error) {
	uid, ok := s.UserID(ctx)
	if !ok {
		return 0, nil
	}
	entries, err := s.registry.List(ctx, uid)
	if err != nil {
		return 0, unavailable("registry list", err)
	}
	current := s.sm.GetString(ctx, keySessionID)
	others := slices.DeleteFunc(entries, func(e RegistryEntry) bool { return e.ID == current })
	return len(others), s.end(ctx, uid, others, c)
}

// RevokeAll ends every session of the signed-in user, this one included
// (its cookie is expired), as when the account is deleted.
func (s *Sessions) RevokeAll(ctx context.Context, c Client) error {
	if _, ok := s.UserID(ctx); !ok {
		return nil
	}
	if _, err := s.RevokeOthers(ctx, c); err != nil {
		return err
	}
	return s.LogOut(ctx, c)
}

// EndAll ends every session of user userID, wherever it was opened (every
// instance shares the store and the registry), outside any request of that
// user: after a password reset, and the admin command's lock,
// revoke-sessions and delete-user.
func (s *Sessions) EndAll(ctx context.Context, userID int64, c Client) error {
	entries, err := s.registry.List(ctx, userID)
	if err != nil {
		return unavailable("registry list", err)
	}
	return s.end(ctx, userID, entries, c)
}

// Ping checks that the session store answers. A handler about to create
// something that a session must follow (an account) asks first, so that a
// store outage does not leave an account behind a failed sign-in.
func (s *Sessions) Ping(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return unavailable("session store", err)
	}
	return nil
}

// SessionID returns the opaque registry id of this request's session.
func (s *Sessions) SessionID(ctx context.Context) string {
	return s.sm.GetString(ctx, keySessionID)
}
