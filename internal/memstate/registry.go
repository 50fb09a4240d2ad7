package memstate

import (
	"context"
	"sync"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Registry is an auth.Registry in memory, for the sessions of one
// SessionBackend. A user's entries are few (auth caps them), so a login
// looks at all of them.
type Registry struct {
	sessions  *SessionBackend
	tombstone time.Duration
	mu        sync.Mutex
	users     map[int64]map[string]auth.RegistryEntry
}

// NewRegistry returns an empty Registry for the sessions of b. Sessions it
// ends keep a tombstone for tombstone (sessionstore.TombstoneTTL), as
// sessionstore's own deletions do.
func NewRegistry(b *SessionBackend, tombstone time.Duration) *Registry {
	return &Registry{sessions: b, tombstone: tombstone, users: make(map[int64]map[string]auth.RegistryEntry)}
}

// Add inserts e, drops entries whose sessions are gone, and ends the oldest
// sessions beyond limit. The user's entries live as long as they are
// registered, so ttl is not needed here.
func (r *Registry) Add(ctx context.Context, userID int64, e auth.RegistryEntry, _ time.Duration, limit int) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.users[userID]
	if m == nil {
		m = make(map[string]auth.RegistryEntry)
		r.users[userID] = m
	}
	m[e.ID] = e
	cutoff := e.Created.Add(-auth.RegistryGrace)
	for id, old := range m {
		if old.Created.Before(cutoff) && !r.sessions.exists(old.StoreKey) {
			delete(m, id)
		}
	}
	var ended []string
	for len(m) > max(limit, 1) {
		var oldest auth.RegistryEntry
		for _, o := range m {
			if o.ID != e.ID && (oldest.ID == "" || o.Created.Before(oldest.Created)) {
				oldest = o
			}
		}
		if err := r.sessions.Delete(ctx, oldest.StoreKey, r.tombstone); err != nil {
			return ended, err
		}
		delete(m, oldest.ID)
		ended = append(ended, oldest.ID)
	}
	return ended, nil
}

// Rekey points entry id at storeKey if it still exists.
func (r *Registry) Rekey(_ context.Context, userID int64, id, storeKey string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.users[userID][id]
	if !ok {
		return false, nil
	}
	e.StoreKey = storeKey
	r.users[userID][id] = e
	return true, nil
}

// List returns the user's entries.
func (r *Registry) List(_ context.Context, userID int64) ([]auth.RegistryEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]auth.RegistryEntry, 0, len(r.users[userID]))
	for _, e := range r.users[userID] {
		out = append(out, e)
	}
	return out, nil
}

// End ends the sessions of entries and removes the entries.
func (r *Registry) End(ctx context.Context, userID int64, entries ...auth.RegistryEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		if err := r.sessions.Delete(ctx, e.StoreKey, r.tombstone); err != nil {
			return err
		}
		r.remove(userID, e.ID)
	}
	return nil
}

// Remove deletes entries.
func (r *Registry) Remove(_ context.Context, userID int64, ids ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remove(userID, ids...)
	return nil
}

func (r *Registry) remove(userID int64, ids ...string) {
	m := r.users[userID]
	for _, id := range ids {
		delete(m, id)
	}
	if len(m) == 0 {
		delete(r.users, userID)
	}
}
