package storage_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// TestFactorStore runs the second-factor queries on every dialect: the
// one-statement checks that keep a code or a counter value from being
// accepted twice, and the mapping of missing rows and duplicates.
func TestFactorStore(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db, u := withAnn(t, open)

			t.Run("totp", func(t *testing.T) {
				if _, err := db.TOTP(ctx, u.ID); !errors.Is(err, auth.ErrFactorNotFound) {
					t.Fatalf("TOTP of nobody: got %v, want ErrFactorNotFound", err)
				}
				if err := db.PutPendingTOTP(ctx, u.ID, []byte("sealed-1"), now); err != nil {
					t.Fatal(err)
				}
				if err := db.PutPendingTOTP(ctx, u.ID, []byte("sealed-2"), now); err != nil {
					t.Fatalf("replacing a pending secret: %v", err)
				}
				if ok, err := db.UseTOTPStep(ctx, u.ID, 10); ok || err != nil {
					t.Fatalf("UseTOTPStep before confirmation: %v, %v; want false", ok, err)
				}
				hashes := [][]byte{[]byte("h1"), []byte("h2")}
				if ok, err := db.ConfirmTOTP(ctx, u.ID, 100, hashes, now); !ok || err != nil {
					t.Fatalf("ConfirmTOTP: %v, %v", ok, err)
				}
				if ok, err := db.ConfirmTOTP(ctx, u.ID, 101, hashes, now); ok || err != nil {
					t.Fatalf("ConfirmTOTP twice: %v, %v; want false", ok, err)
				}
				rec, err := db.TOTP(ctx, u.ID)
				if err != nil || !rec.Confirmed || rec.LastStep != 100 || string(rec.Sealed) != "sealed-2" {
					t.Fatalf("TOTP = %+v, %v", rec, err)
				}
				if err := db.PutPendingTOTP(ctx, u.ID, []byte("sealed-3"), now); !errors.Is(err, auth.ErrTOTPEnabled) {
					t.Fatalf("PutPendingTOTP over a confirmed secret: %v, want ErrTOTPEnabled", err)
				}
				for _, tt := range []struct {
					step int64
					want bool
				}{{100, false}, {99, false}, {101, true}, {101, false}} {
					if ok, err := db.UseTOTPStep(ctx, u.ID, tt.step); ok != tt.want || err != nil {
						t.Errorf("UseTOTPStep(%d) = %v, %v; want %v", tt.step, ok, err, tt.want)
					}
				}
				if n, err := db.RecoveryCodesLeft(ctx, u.ID); n != 2 || err != nil {
					t.Fatalf("RecoveryCodesLeft = %d, %v; want 2", n, err)
				}
				for _, want := range []bool{true, false} {
					if ok, err := db.UseRecoveryCode(ctx, u.ID, []byte("h1"), now); ok != want || err != nil {
						t.Errorf("UseRecoveryCode(h1) = %v, %v; want %v", ok, err, want)
					}
				}
				if err := db.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{[]byte("h3")}); err != nil {
					t.Fatal(err)
				}
				if ok, _ := db.UseRecoveryCode(ctx, u.ID, []byte("h2"), now); ok {
					t.Error("an old recovery code works after replacement")
				}
				if ok, err := db.DeleteTOTP(ctx, u.ID); !ok || err != nil {
					t.Fatalf("DeleteTOTP: %v, %v", ok, err)
				}
				if n, _ := db.RecoveryCodesLeft(ctx, u.ID); n != 0 {
					t.Errorf("recovery codes left after DeleteTOTP: %d", n)
				}
				if ok, err := db.DeleteTOTP(ctx, u.ID); ok || err != nil {
					t.Fatalf("DeleteTOTP twice: %v, %v; want false", ok, err)
				}
			})

			t.Run("passkeys", func(t *testing.T) {
				h, err := db.AddWebAuthnHandle(ctx, u.ID, []byte("handle-1"))
				if err != nil || string(h) != "handle-1" {
					t.Fatalf("AddWebAuthnHandle = %q, %v", h, err)
				}
				if h, _ := db.AddWebAuthnHandle(ctx, u.ID, []byte("handle-2")); string(h) != "handle-1" {
					t.Fatalf("a second handle replaced the first: %q", h)
				}
				if id, err := db.UserIDByWebAuthnHandle(ctx, []byte("handle-1")); id != u.ID || err != nil {
					t.Fatalf("UserIDByWebAuthnHandle = %d, %v", id, err)
				}
				if _, err := db.UserIDByWebAuthnHandle(ctx, []byte("nobody")); !errors.Is(err, auth.ErrFactorNotFound) {
					t.Fatalf("unknown handle: %v", err)
				}
				p := auth.PasskeyRecord{UserID: u.ID, CredentialID: []byte{1, 2, 3}, Name: "Laptop", Credential: []byte("{}"), SignCount: 5, CreatedAt: now}
				id, err := db.AddPasskey(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.AddPasskey(ctx, p); !errors.Is(err, auth.ErrPasskeyExists) {
					t.Fatalf("duplicate credential id: %v, want ErrPasskeyExists", err)
				}
				for _, tt := range []struct {
					count uint32
					want  bool
				}{{5, false}, {4, false}, {6, true}, {6, false}, {0, false}} {
					if ok, err := db.UsePasskey(ctx, id, []byte(`{"n":1}`), tt.count, now); ok != tt.want || err != nil {
						t.Errorf("UsePasskey(count %d) = %v, %v; want %v", tt.count, ok, err, tt.want)
					}
				}
				keys, err := db.Passkeys(ctx, u.ID)
				if err != nil || len(keys) != 1 {
					t.Fatalf("Passkeys = %v, %v", keys, err)
				}
				k := keys[0]
				if k.SignCount != 6 || k.Name != "Laptop" || !bytes.Equal(k.CredentialID, p.CredentialID) || !k.LastUsedAt.Equal(now) || !k.CreatedAt.Equal(now) {
					t.Errorf("passkey = %+v", k)
				}
				if ok, _ := db.DeletePasskey(ctx, u.ID+1, id); ok {
					t.Error("another user deleted the passkey")
				}
				if ok, err := db.DeletePasskey(ctx, u.ID, id); !ok || err != nil {
					t.Fatalf("DeletePasskey: %v, %v", ok, err)
				}
			})

			t.Run("counterless authenticator", func(t *testing.T) {
				id, err := db.AddPasskey(ctx, auth.PasskeyRecord{UserID: u.ID, CredentialID: []byte{9}, Name: "Phone", Credential: []byte("{}"), CreatedAt: now})
				if err != nil {
					t.Fatal(err)
				}
				for range 2 {
					if ok, err := db.UsePasskey(ctx, id, []byte("{}"), 0, now); !ok || err != nil {
						t.Fatalf("UsePasskey(0) on a counterless passkey: %v, %v", ok, err)
					}
				}
			})

			t.Run("key check", func(t *testing.T) {
				if _, err := db.KeyCheck(ctx, "totp"); !errors.Is(err, auth.ErrFactorNotFound) {
					t.Fatalf("KeyCheck before any: %v", err)
				}
				for _, v := range []string{"first", "second"} {
					if err := db.AddKeyCheck(ctx, "totp", []byte(v), now); err != nil {
						t.Fatal(err)
					}
				}
				if b, err := db.KeyCheck(ctx, "totp"); string(b) != "first" || err != nil {
					t.Fatalf("KeyCheck = %q, %v; want the first value kept", b, err)
				}
			})

			t.Run("deleting the account deletes its factors", func(t *testing.T) {
				if err := db.PutPendingTOTP(ctx, u.ID, []byte("s"), now); err != nil {
					t.Fatal(err)
				}
				if err := db.DeleteUser(ctx, u.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := db.TOTP(ctx, u.ID); !errors.Is(err, auth.ErrFactorNotFound) {
					t.Errorf("TOTP after account deletion: %v", err)
				}
				if keys, _ := db.Passkeys(ctx, u.ID); len(keys) != 0 {
					t.Errorf("passkeys after account deletion: %d", len(keys))
				}
				if _, err := db.UserIDByWebAuthnHandle(ctx, []byte("handle-1")); !errors.Is(err, auth.ErrFactorNotFound) {
					t.Errorf("handle after account deletion: %v", err)
				}
			})
		})
	}
}

