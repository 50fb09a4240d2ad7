// Package statetest holds behaviour suites that every implementation of the
// session state interfaces must pass: auth.Registry, auth.Counter and
// sessionstore.Backend. Packages memstate and redisstate run them against
// their own implementations, so both back-ends are held to one contract.
//
// It is imported by tests only.
package statetest

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
)

// ms returns t at millisecond precision, the precision back-ends keep.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }

func entry(id string, created time.Time) auth.RegistryEntry {
	return auth.RegistryEntry{ID: id, StoreKey: "key-" + id, Created: created}
}

func sameEntry(a, b auth.RegistryEntry) bool {
	return a.ID == b.ID && a.StoreKey == b.StoreKey && a.Created.Equal(b.Created)
}

func list(t *testing.T, r auth.Registry, userID int64) []auth.RegistryEntry {
	t.Helper()
	got, err := r.List(t.Context(), userID)
	if err != nil {
		t.Fatalf("List(%d): %v", userID, err)
	}
	slices.SortFunc(got, func(a, b auth.RegistryEntry) int { return strings.Compare(a.ID, b.ID) })
	return got
}

func wantEntries(t *testing.T, r auth.Registry, userID int64, want ...auth.RegistryEntry) {
	t.Helper()
	got := list(t, r, userID)
	slices.SortFunc(want, func(a, b auth.RegistryEntry) int { return strings.Compare(a.ID, b.ID) })
	if !slices.EqualFunc(got, want, sameEntry) {
		t.Fatalf("List(%d):\n got  %+v\n want %+v", userID, got, want)
	}
}

// limit is the session cap the suite passes to Add, unless a case tests it.
const limit = 100

func add(t *testing.T, r auth.Registry, userID int64, e auth.RegistryEntry) {
	t.Helper()
	addLimit(t, r, userID, e, limit)
}

func addLimit(t *testing.T, r auth.Registry, userID int64, e auth.RegistryEntry, limit int) []string {
	t.Helper()
	ended, err := r.Add(t.Context(), userID, e, time.Hour, limit)
	if err != nil {
		t.Fatalf("Add(%d, %s): %v", userID, e.ID, err)
	}
	return ended
}

// session stores a session for e in b.
func session(t *testing.T, b sessionstore.Backend, e auth.RegistryEntry) {
	t.Helper()
	if err := b.Set(t.Context(), e.StoreKey, []byte("session of "+e.ID), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Set(%q): %v", e.StoreKey, err)
	}
}

// wantEnded checks that the session of each entry is gone from b for good:
// deleted, and not written back by a late request.
func wantEnded(t *testing.T, b sessionstore.Backend, entries ...auth.RegistryEntry) {
	t.Helper()
	for _, e := range entries {
		wantValue(t, b, e.StoreKey, nil)
		session(t, b, e)
		wantValue(t, b, e.StoreKey, nil)
	}
}

