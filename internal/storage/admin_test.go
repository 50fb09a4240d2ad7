package storage_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/storage"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

func TestLockAndList(t *testing.T) {
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			var ids []int64
			for _, e := range []string{"ann@example.com", "bob@example.com", "an_n@example.org", "100%@example.net", "anxn@example.org", "1000@example.net"} {
				u, err := db.CreateUser(ctx, e, "h")
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, u.ID)
			}

			at := time.Date(2026, 5, 1, 10, 30, 0, 123e6, time.UTC)
			if err := db.SetLockedAt(ctx, ids[0], at); err != nil {
				t.Fatal(err)
			}
			u, err := db.UserByID(ctx, ids[0])
			if err != nil || !u.Locked() || !u.LockedAt.Equal(at) {
				t.Fatalf("after lock: got %+v, %v; want locked at %v", u, err, at)
			}
			if err := db.SetLockedAt(ctx, ids[0], time.Time{}); err != nil {
				t.Fatal(err)
			}
			if u, _ := db.UserByEmail(ctx, "ann@example.com"); u.Locked() {
				t.Fatalf("after unlock: still locked at %v", u.LockedAt)
			}
			if err := db.SetLockedAt(ctx, 999999, at); !errors.Is(err, auth.ErrUserNotFound) {
				t.Fatalf("lock of a missing account: got %v, want ErrUserNotFound", err)
			}

			tests := []struct {
				query string
				after int64
				limit int
				want  []int64
			}{
				{"", 0, 10, ids},
				{"", 0, 2, ids[:2]},
				{"", ids[1], 10, ids[2:]},
				{"ANN", 0, 10, ids[:1]},   // case-insensitive
				{"an_n", 0, 10, ids[2:3]}, // a literal underscore, not "anxn"
				{"100%", 0, 10, ids[3:4]}, // a literal percent sign, not "1000"
				{"nobody", 0, 10, nil},
			}
			for _, tt := range tests {
				t.Run(fmt.Sprintf("%q after %d", tt.query, tt.after), func(t *testing.T) {
					users, err := db.Users(ctx, tt.query, tt.after, tt.limit)
					if err != nil {
						t.Fatal(err)
					}
					var got []int64
					for _, u := range users {
						got = append(got, u.ID)
					}
					if !slices.Equal(got, tt.want) {
						t.Fatalf("got ids %v, want %v", got, tt.want)
					}
				})
			}
		})
	}
}

func TestAuditRecords(t *testing.T) {
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			base := time.Now().UTC().Truncate(time.Millisecond)
			add := func(uid int64, kind auth.EventKind, at time.Time) {
				t.Helper()
				err := db.AddAuditRecord(ctx, auth.AuditRecord{
					UserID: uid, Kind: kind, Time: at, IP: "192.0.2.1", UserAgent: "UA",
					SessionID: "sess", Actor: auth.ActorUser, Detail: string(kind),
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			// Two records share a time: the id breaks the tie.
			add(1, "a", base.Add(-3*time.Minute))
			add(1, "b", base.Add(-2*time.Minute))
			add(1, "c", base.Add(-2*time.Minute))
			add(2, "other", base.Add(-time.Minute))
			add(1, "d", base.Add(-time.Minute))
			add(1, "old", base.Add(-auth.AuditRetention-time.Hour))

			kinds := func(rs []auth.AuditRecord) []string {
				var out []string
				for _, r := range rs {
					out = append(out, string(r.Kind))
				}
				return out
			}
			all, err := db.AuditRecords(ctx, 1, auth.AuditCursor{}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := kinds(all), []string{"d", "c", "b", "a", "old"}; !slices.Equal(got, want) {
				t.Fatalf("all: got %v, want %v", got, want)
			}
			r := all[0]
			if r.UserID != 1 || r.IP != "192.0.2.1" || r.UserAgent != "UA" || r.SessionID != "sess" ||
				r.Actor != auth.ActorUser || r.Detail != "d" || !r.Time.Equal(base.Add(-time.Minute)) {
				t.Fatalf("record read back as %+v", r)
			}
			// Page by page from every position: the rest follows exactly.
			for i := range all {
				cur := auth.AuditCursor{Time: all[i].Time, ID: all[i].ID}
				rest, err := db.AuditRecords(ctx, 1, cur, 10)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := kinds(rest), kinds(all[i+1:]); !slices.Equal(got, want) {
					t.Fatalf("after %s: got %v, want %v", all[i].Kind, got, want)
				}
			}

			n, err := db.PruneAuditRecords(ctx, base.Add(-auth.AuditRetention), 100)
			if err != nil || n != 1 {
				t.Fatalf("prune: got %d, %v; want 1 deleted", n, err)
			}
			all, _ = db.AuditRecords(ctx, 1, auth.AuditCursor{}, 10)
			if got, want := kinds(all), []string{"d", "c", "b", "a"}; !slices.Equal(got, want) {
				t.Fatalf("after prune: got %v, want %v", got, want)
			}
		})
	}
}

// TestOpenCurrent checks that the admin command's way of opening changes no
// schema: an empty database is refused until migrated.
func TestOpenCurrent(t *testing.T) {
	urls := map[string]func(*testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "app.db") },
		"postgres": func(t *testing.T) string { return testenv.PostgresURL(t) },
	}
	for name, newURL := range urls {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			url := newURL(t)
			if _, err := storage.OpenCurrent(ctx, url); !errors.Is(err, storage.ErrSchemaOutdated) {
				t.Fatalf("OpenCurrent of an empty database: got %v, want ErrSchemaOutdated", err)
			}
			d, err := storage.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ms, err := d.Migrations(ctx)
			if err != nil || len(ms) == 0 || ms[0].Applied {
				t.Fatalf("Migrations: got %+v, %v; want pending ones", ms, err)
			}
			applied, err := d.Migrate(ctx)
			if err != nil || len(applied) != len(ms) {
				t.Fatalf("Migrate: applied %+v, %v; want %d", applied, err, len(ms))
			}
			db, err := storage.OpenCurrent(ctx, url)
			if err != nil {
				t.Fatalf("OpenCurrent after migrating: %v", err)
			}
			db.Close()
		})
	}
}
