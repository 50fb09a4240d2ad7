package app_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// watchedBackend reports what reaches the session back-end for one key.
type watchedBackend struct {
	sessionstore.Backend
	mu     sync.Mutex
	key    string
	loaded chan struct{} // closed on the first Get of key
	sets   int           // writes of key attempted
}

func (b *watchedBackend) watch(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.key, b.loaded, b.sets = key, make(chan struct{}), 0
}

func (b *watchedBackend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, found, err := b.Backend.Get(ctx, key)
	b.mu.Lock()
	if key == b.key && b.loaded != nil {
		select {
		case <-b.loaded:
		default:
			close(b.loaded)
		}
	}
	b.mu.Unlock()
	return v, found, err
}

func (b *watchedBackend) Set(ctx context.Context, key string, value []byte, expiry time.Time) error {
	b.mu.Lock()
	if key == b.key {
		b.sets++
	}
	b.mu.Unlock()
	return b.Backend.Set(ctx, key, value, expiry)
}

func (b *watchedBackend) setsOfKey() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sets
}

// TestLogoutDuringSlowRequest checks that a request which loaded the
// session before a logout cannot write it back when it finishes. With a
// touch interval of 1ns every authenticated request changes its session and
// so saves it at the end: without tombstones in the store, the slow request
// would resurrect the logged-out session.
func TestLogoutDuringSlowRequest(t *testing.T) {
	const newPassword = "a brand new passphrase"
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			for _, tt := range []struct {
				name   string
				form   url.Values
				status int
			}{
				// The request only touches the session, then saves it.
				{"refused change", url.Values{"current_password": {"not my password"}, "new_password": {newPassword}}, http.StatusUnprocessableEntity},
				// The request renews the token: the session must not come
				// back under the new one either.
				{"password changed", url.Values{"current_password": {webtest.Password}, "new_password": {newPassword}}, http.StatusSeeOther},
			} {
				t.Run(tt.name, func(t *testing.T) {
					sh := newShared(t, store)
					var watched *watchedBackend
					srv := newInstance(t, sh, options{
						touchInterval: time.Nanosecond,
						wrapBackend: func(b sessionstore.Backend) sessionstore.Backend {
							watched = &watchedBackend{Backend: b}
							return watched
						},
					})
					c := webtest.NewClient(t)
					c.SignUp(srv.URL, "ann@example.com", webtest.Password)
					token := c.Cookie("sid")
					watched.watch(storeKey(token))

					// The slow request: headers at once, the body in two halves.
					body := tt.form.Encode()
					pr, pw := io.Pipe()
					req, err := http.NewRequest(http.MethodPost, srv.URL+"/account/password", pr)
					if err != nil {
						t.Fatal(err)
					}
					req.ContentLength = int64(len(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.AddCookie(&http.Cookie{Name: "sid", Value: token})
					type result struct {
						res  *http.Response
						body string
						err  error
					}
					done := make(chan result, 1)
					go func() {
						hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
						res, err := hc.Do(req)
						if err != nil {
							done <- result{err: err}
							return
						}
						defer res.Body.Close()
						b, err := io.ReadAll(res.Body)
						done <- result{res: res, body: string(b), err: err}
					}()
					if _, err := io.WriteString(pw, body[:len(body)/2]); err != nil {
						t.Fatal(err)
					}
					select {
					case <-watched.loaded:
					case <-time.After(5 * time.Second):
						t.Fatal("the slow request never loaded the session")
					}

					// Meanwhile the user logs out, from another tab or device.
					webtest.WantRedirect(t, withToken(t, token).Post(srv.URL+"/logout", nil), "/")

					if _, err := io.WriteString(pw, body[len(body)/2:]); err != nil {
						t.Fatal(err)
					}
					pw.Close()
					var r result
					select {
					case r = <-done:
					case <-time.After(10 * time.Second):
						t.Fatal("the slow request did not finish")
					}
					if r.err != nil {
						t.Fatalf("slow request: %v", r.err)
					}
					if r.res.StatusCode != tt.status {
						t.Fatalf("slow request: got status %d, want %d; body:\n%.400s", r.res.StatusCode, tt.status, r.body)
					}
					if tt.status == http.StatusUnprocessableEntity && watched.setsOfKey() == 0 {
						// Else the test proves nothing: the request must have
						// tried to save the session it loaded.
						t.Fatal("the slow request did not try to save its session")
					}

					tokens := []string{token}
					for _, ck := range r.res.Cookies() {
						if ck.Name == "sid" && ck.Value != "" && ck.Value != token {
							tokens = append(tokens, ck.Value)
						}
					}
					for i, tok := range tokens {
						if got := withToken(t, tok).SignedInAs(srv.URL); got != "" {
							t.Errorf("token %d (of %d) after logout and the slow request: signed in as %q", i, len(tokens), got)
						}
						if sh.sessionStored(t, tok) {
							t.Errorf("token %d (of %d): session in the store after logout", i, len(tokens))
						}
					}
					// Only a fresh login is listed: nothing of the logged-out
					// session lingers in the registry.
					fresh := webtest.NewClient(t)
					password := webtest.Password
					if tt.status == http.StatusSeeOther {
						password = newPassword
					}
					fresh.LogIn(srv.URL, "ann@example.com", password, false)
					if l := listSessions(t, fresh, srv.URL); l.items.Length() != 1 {
						t.Errorf("after logout: %d sessions listed, want only the fresh one", l.items.Length())
					}
				})
			}
		})
	}
}
