package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/storage"
)

// recorder is an auth.Auditor that keeps the events it receives.
type recorder struct {
	mu     sync.Mutex
	events []auth.Event
}

func (r *recorder) Record(_ context.Context, e auth.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// take returns the events recorded since the last call.
func (r *recorder) take() []auth.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func (r *recorder) want(t *testing.T, want ...auth.Event) {
	t.Helper()
	got := r.take()
	if len(got) != len(want) {
		t.Fatalf("events: got %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

type fixture struct {
	svc   *auth.Service
	db    *storage.DB
	audit *recorder
}

// newFixture returns a Service over a fresh SQLite file and an in-memory
// counter, with cheap hashing.
func newFixture(t *testing.T, cfg auth.ThrottleConfig) *fixture {
	t.Helper()
	db, err := storage.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "users.db"))
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return newFixtureOn(t, db, fastParams, cfg)
}

func newFixtureOn(t *testing.T, db *storage.DB, params auth.Argon2Params, cfg auth.ThrottleConfig) *fixture {
	t.Helper()
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = 5
	}
	if cfg.Window == 0 {
		cfg.Window = 15 * time.Minute
	}
	rec := &recorder{}
	th := auth.NewThrottle(memstate.NewCounter(memstate.DefaultCounterCapacity), cfg)
	svc, err := auth.NewService(db, auth.NewHasher(params), th, rec)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return &fixture{svc: svc, db: db, audit: rec}
}

var (
	clientA = auth.Client{IP: "192.0.2.1", UserAgent: "test A"}
	clientB = auth.Client{IP: "198.51.100.2", UserAgent: "test B"}
)

const (
	annEmail = "ann@example.com"
	annPass  = "correct horse battery staple"
)

func (f *fixture) signUp(t *testing.T, email, password string) auth.User {
	t.Helper()
	u, err := f.svc.SignUp(t.Context(), email, password, clientA)
	if err != nil {
		t.Fatalf("SignUp(%q): %v", email, err)
	}
	f.audit.want(t, auth.Event{Kind: auth.EventSignup, UserID: u.ID, IP: clientA.IP, UserAgent: clientA.UserAgent})
	return u
}

func (f *fixture) storedHash(t *testing.T, id int64) string {
	t.Helper()
	u, err := f.db.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	return u.PasswordHash
}

func wantThrottledErr(t *testing.T, err error, window time.Duration) {
	t.Helper()
	var te *auth.ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("got %v, want *ThrottledError", err)
	}
	if te.RetryAfter <= 0 || te.RetryAfter > window {
		t.Fatalf("RetryAfter: got %v, want in (0, %v]", te.RetryAfter, window)
	}
}

func TestSignUp(t *testing.T) {
	f := newFixture(t, auth.ThrottleConfig{})
	u := f.signUp(t, "  Ann@Example.COM ", annPass)
	if u.ID == 0 || u.Email != annEmail {
		t.Fatalf("SignUp: got %+v, want an id and the normalised email", u)
	}
	stored, err := f.db.UserByEmail(t.Context(), annEmail)
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if stored.ID != u.ID || !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("stored user: got %+v, want id %d and an argon2id hash", stored, u.ID)
	}
	if strings.Contains(stored.PasswordHash, annPass) {
		t.Fatal("the stored hash contains the password")
	}

	tests := []struct {
		name     string
		email    string
		password string
		err      error
	}{
		{"same email", annEmail, "another good passphrase", auth.ErrDuplicateEmail},
		{"same email in other case", "ANN@example.com", "another good passphrase", auth.ErrDuplicateEmail},
		{"same email with spaces", " ann@example.com\t", "another good passphrase", auth.ErrDuplicateEmail},
		{"invalid email", "ann", "another good passphrase", auth.ErrEmailInvalid},
		{"no email", "", "another good passphrase", auth.ErrEmailRequired},
		{"short password", "bob@example.com", "short", auth.ErrPasswordTooShort},
		{"long password", "bob@example.com", strings.Repeat("x", 257), auth.ErrPasswordTooLong},
		{"common password", "bob@example.com", "Password1", auth.ErrPasswordCommon},
		{"password is the email", "bob.builder@example.com", "Bob.Builder@example.com", auth.ErrPasswordIsEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.SignUp(t.Context(), tt.email, tt.password, clientA)
			if !errors.Is(err, tt.err) {
				t.Fatalf("SignUp(%q): got %v, want %v", tt.email, err, tt.err)
			}
			f.audit.want(t) // nothing happened
		})
	}
	if _, err := f.db.UserByEmail(t.Context(), "bob@example.com"); !errors.Is(err, auth.ErrUserNotFound) {
		t.Fatalf("a refused sign-up created an account: %v", err)
	}
}

