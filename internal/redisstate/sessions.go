package redisstate

import (
	"context"
	"time"

	"github.com/gomodule/redigo/redis"
)

// setUnlessTombstoned writes a session unless its key was deleted: a
// request that loaded the session before a logout or revocation cannot
// write it back. One atomic step, so no instance can slip in between.
var setUnlessTombstoned = redis.NewScript(2, `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// SessionBackend is a sessionstore.Backend in Redis. Sessions live under
// prefix+"s:"+key, tombstones under prefix+"t:"+key.
type SessionBackend struct {
	pool   *redis.Pool
	prefix string
}

// NewSessionBackend returns a SessionBackend on pool.
func NewSessionBackend(pool *redis.Pool, prefix string) *SessionBackend {
	return &SessionBackend{pool: pool, prefix: prefix}
}

func (b *SessionBackend) key(k string) string  { return b.prefix + "s:" + k }
func (b *SessionBackend) tomb(k string) string { return b.prefix + "t:" + k }

func ttlMillis(expiry time.Time) int64 { return time.Until(expiry).Milliseconds() }

// Get returns the value of key: one GET.
func (b *SessionBackend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	c, err := conn(ctx, b.pool)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	v, err := redis.Bytes(redis.DoContext(c, ctx, "GET", b.key(key)))
	if err == redis.ErrNil {
		return nil, false, nil
	}
	return v, err == nil, err
}

// Set stores value until expiry unless key is tombstoned.
func (b *SessionBackend) Set(ctx context.Context, key string, value []byte, expiry time.Time) error {
	ms := ttlMillis(expiry)
	if ms <= 0 {
		return nil
	}
	c, err := conn(ctx, b.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = setUnlessTombstoned.DoContext(ctx, c, b.key(key), b.tomb(key), value, ms)
	return err
}

// Refresh replaces value and expiry only if key exists (SET … XX).
func (b *SessionBackend) Refresh(ctx context.Context, key string, value []byte, expiry time.Time) error {
	ms := ttlMillis(expiry)
	if ms <= 0 {
		return nil
	}
	c, err := conn(ctx, b.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = redis.DoContext(c, ctx, "SET", b.key(key), value, "XX", "PX", ms)
	if err == redis.ErrNil { // XX and no key: nothing to refresh
		err = nil
	}
	return err
}

// Delete removes key and tombstones it for ttl, atomically.
func (b *SessionBackend) Delete(ctx context.Context, key string, ttl time.Duration) error {
	c, err := conn(ctx, b.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.Send("MULTI")
	_ = c.Send("DEL", b.key(key))
	_ = c.Send("SET", b.tomb(key), 1, "PX", ttl.Milliseconds())
	_, err = redis.DoContext(c, ctx, "EXEC")
	return err
}

// Values returns the value of each key, nil for a missing one: one MGET.
func (b *SessionBackend) Values(ctx context.Context, keys ...string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	c, err := conn(ctx, b.pool)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	args := make(redis.Args, len(keys))
	for i, k := range keys {
		args[i] = b.key(k)
	}
	return redis.ByteSlices(redis.DoContext(c, ctx, "MGET", args...))
}

// Ping checks that Redis answers.
func (b *SessionBackend) Ping(ctx context.Context) error { return Ping(ctx, b.pool) }
