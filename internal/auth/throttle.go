package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
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
	// Counts returns the state of each key, in order (zero when absent).
	Counts(ctx context.Context, keys ...string) ([]Count, error)
	// Incr adds one to each key, atomically, and returns their states after
	// the increment, in order. A key that does not exist starts a window of
	// the given length, which later increments do not extend.
	Incr(ctx context.Context, window time.Duration, keys ...string) ([]Count, error)
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
//
// Only failures count, so any number of people may log in at once from one
// address. Attempts made in parallel all pass Check before any of them has
// failed; so that they cannot learn more than the limit allows, Fail and
// Succeed look at the counts again after the password check, and an
// attempt that ends past the limit gets the same *ThrottledError as one
// refused up front, whether its password was right or wrong.
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
	sum := sha256.Sum256([]byte(email + "\x00" + clientNetwork(ip)))
	return "acct:" + hex.EncodeToString(sum[:16])
}

func ipKey(ip string) string { return "ip:" + clientNetwork(ip) }

// clientNetwork is what one client controls: its IPv4 address, or its IPv6
// /64 (one host is routinely given a whole /64 and can pick any address in
// it, which would otherwise be a fresh budget per address).
func clientNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.WithZone("").Prefix(64)
	return p.String()
}

// wait returns how long to wait when account or ip has reached its limit
// (at reaches the limit when a count is at least the limit minus slack).
func (t *Throttle) wait(counts []Count, slack int64) error {
	var wait time.Duration
	if counts[0].N >= int64(t.cfg.MaxFailures)+slack {
		wait = max(wait, counts[0].TTL)
	}
	if counts[1].N >= int64(t.cfg.MaxFailuresPerIP)+slack {
		wait = max(wait, counts[1].TTL)
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: max(wait, time.Second)}
	}
	return nil
}

// Check returns a *ThrottledError when email from ip has used up its
// failures, or ip its failures across accounts.
func (t *Throttle) Check(ctx context.Context, email, ip string) error {
	counts, err := t.counter.Counts(ctx, accountKey(email, ip), ipKey(ip))
	if err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	return t.wait(counts, 0)
}

// Fail records a failed attempt on email from ip. It returns a
// *ThrottledError when the failure went past the limit, which happens only
// to attempts made in parallel: the caller answers as throttled.
func (t *Throttle) Fail(ctx context.Context, email, ip string) error {
	counts, err := t.counter.Incr(ctx, t.cfg.Window, accountKey(email, ip), ipKey(ip))
	if err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	return t.wait(counts, 1)
}

// Succeed clears the failures of email from ip after a right password,
// unless parallel failures used up the budget meanwhile: then it returns a
// *ThrottledError and the caller must not sign the user in. The per-IP
// count stays: a sprayer who guesses one password right earns no new budget.
func (t *Throttle) Succeed(ctx context.Context, email, ip string) error {
	if err := t.Check(ctx, email, ip); err != nil {
		return err
	}
	if err := t.counter.Reset(ctx, accountKey(email, ip)); err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	return nil
}
