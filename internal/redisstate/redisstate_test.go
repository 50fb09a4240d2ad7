package redisstate_test

import (
	"context"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
	"github.com/sessionlogin/sessionlogin/internal/statetest"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

// newPool returns a pool on TEST_REDIS_URL and a key prefix of this test's
// own, both cleaned up when it ends.
func newPool(t *testing.T) (*redis.Pool, string) {
	t.Helper()
	url := testenv.RedisURL(t)
	pool := redisstate.NewPool(url)
	t.Cleanup(func() { pool.Close() })
	return pool, testenv.RedisPrefix(t, url)
}

// do runs one command on a connection of its own, outside the code tested.
func do(t *testing.T, pool *redis.Pool, cmd string, args ...any) any {
	t.Helper()
	c := pool.Get()
	defer c.Close()
	v, err := c.Do(cmd, args...)
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return v
}

func TestRegistry(t *testing.T) {
	statetest.Registry(t, func(t *testing.T) (auth.Registry, sessionstore.Backend) {
		pool, prefix := newPool(t)
		b := redisstate.NewSessionBackend(pool, prefix)
		return redisstate.NewRegistry(b, sessionstore.TombstoneTTL), b
	})
}

func TestCounter(t *testing.T) {
	statetest.Counter(t, func(t *testing.T) auth.Counter {
		pool, prefix := newPool(t)
		return redisstate.NewCounter(pool, prefix)
	})
}

func TestSessionBackend(t *testing.T) {
	statetest.SessionBackend(t, func(t *testing.T) sessionstore.Backend {
		pool, prefix := newPool(t)
		return redisstate.NewSessionBackend(pool, prefix)
	})
}

func TestRegistryKeyExpires(t *testing.T) {
	// Without a TTL, the index of a user who never comes back would stay in
	// Redis for ever.
	pool, prefix := newPool(t)
	r := redisstate.NewRegistry(redisstate.NewSessionBackend(pool, prefix), sessionstore.TombstoneTTL)
	now := time.Now()
	e := auth.RegistryEntry{ID: "a", StoreKey: "k", Created: now}
	if _, err := r.Add(t.Context(), 42, e, time.Hour, 100); err != nil {
		t.Fatalf("Add: %v", err)
	}
	key := prefix + "z:42"
	ttl, err := redis.Int64(do(t, pool, "PTTL", key), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Hour.Milliseconds() {
		t.Fatalf("PTTL %s: got %dms, want in (0, 1h]", key, ttl)
	}
	// Each login extends it to the longest session lifetime again.
	do(t, pool, "PEXPIRE", key, 1000)
	e.ID = "b"
	if _, err := r.Add(t.Context(), 42, e, 2*time.Hour, 100); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if ttl, _ := redis.Int64(do(t, pool, "PTTL", key), nil); ttl <= time.Hour.Milliseconds() {
		t.Fatalf("PTTL %s after a second Add: got %dms, want > 1h", key, ttl)
	}
	// A rekey of a removed entry does not bring back a deleted key (which
	// would then have no TTL).
	if err := r.Remove(t.Context(), 42, "a", "b"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := r.Rekey(t.Context(), 42, "a", "k2"); err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	if n, _ := redis.Int(do(t, pool, "EXISTS", key), nil); n != 0 {
		t.Fatalf("EXISTS %s after removing every entry and a rekey: got %d, want 0", key, n)
	}
}

func TestRegistryRefusesAmbiguousIDs(t *testing.T) {
	// An id is stored before a colon in "id:storekey"; one with a colon
	// could pass for another entry.
	pool, prefix := newPool(t)
	r := redisstate.NewRegistry(redisstate.NewSessionBackend(pool, prefix), sessionstore.TombstoneTTL)
	e := auth.RegistryEntry{ID: "a:b", StoreKey: "k", Created: time.Now()}
	if _, err := r.Add(t.Context(), 1, e, time.Hour, 100); err == nil {
		t.Fatal("Add of an id with a colon: got no error")
	}
	if err := r.End(t.Context(), 1, e); err == nil {
		t.Fatal("End of an id with a colon: got no error")
	}
}

func TestCounterKeysExpire(t *testing.T) {
	// Every counter key carries the window as its TTL, and reading counts
	// never creates a key.
	pool, prefix := newPool(t)
	c := redisstate.NewCounter(pool, prefix)
	if _, _, err := c.Take(t.Context(), time.Minute, auth.Budget{Key: "a", Limit: 5}, auth.Budget{Key: "b", Limit: 5}); err != nil {
		t.Fatalf("Take: %v", err)
	}
	if _, err := c.Counts(t.Context(), "a", "absent"); err != nil {
		t.Fatalf("Counts: %v", err)
	}
	keys, err := redis.Strings(do(t, pool, "KEYS", prefix+"*"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys: got %q, want the two counters", keys)
	}
	for _, k := range keys {
		ttl, _ := redis.Int64(do(t, pool, "PTTL", k), nil)
		if ttl <= 0 || ttl > time.Minute.Milliseconds() {
			t.Errorf("PTTL %s: got %dms, want in (0, 1m]", k, ttl)
		}
	}
}

func TestSessionKeys(t *testing.T) {
	// Sessions and tombstones both expire: nothing this back-end writes
	// stays in Redis for ever.
	pool, prefix := newPool(t)
	b := redisstate.NewSessionBackend(pool, prefix)
	if err := b.Set(t.Context(), "live", []byte("v"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(t.Context(), "gone", []byte("v"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(t.Context(), "gone", time.Minute); err != nil {
		t.Fatal(err)
	}
	keys, err := redis.Strings(do(t, pool, "KEYS", prefix+"*"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{prefix + "s:live": true, prefix + "t:gone": true}
	if len(keys) != len(want) {
		t.Fatalf("keys: got %q, want %v", keys, want)
	}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("unexpected key %q", k)
		}
		ttl, _ := redis.Int64(do(t, pool, "PTTL", k), nil)
		if ttl <= 0 || ttl > time.Minute.Milliseconds() {
			t.Errorf("PTTL %s: got %dms, want in (0, 1m]", k, ttl)
		}
	}
}

func TestPoolUnreachable(t *testing.T) {
	// Nothing listens on port 1: the first command fails (NewPool itself
	// dials nothing).
	pool := redisstate.NewPool("redis://127.0.0.1:1/0")
	defer pool.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := redisstate.Ping(ctx, pool); err == nil {
		t.Fatal("Ping of a closed port: got nil, want an error")
	}
	b := redisstate.NewSessionBackend(pool, "x:")
	if _, _, err := b.Get(ctx, "k"); err == nil {
		t.Fatal("Get with Redis down: got nil, want an error")
	}
}

func TestPoolPing(t *testing.T) {
	pool, _ := newPool(t)
	if err := redisstate.Ping(t.Context(), pool); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