// TestFactorNoticesInTransaction: the mails given to a factor change are
// in the outbox exactly when the change was made, on every dialect.
func TestFactorNoticesInTransaction(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	notice := auth.Mail{Kind: "passkey_removed", To: "ann@example.com", Data: map[string]string{"name": "Key"}}
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db, u := withAnn(t, open)
			want := func(what string, n int) {
				t.Helper()
				if got := pendingMails(t, db); got != n {
					t.Fatalf("%s: %d mails queued, want %d", what, got, n)
				}
			}
			// Changes that are not made queue nothing.
			if ok, err := db.DeletePasskey(ctx, u.ID, 999, notice); ok || err != nil {
				t.Fatalf("DeletePasskey of nothing = %v, %v", ok, err)
			}
			if ok, err := db.DeleteTOTP(ctx, u.ID, notice); ok || err != nil {
				t.Fatalf("DeleteTOTP with none = %v, %v", ok, err)
			}
			if ok, err := db.UseRecoveryCode(ctx, u.ID, []byte("none"), now, notice); ok || err != nil {
				t.Fatalf("UseRecoveryCode of nothing = %v, %v", ok, err)
			}
			want("changes not made", 0)

			rec := auth.PasskeyRecord{UserID: u.ID, CredentialID: []byte("cred"), Name: "Key", Credential: []byte("{}"), CreatedAt: now}
			id, err := db.AddPasskey(ctx, rec, notice)
			if err != nil {
				t.Fatal(err)
			}
			want("passkey added", 1)
			if _, err := db.AddPasskey(ctx, rec, notice); !errors.Is(err, auth.ErrPasskeyExists) {
				t.Fatalf("AddPasskey twice: %v, want ErrPasskeyExists", err)
			}
			want("passkey refused as a duplicate", 1)
			if ok, err := db.DeletePasskey(ctx, u.ID, id, notice); !ok || err != nil {
				t.Fatalf("DeletePasskey = %v, %v", ok, err)
			}
			want("passkey removed", 2)

			if err := db.PutPendingTOTP(ctx, u.ID, []byte("sealed"), now); err != nil {
				t.Fatal(err)
			}
			if ok, err := db.ConfirmTOTP(ctx, u.ID, 1, [][]byte{[]byte("code")}, now, notice); !ok || err != nil {
				t.Fatalf("ConfirmTOTP = %v, %v", ok, err)
			}
			if ok, err := db.ConfirmTOTP(ctx, u.ID, 2, [][]byte{[]byte("code")}, now, notice); ok || err != nil {
				t.Fatalf("ConfirmTOTP twice = %v, %v", ok, err)
			}
			want("app switched on once", 3)
			if ok, err := db.UseRecoveryCode(ctx, u.ID, []byte("code"), now, notice); !ok || err != nil {
				t.Fatalf("UseRecoveryCode = %v, %v", ok, err)
			}
			want("recovery code used", 4)
			if ok, err := db.DeleteTOTP(ctx, u.ID, notice); !ok || err != nil {
				t.Fatalf("DeleteTOTP = %v, %v", ok, err)
			}
			want("app switched off", 5)
		})
	}
}
