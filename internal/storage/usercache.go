package storage

import (
	"sync"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// The account of a signed-in user is read on every page view. On SQLite
// (modernc.org/sqlite, C translated to Go) that read costs more than the
// rest of a page view's database and session work together, so accounts
// read by id are reused for up to userCacheTTL. PostgreSQL is read as is:
// several instances usually share one PostgreSQL database, where a
// per-process cache would be stale for changes made through the others.
//
// userCacheTTL is how long an account read by id is reused. A change made
// through this process (UpdatePasswordHash, DeleteUser) empties the cache
// at once, so the service itself never sees a stale account: a deleted
// account's session ends on its next request. A change made behind the
// process's back (another process on the same file, an operator's SQL) is
// seen within userCacheTTL. A second still spares nearly every read under
// load, where one signed-in user makes many requests a second.
const userCacheTTL = time.Second

// userCacheMax bounds the cache; when full, it starts again empty.
const userCacheMax = 4096

// userCache keeps accounts read by id. Every write through this process
// moves it to a new epoch and empties it; a read that began in an older
// epoch may not fill it, so it never holds what a write replaced.
type userCache struct {
	mu    sync.RWMutex
	epoch uint64
	m     map[int64]cachedUser
}

func newUserCache() *userCache {
	return &userCache{m: make(map[int64]cachedUser)}
}

type cachedUser struct {
	user auth.User
	read time.Time
}

func (c *userCache) get(id int64, now time.Time) (auth.User, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[id]
	if !ok || now.Sub(e.read) >= userCacheTTL {
		return auth.User{}, false
	}
	return e.user, true
}

func (c *userCache) currentEpoch() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// put keeps u, read at read time by a lookup that began in epoch.
func (c *userCache) put(id int64, u auth.User, epoch uint64, read time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	if len(c.m) >= userCacheMax {
		clear(c.m)
	}
	c.m[id] = cachedUser{user: u, read: read}
}

func (c *userCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.m)
}