func TestSignUpRace(t *testing.T) {
	// Two sign-ups with one email at once: the unique index decides, and
	// the loser sees ErrDuplicateEmail, not a database error.
	f := newFixture(t, auth.ThrottleConfig{})
	emails := []string{"race@example.com", "RACE@example.com", "Race@Example.com", " race@example.com"}
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = f.svc.SignUp(t.Context(), emails[i%len(emails)], annPass, clientA)
		})
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, auth.ErrDuplicateEmail):
			t.Errorf("SignUp: got %v, want nil or ErrDuplicateEmail", err)
		}
	}
	if created != 1 {
		t.Fatalf("got %d accounts created, want 1", created)
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t, auth.ThrottleConfig{})
	ann := f.signUp(t, annEmail, annPass)

	tests := []struct {
		name     string
		email    string
		password string
		err      error
		event    auth.Event // zero: no event
	}{
		{"right", annEmail, annPass, nil, auth.Event{}},
		{"email in other case and spaces", " ANN@Example.com ", annPass, nil, auth.Event{}},
		{"wrong password", annEmail, "wrong horse battery staple", auth.ErrInvalidCredentials,
			auth.Event{Kind: auth.EventLoginFailure, UserID: ann.ID, IP: clientA.IP, UserAgent: clientA.UserAgent}},
		{"password in other case", annEmail, strings.ToUpper(annPass), auth.ErrInvalidCredentials,
			auth.Event{Kind: auth.EventLoginFailure, UserID: ann.ID, IP: clientA.IP, UserAgent: clientA.UserAgent}},
		{"empty password", annEmail, "", auth.ErrInvalidCredentials,
			auth.Event{Kind: auth.EventLoginFailure, UserID: ann.ID, IP: clientA.IP, UserAgent: clientA.UserAgent}},
		{"overlong password", annEmail, strings.Repeat("x", 100_000), auth.ErrInvalidCredentials,
			auth.Event{Kind: auth.EventLoginFailure, IP: clientA.IP, UserAgent: clientA.UserAgent}},
		// Unknown email: the same error as a wrong password, and no account
		// named in the event.
		{"unknown email", "nobody@example.com", annPass, auth.ErrInvalidCredentials,
			auth.Event{Kind: auth.EventLoginFailure, IP: clientA.IP, UserAgent: clientA.UserAgent}},
		{"empty email", "", annPass, auth.ErrInvalidCredentials,
			auth.Event{Kind: auth.EventLoginFailure, IP: clientA.IP, UserAgent: clientA.UserAgent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.svc.Authenticate(t.Context(), tt.email, tt.password, clientA)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Authenticate: got %v, want %v", err, tt.err)
			}
			if err == nil && u.ID != ann.ID {
				t.Fatalf("Authenticate: got user %d, want %d", u.ID, ann.ID)
			}
			if err != nil && u != (auth.Login{}) {
				t.Fatalf("Authenticate failed but returned user %+v", u)
			}
			if tt.event == (auth.Event{}) {
				f.audit.want(t)
			} else {
				f.audit.want(t, tt.event)
			}
			// Each failure counts; a success clears them: keep below the limit.
			if err == nil {
				return
			}
			if _, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientA); err != nil {
				t.Fatalf("login after a failure: %v", err)
			}
		})
	}
}

