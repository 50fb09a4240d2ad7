package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Count is the state of one throttling counter.
type Count struct {
	N   int64
	TTL time.Duration // time left in the counter's window; 0 when absent
}

// Counter keeps expiring counters shared by every instance that uses the
// same back-end (Redis), or by one process (memory).
type Counter interface {
	// Incr adds one to each key, atomically, and returns their states after
	// the increment, in order. A key that does not exist starts a window of
	// the given length, which later increments do not extend.
	Incr(ctx context.Context, window time.Duration, keys ...string) ([]Count, error)
	// Decr subtracts one from key if it exists (never creating it).
	Decr(ctx context.Context, key string) error
	// Reset deletes key.
	Reset(ctx context.Context, key string) error
}

// ThrottledError is returned while a client must wait before trying again.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("auth: too many failed attempts, retry after %s", e.RetryAfter)
}

// ThrottleConfig sets the limits of a Throttle.
type ThrottleConfig struct {
	// MaxFailures is how many failures one account may see from one client
	// IP in one window; the next attempt is refused.
	MaxFailures int
	// Window is how long a run of failures is remembered.
	Window time.Duration
	// MaxFailuresPerIP caps failures from one IP across all accounts, which
	// stops password spraying (few guesses on many accounts). Zero means
	// 20 × MaxFailures.
	MaxFailuresPerIP int
}

// Throttle limits failed logins per account and client IP, and per client IP.
// Keys combine account and IP, so that nobody can lock a user out from an
// address the user does not share.
type Throttle struct {
	counter Counter
	cfg     ThrottleConfig
}

// NewThrottle returns a Throttle keeping its counts in c.
func NewThrottle(c Counter, cfg ThrottleConfig) *Throttle {
	if cfg.MaxFailuresPerIP <= 0 {
		cfg.MaxFailuresPerIP = 20 * cfg.MaxFailures
	}
	return &Throttle{counter: c, cfg: cfg}
}

func accountKey(email, ip string) string {
	// Hashed so that counters neither hold addresses nor grow with input length.
	sum := sha256.Sum256([]byte(email + "\x00" + ip))
	return "acct:" + hex.EncodeToString(sum[:16])
}

func ipKey(ip string) string { return "ip:" + ip }

// Begin records an attempt on email from ip before its password is
// checked, and returns a *ThrottledError when the limit is already used up.
// Counting first, with one atomic increment, means that parallel attempts
// cannot slip past the limit between a check and a count.
func (t *Throttle) Begin(ctx context.Context, email, ip string) error {
	counts, err := t.counter.Incr(ctx, t.cfg.Window, accountKey(email, ip), ipKey(ip))
	if err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	var wait time.Duration
	if counts[0].N > int64(t.cfg.MaxFailures) {
		wait = max(wait, counts[0].TTL)
	}
	if counts[1].N > int64(t.cfg.MaxFailuresPerIP) {
		wait = max(wait, counts[1].TTL)
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: max(wait, time.Second)}
	}
	return nil
}

// Succeed takes back the attempt begun on email from ip, which was not a
// failure: the account's count is cleared and the IP's count decremented,
// so that many people behind one address can keep logging in.
func (t *Throttle) Succeed(ctx context.Context, email, ip string) error {
	if err := t.counter.Reset(ctx, accountKey(email, ip)); err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	if err := t.counter.Decr(ctx, ipKey(ip)); err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	return nil
}
