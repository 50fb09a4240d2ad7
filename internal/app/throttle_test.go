package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// fromIP returns a client whose requests come, through the trusted proxy
// the test instances believe (127.0.0.1), from ip.
func fromIP(t *testing.T, ip string) *webtest.Client {
	t.Helper()
	c := webtest.NewClient(t)
	c.Header.Set("X-Forwarded-For", ip)
	return c
}

// attempt posts a login through c and returns the response, whatever its status.
func attempt(c *webtest.Client, base, email, password string) *webtest.Response {
	return c.Post(base+"/login", url.Values{"email": {email}, "password": {password}})
}

// wantThrottled checks a 429 login page with a usable Retry-After.
func wantThrottled(t *testing.T, res *webtest.Response, window time.Duration) {
	t.Helper()
	webtest.WantStatus(t, res, http.StatusTooManyRequests)
	ra := res.Header.Get("Retry-After")
	secs, err := strconv.Atoi(ra)
	if err != nil || secs <= 0 || secs > int(window.Seconds())+1 {
		t.Fatalf("Retry-After = %q, want whole seconds in (0, %v]", ra, window)
	}
	doc := res.Doc(t)
	if got := doc.Find(`.alert-error[role="alert"]`).Text(); !strings.Contains(got, "Too many failed attempts") {
		t.Errorf("429 page message = %q, want the too-many-attempts message", got)
	}
	if res.Cookie("sid") != nil {
		t.Errorf("a throttled attempt set the session cookie")
	}
}

// failN makes n failed logins and checks each is an ordinary 422.
func failN(t *testing.T, c *webtest.Client, base, email string, n int) {
	t.Helper()
	for i := range n {
		res := attempt(c, base, email, fmt.Sprintf("wrong password %d", i))
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	}
}

// TestLoginThrottle checks the failed-login limits per account and client
// IP, and per IP across accounts.
func TestLoginThrottle(t *testing.T) {
	const (
		email       = "ann@example.com"
		maxFailures = 3
	)
	window := 15 * time.Minute
	opts := options{maxFailures: maxFailures, trustedProxies: "127.0.0.1/32"}
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			setup := func(t *testing.T, o options) (*shared, *instance) {
				sh := newShared(t, store)
				srv := newInstance(t, sh, o)
				webtest.NewClient(t).SignUp(srv.URL, email, webtest.Password)
				return sh, srv
			}

			t.Run("account and IP", func(t *testing.T) {
				_, srv := setup(t, opts)
				attacker := fromIP(t, "198.51.100.1")
				failN(t, attacker, srv.URL, email, maxFailures)
				// Locked out even with the right password.
				wantThrottled(t, attempt(attacker, srv.URL, email, webtest.Password), window)
				if attacker.Cookie("sid") != "" {
					t.Fatal("throttled client got a session")
				}
				// Prepending a made-up address does not help: the client is
				// the right-most address the trusted proxy saw.
				spoof := fromIP(t, "203.0.113.9, 198.51.100.1")
				wantThrottled(t, attempt(spoof, srv.URL, email, webtest.Password), window)
				// The user, from another address, is not locked out.
				fromIP(t, "198.51.100.2").LogIn(srv.URL, email, webtest.Password, false)
				// The email is normalised before counting.
				wantThrottled(t, attempt(attacker, srv.URL, " ANN@example.com", webtest.Password), window)
			})

			t.Run("success clears the count", func(t *testing.T) {
				_, srv := setup(t, opts)
				c := fromIP(t, "198.51.100.1")
				failN(t, c, srv.URL, email, maxFailures-1)
				c.LogIn(srv.URL, email, webtest.Password, false)
				failN(t, c, srv.URL, email, maxFailures-1)
				c.LogIn(srv.URL, email, webtest.Password, false)
			})

			t.Run("per-IP cap stops spraying", func(t *testing.T) {
				_, srv := setup(t, opts)
				sprayer := fromIP(t, "198.51.100.1")
				// One guess on each of many accounts stays under the
				// per-account limit, but not under the per-IP one.
				for i := range 20 * maxFailures {
					res := attempt(sprayer, srv.URL, fmt.Sprintf("user%d@example.com", i), "Summer2025!")
					webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
				}
				wantThrottled(t, attempt(sprayer, srv.URL, email, webtest.Password), window)
				fromIP(t, "198.51.100.2").LogIn(srv.URL, email, webtest.Password, false)
			})

			t.Run("X-Forwarded-For entries with a port", func(t *testing.T) {
				// Some proxies add the client's port. Each form must be read
				// as its address: read as "unparsable", every client would
				// fall back to the proxy's address and share one budget.
				_, srv := setup(t, opts)
				attacker := fromIP(t, "198.51.100.9:5555")
				failN(t, attacker, srv.URL, email, maxFailures)
				wantThrottled(t, attempt(attacker, srv.URL, email, webtest.Password), window)
				// Another port is the same client.
				wantThrottled(t, attempt(fromIP(t, "198.51.100.9:6666"), srv.URL, email, webtest.Password), window)
				// Users behind the same proxy, with or without a port, are
				// not locked out with the attacker.
				fromIP(t, "[2001:db8::1]:443").LogIn(srv.URL, email, webtest.Password, false)
				fromIP(t, "198.51.100.10:5555").LogIn(srv.URL, email, webtest.Password, false)
				webtest.NewClient(t).LogIn(srv.URL, email, webtest.Password, false)

				v6 := fromIP(t, "[2001:db8::1]:443")
				failN(t, v6, srv.URL, email, maxFailures)
				wantThrottled(t, attempt(fromIP(t, "2001:db8::1"), srv.URL, email, webtest.Password), window)
				fromIP(t, "198.51.100.10:5555").LogIn(srv.URL, email, webtest.Password, false)
			})

			t.Run("untrusted peer's X-Forwarded-For ignored", func(t *testing.T) {
				_, srv := setup(t, options{maxFailures: maxFailures}) // no trusted proxies
				failN(t, fromIP(t, "198.51.100.1"), srv.URL, email, maxFailures)
				// Claiming another address does not escape the lock-out:
				// every client here is 127.0.0.1.
				wantThrottled(t, attempt(fromIP(t, "198.51.100.2"), srv.URL, email, webtest.Password), window)
				wantThrottled(t, attempt(webtest.NewClient(t), srv.URL, email, webtest.Password), window)
			})

			t.Run("shared between instances", func(t *testing.T) {
				sh, a := setup(t, opts)
				b := newInstance(t, sh, opts)
				c := fromIP(t, "198.51.100.1")
				failN(t, c, a.URL, email, maxFailures)
				wantThrottled(t, attempt(c, b.URL, email, webtest.Password), window)
			})

			t.Run("password confirmation throttled", func(t *testing.T) {
				_, srv := setup(t, opts)
				c := fromIP(t, "198.51.100.1")
				c.LogIn(srv.URL, email, webtest.Password, false)
				for range maxFailures {
					res := c.Post(srv.URL+"/account/password", url.Values{"current_password": {"guess"}, "new_password": {"a brand new passphrase"}})
					webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
				}
				res := c.Post(srv.URL+"/account/password", url.Values{"current_password": {webtest.Password}, "new_password": {"a brand new passphrase"}})
				webtest.WantStatus(t, res, http.StatusTooManyRequests)
				if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra <= 0 {
					t.Errorf("Retry-After = %q, want whole seconds > 0", res.Header.Get("Retry-After"))
				}
				res = c.Post(srv.URL+"/account/delete", url.Values{"password": {webtest.Password}})
				webtest.WantStatus(t, res, http.StatusTooManyRequests)
				if got := c.SignedInAs(srv.URL); got != email {
					t.Fatalf("throttled confirmations: signed in as %q, want still %s", got, email)
				}
			})
		})
	}
}