func TestAuthenticateMalformedStoredHash(t *testing.T) {
	// A damaged row answers like a wrong password, not like an outage.
	f := newFixture(t, auth.ThrottleConfig{})
	ann := f.signUp(t, annEmail, annPass)
	if _, err := f.db.UpdatePasswordHash(t.Context(), ann.ID, "not a hash"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("got %v, want ErrInvalidCredentials", err)
	}
}

func TestAuthenticateThrottle(t *testing.T) {
	const window = 15 * time.Minute

	t.Run("per account and IP", func(t *testing.T) {
		f := newFixture(t, auth.ThrottleConfig{MaxFailures: 3, Window: window})
		ann := f.signUp(t, annEmail, annPass)
		for range 3 {
			if _, err := f.svc.Authenticate(t.Context(), annEmail, "wrong password!", clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("got %v, want ErrInvalidCredentials", err)
			}
		}
		f.audit.take()
		// The right password no longer helps from this address...
		_, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientA)
		wantThrottledErr(t, err, window)
		f.audit.want(t, auth.Event{Kind: auth.EventLoginThrottled, IP: clientA.IP, UserAgent: clientA.UserAgent})
		// ...nor does the email's spelling...
		_, err = f.svc.Authenticate(t.Context(), "ANN@example.com", annPass, clientA)
		wantThrottledErr(t, err, window)
		// ...but Ann elsewhere is not locked out.
		if u, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientB); err != nil || u.ID != ann.ID {
			t.Fatalf("from another IP: got (%+v, %v), want Ann", u, err)
		}
	})

	t.Run("success resets the account's count", func(t *testing.T) {
		// Two failures then a success, again and again: never throttled,
		// though the failures add up to more than the limit.
		f := newFixture(t, auth.ThrottleConfig{MaxFailures: 3, Window: window})
		f.signUp(t, annEmail, annPass)
		for round := range 4 {
			for range 2 {
				if _, err := f.svc.Authenticate(t.Context(), annEmail, "wrong password!", clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
					t.Fatalf("round %d: got %v, want ErrInvalidCredentials", round, err)
				}
			}
			if _, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientA); err != nil {
				t.Fatalf("round %d: right password: got %v, want success", round, err)
			}
		}
	})

	t.Run("per IP across accounts", func(t *testing.T) {
		f := newFixture(t, auth.ThrottleConfig{MaxFailures: 5, Window: window, MaxFailuresPerIP: 3})
		ann := f.signUp(t, annEmail, annPass)
		for _, email := range []string{"x@example.com", "y@example.com", "z@example.com"} {
			if _, err := f.svc.Authenticate(t.Context(), email, "guess number one", clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("got %v, want ErrInvalidCredentials", err)
			}
		}
		_, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientA)
		wantThrottledErr(t, err, window)
		if u, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientB); err != nil || u.ID != ann.ID {
			t.Fatalf("from another IP: got (%+v, %v), want Ann", u, err)
		}
	})

	t.Run("password checks share the login budget", func(t *testing.T) {
		// A stolen session must not become an unthrottled password oracle.
		f := newFixture(t, auth.ThrottleConfig{MaxFailures: 3, Window: window})
		ann := f.signUp(t, annEmail, annPass)
		for range 3 {
			if _, err := f.svc.ChangePassword(t.Context(), ann.ID, "wrong password!", "a brand new passphrase", clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("ChangePassword: got %v, want ErrInvalidCredentials", err)
			}
		}
		_, err := f.svc.ChangePassword(t.Context(), ann.ID, annPass, "a brand new passphrase", clientA)
		wantThrottledErr(t, err, window)
		wantThrottledErr(t, f.svc.DeleteAccount(t.Context(), ann.ID, annPass, clientA), window)
		_, err = f.svc.Authenticate(t.Context(), annEmail, annPass, clientA)
		wantThrottledErr(t, err, window)
	})
}

