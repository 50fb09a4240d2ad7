package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/scs/v2"
)

// Session keys. Handlers never touch them: they call Sessions' methods, so
// that nobody can sign a user in without renewing the token first. They are
// one letter long because every byte is stored once per live session.
const (
	keyUserID    = "u"
	keySessionID = "i" // opaque registry id of this session
	keySeen      = "t" // unix seconds of the last recorded activity
	keyGen       = "g" // the user's session generation at login
	keyIP        = "p" // client address at login, for the sessions page
	keyUA        = "a" // user agent at login, for the sessions page
	keyAuthAt    = "s" // unix seconds of the last authentication (sudo mode)
	keyMethod    = "m" // how the session signed in (a LoginMethod)

	// The pending state between a right password and the second factor.
	// It holds no keyUserID: nothing protected is reachable from it.
	keyPendingUser     = "pu"
	keyPendingAt       = "pt"
	keyPendingRemember = "pr"
	keyPendingKnown    = "pk"
	keyPendingDevice   = "pd"

	// keyCeremony prefixes the state of a WebAuthn ceremony under way.
	keyCeremony = "w"
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

// maxUserAgent bounds the user agent kept in a session: enough to tell
// devices apart, and no 32 KB header copied into every session.
const maxUserAgent = 256

// defaultTouchInterval is how often a session's last-seen time is written
// (with the session): often enough for "last active 3 minutes ago", rare
// enough that a page view costs no write.
const defaultTouchInterval = time.Minute

// DefaultMaxSessions is how many live sessions a user may have when
// SessionConfig.MaxSessions is zero.
const DefaultMaxSessions = 100

// RegistryGrace is how long a new entry counts as alive without its session
// in the store: a session is registered before its request saves it, and
// no request takes this long.
const RegistryGrace = time.Minute

// RegistryEntry is one signed-in session in the per-user registry: what it
// takes to find and end it. What the sessions page shows of it (address,
// user agent, last activity) is kept in the session itself, so that the
// registry stays small and a page view never writes to it.
type RegistryEntry struct {
	ID       string // opaque random id, safe to show and to put in URLs
	StoreKey string // the session's key in the store: a hash of its token, never the token
	Created  time.Time
}

// Registry indexes live sessions by user, so that listing or ending a
// user's sessions costs O(that user's sessions), never a scan of the store.
// It ends sessions itself (deleted from the store for good, as
// sessionstore does) so that a login or a logout is one step.
type Registry interface {
	// Add inserts e under userID and keeps the user's index for at least
	// ttl. In the same step it drops entries of the user's oldest sessions
	// that are gone from the store (older than RegistryGrace), and while
	// the user has more than limit entries it ends the oldest session
	// other than e. It returns the ids of the sessions it ended.
	Add(ctx context.Context, userID int64, e RegistryEntry, ttl time.Duration, limit int) ([]string, error)
	// Rekey points entry id at storeKey, atomically, only if the entry
	// still exists, and reports whether it did.
	Rekey(ctx context.Context, userID int64, id, storeKey string) (bool, error)
	// List returns the user's entries, in no particular order.
	List(ctx context.Context, userID int64) ([]RegistryEntry, error)
	// End deletes the sessions of entries from the store for good and
	// removes the entries, in one step. Only ID and StoreKey are read.
	End(ctx context.Context, userID int64, entries ...RegistryEntry) error
	// Remove deletes entries; unknown ids are ignored.
	Remove(ctx context.Context, userID int64, ids ...string) error
}

// SessionStore is the session store: an scs.CtxStore that can also read
// sessions without using them, and tell whether it answers at all.
type SessionStore interface {
	scs.CtxStore
	// Peek returns the data of each key's session, as the codec encoded
	// it, without extending its life; nil for a session that is gone.
	Peek(ctx context.Context, keys ...string) ([][]byte, error)
	Ping(ctx context.Context) error
}

// Generations moves a user's session generation on (see User.SessionGen).
// UserStore has it; Sessions needs only this.
type Generations interface {
	NextSessionGeneration(ctx context.Context, userID int64) (int64, error)
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
	// cmd/web uses sessionstore.Codec, whose mark on remembered sessions
	// is how that store exempts them from the idle timeout.
	Codec scs.Codec
	// TouchInterval is how often a session's last-seen time is recorded
	// (a write of the session); zero means one minute.
	TouchInterval time.Duration
	// Now is the clock of the pending and re-authentication windows and of
	// the registry; nil means time.Now. Tests move it forward.
	Now func() time.Time
	// MaxSessions is how many live sessions a user may have; a login
	// beyond it ends the oldest. Zero means DefaultMaxSessions.
	MaxSessions int
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
// registry is kept in step with both. Each session also records its user's
// session generation at login; Verify ends a session whose generation has
// moved on, which is how a password change or EndAll reaches sessions the
// registry lost.
//
// A second factor fits between Service.Authenticate and LogIn:
// BeginSecondFactor renews the token into a pending state that holds no
// user id, and LogInWith signs the user in once the second step succeeds.
type Sessions struct {
	sm       *scs.SessionManager
	store    SessionStore
	registry Registry
	gens     Generations
	audit    Auditor
	cfg      SessionConfig
	now      func() time.Time
}

// NewSessions builds the session manager: HttpOnly, SameSite=Lax, Path=/,
// no Domain, a browser-session cookie unless remember-me is chosen. The idle
// timeout is not SCS's: the store enforces it (see package sessionstore),
// because SCS would rewrite every session on every request to enforce it.
func NewSessions(store SessionStore, registry Registry, gens Generations, audit Auditor, cfg SessionConfig) *Sessions {
	sm := scs.New()
	sm.Store = endedStore{store}
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
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Sessions{sm: sm, store: store, registry: registry, gens: gens, audit: audit, cfg: cfg, now: now}
}

// endedStore is the store as SCS sees it. Its DeleteCtx skips the one key
// that Registry.End has just deleted along with the key's registry entry
// (see endCurrent): SCS's Destroy insists on deleting the key itself, and a
// logout would otherwise cost a second round trip to the store.
type endedStore struct{ SessionStore }

type endedKey struct{}

func (s endedStore) DeleteCtx(ctx context.Context, key string) error {
	if k, _ := ctx.Value(endedKey{}).(string); k == key {
		return nil
	}
	return s.SessionStore.DeleteCtx(ctx, key)
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

// newSessionID returns a registry id: 72 random bits, 12 characters. It is
// looked up only among one user's sessions, so it needs no more, and it is
// stored three times per live session.
func newSessionID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clip cuts s to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
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
	entry := RegistryEntry{ID: id, StoreKey: storeKey(s.sm.Token(ctx)), Created: now}
	ended, err := s.registry.Add(ctx, user.ID, entry, max(s.cfg.Lifetime, s.cfg.RememberLifetime), s.cfg.MaxSessions)
	if err != nil {
		return unavailable("registry add", err)
	}
	s.sm.Put(ctx, keyUserID, user.ID)
	s.sm.Put(ctx, keySessionID, id)
	s.sm.Put(ctx, keySeen, now.Unix())
	s.sm.Put(ctx, keyGen, user.SessionGen)
	s.sm.Put(ctx, keyIP, c.IP)
	s.sm.Put(ctx, keyUA, clip(c.UserAgent, maxUserAgent))
	s.sm.Put(ctx, keyAuthAt, now.Unix())
	s.sm.Put(ctx, keyMethod, string(method))
	s.audit.Record(ctx, Event{Kind: EventLoginSuccess, UserID: user.ID, IP: c.IP, UserAgent: c.UserAgent, SessionID: id, Detail: string(method)})
	for _, old := range ended {
		s.audit.Record(ctx, Event{Kind: EventSessionRevoked, UserID: user.ID, IP: c.IP, UserAgent: c.UserAgent, SessionID: old})
	}
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
	if uid == 0 {
		return s.destroy(ctx)
	}
	if err := s.endCurrent(ctx, uid); err != nil {
		return err
	}
	s.audit.Record(ctx, Event{Kind: EventLogout, UserID: uid, IP: c.IP, UserAgent: c.UserAgent, SessionID: id})
	return nil
}

// endCurrent ends this request's session of user uid: its store key and
// registry entry in one step of the registry, then SCS's Destroy (which
// clears the data and expires the cookie) without a second delete.
func (s *Sessions) endCurrent(ctx context.Context, uid int64) error {
	key := storeKey(s.sm.Token(ctx))
	e := RegistryEntry{ID: s.sm.GetString(ctx, keySessionID), StoreKey: key}
	if err := s.registry.End(ctx, uid, e); err != nil {
		return unavailable("registry end", err)
	}
	return s.destroy(context.WithValue(ctx, endedKey{}, key))
}

// Verify reports whether this request's session, signed in as u, belongs
// to u's current session generation. A session of an older one was ended
// by a password change or by EndAll, possibly on an instance that could not
// reach it through the registry: it is ended here, and Verify reports false.
// It costs nothing on the way through: u is loaded for the request anyway.
func (s *Sessions) Verify(ctx context.Context, u User) (bool, error) {
	if s.sm.GetInt64(ctx, keyGen) == u.SessionGen {
		return true, nil
	}
	return false, s.endCurrent(ctx, u.ID)
}

// UserID returns the signed-in user's id, if any.
func (s *Sessions) UserID(ctx context.Context) (int64, bool) {
	id := s.sm.GetInt64(ctx, keyUserID)
	return id, id != 0
}

// Touch records activity of the signed-in session, at most once per
// TouchInterval, so that most page views write nothing. The time is kept
// in the session, which the request then saves.
func (s *Sessions) Touch(ctx context.Context) {
	if _, ok := s.UserID(ctx); !ok {
		return
	}
	now := s.now()
	if now.Sub(time.Unix(s.sm.GetInt64(ctx, keySeen), 0)) >= s.cfg.TouchInterval {
		s.sm.Put(ctx, keySeen, now.Unix())
	}
}

// renew gives this request's session, signed in as uid, a new token,
// keeping it signed in: used after a privilege change such as a new
// password.
func (s *Sessions) renew(ctx context.Context, uid int64) error {
	// A session ended (logged out, revoked) while this request ran must not
	// come back under a new token: the store's tombstone guards only the
	// old one. So renew only a session that still exists, and otherwise
	// finish ending it.
	data, err := s.store.Peek(ctx, storeKey(s.sm.Token(ctx)))
	if err != nil {
		return unavailable("store peek", err)
	}
	if data[0] == nil {
		return s.destroy(ctx)
	}
	// RenewToken resets the absolute deadline; a remembered session keeps
	// its own.
	deadline := s.sm.Deadline(ctx)
	if err := s.sm.RenewToken(ctx); err != nil {
		return unavailable("renew token", err)
	}
	s.sm.SetDeadline(ctx, deadline)
	id, key := s.sm.GetString(ctx, keySessionID), storeKey(s.sm.Token(ctx))
	found, err := s.registry.Rekey(ctx, uid, id, key)
	if err != nil {
		return unavailable("registry rekey", err)
	}
	if found {
		return nil
	}
	// The registry lost this session (evicted, or deleted by an operator):
	// register it again, so that it can be listed and ended. A revocation
	// of this very session racing this change would be lost too; but the
	// change itself already ended the revoker's session.
	e := RegistryEntry{ID: id, StoreKey: key, Created: s.now()}
	if _, err := s.registry.Add(ctx, uid, e, max(s.cfg.Lifetime, s.cfg.RememberLifetime), s.cfg.MaxSessions); err != nil {
		return unavailable("registry add", err)
	}
	return nil
}

// scsRememberKey is where SCS v2 keeps RememberMe's choice in the session.
const scsRememberKey = "__rememberMe"

// destroy ends this request's session without an audit event: it was
// already ended by the request that logged it out or revoked it.
func (s *Sessions) destroy(ctx context.Context) error {
	if err := s.sm.Destroy(ctx); err != nil {
		return unavailable("destroy session", err)
	}
	return nil
}

// live returns the user's registry entries whose sessions still exist,
// with each session's data, dropping the others from the registry.
func (s *Sessions) live(ctx context.Context, userID int64) ([]RegistryEntry, [][]byte, error) {
	entries, err := s.registry.List(ctx, userID)
	if err != nil {
		return nil, nil, unavailable("registry list", err)
	}
	if len(entries) == 0 {
		return nil, nil, nil
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.StoreKey
	}
	data, err := s.store.Peek(ctx, keys...)
	if err != nil {
		return nil, nil, unavailable("store peek", err)
	}
	var live []RegistryEntry
	var liveData [][]byte
	var dead []string
	now := s.now()
	for i, e := range entries {
		// A session is registered before its request saves it to the
		// store: one this young may just not be saved yet.
		if data[i] != nil || now.Sub(e.Created) < RegistryGrace {
			live = append(live, e)
			liveData = append(liveData, data[i])
		} else {
			dead = append(dead, e.ID)
		}
	}
	if len(dead) > 0 {
		if err := s.registry.Remove(ctx, userID, dead...); err != nil {
			return nil, nil, unavailable("registry remove", err)
		}
	}
	return live, liveData, nil
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
	entries, data, err := s.live(ctx, userID)
	if err != nil {
		return nil, err
	}
	infos := make([]SessionInfo, 0, len(entries))
	for i, e := range entries {
		info := SessionInfo{ID: e.ID, Created: e.Created, LastSeen: e.Created, Current: e.ID == current}
		if data[i] != nil {
			// A session this code cannot decode is shown with what the
			// registry knows; it still can be ended.
			if _, values, err := s.sm.Codec.Decode(data[i]); err == nil {
				info.IP, _ = values[keyIP].(string)
				info.UserAgent, _ = values[keyUA].(string)
				info.Remember, _ = values[scsRememberKey].(bool)
				method, _ := values[keyMethod].(string)
				info.Method = LoginMethod(method)
				if seen, ok := values[keySeen].(int64); ok {
					info.LastSeen = time.Unix(seen, 0)
				}
			}
		}
		infos = append(infos, info)
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

// end ends the sessions of entries, for good: the store refuses to let an
// in-flight request write them back.
func (s *Sessions) end(ctx context.Context, userID int64, entries []RegistryEntry, c Client) error {
	if len(entries) == 0 {
		return nil
	}
	if err := s.registry.End(ctx, userID, entries...); err != nil {
		return unavailable("registry end", err)
	}
	for _, e := range entries {
		s.audit.Record(ctx, Event{Kind: EventSessionRevoked, UserID: userID, IP: c.IP, UserAgent: c.UserAgent, SessionID: e.ID})
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

// endOthers ends every registered session of user uid but this one and
// returns how many it ended.
func (s *Sessions) endOthers(ctx context.Context, uid int64, c Client) (int, error) {
	entries, err := s.registry.List(ctx, uid)
	if err != nil {
		return 0, unavailable("registry list", err)
	}
	current := s.sm.GetString(ctx, keySessionID)
	others := slices.DeleteFunc(entries, func(e RegistryEntry) bool { return e.ID == current })
	return len(others), s.end(ctx, uid, others, c)
}

// carryOver moves this request's session to gen, the generation that the
// caller's own change gave the user, and ends the user's other sessions.
// Every other session is already ended by gen; ending them in the registry
// too frees the store and the sessions page at once. If gen is not the one
// right after this session's, another change (EndAll, a second password
// change) moved the generation on meanwhile and ended this session as well:
// it is not carried over, and ends here.
func (s *Sessions) carryOver(ctx context.Context, uid, gen int64, c Client) (int, error) {
	if gen != s.sm.GetInt64(ctx, keyGen)+1 {
		n, err := s.endOthers(ctx, uid, c)
		if err != nil {
			return n, err
		}
		return n, s.LogOut(ctx, c)
	}
	s.sm.Put(ctx, keyGen, gen)
	return s.endOthers(ctx, uid, c)
}

// RevokeOthers ends every session of the signed-in user but this one and
// returns how many the registry knew of. It moves the user's session
// generation on, so that it holds for sessions the registry lost too, and
// gives this session a new token: whoever else held this one (a copied
// cookie) is signed out as well, and a request of this session still in
// flight cannot write the old generation back.
func (s *Sessions) RevokeOthers(ctx context.Context, c Client) (int, error) {
	uid, ok := s.UserID(ctx)
	if !ok {
		return 0, nil
	}
	gen, err := s.gens.NextSessionGeneration(ctx, uid)
	if err != nil {
		return 0, err
	}
	return s.keep(ctx, uid, gen, c)
}

// keep carries this request's session over to gen (see carryOver) and
// renews its token, unless it could not be carried over.
func (s *Sessions) keep(ctx context.Context, uid, gen int64, c Client) (int, error) {
	n, err := s.carryOver(ctx, uid, gen, c)
	if err != nil {
		return n, err
	}
	if _, ok := s.UserID(ctx); !ok {
		return n, nil
	}
	return n, s.renew(ctx, uid)
}

// PasswordChanged keeps this request's session signed in after a password
// change (Service.ChangePassword) that moved the user's session generation
// to gen and so ended every session: this one is carried over to gen and
// gets a new token (a privilege change); the others are removed from the
// registry.
func (s *Sessions) PasswordChanged(ctx context.Context, gen int64, c Client) error {
	uid, ok := s.UserID(ctx)
	if !ok {
		return nil
	}
	_, err := s.keep(ctx, uid, gen, c)
	return err
}

// EndAll ends every session of user userID on every instance: it moves the
// user's session generation on (which holds even for sessions the registry
// lost) and ends the sessions the registry knows of. For password resets
// and administrators; this request's own session is left to the caller.
func (s *Sessions) EndAll(ctx context.Context, userID int64, c Client) error {
	// A deleted account has no generation left to move on, and its
	// sessions end at their next request anyway; the registry's are ended
	// here all the same.
	if _, err := s.gens.NextSessionGeneration(ctx, userID); err != nil && !errors.Is(err, ErrUserNotFound) {
		return err
	}
	entries, err := s.registry.List(ctx, userID)
	if err != nil {
		return unavailable("registry list", err)
	}
	return s.end(ctx, userID, entries, c)
}

// RevokeAll ends every session of the signed-in user, this one included
// (its cookie is expired), as when the account is deleted.
func (s *Sessions) RevokeAll(ctx context.Context, c Client) error {
	uid, ok := s.UserID(ctx)
	if !ok {
		return nil
	}
	if _, err := s.endOthers(ctx, uid, c); err != nil {
		return err
	}
	return s.LogOut(ctx, c)
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
