// Package sessionstore adapts a key-value back-end (memory or Redis) to the
// scs.Store interface, adding two things SCS and its stores lack:
//
//   - Exact, cheap idle expiry. SCS enforces an idle timeout by rewriting the
//     whole session on every request. Here each stored value carries the
//     time it was last written; a read rewrites it only when a tenth of the
//     idle window has passed. A session therefore ends between 0.9× and 1×
//     the idle timeout after its last use, and a steady stream of page views
//     costs one store read each and almost no writes. A remembered session
//     (SCS's RememberMe, marked by Codec) has no idle timeout: it ends only
//     at its absolute expiry, or when it is deleted.
//
//   - Deletion that sticks. SCS stores overwrite blindly, so a request that
//     loaded a session before it was logged out or revoked could write it
//     back when it finishes. Back-ends keep a tombstone for every deleted
//     key and refuse to create it again while the tombstone lives.
package sessionstore

import (
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// TombstoneTTL is how long a deleted key cannot be written again. It only
// has to outlive any request that loaded the session before the deletion;
// tokens are random, so a key never comes back legitimately.
const TombstoneTTL = 5 * time.Minute

// refreshFraction of the idle timeout may pass before a read rewrites the
// session's expiry.
const refreshFraction = 10

// Backend is the key-value store under Store.
type Backend interface {
	// Get returns the value of key.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Set stores value under key until expiry, unless key was deleted less
	// than its tombstone's lifetime ago; then it does nothing.
	Set(ctx context.Context, key string, value []byte, expiry time.Time) error
	// Refresh replaces the value and expiry of key only if key still exists.
	Refresh(ctx context.Context, key string, value []byte, expiry time.Time) error
	// Delete removes key and leaves a tombstone for tombstone.
	Delete(ctx context.Context, key string, tombstone time.Duration) error
	// Values returns the value of each key, nil for a key that does not
	// exist.
	Values(ctx context.Context, keys ...string) ([][]byte, error)
	// Ping checks that the back-end answers.
	Ping(ctx context.Context) error
}

// Observer is told about every back-end operation (for metrics).
type Observer interface {
	ObserveStoreOp(op string, d time.Duration, err error)
}

// Store is an scs.Store (and scs.CtxStore) over a Backend.
type Store struct {
	backend  Backend
	idle     time.Duration
	observer Observer
	now      func() time.Time
}

// New returns a Store whose sessions end after idle without use.
func New(b Backend, idle time.Duration, o Observer) *Store {
	return &Store{backend: b, idle: idle, observer: o, now: time.Now}
}

const headerVersion = 2

var errBadHeader = errors.New("sessionstore: malformed stored value")

// The stored value is a header (version, then last write and absolute
// expiry in unix milliseconds, as uvarints: 13 bytes where fixed-width
// fields took 17, kept once per live session) followed by the codec's
// bytes.
func encode(lastWrite, expiry time.Time, payload []byte) []byte {
	v := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(payload))
	v = append(v, headerVersion)
	v = binary.AppendUvarint(v, uint64(lastWrite.UnixMilli()))
	v = binary.AppendUvarint(v, uint64(expiry.UnixMilli()))
	return append(v, payload...)
}

func decode(v []byte) (lastWrite, expiry time.Time, payload []byte, err error) {
	if len(v) == 0 || v[0] != headerVersion {
		return time.Time{}, time.Time{}, nil, errBadHeader
	}
	v = v[1:]
	last, n := binary.Uvarint(v)
	if n <= 0 {
		return time.Time{}, time.Time{}, nil, errBadHeader
	}
	v = v[n:]
	exp, n := binary.Uvarint(v)
	if n <= 0 {
		return time.Time{}, time.Time{}, nil, errBadHeader
	}
	return time.UnixMilli(int64(last)), time.UnixMilli(int64(exp)), v[n:], nil
}

func (s *Store) observe(op string, start time.Time, err error) {
	if s.observer != nil {
		s.observer.ObserveStoreOp(op, time.Since(start), err)
	}
}

// storeExpiry is when a session written at now ends if unused: the idle
// timeout, capped by the absolute expiry; a remembered session lives to
// its absolute expiry.
func (s *Store) storeExpiry(now, expiry time.Time, payload []byte) time.Time {
	if idle := now.Add(s.idle); idle.Before(expiry) && !Remembered(payload) {
		return idle
	}
	return expiry
}

// live reports whether a session last written at last, ending at expiry,
// is alive at now: before its expiry, and unless remembered, used within
// the idle timeout.
func (s *Store) live(now, last, expiry time.Time, payload []byte) bool {
	return now.Before(expiry) && (Remembered(payload) || now.Sub(last) < s.idle)
}

// FindCtx returns the session data of key, extending its idle expiry when
// a tenth of the idle window has passed since it was last written.
func (s *Store) FindCtx(ctx context.Context, key string) ([]byte, bool, error) {
	start := time.Now()
	v, found, err := s.backend.Get(ctx, key)
	s.observe("get", start, err)
	if err != nil || !found {
		return nil, false, err
	}
	last, expiry, payload, err := decode(v)
	if err != nil {
		return nil, false, nil // a value this code did not write is no session
	}
	now := s.now()
	if !s.live(now, last, expiry, payload) {
		return nil, false, nil
	}
	if !Remembered(payload) && now.Sub(last) >= s.idle/refreshFraction {
		start = time.Now()
		err = s.backend.Refresh(ctx, key, encode(now, expiry, payload), s.storeExpiry(now, expiry, payload))
		s.observe("refresh", start, err)
		if err != nil {
			return nil, false, err
		}
	}
	return payload, true, nil
}

// CommitCtx stores session data b under key, unless key was deleted.
func (s *Store) CommitCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	now := s.now()
	start := time.Now()
	err := s.backend.Set(ctx, key, encode(now, expiry, b), s.storeExpiry(now, expiry, b))
	s.observe("set", start, err)
	return err
}

// DeleteCtx deletes key for good.
func (s *Store) DeleteCtx(ctx context.Context, key string) error {
	start := time.Now()
	err := s.backend.Delete(ctx, key, TombstoneTTL)
	s.observe("delete", start, err)
	return err
}

// Find implements scs.Store.
func (s *Store) Find(key string) ([]byte, bool, error) { return s.FindCtx(context.Background(), key) }

// Commit implements scs.Store.
func (s *Store) Commit(key string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), key, b, expiry)
}

// Delete implements scs.Store.
func (s *Store) Delete(key string) error { return s.DeleteCtx(context.Background(), key) }

// Peek returns the session data of each key, nil for a session that is
// gone, in one read of the back-end. Unlike FindCtx it never extends a
// session's life: looking at a user's other sessions is not using them.
func (s *Store) Peek(ctx context.Context, keys ...string) ([][]byte, error) {
	start := time.Now()
	values, err := s.backend.Values(ctx, keys...)
	s.observe("peek", start, err)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([][]byte, len(values))
	for i, v := range values {
		if v == nil {
			continue
		}
		last, expiry, payload, err := decode(v)
		if err != nil || !s.live(now, last, expiry, payload) {
			continue
		}
		out[i] = payload
	}
	return out, nil
}

// Ping checks that the back-end answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.backend.Ping(ctx)
}
