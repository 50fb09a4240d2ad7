// Package memstate keeps session state in this process's memory: sessions
// (on SCS's memstore), the per-user session registry and login-throttling
// counters. It is the default for a single instance; everything is lost at
// restart and invisible to other instances (use package redisstate then).
package memstate

import (
	"context"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2/memstore"
)

// SessionBackend is a sessionstore.Backend on SCS's memstore, with
// tombstones for deleted keys.
type SessionBackend struct {
	store *memstore.MemStore
	// mu serialises writes so that the tombstone check and the write that
	// follows it are atomic; reads go straight to memstore.
	mu         sync.Mutex
	tombstones map[string]time.Time
	lastSweep  time.Time
}

// NewSessionBackend returns an empty SessionBackend.
func NewSessionBackend() *SessionBackend {
	return &SessionBackend{store: memstore.New(), tombstones: make(map[string]time.Time)}
}

// Close releases the back-end. It leaves memstore's clean-up goroutine
// running: in SCS v2.9.0, StopCleanup races with that goroutine's start
// (alexedwards/scs#231, fixed upstream after v2.9.0), which fails tests run
// with -race; the goroutine only wakes once a minute.
func (b *SessionBackend) Close() {}

// Get returns the value of key.
func (b *SessionBackend) Get(_ context.Context, key string) ([]byte, bool, error) {
	return b.store.Find(key)
}

// Set stores value under key until expiry, unless key is tombstoned.
func (b *SessionBackend) Set(_ context.Context, key string, value []byte, expiry time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if until, dead := b.tombstones[key]; dead && time.Now().Before(until) {
		return nil
	}
	return b.store.Commit(key, value, expiry)
}

// Refresh replaces the value and expiry of key if it still exists.
func (b *SessionBackend) Refresh(_ context.Context, key string, value []byte, expiry time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, found, _ := b.store.Find(key); !found {
		return nil
	}
	return b.store.Commit(key, value, expiry)
}

// Delete removes key and tombstones it for ttl.
func (b *SessionBackend) Delete(_ context.Context, key string, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tombstones[key] = now.Add(ttl)
	if now.Sub(b.lastSweep) > ttl {
		for k, until := range b.tombstones {
			if now.After(until) {
				delete(b.tombstones, k)
			}
		}
		b.lastSweep = now
	}
	return b.store.Delete(key)
}

// Values returns the value of each key, nil for a missing one.
func (b *SessionBackend) Values(_ context.Context, keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if v, found, _ := b.store.Find(k); found {
			out[i] = v
		}
	}
	return out, nil
}

// Ping always succeeds: memory does not go away.
func (b *SessionBackend) Ping(context.Context) error { return nil }

// exists reports whether key holds a session.
func (b *SessionBackend) exists(key string) bool {
	_, found, _ := b.store.Find(key)
	return found
}
