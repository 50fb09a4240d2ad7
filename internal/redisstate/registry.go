package redisstate

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Registry is an auth.Registry in Redis. Each user has two keys:
// prefix+"r:"+id, a hash from session id to its entry, and prefix+"z:"+id,
// a sorted set of the session ids scored by creation time (unix
// milliseconds), so that a login finds the oldest sessions without reading
// the others. Every step is one Lua script, so one round trip, and a login
// does constant work however many sessions the user has. Sessions are
// ended the way SessionBackend.Delete ends them: deleted, and tombstoned.
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

// An entry is stored as its last-seen time first (4 bytes, unix seconds,
// so that a touch rewrites a fixed prefix), then its store key (length
// byte, then the key), a flags byte (remember-me; how the IP is kept), the
// IP (4 or 16 bytes, or a length byte and text for anything that is no
// address), and the user agent to the end. Its creation time is its score
// in the sorted set. Compact, because it is kept once per live session:
// with a short user agent it stays within Redis's hash-max-listpack-value
// (64 bytes), so that a user's hash keeps its compact encoding.
const (
	seenLen        = 4
	maxEntryString = 255
)

const (
	entryRemember byte = 1 << iota
	entryIPv4
	entryIPv6
)

func encodeEntry(e auth.RegistryEntry) []byte {
	key := clip(e.StoreKey)
	b := make([]byte, 0, seenLen+3+len(key)+len(e.IP)+len(e.UserAgent))
	b = appendSeen(b, e.LastSeen)
	b = append(append(b, byte(len(key))), key...)
	var flags byte
	if e.Remember {
		flags |= entryRemember
	}
	ip, err := netip.ParseAddr(e.IP)
	switch {
	case err == nil && ip.Is4() && ip.String() == e.IP:
		b = append(b, flags|entryIPv4)
		b = append(b, ip.AsSlice()...)
	case err == nil && ip.Is6() && ip.Zone() == "" && ip.String() == e.IP:
		b = append(b, flags|entryIPv6)
		b = append(b, ip.AsSlice()...)
	default:
		text := clip(e.IP)
		b = append(b, flags, byte(len(text)))
		b = append(b, text...)
	}
	return append(b, e.UserAgent...)
}

var errEntry = errors.New("redisstate: malformed registry entry")

func decodeEntry(id string, v []byte, created time.Time) (auth.RegistryEntry, error) {
	if len(v) < seenLen+1 {
		return auth.RegistryEntry{}, errEntry
	}
	e := auth.RegistryEntry{ID: id, Created: created, LastSeen: time.Unix(int64(binary.BigEndian.Uint32(v)), 0)}
	v = v[seenLen:]
	n := int(v[0])
	if len(v) < 1+n+1 {
		return auth.RegistryEntry{}, errEntry
	}
	e.StoreKey, v = string(v[1:1+n]), v[1+n:]
	flags := v[0]
	v = v[1:]
	e.Remember = flags&entryRemember != 0
	switch {
	case flags&entryIPv4 != 0 && len(v) >= 4:
		e.IP, v = netip.AddrFrom4([4]byte(v[:4])).String(), v[4:]
	case flags&entryIPv6 != 0 && len(v) >= 16:
		e.IP, v = netip.AddrFrom16([16]byte(v[:16])).String(), v[16:]
	case flags&(entryIPv4|entryIPv6) == 0 && len(v) >= 1 && len(v) >= 1+int(v[0]):
		n = int(v[0])
		e.IP, v = string(v[1:1+n]), v[1+n:]
	default:
		return auth.RegistryEntry{}, errEntry
	}
	e.UserAgent = string(v)
	return e, nil
}

func appendSeen(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
}

// clip cuts s to what a length byte can say; store keys and addresses are
// far shorter.
func clip(s string) string {
	if len(s) > maxEntryString {
		return s[:maxEntryString]
	}
	return s
}

func (r *Registry) keys(userID int64) (hash, zset string) {
	id := strconv.FormatInt(userID, 10)
	return r.prefix + "r:" + id, r.prefix + "z:" + id
}

// luaStoreKey reads the store key out of an entry.
const luaStoreKey = `
local function skey(v) local n = string.byte(v, 5) return string.sub(v, 6, 5 + n) end
`

// addScript registers an entry, drops the oldest entries whose sessions
// are gone, and ends the oldest sessions beyond the limit.
//
//	KEYS: hash, zset
//	ARGV: id, entry, created ms, ttl ms, limit, cut-off ms (younger
//	      entries count as alive), session key prefix, tombstone prefix,
//	      tombstone ms, prune scan
//
// It returns the ids of the sessions it ended.
var addScript = redis.NewScript(2, luaStoreKey+`
local h, z, id = KEYS[1], KEYS[2], ARGV[1]
local sp, tp, tomb = ARGV[7], ARGV[8], ARGV[9]
redis.call('HSET', h, id, ARGV[2])
redis.call('ZADD', z, ARGV[3], id)
redis.call('PEXPIRE', h, ARGV[4])
redis.call('PEXPIRE', z, ARGV[4])
local function drop(o) redis.call('HDEL', h, o) redis.call('ZREM', z, o) end
for _, o in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', ARGV[6], 'LIMIT', 0, ARGV[10])) do
  local v = redis.call('HGET', h, o)
  if not v or redis.call('EXISTS', sp .. skey(v)) == 0 then drop(o) end
end
local ended = {}
local over = redis.call('ZCARD', z) - tonumber(ARGV[5])
if over > 0 then
  for _, o in ipairs(redis.call('ZRANGE', z, 0, over)) do
    if over == 0 then break end
    if o ~= id then
      local v = redis.call('HGET', h, o)
      if v then
        local k = skey(v)
        redis.call('DEL', sp .. k)
        redis.call('SET', tp .. k, 1, 'PX', tomb)
      end
      drop(o)
      ended[#ended + 1] = o
      over = over - 1
    end
  end
end
return ended`)