// Registry runs the auth.Registry contract against registries made by
// newRegistry, one fresh registry per case, each with the session back-end
// whose sessions it ends.
func Registry(t *testing.T, newRegistry func(t *testing.T) (auth.Registry, sessionstore.Backend)) {
	created := ms(time.Now().Add(-time.Hour))

	t.Run("empty", func(t *testing.T) {
		r, _ := newRegistry(t)
		wantEntries(t, r, 1)
	})

	t.Run("add and list", func(t *testing.T) {
		r, _ := newRegistry(t)
		a, b := entry("a", created), entry("br", created.Add(time.Second))
		if ended := addLimit(t, r, 1, a, limit); len(ended) != 0 {
			t.Fatalf("first Add ended %q, want none", ended)
		}
		add(t, r, 1, b)
		add(t, r, 2, entry("c", created))
		wantEntries(t, r, 1, a, b)
	})

	t.Run("list round-trips every field", func(t *testing.T) {
		r, _ := newRegistry(t)
		e := auth.RegistryEntry{ID: "Id-1_x", StoreKey: "c3RvcmUta2V5-_AZaz09", Created: created.Add(123 * time.Millisecond)}
		add(t, r, 7, e)
		wantEntries(t, r, 7, e)
	})

	t.Run("rekey updates a present entry only", func(t *testing.T) {
		// Sessions.renew points an entry at its new store key only if no
		// revocation removed it meanwhile.
		r, _ := newRegistry(t)
		a, b := entry("a", created), entry("b", created.Add(time.Second))
		add(t, r, 1, a)
		add(t, r, 1, b)
		found, err := r.Rekey(t.Context(), 1, "a", "renewed-key-of-another-length")
		if err != nil || !found {
			t.Fatalf("Rekey of a present entry: got (%v, %v), want (true, nil)", found, err)
		}
		a.StoreKey = "renewed-key-of-another-length"
		wantEntries(t, r, 1, a, b)
		if err := r.Remove(t.Context(), 1, "a"); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		found, err = r.Rekey(t.Context(), 1, "a", "again")
		if err != nil || found {
			t.Fatalf("Rekey of a removed entry: got (%v, %v), want (false, nil)", found, err)
		}
		wantEntries(t, r, 1, b)
	})

	t.Run("remove", func(t *testing.T) {
		r, _ := newRegistry(t)
		a, b, c := entry("a", created), entry("b", created), entry("c", created)
		add(t, r, 1, a)
		add(t, r, 1, b)
		add(t, r, 1, c)
		if err := r.Remove(t.Context(), 1, "a", "c", "unknown"); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		wantEntries(t, r, 1, b)
		if err := r.Remove(t.Context(), 1); err != nil {
			t.Fatalf("Remove of no ids: %v", err)
		}
		if err := r.Remove(t.Context(), 99, "b"); err != nil {
			t.Fatalf("Remove for a user without entries: %v", err)
		}
		wantEntries(t, r, 1, b)
	})

	t.Run("end deletes sessions for good", func(t *testing.T) {
		r, sb := newRegistry(t)
		a, b, c := entry("a", created), entry("b", created), entry("c", created)
		for _, e := range []auth.RegistryEntry{a, b, c} {
			add(t, r, 1, e)
			session(t, sb, e)
		}
		if err := r.End(t.Context(), 1, a, c); err != nil {
			t.Fatalf("End: %v", err)
		}
		wantEntries(t, r, 1, b)
		wantEnded(t, sb, a, c)
		wantValue(t, sb, b.StoreKey, []byte("session of b"))
		if err := r.End(t.Context(), 1); err != nil {
			t.Fatalf("End of no entries: %v", err)
		}
	})

	t.Run("add ends the oldest sessions beyond the limit", func(t *testing.T) {
		r, sb := newRegistry(t)
		var all []auth.RegistryEntry
		for i := range 3 {
			e := entry("s"+strconv.Itoa(i), created.Add(time.Duration(i)*time.Second))
			session(t, sb, e)
			if ended := addLimit(t, r, 1, e, 3); len(ended) != 0 {
				t.Fatalf("Add %d of 3 ended %q, want none", i, ended)
			}
			all = append(all, e)
		}
		// A fourth login ends the oldest; the new one is never ended,
		// even with a limit of one.
		d := entry("s3", created.Add(time.Hour))
		session(t, sb, d)
		if ended := addLimit(t, r, 1, d, 3); !slices.Equal(ended, []string{"s0"}) {
			t.Fatalf("Add beyond the limit ended %q, want [s0]", ended)
		}
		wantEnded(t, sb, all[0])
		wantEntries(t, r, 1, all[1], all[2], d)
		e := entry("s4", created.Add(2*time.Hour))
		ended := addLimit(t, r, 1, e, 1)
		slices.Sort(ended)
		if !slices.Equal(ended, []string{"s1", "s2", "s3"}) {
			t.Fatalf("Add with a limit of 1 ended %q, want [s1 s2 s3]", ended)
		}
		wantEnded(t, sb, all[1], all[2], d)
		wantEntries(t, r, 1, e)
	})

	t.Run("add drops entries of sessions gone on their own", func(t *testing.T) {
		r, sb := newRegistry(t)
		now := ms(time.Now())
		gone := entry("gone", created)                 // idle-expired: no session
		live := entry("live", created)                 // still in the store
		young := entry("young", now.Add(-time.Second)) // not saved yet
		session(t, sb, live)
		for _, e := range []auth.RegistryEntry{gone, live, young} {
			add(t, r, 1, e)
		}
		e := entry("new", now)
		if ended := addLimit(t, r, 1, e, limit); len(ended) != 0 {
			t.Fatalf("Add ended %q, want none (a session that ended by itself is not ended again)", ended)
		}
		wantEntries(t, r, 1, live, young, e)
	})

	t.Run("users are isolated", func(t *testing.T) {
		r, _ := newRegistry(t)
		a := entry("shared-id", created)
		b := entry("shared-id", created.Add(time.Second))
		b.StoreKey = "other-key"
		add(t, r, 1, a)
		add(t, r, 2, b)
		if found, err := r.Rekey(t.Context(), 2, "shared-id", "renewed"); err != nil || !found {
			t.Fatalf("Rekey: got (%v, %v), want (true, nil)", found, err)
		}
		wantEntries(t, r, 1, a)
		if err := r.Remove(t.Context(), 2, "shared-id"); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		wantEntries(t, r, 1, a)
		wantEntries(t, r, 2)
	})
}