func TestRehashOnLogin(t *testing.T) {
	f := newFixture(t, auth.ThrottleConfig{})
	ann := f.signUp(t, annEmail, annPass)

	// Ann's hash was made when the parameters were lower.
	older := auth.Argon2Params{Memory: 32, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	old := mustHash(t, auth.NewHasher(older), annPass)
	gen, err := f.db.UpdatePasswordHash(t.Context(), ann.ID, old)
	if err != nil {
		t.Fatalf("UpdatePasswordHash: %v", err)
	}

	// A wrong password proves nothing: the old hash stays.
	if _, err := f.svc.Authenticate(t.Context(), annEmail, "wrong password!", clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("got %v, want ErrInvalidCredentials", err)
	}
	if got := f.storedHash(t, ann.ID); got != old {
		t.Fatalf("stored hash after a wrong password: got %q, want the old one", got)
	}

	u, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientA)
	if err != nil {
		t.Fatalf("Authenticate with an old hash: %v", err)
	}
	rehashed := f.storedHash(t, ann.ID)
	if !strings.HasPrefix(rehashed, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("stored hash after login: got %q, want the current parameters m=64,t=1,p=1", rehashed)
	}
	if u.PasswordHash != rehashed {
		t.Fatalf("returned user's hash: got %q, want the new stored one", u.PasswordHash)
	}
	// The same password, stronger: the user's sessions stay signed in.
	if got, _ := f.svc.User(t.Context(), ann.ID); got.SessionGen != gen || u.SessionGen != gen {
		t.Fatalf("session generation after a rehash: got %d (returned %d), want %d unchanged", got.SessionGen, u.SessionGen, gen)
	}
	match, rehash, err := auth.NewHasher(fastParams).Verify(t.Context(), annPass, rehashed)
	if err != nil || !match || rehash {
		t.Fatalf("new hash: Verify got (%v, %v, %v), want (true, false, nil)", match, rehash, err)
	}

	// A current hash is not rewritten on every login.
	if _, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientA); err != nil {
		t.Fatal(err)
	}
	if got := f.storedHash(t, ann.ID); got != rehashed {
		t.Fatal("a current hash was rewritten on login")
	}

	// Raising the parameters again (a new deployment) upgrades it again.
	newer := auth.Argon2Params{Memory: 128, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	upgraded := newFixtureOn(t, f.db, newer, auth.ThrottleConfig{})
	if _, err := upgraded.svc.Authenticate(t.Context(), annEmail, annPass, clientA); err != nil {
		t.Fatal(err)
	}
	if got := f.storedHash(t, ann.ID); !strings.HasPrefix(got, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("stored hash after an upgrade: got %q, want m=128,t=2,p=1", got)
	}
}

