package sessionstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

// These tests are inside the package for one reason: Store.now, so that
// the idle window can be checked to the millisecond, at days-long idle
// timeouts, without sleeping. Back-ends are the real ones; expiries they
// are given stay in the real future, as the fake clock only moves ahead.

// write is one write that reached the back-end.
type write struct {
	op     string // "set" or "refresh"
	key    string
	value  []byte
	expiry time.Time
}

// countingBackend wraps a real Backend and records the writes that go
// through it.
type countingBackend struct {
	Backend
	mu     sync.Mutex
	writes []write
	// beforeRefresh, when set, runs before a refresh reaches the back-end:
	// a stand-in for another request acting between a read and its
	// refresh.
	beforeRefresh func()
}

func (c *countingBackend) record(w write) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, w)
}

func (c *countingBackend) Set(ctx context.Context, key string, value []byte, expiry time.Time) error {
	c.record(write{"set", key, bytes.Clone(value), expiry})
	return c.Backend.Set(ctx, key, value, expiry)
}

func (c *countingBackend) Refresh(ctx context.Context, key string, value []byte, expiry time.Time) error {
	if c.beforeRefresh != nil {
		c.beforeRefresh()
	}
	c.record(write{"refresh", key, bytes.Clone(value), expiry})
	return c.Backend.Refresh(ctx, key, value, expiry)
}

// count returns how many writes of op (any op when empty) went through.
func (c *countingBackend) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, w := range c.writes {
		if op == "" || w.op == op {
			n++
		}
	}
	return n
}

func (c *countingBackend) all() []write {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]write(nil), c.writes...)
}

// backends makes a fresh real back-end of each kind; the Redis one also
// returns the key prefix it uses, to look at Redis directly.
var backends = map[string]func(t *testing.T) (Backend, *redis.Pool, string){
	"memory": func(t *testing.T) (Backend, *redis.Pool, string) {
		return memstate.NewSessionBackend(), nil, ""
	},
	"redis": func(t *testing.T) (Backend, *redis.Pool, string) {
		url := testenv.RedisURL(t)
		pool := redisstate.NewPool(url)
		t.Cleanup(func() { pool.Close() })
		prefix := testenv.RedisPrefix(t, url)
		return redisstate.NewSessionBackend(pool, prefix), pool, prefix
	},
}

// clock is a settable Store.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) advance(d time.Duration) { c.set(c.now().Add(d)) }

type fixture struct {
	store   *Store
	backend *countingBackend
	clock   *clock // nil: the real clock
	pool    *redis.Pool
	prefix  string
}

func newFixture(t *testing.T, kind string, idle time.Duration, fake bool) *fixture {
	t.Helper()
	b, pool, prefix := backends[kind](t)
	cb := &countingBackend{Backend: b}
	f := &fixture{store: New(cb, idle, nil), backend: cb, pool: pool, prefix: prefix}
	if fake {
		// Milliseconds: the precision of the stored header.
		f.clock = &clock{t: time.Now().Truncate(time.Millisecond)}
		f.store.now = f.clock.now
	}
	return f
}

func (f *fixture) commit(t *testing.T, key string, payload []byte, expiry time.Time) {
	t.Helper()
	if err := f.store.CommitCtx(t.Context(), key, payload, expiry); err != nil {
		t.Fatalf("Commit(%q): %v", key, err)
	}
}

func (f *fixture) find(t *testing.T, key string) ([]byte, bool) {
	t.Helper()
	b, found, err := f.store.FindCtx(t.Context(), key)
	if err != nil {
		t.Fatalf("Find(%q): %v", key, err)
	}
	return b, found
}

func (f *fixture) wantFound(t *testing.T, key string, want []byte) {
	t.Helper()
	got, found := f.find(t, key)
	if !found || !bytes.Equal(got, want) {
		t.Fatalf("Find(%q): got (%q, %v), want (%q, true)", key, got, found, want)
	}
}

func (f *fixture) wantGone(t *testing.T, key string) {
	t.Helper()
	if got, found := f.find(t, key); found || got != nil {
		t.Fatalf("Find(%q): got (%q, %v), want not found", key, got, found)
	}
}

