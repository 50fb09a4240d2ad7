package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

// counters makes a fresh auth.Counter on each back-end.
var counters = map[string]func(t *testing.T) auth.Counter{
	"memory": func(*testing.T) auth.Counter { return memstate.NewCounter(memstate.DefaultCounterCapacity) },
	"redis": func(t *testing.T) auth.Counter {
		pool, prefix := redisPool(t)
		return redisstate.NewCounter(pool, prefix)
	},
}

func redisPool(t *testing.T) (*redis.Pool, string) {
	t.Helper()
	url := testenv.RedisURL(t)
	pool := redisstate.NewPool(url)
	t.Cleanup(func() { pool.Close() })
	return pool, testenv.RedisPrefix(t, url)
}

// attempt makes a login attempt whose password is wrong: Check, then Fail.
func attempt(t *testing.T, th *auth.Throttle, email, ip string) error {
	t.Helper()
	err := th.Check(t.Context(), auth.Attempt{Email: email, IP: ip})
	if err == nil {
		err = th.Fail(t.Context(), auth.Attempt{Email: email, IP: ip})
	}
	var te *auth.ThrottledError
	if err != nil && !errors.As(err, &te) {
		t.Fatalf("attempt(%q, %q): %v", email, ip, err)
	}
	return err
}

// succeed makes a login attempt whose password is right: Check, then Succeed.
func succeed(t *testing.T, th *auth.Throttle, email, ip string) {
	t.Helper()
	if err := th.Check(t.Context(), auth.Attempt{Email: email, IP: ip}); err != nil {
		t.Fatalf("Check(%q, %q): %v", email, ip, err)
	}
	if err := th.Succeed(t.Context(), auth.Attempt{Email: email, IP: ip}); err != nil {
		t.Fatalf("Succeed(%q, %q): %v", email, ip, err)
	}
}

func wantAllowed(t *testing.T, th *auth.Throttle, email, ip string) {
	t.Helper()
	if err := attempt(t, th, email, ip); err != nil {
		t.Fatalf("attempt(%q, %q): got %v, want allowed", email, ip, err)
	}
}

func wantThrottled(t *testing.T, th *auth.Throttle, email, ip string, window time.Duration) {
	t.Helper()
	err := attempt(t, th, email, ip)
	var te *auth.ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("attempt(%q, %q): got %v, want *ThrottledError", email, ip, err)
	}
	// Retry-After is whole seconds: never less than one, never more than
	// the window (rounded up to a second).
	if te.RetryAfter < time.Second || te.RetryAfter > max(window, time.Second) {
		t.Fatalf("RetryAfter: got %v, want in [1s, %v]", te.RetryAfter, max(window, time.Second))
	}
}

func TestThrottle(t *testing.T) {
	for name, newCounter := range counters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			throttleSuite(t, newCounter)
		})
	}
}

