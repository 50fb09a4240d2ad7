package memstate

import (
	"context"
	"sync"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Registry is an auth.Registry in memory.
type Registry struct {
	mu    sync.Mutex
	users map[int64]map[string]auth.RegistryEntry
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{users: make(map[int64]map[string]auth.RegistryEntry)}
}

// Add inserts or replaces e. Entries of ended sessions are dropped by
// auth.Sessions as it finds them, so ttl is not needed here.
func (r *Registry) Add(_ context.Context, userID int64, e auth.RegistryEntry, _ time.Duration) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.users[userID]
	if m == nil {
		m = make(map[string]auth.RegistryEntry)
		r.users[userID] = m
	}
	m[e.ID] = e
	return len(m), nil
}

// Replace overwrites entry e.ID with e if it still exists, keeping its
// last-seen time.
func (r *Registry) Replace(_ context.Context, userID int64, e auth.RegistryEntry) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.users[userID][e.ID]
	if !ok {
		return false, nil
	}
	e.LastSeen = old.LastSeen
	r.users[userID][e.ID] = e
	return true, nil
}

// Touch sets the last-seen time of entry id.
func (r *Registry) Touch(_ context.Context, userID int64, id string, seen time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.users[userID][id]; ok {
		e.LastSeen = seen
		r.users[userID][id] = e
	}
	return nil
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

// Remove deletes entries.
func (r *Registry) Remove(_ context.Context, userID int64, ids ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.users[userID]
	for _, id := range ids {
		delete(m, id)
	}
	if len(m) == 0 {
		delete(r.users, userID)
	}
	return nil
}
