package storage

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

func openSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestUserByIDSeesOwnWrites checks that the SQLite account cache never
// shows the service an account it changed or deleted itself: the signed-in
// user's next page view sees the new password hash, or no account.
func TestUserByIDSeesOwnWrites(t *testing.T) {
	cases := []struct {
		name  string
		write func(ctx context.Context, db *DB, id int64) error
		check func(t *testing.T, u auth.User, err error)
	}{
		{
			name:  "password change",
			write: func(ctx context.Context, db *DB, id int64) error { return db.UpdatePasswordHash(ctx, id, "hash2") },
			check: func(t *testing.T, u auth.User, err error) {
				if err != nil || u.PasswordHash != "hash2" {
					t.Errorf("after UpdatePasswordHash: got (%q, %v), want (%q, nil)", u.PasswordHash, err, "hash2")
				}
			},
		},
		{
			name:  "deletion",
			write: func(ctx context.Context, db *DB, id int64) error { return db.DeleteUser(ctx, id) },
			check: func(t *testing.T, u auth.User, err error) {
				if !errors.Is(err, auth.ErrUserNotFound) {
					t.Errorf("after DeleteUser: got (%+v, %v), want ErrUserNotFound", u, err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openSQLite(t)
			u, err := db.CreateUser(ctx, "ann@example.com", "hash1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.UserByID(ctx, u.ID); err != nil { // now cached
				t.Fatal(err)
			}
			if err := tc.write(ctx, db, u.ID); err != nil {
				t.Fatal(err)
			}
			got, err := db.UserByID(ctx, u.ID)
			tc.check(t, got, err)
		})
	}
}

// TestUserByIDChangedElsewhere checks that a change made behind the
// service's back (another process, an operator's SQL) is seen once the
// cache entry expires: a user deleted that way is signed out within
// userCacheTTL.
func TestUserByIDChangedElsewhere(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	u, err := db.CreateUser(ctx, "ann@example.com", "hash1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByID(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(userCacheTTL + 50*time.Millisecond)
	if got, err := db.UserByID(ctx, u.ID); !errors.Is(err, auth.ErrUserNotFound) {
		t.Errorf("%s after a deletion elsewhere: got (%+v, %v), want ErrUserNotFound", userCacheTTL, got, err)
	}
}

// TestUserCacheEpoch checks the race a cache of reads must not lose: a
// lookup that read the account before a write, and stores it after the
// write emptied the cache, must not bring the old account back.
func TestUserCacheEpoch(t *testing.T) {
	c := userCache{m: map[int64]cachedUser{}}
	now := time.Now()
	epoch := c.currentEpoch() // a lookup begins
	c.invalidate()            // a write commits meanwhile
	c.put(1, auth.User{ID: 1, PasswordHash: "old"}, epoch, now)
	if u, ok := c.get(1, now); ok {
		t.Errorf("got cached %+v from a lookup older than the last write, want a miss", u)
	}
	c.put(1, auth.User{ID: 1, PasswordHash: "new"}, c.currentEpoch(), now)
	if u, ok := c.get(1, now); !ok || u.PasswordHash != "new" {
		t.Errorf("got (%+v, %v), want the account stored in the current epoch", u, ok)
	}
}