func (f *fixture) wantAlive(t *testing.T, keys []string, want []bool) {
	t.Helper()
	values, err := f.store.Peek(t.Context(), keys...)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	got := make([]bool, len(values))
	for i, v := range values {
		got[i] = v != nil
	}
	if len(got) != len(want) {
		t.Fatalf("Alive(%q): got %v, want %v", keys, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("Alive(%q): got %v, want %v", keys, got, want)
		}
	}
}

// forEachBackend runs fn on each back-end, in parallel: the real-clock
// cases sleep.
func forEachBackend(t *testing.T, fn func(t *testing.T, kind string)) {
	for kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

var payload = []byte("session data")

func TestStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind string) {
		later := time.Now().Add(time.Hour)

		t.Run("commit then find", func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, kind, time.Hour, false)
			f.commit(t, "k", payload, later)
			f.wantFound(t, "k", payload)
			f.commit(t, "k", []byte("changed"), later)
			f.wantFound(t, "k", []byte("changed"))
			f.wantGone(t, "other")
		})

		t.Run("find unknown", func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, kind, time.Hour, false)
			f.wantGone(t, "never-committed")
		})

		t.Run("idle expiry", func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, kind, 2*time.Second, false)
			f.commit(t, "untouched", payload, later)
			time.Sleep(2100 * time.Millisecond)
			f.wantGone(t, "untouched")
			// The back-end dropped it by itself (its expiry is the idle
			// timeout), so no dead session lingers.
			f.wantAlive(t, []string{"untouched"}, []bool{false})
		})

		t.Run("reads keep a session alive", func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, kind, 2*time.Second, false)
			f.commit(t, "k", payload, later)
			start := time.Now()
			for time.Since(start) < 5500*time.Millisecond {
				time.Sleep(500 * time.Millisecond)
				f.wantFound(t, "k", payload)
			}
			// Each read came more than idle/10 after the previous write.
			if n := f.backend.count("refresh"); n < 10 {
				t.Fatalf("got %d refreshes, want one per read (at least 10)", n)
			}
		})

		t.Run("reads within a tenth of idle write nothing", func(t *testing.T) {
			t.Parallel()
			// idle/10 is a second: generous for five back-to-back reads.
			f := newFixture(t, kind, 10*time.Second, false)
			f.commit(t, "k", payload, later)
			for range 5 {
				f.wantFound(t, "k", payload)
			}
			if n := f.backend.count("refresh"); n != 0 {
				t.Fatalf("got %d refreshes right after a write, want 0", n)
			}
			time.Sleep(1100 * time.Millisecond)
			for range 5 {
				f.wantFound(t, "k", payload)
			}
			if n := f.backend.count("refresh"); n != 1 {
				t.Fatalf("got %d refreshes after idle/10, want exactly 1", n)
			}
		})

		t.Run("absolute expiry", func(t *testing.T) {
			t.Parallel()
			// Reads every half second would keep it alive for ever under a
			// 2s idle timeout; the absolute expiry ends it anyway.
			f := newFixture(t, kind, 2*time.Second, false)
			expiry := time.Now().Add(2500 * time.Millisecond)
			f.commit(t, "k", payload, expiry)
			time.Sleep(500 * time.Millisecond)
			f.wantFound(t, "k", payload)
			time.Sleep(500 * time.Millisecond)
			f.wantFound(t, "k", payload)
			time.Sleep(time.Until(expiry) + 100*time.Millisecond)
			f.wantGone(t, "k")
			f.wantAlive(t, []string{"k"}, []bool{false})
		})

		t.Run("delete then commit", func(t *testing.T) {
			t.Parallel()
			// A request that loaded the session before a logout writes it
			// back as it ends: the session stays deleted.
			f := newFixture(t, kind, time.Hour, false)
			f.commit(t, "k", payload, later)
			if err := f.store.DeleteCtx(t.Context(), "k"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			f.wantGone(t, "k")
			f.commit(t, "k", payload, later)
			f.wantGone(t, "k")
			f.wantAlive(t, []string{"k"}, []bool{false})
		})

		t.Run("delete of unknown key", func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, kind, time.Hour, false)
			if err := f.store.DeleteCtx(t.Context(), "never-committed"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		})

		t.Run("alive", func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, kind, time.Hour, false)
			f.commit(t, "live", payload, later)
			f.commit(t, "deleted", payload, later)
			f.commit(t, "expired", payload, time.Now().Add(100*time.Millisecond))
			if err := f.store.DeleteCtx(t.Context(), "deleted"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			f.wantAlive(t, []string{"live", "unknown", "deleted", "expired", "live"}, []bool{true, false, false, false, true})
			f.wantAlive(t, nil, nil)
		})

		t.Run("value not written by the store", func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, kind, time.Hour, false)
			for key, v := range map[string][]byte{
				"short":       []byte("junk"),
				"bad version": append([]byte{99}, make([]byte, 17)...),
				"version 1":   append([]byte{1}, make([]byte, 17)...),
				"cut varint":  {headerVersion, 0x80},
				"no expiry":   {headerVersion, 0x01},
				"empty":       {},
			} {
				if err := f.backend.Backend.Set(t.Context(), key, v, later); err != nil {
					t.Fatal(err)
				}
				f.wantGone(t, key)
			}
		})
	})
}