// TestLoginThrottleWindow checks that a lock-out ends with its window.
func TestLoginThrottleWindow(t *testing.T) {
	t.Parallel()
	const window = 2 * time.Second
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			srv := newInstance(t, newShared(t, store), options{maxFailures: 3, window: window})
			webtest.NewClient(t).SignUp(srv.URL, "ann@example.com", webtest.Password)
			c := webtest.NewClient(t)
			failN(t, c, srv.URL, "ann@example.com", 1)
			windowStarted := time.Now() // at the latest: the first failure opened it
			failN(t, c, srv.URL, "ann@example.com", 2)
			wantThrottled(t, attempt(c, srv.URL, "ann@example.com", webtest.Password), window)
			time.Sleep(time.Until(windowStarted.Add(window + 300*time.Millisecond)))
			c.LogIn(srv.URL, "ann@example.com", webtest.Password, false)
		})
	}
}

// TestLoginTimingUnknownEmail checks, with the real argon2id cost, that a
// login for an unknown email takes as long as a wrong password for a real
// account, so that response times do not reveal who has an account. The
// tolerance is wide: it must catch a missing hash (a ratio of 10 or more),
// not scheduler noise. On a busy machine one round of medians can still
// stray, so up to three rounds are measured; a real difference fails them all.
func TestLoginTimingUnknownEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("real argon2id cost")
	}
	const (
		tries  = 15
		rounds = 3
	)
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{params: &auth.DefaultArgon2Params, maxFailures: 10000})
			webtest.NewClient(t).SignUp(srv.URL, "ann@example.com", webtest.Password)
			c := webtest.NewClient(t)
			timed := func(email string) time.Duration {
				start := time.Now()
				res := attempt(c, srv.URL, email, "wrong password entirely")
				d := time.Since(start)
				webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
				return d
			}
			timed("ann@example.com") // warm up connections and caches
			timed("nobody@example.com")
			for round := 1; ; round++ {
				var known, unknown []time.Duration
				for i := range tries {
					// Interleaved, in alternating order, so that drift in
					// machine load and garbage collection hit both alike.
					unknownEmail := fmt.Sprintf("nobody%d.%d@example.com", round, i)
					if i%2 == 0 {
						known = append(known, timed("ann@example.com"))
						unknown = append(unknown, timed(unknownEmail))
					} else {
						unknown = append(unknown, timed(unknownEmail))
						known = append(known, timed("ann@example.com"))
					}
				}
				mk, mu := median(known), median(unknown)
				ratio := float64(mu) / float64(mk)
				t.Logf("round %d, median of %d tries: wrong password %v, unknown email %v, ratio %.2f", round, tries, mk, mu, ratio)
				if ratio >= 0.5 && ratio <= 2 {
					return
				}
				if round == rounds {
					t.Fatalf("unknown email median %v vs wrong password median %v: ratio %.2f, want within [0.5, 2]", mu, mk, ratio)
				}
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
