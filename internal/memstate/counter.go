package memstate

import (
	"context"
	"sync"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// DefaultCounterCapacity bounds the number of live counters, so that a flood
// of failed logins from many addresses cannot exhaust memory.
const DefaultCounterCapacity = 100_000

type count struct {
	n       int64
	expires time.Time
}

// Counter is an auth.Counter in bounded memory. When full, expired counters
// go first; if none has expired, low counts are dropped, which errs on the
// side of letting a login through rather than refusing memory.
type Counter struct {
	mu        sync.Mutex
	counts    map[string]count
	capacity  int
	lastSweep time.Time
	now       func() time.Time
}

// NewCounter returns a Counter holding at most capacity counters.
func NewCounter(capacity int) *Counter {
	return &Counter{counts: make(map[string]count), capacity: capacity, now: time.Now}
}

// Counts returns the state of each key.
func (c *Counter) Counts(_ context.Context, keys ...string) ([]auth.Count, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := make([]auth.Count, len(keys))
	for i, k := range keys {
		if v, ok := c.counts[k]; ok && now.Before(v.expires) {
			out[i] = auth.Count{N: v.n, TTL: v.expires.Sub(now)}
		}
	}
	return out, nil
}

// Take adds one to every key of budgets when each is below its limit, in
// one critical section, and returns their states.
func (c *Counter) Take(_ context.Context, window time.Duration, budgets ...auth.Budget) (bool, []auth.Count, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out, room := c.states(now, budgets)
	if !room {
		return false, out, nil
	}
	for i, b := range budgets {
		v, ok := c.counts[b.Key]
		if !ok || !now.Before(v.expires) {
			c.makeRoom(now)
			v = count{expires: now.Add(window)}
		}
		v.n++
		c.counts[b.Key] = v
		out[i] = auth.Count{N: v.n, TTL: v.expires.Sub(now)}
	}
	return true, out, nil
}

func (c *Counter) makeRoom(now time.Time) {
	if len(c.counts) < c.capacity {
		return
	}
	// Expired counters go first, swept at most once a second so that a
	// full map does not cost a full scan per insert.
	if now.Sub(c.lastSweep) >= time.Second {
		c.lastSweep = now
		for k, v := range c.counts {
			if !now.Before(v.expires) {
				delete(c.counts, k)
			}
		}
		if len(c.counts) < c.capacity {
			return
		}
	}
	// Still full (a flood from many addresses): drop the lowest of a few
	// counters picked at random, so that a counter near its limit, the one
	// under attack, is the last to lose its count.
	victim, low, seen := "", int64(-1), 0
	for k, v := range c.counts {
		if low < 0 || v.n < low {
			victim, low = k, v.n
		}
		if seen++; seen == 8 {
			break
		}
	}
	delete(c.counts, victim)
}

// Clear deletes the first key of budgets when each is below its limit, in
// one critical section, and returns their states as found.
func (c *Counter) Clear(_ context.Context, budgets ...auth.Budget) (bool, []auth.Count, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, room := c.states(c.now(), budgets)
	cleared := room && len(budgets) > 0
	if cleared {
		delete(c.counts, budgets[0].Key)
	}
	return cleared, out, nil
}

// states returns the state of each budget's counter at now, and whether
// every one is below its limit. The caller holds c.mu.
func (c *Counter) states(now time.Time, budgets []auth.Budget) (out []auth.Count, room bool) {
	out = make([]auth.Count, len(budgets))
	room = true
	for i, b := range budgets {
		if v, ok := c.counts[b.Key]; ok && now.Before(v.expires) {
			out[i] = auth.Count{N: v.n, TTL: v.expires.Sub(now)}
		}
		if out[i].N >= b.Limit {
			room = false
		}
	}
	return out, room
}

// Reset deletes key.
func (c *Counter) Reset(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.counts, key)
	return nil
}
