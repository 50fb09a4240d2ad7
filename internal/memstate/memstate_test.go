package memstate

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
	"github.com/sessionlogin/sessionlogin/internal/statetest"
)

func TestRegistry(t *testing.T) {
	statetest.Registry(t, func(t *testing.T) (auth.Registry, sessionstore.Backend) {
		b := NewSessionBackend()
		t.Cleanup(b.Close)
		return NewRegistry(b, sessionstore.TombstoneTTL), b
	})
}

func TestCounter(t *testing.T) {
	statetest.Counter(t, func(*testing.T) auth.Counter { return NewCounter(DefaultCounterCapacity) })
}

func TestSessionBackend(t *testing.T) {
	statetest.SessionBackend(t, func(t *testing.T) sessionstore.Backend {
		b := NewSessionBackend()
		t.Cleanup(b.Close)
		return b
	})
}

// clock is a settable time source for Counter.now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Unix(1_700_000_000, 0)} }
func (c *clock) counter(capacity int) *Counter {
	ctr := NewCounter(capacity)
	ctr.now = c.now
	return ctr
}

func incr(t *testing.T, c *Counter, window time.Duration, keys ...string) []auth.Count {
	t.Helper()
	budgets := make([]auth.Budget, len(keys))
	for i, k := range keys {
		budgets[i] = auth.Budget{Key: k, Limit: 1 << 62}
	}
	_, got, err := c.Take(t.Context(), window, budgets...)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	return got
}

func TestCounterCapacity(t *testing.T) {
	t.Run("never holds more than capacity", func(t *testing.T) {
		c := newClock().counter(3)
		for i := range 100 {
			incr(t, c, time.Hour, fmt.Sprint("k", i))
			if n := len(c.counts); n > 3 {
				t.Fatalf("after %d keys: got %d counters, want <= 3", i+1, n)
			}
		}
		// The newest key always survives: room is made before it is added.
		if _, ok := c.counts["k99"]; !ok {
			t.Fatal("newest key evicted")
		}
	})

	t.Run("expired counters go first", func(t *testing.T) {
		for range 20 { // map order is random: repeat to catch arbitrary eviction
			clk := newClock()
			c := clk.counter(3)
			incr(t, c, time.Second, "old")
			incr(t, c, time.Hour, "a", "b")
			clk.advance(2 * time.Second)
			incr(t, c, time.Hour, "new")
			got := incr(t, c, time.Hour, "a", "b", "new")
			for i, k := range []string{"a", "b", "new"} {
				if got[i].N != 2 {
					t.Fatalf("%s: got %+v, want N=2 (a live counter evicted while an expired one was there)", k, got[i])
				}
			}
		}
	})

	t.Run("incrementing a live key needs no room", func(t *testing.T) {
		c := newClock().counter(2)
		for range 5 {
			incr(t, c, time.Hour, "a", "b")
		}
		if got := incr(t, c, time.Hour, "a", "b"); got[0].N != 6 || got[1].N != 6 {
			t.Fatalf("got %+v, want both at 6", got)
		}
	})
}

func TestCounterWindowExact(t *testing.T) {
	clk := newClock()
	c := clk.counter(10)
	incr(t, c, time.Minute, "a")
	clk.advance(59 * time.Second)
	if got := incr(t, c, time.Minute, "a")[0]; got != (auth.Count{N: 2, TTL: time.Second}) {
		t.Fatalf("1s before the end: got %+v, want N=2 TTL=1s", got)
	}
	clk.advance(time.Second)
	if got := incr(t, c, time.Minute, "a")[0]; got != (auth.Count{N: 1, TTL: time.Minute}) {
		t.Fatalf("at the end of the window: got %+v, want a new window N=1 TTL=1m", got)
	}
}