func TestStoreDeleteBeforeRefresh(t *testing.T) {
	// A logout lands between a request's read and the refresh that read
	// triggers: the refresh must not bring the session back.
	forEachBackend(t, func(t *testing.T, kind string) {
		f := newFixture(t, kind, time.Hour, true)
		f.commit(t, "k", payload, f.clock.now().Add(24*time.Hour))
		f.backend.beforeRefresh = func() {
			if err := f.store.DeleteCtx(context.Background(), "k"); err != nil {
				t.Errorf("Delete: %v", err)
			}
		}
		f.clock.advance(10 * time.Minute) // past idle/10: the read refreshes
		// The read itself still sees the session it loaded.
		f.wantFound(t, "k", payload)
		if n := f.backend.count("refresh"); n != 1 {
			t.Fatalf("got %d refreshes, want 1", n)
		}
		f.backend.beforeRefresh = nil
		f.wantGone(t, "k")
		f.wantAlive(t, []string{"k"}, []bool{false})
	})
}

// storeKey is the key SCS gives the store for token when HashTokenInStore
// is set.
func storeKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestStoreNeverHoldsTheToken(t *testing.T) {
	// A copy of the store (a Redis dump, a replica) must not yield a
	// usable session cookie: SCS hashes the token into the key, and the
	// value holds only the header and the session data.
	forEachBackend(t, func(t *testing.T, kind string) {
		f := newFixture(t, kind, time.Hour, false)
		sm := scs.New()
		sm.Store = f.store
		sm.Codec = Codec{}
		sm.HashTokenInStore = true

		ctx, err := sm.Load(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		sm.Put(ctx, "uid", int64(42))
		token, _, err := sm.Commit(ctx)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}

		// Load the session again, past idle/10, so that it is refreshed.
		f.store.now = func() time.Time { return time.Now().Add(10 * time.Minute) }
		ctx, err = sm.Load(t.Context(), token)
		if err != nil {
			t.Fatal(err)
		}
		if got := sm.GetInt64(ctx, "uid"); got != 42 {
			t.Fatalf("uid after reload: got %d, want 42", got)
		}

		writes := f.backend.all()
		if len(writes) != 2 || writes[0].op != "set" || writes[1].op != "refresh" {
			t.Fatalf("writes: got %+v, want a set and a refresh", writes)
		}
		for _, w := range writes {
			if w.key != storeKey(token) {
				t.Errorf("%s key: got %q, want the hash of the token %q", w.op, w.key, storeKey(token))
			}
			if strings.Contains(w.key, token) || bytes.Contains(w.value, []byte(token)) {
				t.Errorf("%s: the token is in the key or the value", w.op)
			}
		}
		if f.pool != nil {
			c := f.pool.Get()
			defer c.Close()
			keys, err := redis.Strings(c.Do("KEYS", f.prefix+"*"))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				v, _ := redis.Bytes(c.Do("GET", k))
				if strings.Contains(k, token) || bytes.Contains(v, []byte(token)) {
					t.Errorf("Redis key %q or its value holds the token", k)
				}
			}
		}

		if err := sm.Destroy(ctx); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		f.wantGone(t, storeKey(token))
	})
}