func throttleSuite(t *testing.T, newCounter func(t *testing.T) auth.Counter) {
	const ann, bob = "ann@example.com", "bob@example.com"
	const ip1, ip2 = "192.0.2.1", "2001:db8::2"

	t.Run("limit per account and IP", func(t *testing.T) {
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 3, Window: time.Minute})
		for range 3 {
			wantAllowed(t, th, ann, ip1)
		}
		wantThrottled(t, th, ann, ip1, time.Minute)
		wantThrottled(t, th, ann, ip1, time.Minute)
		// Keys combine account and IP: an attacker elsewhere cannot lock
		// Ann out, and Bob on the same address is not affected.
		wantAllowed(t, th, ann, ip2)
		wantAllowed(t, th, bob, ip1)
	})

	t.Run("success clears the account's failures", func(t *testing.T) {
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 3, Window: time.Minute})
		wantAllowed(t, th, ann, ip1)
		wantAllowed(t, th, ann, ip1)
		succeed(t, th, ann, ip1)
		for range 3 {
			wantAllowed(t, th, ann, ip1)
		}
		wantThrottled(t, th, ann, ip1, time.Minute)
	})

	t.Run("per-IP cap across accounts", func(t *testing.T) {
		// Password spraying: one guess on many accounts from one address.
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 5, Window: time.Minute, MaxFailuresPerIP: 4})
		for i := range 4 {
			wantAllowed(t, th, fmt.Sprintf("user%d@example.com", i), ip1)
		}
		wantThrottled(t, th, "fresh@example.com", ip1, time.Minute)
		wantAllowed(t, th, "fresh@example.com", ip2)
	})

	t.Run("default per-IP cap is 20 times the account limit", func(t *testing.T) {
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 1, Window: time.Minute})
		for i := range 20 {
			wantAllowed(t, th, fmt.Sprintf("user%d@example.com", i), ip1)
		}
		wantThrottled(t, th, "fresh@example.com", ip1, time.Minute)
	})

	t.Run("successes do not use up the per-IP cap", func(t *testing.T) {
		// Many people behind one address (an office, a carrier NAT) keep
		// logging in.
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 5, Window: time.Minute, MaxFailuresPerIP: 3})
		for i := range 10 {
			email := fmt.Sprintf("user%d@example.com", i)
			succeed(t, th, email, ip1)
		}
		for i := range 3 {
			wantAllowed(t, th, fmt.Sprintf("failing%d@example.com", i), ip1)
		}
		wantThrottled(t, th, "fresh@example.com", ip1, time.Minute)
	})

	t.Run("window ends", func(t *testing.T) {
		const window = time.Second
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 2, Window: window})
		wantAllowed(t, th, ann, ip1)
		wantAllowed(t, th, ann, ip1)
		wantThrottled(t, th, ann, ip1, window)
		// Refused attempts do not extend the window.
		time.Sleep(window + 200*time.Millisecond)
		wantAllowed(t, th, ann, ip1)
		wantAllowed(t, th, ann, ip1)
		wantThrottled(t, th, ann, ip1, window)
	})

	t.Run("an IPv6 client is its /64", func(t *testing.T) {
		// One host may use any address of its /64: rotating addresses must
		// not buy a fresh budget, but another /64 is another client.
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 2, Window: time.Minute})
		wantAllowed(t, th, ann, "2001:db8:1:1::1")
		wantAllowed(t, th, ann, "2001:db8:1:1::2")
		wantThrottled(t, th, ann, "2001:db8:1:1:ffff::3", time.Minute)
		wantAllowed(t, th, ann, "2001:db8:1:2::1")
		// IPv4, also written as IPv4-mapped IPv6, is one address.
		wantAllowed(t, th, bob, "192.0.2.7")
		wantAllowed(t, th, bob, "::ffff:192.0.2.7")
		wantThrottled(t, th, bob, "192.0.2.7", time.Minute)
		wantAllowed(t, th, bob, "192.0.2.8")
	})

	t.Run("parallel attempts cannot pass the limit", func(t *testing.T) {
		// A burst of parallel wrong guesses all pass Check before any has
		// failed; only the limit's worth of them may be told "wrong
		// password", the rest are answered as throttled.
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 5, Window: time.Minute})
		var mu sync.Mutex
		wrong, throttled := 0, 0
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				err := th.Fail(t.Context(), auth.Attempt{Email: ann, IP: ip1})
				var te *auth.ThrottledError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wrong++
				case errors.As(err, &te):
					throttled++
				default:
					t.Errorf("Fail: %v", err)
				}
			})
		}
		wg.Wait()
		if wrong != 5 || throttled != 35 {
			t.Fatalf("got %d answered wrong and %d throttled, want 5 and 35", wrong, throttled)
		}
	})

	t.Run("a right guess past the limit is hidden", func(t *testing.T) {
		// The right password among parallel guesses that used up the
		// budget meanwhile: answered as throttled, not signed in.
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 3, Window: time.Minute})
		if err := th.Check(t.Context(), auth.Attempt{Email: ann, IP: ip1}); err != nil {
			t.Fatalf("Check: %v", err)
		}
		for range 3 {
			_ = th.Fail(t.Context(), auth.Attempt{Email: ann, IP: ip1})
		}
		var te *auth.ThrottledError
		if err := th.Succeed(t.Context(), auth.Attempt{Email: ann, IP: ip1}); !errors.As(err, &te) {
			t.Fatalf("Succeed: got %v, want *ThrottledError", err)
		}
	})

	t.Run("past the budget, right and wrong change nothing", func(t *testing.T) {
		// What an attempt past the budget leaves behind must not depend on
		// its password: neither a wrong nor a right one counts.
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 3, Window: time.Minute, MaxFailuresPerIP: 10})
		ann1 := auth.Attempt{Email: ann, IP: ip1}
		for range 3 {
			if err := th.Fail(t.Context(), ann1); err != nil {
				t.Fatalf("Fail within the budget: %v", err)
			}
		}
		var te *auth.ThrottledError
		for range 5 {
			if err := th.Fail(t.Context(), ann1); !errors.As(err, &te) || te.Cause != auth.CauseFailures {
				t.Fatalf("Fail past the budget: got %v, want *ThrottledError", err)
			}
			if err := th.Succeed(t.Context(), ann1); !errors.As(err, &te) {
				t.Fatalf("Succeed past the budget: got %v, want *ThrottledError", err)
			}
		}
		// The address has 10 - 3 failures left.
		for i := range 7 {
			wantAllowed(t, th, fmt.Sprintf("user%d@example.com", i), ip1)
		}
		wantThrottled(t, th, bob, ip1, time.Minute)
	})

	t.Run("a known device has its own budget", func(t *testing.T) {
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 2, Window: time.Minute, MaxFailuresPerIP: 2})
		for range 2 {
			wantAllowed(t, th, ann, ip1)
		}
		wantThrottled(t, th, ann, ip1, time.Minute)
		wantThrottled(t, th, bob, ip1, time.Minute) // the address too
		own := auth.Attempt{Email: ann, IP: ip1, Device: "device-1"}
		if err := th.Check(t.Context(), own); err != nil {
			t.Fatalf("Check from the known device: %v", err)
		}
		if err := th.Succeed(t.Context(), own); err != nil {
			t.Fatalf("Succeed from the known device: %v", err)
		}
		for range 2 {
			if err := th.Fail(t.Context(), own); err != nil {
				t.Fatalf("Fail from the known device within its budget: %v", err)
			}
		}
		var te *auth.ThrottledError
		if err := th.Check(t.Context(), own); !errors.As(err, &te) {
			t.Fatalf("Check from the known device past its budget: got %v, want *ThrottledError", err)
		}
		if err := th.Check(t.Context(), auth.Attempt{Email: ann, IP: ip1, Device: "device-2"}); err != nil {
			t.Fatalf("Check from another known device: %v", err)
		}
	})

	t.Run("sign-ups per client network", func(t *testing.T) {
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 5, MaxSignups: 2, SignupWindow: time.Hour})
		for _, ip := range []string{"2001:db8:7:7::1", "2001:db8:7:7::2"} {
			if err := th.SignUp(t.Context(), ip); err != nil {
				t.Fatalf("SignUp(%s): %v", ip, err)
			}
		}
		var te *auth.ThrottledError
		err := th.SignUp(t.Context(), "2001:db8:7:7::3")
		if !errors.As(err, &te) || te.Cause != auth.CauseSignups || te.RetryAfter < time.Second || te.RetryAfter > time.Hour {
			t.Fatalf("third sign-up from one /64: got %v, want *ThrottledError for sign-ups within the hour", err)
		}
		if err := th.SignUp(t.Context(), ip1); err != nil {
			t.Fatalf("SignUp from another address: %v", err)
		}
		unlimited := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 5})
		for range 20 {
			if err := unlimited.SignUp(t.Context(), ip1); err != nil {
				t.Fatalf("SignUp without a limit: %v", err)
			}
		}
	})

	t.Run("parallel successes are never throttled", func(t *testing.T) {
		// Only failures count: many logins at once from one address, even
		// to one account, all go through.
		th := auth.NewThrottle(newCounter(t), auth.ThrottleConfig{MaxFailures: 2, Window: time.Minute, MaxFailuresPerIP: 2})
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				if err := th.Check(t.Context(), auth.Attempt{Email: ann, IP: ip1}); err != nil {
					t.Errorf("Check: %v", err)
					return
				}
				if err := th.Succeed(t.Context(), auth.Attempt{Email: ann, IP: ip1}); err != nil {
					t.Errorf("Succeed: %v", err)
				}
			})
		}
		wg.Wait()
	})
}

