package storage_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/mail"
)

func token(userID int64, p auth.Purpose, seed string, ttl time.Duration) auth.Token {
	sum := sha256.Sum256([]byte(seed))
	return auth.Token{UserID: userID, Purpose: p, Hash: sum[:], Email: "ann@example.com", ExpiresAt: time.Now().Add(ttl)}
}

func resetMail(to string) auth.Mail {
	return auth.Mail{Kind: auth.MailPasswordReset, To: to, Data: map[string]string{auth.DataLink: "https://x/y"}}
}

func TestTokens(t *testing.T) {
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, u := withAnn(t, open)
			pending := func() int { return pendingMails(t, db) }

			t.Run("issue queues its mail", func(t *testing.T) {
				if err := db.IssueToken(ctx, token(u.ID, auth.PurposePasswordReset, "a", time.Hour), resetMail(u.Email)); err != nil {
					t.Fatal(err)
				}
				if n := pending(); n != 1 {
					t.Fatalf("pending = %d, want 1", n)
				}
				got, err := db.Token(ctx, token(0, "", "a", 0).Hash)
				if err != nil || got.UserID != u.ID || got.Purpose != auth.PurposePasswordReset || !got.UsedAt.IsZero() {
					t.Fatalf("Token = %+v, %v", got, err)
				}
			})
			t.Run("newer supersedes older", func(t *testing.T) {
				if err := db.IssueToken(ctx, token(u.ID, auth.PurposePasswordReset, "b", time.Hour)); err != nil {
					t.Fatal(err)
				}
				if old, _ := db.Token(ctx, token(0, "", "a", 0).Hash); old.UsedAt.IsZero() {
					t.Fatal("older token still unused")
				}
				if err := db.RedeemToken(ctx, token(u.ID, auth.PurposePasswordReset, "a", 0), time.Now(), auth.Change{}); !errors.Is(err, auth.ErrTokenInvalid) {
					t.Fatalf("redeem superseded: %v, want ErrTokenInvalid", err)
				}
			})
			t.Run("other purposes untouched", func(t *testing.T) {
				if err := db.IssueToken(ctx, token(u.ID, auth.PurposeVerifyEmail, "v", time.Hour)); err != nil {
					t.Fatal(err)
				}
				if b, _ := db.Token(ctx, token(0, "", "b", 0).Hash); !b.UsedAt.IsZero() {
					t.Fatal("a verification token superseded a reset token")
				}
				err := db.RedeemToken(ctx, token(u.ID, auth.PurposePasswordReset, "v", 0), time.Now(), auth.Change{})
				if !errors.Is(err, auth.ErrTokenInvalid) {
					t.Fatalf("redeem with the wrong purpose: %v, want ErrTokenInvalid", err)
				}
			})
			t.Run("redeem once, in one transaction with its change and mail", func(t *testing.T) {
				before := pending()
				var wg sync.WaitGroup
				errs := make([]error, 8)
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = db.RedeemToken(ctx, token(u.ID, auth.PurposePasswordReset, "b", 0), time.Now(),
							auth.Change{PasswordHash: fmt.Sprintf("hash-%d", i), VerifyEmail: true},
							auth.Mail{Kind: auth.MailPasswordChanged, To: u.Email, Data: map[string]string{}})
					}()
				}
				wg.Wait()
				ok := 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case !errors.Is(err, auth.ErrTokenInvalid):
						t.Fatalf("redeem: %v", err)
					}
				}
				if ok != 1 {
					t.Fatalf("%d redemptions succeeded, want 1", ok)
				}
				if n := pending(); n != before+1 {
					t.Fatalf("pending = %d, want %d: one notice", n, before+1)
				}
				got, _ := db.UserByID(ctx, u.ID)
				if got.PasswordHash == "hash" || !got.EmailVerified() {
					t.Fatalf("after redeem: %+v, want a new hash and a verified address", got)
				}
			})
			t.Run("expired", func(t *testing.T) {
				tok := token(u.ID, auth.PurposeChangeEmail, "x", time.Millisecond)
				if err := db.IssueToken(ctx, tok); err != nil {
					t.Fatal(err)
				}
				err := db.RedeemToken(ctx, tok, time.Now().Add(time.Second), auth.Change{ReplaceEmail: true})
				if !errors.Is(err, auth.ErrTokenInvalid) {
					t.Fatalf("redeem expired: %v, want ErrTokenInvalid", err)
				}
			})
			t.Run("replace email with a taken one rolls back", func(t *testing.T) {
				if _, err := db.CreateUser(ctx, "bob@example.com", "h"); err != nil {
					t.Fatal(err)
				}
				tok := token(u.ID, auth.PurposeChangeEmail, "c", time.Hour)
				tok.Email = "bob@example.com"
				if err := db.IssueToken(ctx, tok); err != nil {
					t.Fatal(err)
				}
				err := db.RedeemToken(ctx, tok, time.Now(), auth.Change{ReplaceEmail: true})
				if !errors.Is(err, auth.ErrDuplicateEmail) {
					t.Fatalf("got %v, want ErrDuplicateEmail", err)
				}
				if got, _ := db.Token(ctx, tok.Hash); !got.UsedAt.IsZero() {
					t.Fatal("token used although the change failed")
				}
			})
			t.Run("unknown", func(t *testing.T) {
				if _, err := db.Token(ctx, token(0, "", "nope", 0).Hash); !errors.Is(err, auth.ErrTokenInvalid) {
					t.Fatalf("got %v, want ErrTokenInvalid", err)
				}
			})
			t.Run("create user with token", func(t *testing.T) {
				tok := token(0, auth.PurposeVerifyEmail, "new", time.Hour)
				nu, err := db.CreateUserWithToken(ctx, "cy@example.com", "h", tok, resetMail("cy@example.com"))
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := db.Token(ctx, tok.Hash); got.UserID != nu.ID {
					t.Fatalf("token of user %d, want %d", got.UserID, nu.ID)
				}
				before := pending()
				_, err = db.CreateUserWithToken(ctx, "cy@example.com", "h", token(0, auth.PurposeVerifyEmail, "dup", time.Hour), resetMail("cy@example.com"))
				if !errors.Is(err, auth.ErrDuplicateEmail) {
					t.Fatalf("duplicate: %v", err)
				}
				if n := pending(); n != before {
					t.Fatal("a failed sign-up queued its mail")
				}
			})
			t.Run("tokens go with their user", func(t *testing.T) {
				if err := db.DeleteUser(ctx, u.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Token(ctx, token(0, "", "v", 0).Hash); !errors.Is(err, auth.ErrTokenInvalid) {
					t.Fatalf("token of a deleted user: %v", err)
				}
			})
		})
	}
}

