package redisstate

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Registry is an auth.Registry in Redis: one hash per user, prefix+"r:"+id,
// with a field per session (its entry) and a field id+":seen" (its last-seen
// time, so a touch writes a few bytes without reading the entry).
type Registry struct {
	pool   *redis.Pool
	prefix string
}

// NewRegistry returns a Registry on pool.
func NewRegistry(pool *redis.Pool, prefix string) *Registry {
	return &Registry{pool: pool, prefix: prefix}
}

const seenSuffix = ":seen"

type storedEntry struct {
	StoreKey  string `json:"k"`
	Created   int64  `json:"c"`
	IP        string `json:"ip"`
	UserAgent string `json:"ua"`
	Remember  bool   `json:"r,omitempty"`
	Method    string `json:"m,omitempty"`
}

func encodeEntry(e auth.RegistryEntry) ([]byte, error) {
	return json.Marshal(storedEntry{StoreKey: e.StoreKey, Created: e.Created.UnixMilli(), IP: e.IP, UserAgent: e.UserAgent, Remember: e.Remember, Method: e.Method})
}

func (r *Registry) key(userID int64) string {
	return r.prefix + "r:" + strconv.FormatInt(userID, 10)
}

// Add inserts or replaces e and keeps the user's hash for ttl.
func (r *Registry) Add(ctx context.Context, userID int64, e auth.RegistryEntry, ttl time.Duration) (int, error) {
	v, err := encodeEntry(e)
	if err != nil {
		return 0, err
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	k := r.key(userID)
	_ = c.Send("MULTI")
	_ = c.Send("HSET", k, e.ID, v, e.ID+seenSuffix, e.LastSeen.UnixMilli())
	_ = c.Send("PEXPIRE", k, ttl.Milliseconds())
	_ = c.Send("HLEN", k)
	res, err := redis.Values(redis.DoContext(c, ctx, "EXEC"))
	if err != nil {
		return 0, err
	}
	n, err := redis.Int(res[2], nil)
	return n / 2, err
}

// replaceIfPresent never re-creates an entry that was removed meanwhile.
var replaceIfPresent = redis.NewScript(1, `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0`)

// Replace overwrites entry e.ID with e if it still exists; its last-seen
// field is left as it is.
func (r *Registry) Replace(ctx context.Context, userID int64, e auth.RegistryEntry) (bool, error) {
	v, err := encodeEntry(e)
	if err != nil {
		return false, err
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return false, err
	}
	defer c.Close()
	return redis.Bool(replaceIfPresent.DoContext(ctx, c, r.key(userID), e.ID, v))
}

// touchIfPresent never creates a field (or the hash) for a removed entry.
var touchIfPresent = redis.NewScript(1, `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1] .. ':seen', ARGV[2])
end
return 0`)

// Touch sets the last-seen time of entry id.
func (r *Registry) Touch(ctx context.Context, userID int64, id string, seen time.Time) error {
	c, err := conn(ctx, r.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = touchIfPresent.DoContext(ctx, c, r.key(userID), id, seen.UnixMilli())
	return err
}

// List returns the user's entries.
func (r *Registry) List(ctx context.Context, userID int64) ([]auth.RegistryEntry, error) {
	c, err := conn(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	m, err := redis.StringMap(redis.DoContext(c, ctx, "HGETALL", r.key(userID)))
	if err != nil {
		return nil, err
	}
	out := make([]auth.RegistryEntry, 0, len(m)/2)
	for id, v := range m {
		if strings.HasSuffix(id, seenSuffix) {
			continue
		}
		var s storedEntry
		if json.Unmarshal([]byte(v), &s) != nil {
			continue
		}
		e := auth.RegistryEntry{
			ID: id, StoreKey: s.StoreKey, Created: time.UnixMilli(s.Created),
			IP: s.IP, UserAgent: s.UserAgent, Remember: s.Remember, Method: s.Method,
		}
		e.LastSeen = e.Created
		if ms, err := strconv.ParseInt(m[id+seenSuffix], 10, 64); err == nil {
			e.LastSeen = time.UnixMilli(ms)
		}
		out = append(out, e)
	}
	return out, nil
}

// Remove deletes entries.
func (r *Registry) Remove(ctx context.Context, userID int64, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	args := redis.Args{r.key(userID)}
	for _, id := range ids {
		args = append(args, id, id+seenSuffix)
	}
	_, err = redis.DoContext(c, ctx, "HDEL", args...)
	return err
}
