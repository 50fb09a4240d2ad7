package auth_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/storage"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

// countingUsers counts the calls that reach the database.
type countingUsers struct {
	*storage.DB
	calls atomic.Int64
}

func (c *countingUsers) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	c.calls.Add(1)
	return c.DB.UserByEmail(ctx, email)
}

func (c *countingUsers) CreateUser(ctx context.Context, email, hash string) (auth.User, error) {
	c.calls.Add(1)
	return c.DB.CreateUser(ctx, email, hash)
}

// databases opens a fresh database of each dialect.
var databases = map[string]func(t *testing.T) *storage.DB{
	"sqlite": func(t *testing.T) *storage.DB {
		return openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "users.db"))
	},
	"postgres": func(t *testing.T) *storage.DB { return openDB(t, testenv.PostgresURL(t)) },
}

func openDB(t *testing.T, url string) *storage.DB {
	t.Helper()
	db, err := storage.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestEmailControlCharacters checks that an email holding a control
// character or invalid UTF-8 is refused as invalid before any database
// call, at login and at sign-up, on both databases (PostgreSQL used to
// answer a NUL byte with an error, a 503).
func TestEmailControlCharacters(t *testing.T) {
	emails := []string{
		"ann\x00@example.com",
		"ann@example.com\x00",
		"ann@exa\x01mple.com",
		"ann\x7f@example.com",
		"ann\u0085@example.com", // C1 control
		"ann\u2028@example.com" + "\x1b",
		"\xff\xfe@example.com",
		"ann@example.com\xc3",
	}
	for name, open := range databases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			users := &countingUsers{DB: open(t)}
			th := auth.NewThrottle(memstate.NewCounter(memstate.DefaultCounterCapacity), auth.ThrottleConfig{MaxFailures: 5})
			svc, err := auth.NewService(users, auth.NewHasher(fastParams), th, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, email := range emails {
				if _, err := svc.Authenticate(t.Context(), email, annPass, clientA); !errors.Is(err, auth.ErrEmailInvalid) {
					t.Errorf("Authenticate(%q): got %v, want ErrEmailInvalid", email, err)
				}
				if _, err := svc.SignUp(t.Context(), email, annPass, clientA); !errors.Is(err, auth.ErrEmailInvalid) {
					t.Errorf("SignUp(%q): got %v, want ErrEmailInvalid", email, err)
				}
			}
			if n := users.calls.Load(); n != 0 {
				t.Errorf("%d database calls, want none", n)
			}
		})
	}
}

// TestFieldErrors checks that policy errors name their field, so that a
// handler maps them in one place, and still match with errors.Is.
func TestFieldErrors(t *testing.T) {
	f := newFixture(t, auth.ThrottleConfig{})
	ann := f.signUp(t, annEmail, annPass)
	tests := []struct {
		name  string
		err   error
		field string
		is    error
	}{
		{"sign-up email", second(f.svc.SignUp(t.Context(), "not an address", annPass, clientA)), "email", auth.ErrEmailInvalid},
		{"sign-up taken", second(f.svc.SignUp(t.Context(), annEmail, annPass, clientA)), "email", auth.ErrDuplicateEmail},
		{"sign-up password", second(f.svc.SignUp(t.Context(), "bob@example.com", "short", clientA)), "password", auth.ErrPasswordTooShort},
		{"new password too short", second(f.svc.ChangePassword(t.Context(), ann.ID, annPass, "short", clientA)), "new_password", auth.ErrPasswordTooShort},
		{"new password common", second(f.svc.ChangePassword(t.Context(), ann.ID, annPass, "password123", clientA)), "new_password", auth.ErrPasswordCommon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fe *auth.FieldError
			if !errors.As(tt.err, &fe) {
				t.Fatalf("got %v, want an *auth.FieldError", tt.err)
			}
			if fe.Field != tt.field || fe.Message == "" {
				t.Errorf("got field %q message %q, want field %q and a message", fe.Field, fe.Message, tt.field)
			}
			if !errors.Is(tt.err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.is)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

// TestKnownDevice checks the device cookie that a login returns: the same
// browser is then a known device for that account only, and a changed
// cookie is no device at all.
func TestKnownDevice(t *testing.T) {
	key := []byte("a device cookie key of thirty-two bytes or more")
	f := newFixture(t, auth.ThrottleConfig{DeviceKey: key})
	f.signUp(t, annEmail, annPass)
	login := func(email, device string) auth.Login {
		t.Helper()
		c := clientA
		c.Device = device
		l, err := f.svc.Authenticate(t.Context(), email, annPass, c)
		if err != nil {
			t.Fatalf("Authenticate(%q): %v", email, err)
		}
		return l
	}
	first := login(annEmail, "")
	if first.KnownDevice || first.DeviceCookie == "" {
		t.Fatalf("first login: KnownDevice=%v cookie=%q, want an unknown device given a cookie", first.KnownDevice, first.DeviceCookie)
	}
	again := login(" ANN@example.com", first.DeviceCookie)
	if !again.KnownDevice {
		t.Fatalf("login with the device cookie: KnownDevice=false")
	}
	tampered := []byte(first.DeviceCookie)
	tampered[3] ^= 1
	if login(annEmail, string(tampered)).KnownDevice {
		t.Errorf("a tampered cookie made a known device")
	}
	other := newFixture(t, auth.ThrottleConfig{DeviceKey: []byte("another key, as another SECRET_KEY would give")})
	other.signUp(t, annEmail, annPass)
	if l, err := other.svc.Authenticate(t.Context(), annEmail, annPass, auth.Client{IP: clientA.IP, Device: first.DeviceCookie}); err != nil || l.KnownDevice {
		t.Errorf("a cookie signed with another key: KnownDevice=%v, err %v; want unknown", l.KnownDevice, err)
	}

	// One cookie remembers the five accounts signed in to last.
	cookie := again.DeviceCookie
	for i := range 5 {
		email := fmt.Sprintf("user%d@example.com", i)
		f.signUp(t, email, annPass)
		cookie = login(email, cookie).DeviceCookie
	}
	if login(annEmail, cookie).KnownDevice {
		t.Errorf("the sixth account back is still known")
	}
	if !login("user4@example.com", cookie).KnownDevice || !login("user1@example.com", cookie).KnownDevice {
		t.Errorf("one of the last five accounts is not known")
	}
}