func TestThrottleKeysHoldNoAddress(t *testing.T) {
	// Counters are keyed by a hash of account and IP, so that a copy of
	// Redis does not list who tried to log in.
	pool, prefix := redisPool(t)
	th := auth.NewThrottle(redisstate.NewCounter(pool, prefix), auth.ThrottleConfig{MaxFailures: 3, Window: time.Minute})
	email := "very.long.local.part." + strings.Repeat("x", 200) + "@example.com"
	wantAllowed(t, th, email, "192.0.2.1")
	c := pool.Get()
	defer c.Close()
	keys, err := redis.Strings(c.Do("KEYS", prefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("got keys %q, want an account key and an IP key", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "@") || strings.Contains(k, "example") || len(k) > len(prefix)+64 {
			t.Errorf("key %q holds (part of) the email address", k)
		}
	}
}

func TestThrottleCounterDown(t *testing.T) {
	// A counter that cannot be reached is an outage (503), never a
	// silent pass.
	pool := redisstate.NewPool("redis://127.0.0.1:1/0")
	defer pool.Close()
	th := auth.NewThrottle(redisstate.NewCounter(pool, "x:"), auth.ThrottleConfig{MaxFailures: 3, Window: time.Minute})
	if err := th.Check(t.Context(), auth.Attempt{Email: "ann@example.com", IP: "192.0.2.1"}); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Check: got %v, want ErrUnavailable", err)
	}
	if err := th.Fail(t.Context(), auth.Attempt{Email: "ann@example.com", IP: "192.0.2.1"}); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Fail: got %v, want ErrUnavailable", err)
	}
	if err := th.Succeed(t.Context(), auth.Attempt{Email: "ann@example.com", IP: "192.0.2.1"}); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Succeed: got %v, want ErrUnavailable", err)
	}
}