func TestOutboxLeases(t *testing.T) {
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			for i := range 3 {
				if err := db.QueueMail(ctx, resetMail(fmt.Sprintf("u%d@example.com", i))); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now()
			a, err := db.Claim(ctx, "A", now, time.Minute, 2)
			if err != nil || len(a) != 2 || a[0].Mail.To != "u0@example.com" || a[0].Mail.Data[auth.DataLink] != "https://x/y" {
				t.Fatalf("claim A = %+v, %v", a, err)
			}
			b, err := db.Claim(ctx, "B", now, time.Minute, 10)
			if err != nil || len(b) != 1 || b[0].Mail.To != "u2@example.com" {
				t.Fatalf("claim B = %+v, %v: want only the unclaimed mail", b, err)
			}
			if err := db.Sent(ctx, a[0].ID, "B", now); !errors.Is(err, mail.ErrLeaseLost) {
				t.Fatalf("Sent under another claim: %v, want ErrLeaseLost", err)
			}
			if err := db.Sent(ctx, a[0].ID, "A", now); err != nil {
				t.Fatal(err)
			}
			if err := db.Retry(ctx, a[1].ID, "A", now.Add(time.Hour), "down"); err != nil {
				t.Fatal(err)
			}
			if err := db.Fail(ctx, b[0].ID, "B", now, "refused"); err != nil {
				t.Fatal(err)
			}
			if c, _ := db.Claim(ctx, "C", now, time.Minute, 10); len(c) != 0 {
				t.Fatalf("claimed %+v: nothing is due", c)
			}
			n, oldest, err := db.Pending(ctx)
			if err != nil || n != 1 || oldest.IsZero() {
				t.Fatalf("Pending = %d, %v, %v; want 1 (the retried mail)", n, oldest, err)
			}
			later, _ := db.Claim(ctx, "C", now.Add(2*time.Hour), time.Minute, 10)
			if len(later) != 1 || later[0].Attempts != 1 {
				t.Fatalf("claim after the retry time = %+v, want the retried mail with 1 attempt", later)
			}
			// An expired lease is taken over; the first holder's update is refused.
			again, _ := db.Claim(ctx, "D", now.Add(3*time.Hour), time.Minute, 10)
			if len(again) != 1 {
				t.Fatalf("expired lease not reclaimed: %+v", again)
			}
			if err := db.Sent(ctx, later[0].ID, "C", now); !errors.Is(err, mail.ErrLeaseLost) {
				t.Fatalf("Sent after losing the lease: %v, want ErrLeaseLost", err)
			}
			if err := db.Purge(ctx, now.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := db.Pending(ctx); n != 1 {
				t.Fatalf("purge removed an unsent mail: pending %d", n)
			}
		})
	}
}