// incr takes one from keys with no limit that matters.
func incr(t *testing.T, c auth.Counter, window time.Duration, keys ...string) []auth.Count {
	t.Helper()
	budgets := make([]auth.Budget, len(keys))
	for i, k := range keys {
		budgets[i] = auth.Budget{Key: k, Limit: math.MaxInt64}
	}
	taken, got := take(t, c, window, budgets...)
	if !taken {
		t.Fatalf("Take(%q) without a limit: not taken", keys)
	}
	return got
}

func take(t *testing.T, c auth.Counter, window time.Duration, budgets ...auth.Budget) (bool, []auth.Count) {
	t.Helper()
	taken, got, err := c.Take(t.Context(), window, budgets...)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if len(got) != len(budgets) {
		t.Fatalf("Take(%d keys) returned %d counts", len(budgets), len(got))
	}
	return taken, got
}

func wantCount(t *testing.T, what string, got auth.Count, n int64, window time.Duration) {
	t.Helper()
	if got.N != n || got.TTL <= 0 || got.TTL > window {
		t.Errorf("%s: got %+v, want N=%d and TTL in (0, %v]", what, got, n, window)
	}
}

// Counter runs the auth.Counter contract against counters made by
// newCounter, one fresh counter per case. It sleeps under a second in all,
// to see a window end.
func Counter(t *testing.T, newCounter func(t *testing.T) auth.Counter) {
	t.Run("incr counts each key from zero", func(t *testing.T) {
		c := newCounter(t)
		got := incr(t, c, time.Minute, "a", "b")
		wantCount(t, "a", got[0], 1, time.Minute)
		wantCount(t, "b", got[1], 1, time.Minute)
		got = incr(t, c, time.Minute, "a", "c", "a")
		wantCount(t, "a", got[0], 2, time.Minute)
		wantCount(t, "c", got[1], 1, time.Minute)
		wantCount(t, "a again", got[2], 3, time.Minute)
	})

	t.Run("take stops at the first spent limit and changes nothing", func(t *testing.T) {
		c := newCounter(t)
		incr(t, c, time.Minute, "a", "a")
		taken, got := take(t, c, time.Minute, auth.Budget{Key: "b", Limit: 5}, auth.Budget{Key: "a", Limit: 2})
		if taken {
			t.Fatalf("Take past a's limit: taken")
		}
		if got[0] != (auth.Count{}) {
			t.Errorf("b, not taken: got %+v, want the zero Count", got[0])
		}
		wantCount(t, "a, not taken", got[1], 2, time.Minute)
		taken, got = take(t, c, time.Minute, auth.Budget{Key: "b", Limit: 5}, auth.Budget{Key: "a", Limit: 3})
		if !taken {
			t.Fatalf("Take below both limits: not taken")
		}
		wantCount(t, "b", got[0], 1, time.Minute)
		wantCount(t, "a", got[1], 3, time.Minute)
	})

	t.Run("parallel takes never pass the limit", func(t *testing.T) {
		c := newCounter(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		n := 0
		for range 40 {
			wg.Go(func() {
				taken, _, err := c.Take(t.Context(), time.Minute, auth.Budget{Key: "a", Limit: 7})
				if err != nil {
					t.Errorf("Take: %v", err)
				}
				if taken {
					mu.Lock()
					n++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if n != 7 {
			t.Fatalf("got %d takes, want 7", n)
		}
		wantCount(t, "a", counts(t, c, "a")[0], 7, time.Minute)
	})

	t.Run("later incr does not extend the window", func(t *testing.T) {
		// Otherwise whoever keeps failing keeps the lock for ever, and the
		// Retry-After a client is told would be a lie.
		c := newCounter(t)
		incr(t, c, time.Minute, "a")
		got := incr(t, c, time.Hour, "a")[0]
		wantCount(t, "second incr", got, 2, time.Minute)
	})

	t.Run("window ends", func(t *testing.T) {
		c := newCounter(t)
		const window = 500 * time.Millisecond
		incr(t, c, window, "a")
		incr(t, c, window, "a")
		incr(t, c, time.Hour, "b")
		time.Sleep(window + 150*time.Millisecond)
		got := incr(t, c, time.Minute, "a", "b")
		wantCount(t, "a after its window", got[0], 1, time.Minute)
		if got[0].TTL <= window {
			t.Errorf("a after its window: got TTL %v, want a fresh window of 1m", got[0].TTL)
		}
		wantCount(t, "b", got[1], 2, time.Hour)
	})

	t.Run("reset", func(t *testing.T) {
		c := newCounter(t)
		incr(t, c, time.Minute, "a", "b")
		incr(t, c, time.Minute, "a", "b")
		if err := c.Reset(t.Context(), "a"); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		if err := c.Reset(t.Context(), "absent"); err != nil {
			t.Fatalf("Reset of an absent key: %v", err)
		}
		got := incr(t, c, time.Minute, "a", "b")
		wantCount(t, "a after reset", got[0], 1, time.Minute)
		wantCount(t, "b", got[1], 3, time.Minute)
	})

	t.Run("clear deletes the first key only while every key is below its limit", func(t *testing.T) {
		c := newCounter(t)
		incr(t, c, time.Minute, "a", "b")
		incr(t, c, time.Minute, "a", "b")
		cleared, got, err := c.Clear(t.Context(), auth.Budget{Key: "a", Limit: 5}, auth.Budget{Key: "b", Limit: 2})
		if err != nil || cleared {
			t.Fatalf("Clear with b at its limit: cleared %v, err %v; want nothing cleared", cleared, err)
		}
		wantCount(t, "a, not cleared", got[0], 2, time.Minute)
		wantCount(t, "b, not cleared", got[1], 2, time.Minute)
		cleared, got, err = c.Clear(t.Context(), auth.Budget{Key: "a", Limit: 5}, auth.Budget{Key: "b", Limit: 3})
		if err != nil || !cleared {
			t.Fatalf("Clear below both limits: cleared %v, err %v; want cleared", cleared, err)
		}
		wantCount(t, "a as found", got[0], 2, time.Minute)
		got = counts(t, c, "a", "b")
		if got[0] != (auth.Count{}) {
			t.Errorf("a after Clear: got %+v, want the zero Count", got[0])
		}
		wantCount(t, "b after Clear", got[1], 2, time.Minute)
		if cleared, _, err := c.Clear(t.Context(), auth.Budget{Key: "absent", Limit: 1}); err != nil || !cleared {
			t.Errorf("Clear of an absent key: cleared %v, err %v; want cleared", cleared, err)
		}
	})

	t.Run("counts", func(t *testing.T) {
		c := newCounter(t)
		incr(t, c, time.Minute, "a")
		incr(t, c, time.Minute, "a")
		got := counts(t, c, "a", "absent")
		wantCount(t, "a", got[0], 2, time.Minute)
		if got[1] != (auth.Count{}) {
			t.Errorf("absent: got %+v, want the zero Count", got[1])
		}
		// Reading creates nothing and extends nothing.
		got = incr(t, c, time.Hour, "absent", "a")
		wantCount(t, "absent after counts", got[0], 1, time.Hour)
		wantCount(t, "a after counts", got[1], 3, time.Minute)
	})

	t.Run("counts after the window", func(t *testing.T) {
		c := newCounter(t)
		const window = 300 * time.Millisecond
		incr(t, c, window, "a")
		time.Sleep(window + 150*time.Millisecond)
		if got := counts(t, c, "a")[0]; got != (auth.Count{}) {
			t.Errorf("a after its window: got %+v, want the zero Count", got)
		}
	})
}

func counts(t *testing.T, c auth.Counter, keys ...string) []auth.Count {
	t.Helper()
	got, err := c.Counts(t.Context(), keys...)
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if len(got) != len(keys) {
		t.Fatalf("Counts(%q): got %d counts, want %d", keys, len(got), len(keys))
	}
	return got
}

func get(t *testing.T, b sessionstore.Backend, key string) ([]byte, bool) {
	t.Helper()
	v, found, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, found
}

func wantValue(t *testing.T, b sessionstore.Backend, key string, want []byte) {
	t.Helper()
	v, found := get(t, b, key)
	switch {
	case want == nil && found:
		t.Fatalf("Get(%q): got %q, want not found", key, v)
	case want != nil && !found:
		t.Fatalf("Get(%q): not found, want %q", key, want)
	case !bytes.Equal(v, want):
		t.Fatalf("Get(%q): got %q, want %q", key, v, want)
	}
}

func wantExists(t *testing.T, b sessionstore.Backend, keys []string, want []bool) {
	t.Helper()
	values, err := b.Values(t.Context(), keys...)
	if err != nil {
		t.Fatalf("Values: %v", err)
	}
	got := make([]bool, len(values))
	for i, v := range values {
		got[i] = v != nil
	}
	if len(keys) == 0 && len(got) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Values(%q) present: got %v, want %v", keys, got, want)
	}
}

// SessionBackend runs the sessionstore.Backend contract against back-ends
// made by newBackend, one fresh back-end per case. It sleeps about two
// seconds in all, to see keys expire.
func SessionBackend(t *testing.T, newBackend func(t *testing.T) sessionstore.Backend) {
	hour := func() time.Time { return time.Now().Add(time.Hour) }

	t.Run("set get", func(t *testing.T) {
		b := newBackend(t)
		wantValue(t, b, "k", nil)
		if err := b.Set(t.Context(), "k", []byte("v1"), hour()); err != nil {
			t.Fatalf("Set: %v", err)
		}
		wantValue(t, b, "k", []byte("v1"))
		if err := b.Set(t.Context(), "k", []byte("v2"), hour()); err != nil {
			t.Fatalf("Set: %v", err)
		}
		wantValue(t, b, "k", []byte("v2"))
		wantValue(t, b, "other", nil)
	})

	t.Run("expiry", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Set(t.Context(), "short", []byte("v"), time.Now().Add(500*time.Millisecond)); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if err := b.Set(t.Context(), "long", []byte("v"), hour()); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if err := b.Set(t.Context(), "past", []byte("v"), time.Now().Add(-time.Second)); err != nil {
			t.Fatalf("Set in the past: %v", err)
		}
		wantValue(t, b, "past", nil)
		wantValue(t, b, "short", []byte("v"))
		time.Sleep(700 * time.Millisecond)
		wantValue(t, b, "short", nil)
		wantExists(t, b, []string{"short", "long"}, []bool{false, true})
	})

	t.Run("refresh replaces an existing key only", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Refresh(t.Context(), "k", []byte("v"), hour()); err != nil {
			t.Fatalf("Refresh of an absent key: %v", err)
		}
		wantValue(t, b, "k", nil)
		if err := b.Set(t.Context(), "k", []byte("v1"), time.Now().Add(500*time.Millisecond)); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if err := b.Refresh(t.Context(), "k", []byte("v2"), hour()); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		time.Sleep(700 * time.Millisecond)
		// Still there: the refresh moved the expiry too.
		wantValue(t, b, "k", []byte("v2"))
	})

	t.Run("delete leaves a tombstone", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Set(t.Context(), "k", []byte("v"), hour()); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if err := b.Delete(t.Context(), "k", time.Minute); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantValue(t, b, "k", nil)
		// A request that loaded the session before the delete writes it back
		// as it ends: refused.
		if err := b.Set(t.Context(), "k", []byte("resurrected"), hour()); err != nil {
			t.Fatalf("Set after Delete: %v", err)
		}
		wantValue(t, b, "k", nil)
		if err := b.Refresh(t.Context(), "k", []byte("resurrected"), hour()); err != nil {
			t.Fatalf("Refresh after Delete: %v", err)
		}
		wantValue(t, b, "k", nil)
		wantExists(t, b, []string{"k"}, []bool{false})
		if err := b.Delete(t.Context(), "never-set", time.Minute); err != nil {
			t.Fatalf("Delete of an absent key: %v", err)
		}
	})

	t.Run("tombstone ends", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Delete(t.Context(), "k", 100*time.Millisecond); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
		if err := b.Set(t.Context(), "k", []byte("v"), hour()); err != nil {
			t.Fatalf("Set: %v", err)
		}
		wantValue(t, b, "k", []byte("v"))
	})

	t.Run("exists", func(t *testing.T) {
		b := newBackend(t)
		for _, k := range []string{"a", "c"} {
			if err := b.Set(t.Context(), k, []byte("v"), hour()); err != nil {
				t.Fatalf("Set: %v", err)
			}
		}
		wantExists(t, b, []string{"a", "b", "c", "a"}, []bool{true, false, true, true})
		wantExists(t, b, nil, nil)
	})

	t.Run("ping", func(t *testing.T) {
		if err := newBackend(t).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}