// refusingCounter refuses every step but reports every count as zero, as
// a counter whose keys lost their expiry would.
type refusingCounter struct{ auth.Counter }

func (refusingCounter) Take(_ context.Context, _ time.Duration, b ...auth.Budget) (bool, []auth.Count, error) {
	return false, make([]auth.Count, len(b)), nil
}

func (refusingCounter) Clear(_ context.Context, b ...auth.Budget) (bool, []auth.Count, error) {
	return false, make([]auth.Count, len(b)), nil
}

// TestThrottleFailsClosed: when the counter refuses a step, the throttle
// refuses it, whatever counts came with the refusal.
func TestThrottleFailsClosed(t *testing.T) {
	th := auth.NewThrottle(refusingCounter{}, auth.ThrottleConfig{MaxFailures: 5, Window: time.Minute})
	a := auth.Attempt{Email: "ann@example.com", IP: "192.0.2.1"}
	var te *auth.ThrottledError
	if err := th.Succeed(t.Context(), a); !errors.As(err, &te) {
		t.Errorf("Succeed refused by the counter: got %v, want a *ThrottledError", err)
	}
	if err := th.Fail(t.Context(), a); !errors.As(err, &te) {
		t.Errorf("Fail refused by the counter: got %v, want a *ThrottledError", err)
	}
}