func TestStoreIdleWindow(t *testing.T) {
	idles := []struct {
		name string
		idle time.Duration
	}{
		{"2s", 2 * time.Second},
		{"30m", 30 * time.Minute},
		{"24h", 24 * time.Hour},
		{"14d", 14 * 24 * time.Hour},
	}
	forEachBackend(t, func(t *testing.T, kind string) {
		for _, tt := range idles {
			idle, tenth := tt.idle, tt.idle/refreshFraction
			t.Run(tt.name, func(t *testing.T) {
				t.Run("no write within a tenth of idle", func(t *testing.T) {
					f := newFixture(t, kind, idle, true)
					f.commit(t, "k", payload, f.clock.now().Add(365*24*time.Hour))
					f.clock.advance(time.Millisecond)
					f.wantFound(t, "k", payload)
					f.clock.advance(tenth - 2*time.Millisecond)
					f.wantFound(t, "k", payload)
					if n := f.backend.count("refresh"); n != 0 {
						t.Fatalf("got %d refreshes, want 0", n)
					}
				})

				t.Run("one write per tenth of idle", func(t *testing.T) {
					f := newFixture(t, kind, idle, true)
					f.commit(t, "k", payload, f.clock.now().Add(365*24*time.Hour))
					f.clock.advance(tenth)
					f.wantFound(t, "k", payload)
					f.wantFound(t, "k", payload)
					if n := f.backend.count("refresh"); n != 1 {
						t.Fatalf("at idle/10: got %d refreshes, want 1", n)
					}
					f.clock.advance(tenth - time.Millisecond)
					f.wantFound(t, "k", payload)
					if n := f.backend.count("refresh"); n != 1 {
						t.Fatalf("just under idle/10 after the refresh: got %d refreshes, want 1", n)
					}
					f.clock.advance(time.Millisecond)
					f.wantFound(t, "k", payload)
					if n := f.backend.count("refresh"); n != 2 {
						t.Fatalf("idle/10 after the refresh: got %d refreshes, want 2", n)
					}
				})

				t.Run("ends exactly idle after the last write", func(t *testing.T) {
					f := newFixture(t, kind, idle, true)
					t0 := f.clock.now()
					f.commit(t, "a", payload, t0.Add(365*24*time.Hour))
					f.commit(t, "b", payload, t0.Add(365*24*time.Hour))
					// The back-end is told the same end, so it drops the
					// session by itself.
					for _, w := range f.backend.all() {
						if !w.expiry.Equal(t0.Add(idle)) {
							t.Fatalf("%s expiry: got %v, want last write + idle = %v", w.op, w.expiry, t0.Add(idle))
						}
					}
					f.clock.set(t0.Add(idle - time.Millisecond))
					f.wantFound(t, "a", payload)
					f.clock.set(t0.Add(idle))
					f.wantGone(t, "b")
				})

				t.Run("ends 0.9 to 1 idle after the last use", func(t *testing.T) {
					// Random use patterns; two sessions with one history: a
					// probe at last use + 0.9×idle finds one, a probe at last
					// use + idle does not find the other.
					rng := rand.New(rand.NewPCG(1, uint64(idle)))
					for trial := range 20 {
						f := newFixture(t, kind, idle, true)
						f.commit(t, "a", payload, f.clock.now().Add(10*365*24*time.Hour))
						f.commit(t, "b", payload, f.clock.now().Add(10*365*24*time.Hour))
						for range 1 + rng.IntN(30) {
							// Gaps up to 0.9×idle, in whole milliseconds,
							// biased to short ones (many reads without writes).
							limit := idle.Milliseconds() * 9 / 10
							if rng.IntN(2) == 0 {
								limit = tenth.Milliseconds()
							}
							f.clock.advance(time.Duration(rng.Int64N(limit+1)) * time.Millisecond)
							for _, k := range []string{"a", "b"} {
								if _, found := f.find(t, k); !found {
									t.Fatalf("trial %d: %s ended less than 0.9×idle after its last use", trial, k)
								}
							}
						}
						lastUse := f.clock.now()
						f.clock.set(lastUse.Add(idle * 9 / 10))
						f.wantFound(t, "a", payload)
						f.clock.set(lastUse.Add(idle))
						f.wantGone(t, "b")
					}
				})

				t.Run("absolute expiry caps the idle window", func(t *testing.T) {
					f := newFixture(t, kind, idle, true)
					t0 := f.clock.now()
					expiry := t0.Add(idle * 3 / 2)
					f.commit(t, "k", payload, expiry)
					f.clock.set(t0.Add(idle / 2))
					f.wantFound(t, "k", payload)
					f.clock.set(t0.Add(idle))
					f.wantFound(t, "k", payload)
					f.clock.set(expiry.Add(-time.Millisecond))
					f.wantFound(t, "k", payload)
					f.clock.set(expiry)
					f.wantGone(t, "k")
					// No write ever asked the back-end to keep it longer.
					for _, w := range f.backend.all() {
						if w.expiry.After(expiry) {
							t.Fatalf("%s expiry %v is after the absolute expiry %v", w.op, w.expiry, expiry)
						}
					}
				})
			})
		}
	})
}

