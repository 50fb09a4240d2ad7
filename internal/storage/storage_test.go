package storage_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/storage"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

// dialects opens one fresh database per dialect: SQLite always, PostgreSQL
// through TEST_DATABASE_URL.
func dialects(t *testing.T) map[string]func(t *testing.T) *storage.DB {
	return map[string]func(t *testing.T) *storage.DB{
		"sqlite": func(t *testing.T) *storage.DB {
			return mustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "sub", "app.db"))
		},
		"postgres": func(t *testing.T) *storage.DB {
			return mustOpen(t, testenv.PostgresURL(t))
		},
	}
}

func mustOpen(t *testing.T, url string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestUsers(t *testing.T) {
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)

			u, err := db.CreateUser(ctx, "ann@example.com", "hash1")
			if err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			if u.ID == 0 || u.Email != "ann@example.com" || u.CreatedAt.IsZero() {
				t.Fatalf("CreateUser returned %+v", u)
			}

			t.Run("duplicate email", func(t *testing.T) {
				_, err := db.CreateUser(ctx, "ann@example.com", "hash2")
				if !errors.Is(err, auth.ErrDuplicateEmail) {
					t.Fatalf("got %v, want ErrDuplicateEmail", err)
				}
			})
			t.Run("duplicate email other case", func(t *testing.T) {
				_, err := db.CreateUser(ctx, "ANN@example.com", "hash2")
				if !errors.Is(err, auth.ErrDuplicateEmail) {
					t.Fatalf("got %v, want ErrDuplicateEmail", err)
				}
			})
			t.Run("by email, any case", func(t *testing.T) {
				got, err := db.UserByEmail(ctx, "Ann@Example.COM")
				if err != nil || got.ID != u.ID {
					t.Fatalf("got %+v, %v; want id %d", got, err, u.ID)
				}
			})
			t.Run("by id", func(t *testing.T) {
				got, err := db.UserByID(ctx, u.ID)
				if err != nil || got.Email != u.Email || got.PasswordHash != "hash1" {
					t.Fatalf("got %+v, %v", got, err)
				}
				if !got.CreatedAt.Equal(u.CreatedAt) {
					t.Fatalf("created_at: got %v, want %v", got.CreatedAt, u.CreatedAt)
				}
			})
			t.Run("not found", func(t *testing.T) {
				if _, err := db.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, auth.ErrUserNotFound) {
					t.Fatalf("UserByEmail: got %v, want ErrUserNotFound", err)
				}
				if _, err := db.UserByID(ctx, 999999); !errors.Is(err, auth.ErrUserNotFound) {
					t.Fatalf("UserByID: got %v, want ErrUserNotFound", err)
				}
				if _, err := db.UpdatePasswordHash(ctx, 999999, "x"); !errors.Is(err, auth.ErrUserNotFound) {
					t.Fatalf("UpdatePasswordHash: got %v, want ErrUserNotFound", err)
				}
				if _, err := db.NextSessionGeneration(ctx, 999999); !errors.Is(err, auth.ErrUserNotFound) {
					t.Fatalf("NextSessionGeneration: got %v, want ErrUserNotFound", err)
				}
				if ok, err := db.UpgradePasswordHash(ctx, 999999, "hash1", "x"); ok || err != nil {
					t.Fatalf("UpgradePasswordHash: got (%v, %v), want (false, nil)", ok, err)
				}
			})
			t.Run("update hash moves the session generation on", func(t *testing.T) {
				if u.SessionGen != 0 {
					t.Fatalf("new account: got generation %d, want 0", u.SessionGen)
				}
				gen, err := db.UpdatePasswordHash(ctx, u.ID, "hash3")
				if err != nil {
					t.Fatal(err)
				}
				got, _ := db.UserByID(ctx, u.ID)
				if got.PasswordHash != "hash3" || gen != 1 || got.SessionGen != 1 {
					t.Fatalf("got hash %q, generation %d (returned %d); want hash3, 1", got.PasswordHash, got.SessionGen, gen)
				}
				if gen, err := db.NextSessionGeneration(ctx, u.ID); err != nil || gen != 2 {
					t.Fatalf("NextSessionGeneration: got (%d, %v), want (2, nil)", gen, err)
				}
				if got, _ := db.UserByEmail(ctx, u.Email); got.SessionGen != 2 {
					t.Fatalf("UserByEmail: got generation %d, want 2", got.SessionGen)
				}
			})
			t.Run("upgrade hash only over the old one, keeping sessions", func(t *testing.T) {
				ok, err := db.UpgradePasswordHash(ctx, u.ID, "not the stored hash", "hash4")
				if err != nil || ok {
					t.Fatalf("upgrade over another hash: got (%v, %v), want (false, nil)", ok, err)
				}
				if ok, err := db.UpgradePasswordHash(ctx, u.ID, "hash3", "hash4"); err != nil || !ok {
					t.Fatalf("upgrade: got (%v, %v), want (true, nil)", ok, err)
				}
				got, _ := db.UserByID(ctx, u.ID)
				if got.PasswordHash != "hash4" || got.SessionGen != 2 {
					t.Fatalf("got hash %q, generation %d; want hash4, 2", got.PasswordHash, got.SessionGen)
				}
			})
			t.Run("another process's change is seen at once", func(t *testing.T) {
				// No account cache: a change made behind this handle's back
				// (another instance, an operator) counts on the next read.
				if _, err := db.SQL().ExecContext(ctx, `UPDATE users SET session_gen = 40 WHERE id = $1`, u.ID); err != nil {
					t.Fatal(err)
				}
				if got, _ := db.UserByID(ctx, u.ID); got.SessionGen != 40 {
					t.Fatalf("got generation %d, want 40", got.SessionGen)
				}
			})
			t.Run("delete", func(t *testing.T) {
				if err := db.DeleteUser(ctx, u.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := db.UserByID(ctx, u.ID); !errors.Is(err, auth.ErrUserNotFound) {
					t.Fatalf("got %v, want ErrUserNotFound", err)
				}
				if err := db.DeleteUser(ctx, u.ID); !errors.Is(err, auth.ErrUserNotFound) {
					t.Fatalf("second delete: got %v, want ErrUserNotFound", err)
				}
			})
			t.Run("ping", func(t *testing.T) {
				if err := db.Ping(ctx); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestOpenTwiceKeepsData(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "app.db")
	db := mustOpen(t, url)
	if _, err := db.CreateUser(context.Background(), "bob@example.com", "h"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2 := mustOpen(t, url) // migrations already applied: a no-op
	if _, err := db2.UserByEmail(context.Background(), "bob@example.com"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    storage.Dialect
		wantErr bool
	}{
		{"sqlite:data/app.db", storage.SQLite, false},
		{"postgres://u@localhost:5432/db", storage.Postgres, false},
		{"postgresql://localhost/db", storage.Postgres, false},
		{"sqlite:", "", true},
		{"sqlite::memory:", "", true},
		{"mysql://localhost/db", "", true},
		{"postgres://", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, _, err := storage.ParseURL(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseURL(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// withAnn opens a database of the dialect and creates ann@example.com in it.
func withAnn(t *testing.T, open func(t *testing.T) *storage.DB) (*storage.DB, auth.User) {
	t.Helper()
	db := open(t)
	u, err := db.CreateUser(context.Background(), "ann@example.com", "hash")
	if err != nil {
		t.Fatal(err)
	}
	return db, u
}

// pendingMails returns how many mails wait in db's outbox.
func pendingMails(t *testing.T, db *storage.DB) int {
	t.Helper()
	n, _, err := db.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
