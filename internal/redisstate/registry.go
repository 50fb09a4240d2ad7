package redisstate

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Registry is an auth.Registry in Redis: one sorted set per user,
// prefix+"z:"+id (not the "r:" hashes of earlier versions, which expire on
// their own), whose members are "id:storekey" and whose scores are the
// sessions' creation times (unix milliseconds). One key per user, and
// members short enough (under Redis's zset-max-listpack-value, 64 bytes)
// for the compact listpack encoding up to zset-max-listpack-entries (128)
// sessions, above the default cap: it is kept once per live session. A
// login finds the oldest sessions by score without reading the others, and
// every step is one Lua script, so one round trip. Sessions are ended the
// way SessionBackend.Delete ends them: deleted, and tombstoned.
type Registry struct {
	pool      *redis.Pool
	sessions  *SessionBackend
	prefix    string
	tombstone time.Duration
}

// NewRegistry returns a Registry for the sessions of b, on b's pool and
// under b's key prefix. Sessions it ends keep a tombstone for tombstone
// (sessionstore.TombstoneTTL), as sessionstore's own deletions do.
func NewRegistry(b *SessionBackend, tombstone time.Duration) *Registry {
	return &Registry{pool: b.pool, sessions: b, prefix: b.prefix, tombstone: tombstone}
}

// pruneScan is how many of a user's oldest entries a login checks for
// sessions that ended on their own. More than one, so that the registry
// shrinks faster than logins grow it.
const pruneScan = 4

// errID refuses an id that would make a member ambiguous.
var errID = errors.New("redisstate: registry id contains ':'")

func member(id, storeKey string) (string, error) {
	if strings.Contains(id, ":") {
		return "", errID
	}
	return id + ":" + storeKey, nil
}

func (r *Registry) key(userID int64) string {
	return r.prefix + "z:" + strconv.FormatInt(userID, 10)
}

// luaMember splits a member into id and store key.
const luaMember = `
local function split(m) local i = string.find(m, ':', 1, true) return string.sub(m, 1, i - 1), string.sub(m, i + 1) end
`

// addScript registers an entry, drops the oldest entries whose sessions
// are gone, and ends the oldest sessions beyond the limit.
//
//	KEYS: the user's set
//	ARGV: member, created ms, ttl ms, limit, cut-off ms (younger entries
//	      count as alive), session key prefix, tombstone prefix,
//	      tombstone ms, prune scan
//
// It returns the ids of the sessions it ended.
var addScript = redis.NewScript(1, luaMember+`
local z, new = KEYS[1], ARGV[1]
local sp, tp, tomb = ARGV[6], ARGV[7], ARGV[8]
redis.call('ZADD', z, ARGV[2], new)
redis.call('PEXPIRE', z, ARGV[3])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', ARGV[5], 'LIMIT', 0, ARGV[9])) do
  local _, k = split(m)
  if redis.call('EXISTS', sp .. k) == 0 then redis.call('ZREM', z, m) end
end
local ended = {}
local over = redis.call('ZCARD', z) - tonumber(ARGV[4])
if over > 0 then
  for _, m in ipairs(redis.call('ZRANGE', z, 0, over)) do
    if over == 0 then break end
    if m ~= new then
      local id, k = split(m)
      redis.call('DEL', sp .. k)
      redis.call('SET', tp .. k, 1, 'PX', tomb)
      redis.call('ZREM', z, m)
      ended[#ended + 1] = id
      over = over - 1
    end
  end
end
return ended`)

// Add registers e, prunes and caps the user's entries, in one script.
func (r *Registry) Add(ctx context.Context, userID int64, e auth.RegistryEntry, ttl time.Duration, limit int) ([]string, error) {
	m, err := member(e.ID, e.StoreKey)
	if err != nil {
		return nil, err
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return redis.Strings(addScript.DoContext(ctx, c, r.key(userID),
		m, e.Created.UnixMilli(), ttl.Milliseconds(), limit,
		e.Created.Add(-auth.RegistryGrace).UnixMilli(),
		r.sessions.key(""), r.sessions.tomb(""), r.tombstone.Milliseconds(), pruneScan))
}

// rekeyScript replaces the member of an id that is still registered,
// keeping its score. KEYS: the user's set. ARGV: id, new member.
var rekeyScript = redis.NewScript(1, luaMember+`
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #all, 2 do
  local id = split(all[i])
  if id == ARGV[1] then
    redis.call('ZREM', KEYS[1], all[i])
    redis.call('ZADD', KEYS[1], all[i + 1], ARGV[2])
    return 1
  end
end
return 0`)

// Rekey points entry id at storeKey if the entry still exists. It reads
// the user's set (at most the session cap): it runs on a password change,
// not on every request.
func (r *Registry) Rekey(ctx context.Context, userID int64, id, storeKey string) (bool, error) {
	m, err := member(id, storeKey)
	if err != nil {
		return false, err
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return false, err
	}
	defer c.Close()
	return redis.Bool(rekeyScript.DoContext(ctx, c, r.key(userID), id, m))
}

// List returns the user's entries: one ZRANGE.
func (r *Registry) List(ctx context.Context, userID int64) ([]auth.RegistryEntry, error) {
	c, err := conn(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	all, err := redis.Strings(redis.DoContext(c, ctx, "ZRANGE", r.key(userID), 0, -1, "WITHSCORES"))
	if err != nil {
		return nil, err
	}
	out := make([]auth.RegistryEntry, 0, len(all)/2)
	for i := 0; i+1 < len(all); i += 2 {
		id, key, ok := strings.Cut(all[i], ":")
		ms, err := strconv.ParseInt(all[i+1], 10, 64)
		if !ok || err != nil {
			continue // not written by this code: no session to show
		}
		out = append(out, auth.RegistryEntry{ID: id, StoreKey: key, Created: time.UnixMilli(ms)})
	}
	return out, nil
}

// endScript ends sessions and drops their entries. KEYS: the user's set.
// ARGV: session key prefix, tombstone prefix, tombstone ms, then the
// member of each entry.
var endScript = redis.NewScript(1, luaMember+`
local sp, tp, tomb = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local _, k = split(ARGV[i])
  redis.call('DEL', sp .. k)
  redis.call('SET', tp .. k, 1, 'PX', tomb)
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return 0`)

// End ends the sessions of entries and drops the entries, in one script.
func (r *Registry) End(ctx context.Context, userID int64, entries ...auth.RegistryEntry) error {
	if len(entries) == 0 {
		return nil
	}
	args := redis.Args{r.key(userID), r.sessions.key(""), r.sessions.tomb(""), r.tombstone.Milliseconds()}
	for _, e := range entries {
		m, err := member(e.ID, e.StoreKey)
		if err != nil {
			return err
		}
		args = append(args, m)
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = endScript.DoContext(ctx, c, args...)
	return err
}

// removeScript drops the entries of ids. KEYS: the user's set. ARGV: ids.
var removeScript = redis.NewScript(1, luaMember+`
local drop = {}
for i = 1, #ARGV do drop[ARGV[i]] = true end
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local id = split(m)
  if drop[id] then redis.call('ZREM', KEYS[1], m) end
end
return 0`)

// Remove deletes the entries of ids, in one script that reads the user's
// set: it runs when the sessions page finds ended sessions, not per login.
func (r *Registry) Remove(ctx context.Context, userID int64, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = removeScript.DoContext(ctx, c, redis.Args{r.key(userID)}.AddFlat(ids)...)
	return err
}