func TestChangePassword(t *testing.T) {
	const next = "a brand new passphrase"
	tests := []struct {
		name    string
		current string
		next    string
		err     error
	}{
		{"wrong current", "wrong password!", next, auth.ErrInvalidCredentials},
		{"too short", annPass, "short", auth.ErrPasswordTooShort},
		{"too long", annPass, strings.Repeat("x", 257), auth.ErrPasswordTooLong},
		{"common", annPass, "Password123", auth.ErrPasswordCommon},
		{"the email", annPass, "ANN@example.com", auth.ErrPasswordIsEmail},
		{"too long and wrong current", "wrong password!", strings.Repeat("x", 257), auth.ErrPasswordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, auth.ThrottleConfig{})
			ann := f.signUp(t, annEmail, annPass)
			before := f.storedHash(t, ann.ID)
			if _, err := f.svc.ChangePassword(t.Context(), ann.ID, tt.current, tt.next, clientA); !errors.Is(err, tt.err) {
				t.Fatalf("ChangePassword: got %v, want %v", err, tt.err)
			}
			if f.storedHash(t, ann.ID) != before {
				t.Fatal("a refused change replaced the password")
			}
			if tt.err == auth.ErrInvalidCredentials {
				f.audit.want(t, auth.Event{Kind: auth.EventLoginFailure, UserID: ann.ID, IP: clientA.IP, UserAgent: clientA.UserAgent})
			} else {
				f.audit.want(t)
			}
		})
	}

	t.Run("success", func(t *testing.T) {
		f := newFixture(t, auth.ThrottleConfig{})
		ann := f.signUp(t, annEmail, annPass)
		gen, err := f.svc.ChangePassword(t.Context(), ann.ID, annPass, next, clientB)
		if err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}
		// A new password ends every session: the generation moves on.
		if got, _ := f.svc.User(t.Context(), ann.ID); gen != ann.SessionGen+1 || got.SessionGen != gen {
			t.Fatalf("session generation: returned %d, stored %d, want %d", gen, got.SessionGen, ann.SessionGen+1)
		}
		f.audit.want(t, auth.Event{Kind: auth.EventPasswordChanged, UserID: ann.ID, IP: clientB.IP, UserAgent: clientB.UserAgent})
		if _, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("old password: got %v, want ErrInvalidCredentials", err)
		}
		if u, err := f.svc.Authenticate(t.Context(), annEmail, next, clientA); err != nil || u.ID != ann.ID {
			t.Fatalf("new password: got (%+v, %v), want Ann", u, err)
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		f := newFixture(t, auth.ThrottleConfig{})
		if _, err := f.svc.ChangePassword(t.Context(), 999, annPass, next, clientA); !errors.Is(err, auth.ErrUserNotFound) {
			t.Fatalf("got %v, want ErrUserNotFound", err)
		}
	})
}

func TestDeleteAccount(t *testing.T) {
	f := newFixture(t, auth.ThrottleConfig{})
	ann := f.signUp(t, annEmail, annPass)

	if err := f.svc.DeleteAccount(t.Context(), ann.ID, "wrong password!", clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("wrong password: got %v, want ErrInvalidCredentials", err)
	}
	f.audit.want(t, auth.Event{Kind: auth.EventLoginFailure, UserID: ann.ID, IP: clientA.IP, UserAgent: clientA.UserAgent})
	if _, err := f.svc.User(t.Context(), ann.ID); err != nil {
		t.Fatalf("a refused deletion removed the account: %v", err)
	}

	if err := f.svc.DeleteAccount(t.Context(), ann.ID, annPass, clientA); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	f.audit.want(t, auth.Event{Kind: auth.EventAccountDeleted, UserID: ann.ID, IP: clientA.IP, UserAgent: clientA.UserAgent})
	if _, err := f.svc.User(t.Context(), ann.ID); !errors.Is(err, auth.ErrUserNotFound) {
		t.Fatalf("User after deletion: got %v, want ErrUserNotFound", err)
	}
	if _, err := f.svc.Authenticate(t.Context(), annEmail, annPass, clientA); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("login after deletion: got %v, want ErrInvalidCredentials", err)
	}
	f.audit.want(t, auth.Event{Kind: auth.EventLoginFailure, IP: clientA.IP, UserAgent: clientA.UserAgent})
	if err := f.svc.DeleteAccount(t.Context(), ann.ID, annPass, clientA); !errors.Is(err, auth.ErrUserNotFound) {
		t.Fatalf("second deletion: got %v, want ErrUserNotFound", err)
	}
	// The address is free again.
	again := f.signUp(t, annEmail, "another good passphrase")
	if again.ID == ann.ID {
		t.Fatalf("a new account reused the deleted id %d", ann.ID)
	}
}