type observed struct {
	mu  sync.Mutex
	ops []string
}

func (o *observed) ObserveStoreOp(op string, _ time.Duration, _ error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops = append(o.ops, op)
}

func TestStoreObserver(t *testing.T) {
	o := &observed{}
	b := memstate.NewSessionBackend()
	s := New(b, time.Hour, o)
	now := time.Now()
	s.now = func() time.Time { return now }
	ctx := t.Context()
	_ = s.CommitCtx(ctx, "k", payload, now.Add(time.Hour))
	_, _, _ = s.FindCtx(ctx, "k")
	now = now.Add(10 * time.Minute)
	_, _, _ = s.FindCtx(ctx, "k")
	_, _ = s.Peek(ctx, "k")
	_ = s.DeleteCtx(ctx, "k")
	want := []string{"set", "get", "get", "refresh", "peek", "delete"}
	if strings.Join(o.ops, " ") != strings.Join(want, " ") {
		t.Fatalf("observed ops: got %v, want %v", o.ops, want)
	}
}

// TestRememberedSessionHasNoIdleTimeout checks that a session SCS's
// RememberMe marked ends at its absolute expiry only: it is found after
// any pause, never rewritten by reads, and stored until its expiry; a
// session without remember-me still idles out.
func TestRememberedSessionHasNoIdleTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, kind string) {
		f := newFixture(t, kind, time.Hour, true)
		expiry := f.clock.now().Add(30 * 24 * time.Hour)
		remembered, err := Codec{}.Encode(expiry, map[string]any{"u": int64(1), rememberKey: true})
		if err != nil {
			t.Fatal(err)
		}
		plain, err := Codec{}.Encode(expiry, map[string]any{"u": int64(1)})
		if err != nil {
			t.Fatal(err)
		}
		f.commit(t, "remembered", remembered, expiry)
		f.commit(t, "plain", plain, expiry)
		for _, w := range f.backend.all() {
			want := f.clock.now().Add(time.Hour)
			if w.key == "remembered" {
				want = expiry
			}
			if !w.expiry.Equal(want) {
				t.Errorf("%s stored until %v, want %v", w.key, w.expiry, want)
			}
		}
		f.clock.advance(29 * 24 * time.Hour)
		f.wantFound(t, "remembered", remembered)
		f.wantGone(t, "plain")
		if n := f.backend.count("refresh"); n != 0 {
			t.Errorf("reads of a remembered session wrote %d times, want 0", n)
		}
		f.clock.advance(24 * time.Hour)
		f.wantGone(t, "remembered")
	})
}