// Add registers e, prunes and caps the user's entries, in one script.
func (r *Registry) Add(ctx context.Context, userID int64, e auth.RegistryEntry, ttl time.Duration, limit int) ([]string, error) {
	c, err := conn(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	h, z := r.keys(userID)
	return redis.Strings(addScript.DoContext(ctx, c, h, z,
		e.ID, encodeEntry(e), e.Created.UnixMilli(), ttl.Milliseconds(), limit,
		e.Created.Add(-auth.RegistryGrace).UnixMilli(),
		r.sessions.key(""), r.sessions.tomb(""), r.tombstone.Milliseconds(), pruneScan))
}

// rekeyScript replaces the store key of an entry that still exists,
// keeping the rest. KEYS: hash. ARGV: id, store key.
var rekeyScript = redis.NewScript(1, `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local n = string.byte(v, 5)
redis.call('HSET', KEYS[1], ARGV[1], string.sub(v, 1, 4) .. string.char(#ARGV[2]) .. ARGV[2] .. string.sub(v, 6 + n))
return 1`)

// Rekey points entry id at storeKey if the entry still exists.
func (r *Registry) Rekey(ctx context.Context, userID int64, id, storeKey string) (bool, error) {
	if len(storeKey) > maxEntryString {
		return false, errEntry
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return false, err
	}
	defer c.Close()
	h, _ := r.keys(userID)
	return redis.Bool(rekeyScript.DoContext(ctx, c, h, id, storeKey))
}

// touchScript rewrites the last-seen prefix of an entry that still exists:
// it never creates an entry (or the hash) for a removed one. KEYS: hash.
// ARGV: id, last seen (4 bytes).
var touchScript = redis.NewScript(1, `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.sub(v, 5)) end
return 0`)

// Touch sets the last-seen time of entry id.
func (r *Registry) Touch(ctx context.Context, userID int64, id string, seen time.Time) error {
	c, err := conn(ctx, r.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	h, _ := r.keys(userID)
	_, err = touchScript.DoContext(ctx, c, h, id, appendSeen(nil, seen))
	return err
}

// List returns the user's entries: the hash and the scores, in one round
// trip.
func (r *Registry) List(ctx context.Context, userID int64) ([]auth.RegistryEntry, error) {
	c, err := conn(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	h, z := r.keys(userID)
	_ = c.Send("MULTI")
	_ = c.Send("HGETALL", h)
	_ = c.Send("ZRANGE", z, 0, -1, "WITHSCORES")
	res, err := redis.Values(redis.DoContext(c, ctx, "EXEC"))
	if err != nil {
		return nil, err
	}
	m, err := redis.StringMap(res[0], nil)
	if err != nil {
		return nil, err
	}
	scores, err := redis.Int64Map(res[1], nil)
	if err != nil {
		return nil, err
	}
	out := make([]auth.RegistryEntry, 0, len(m))
	for id, v := range m {
		e, err := decodeEntry(id, []byte(v), time.UnixMilli(scores[id]))
		if err != nil {
			continue // not written by this code: no session to show
		}
		out = append(out, e)
	}
	return out, nil
}

// endScript ends sessions and drops their entries. KEYS: hash, zset.
// ARGV: session key prefix, tombstone prefix, tombstone ms, then id and
// store key of each entry.
var endScript = redis.NewScript(2, `
local sp, tp, tomb = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV, 2 do
  redis.call('DEL', sp .. ARGV[i + 1])
  redis.call('SET', tp .. ARGV[i + 1], 1, 'PX', tomb)
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return 0`)

// End ends the sessions of entries and drops the entries, in one script.
func (r *Registry) End(ctx context.Context, userID int64, entries ...auth.RegistryEntry) error {
	if len(entries) == 0 {
		return nil
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	h, z := r.keys(userID)
	args := redis.Args{h, z, r.sessions.key(""), r.sessions.tomb(""), r.tombstone.Milliseconds()}
	for _, e := range entries {
		args = append(args, e.ID, e.StoreKey)
	}
	_, err = endScript.DoContext(ctx, c, args...)
	return err
}

// Remove deletes entries, from the hash and the sorted set at once.
func (r *Registry) Remove(ctx context.Context, userID int64, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	c, err := conn(ctx, r.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	h, z := r.keys(userID)
	_ = c.Send("MULTI")
	_ = c.Send("HDEL", redis.Args{h}.AddFlat(ids)...)
	_ = c.Send("ZREM", redis.Args{z}.AddFlat(ids)...)
	_, err = redis.DoContext(c, ctx, "EXEC")
	return err
}
