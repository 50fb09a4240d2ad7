package auth_test

import (
	"context"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

const benchPassword = "correct horse battery staple"

// benchCostParams are the parameters of the benchcost build of cmd/web
// (cmd/web/params_benchcost.go): argon2id at about the cost of the Express
// original's bcrypt cost 4, measured side by side by BenchmarkBcryptCost4.
var benchCostParams = auth.Argon2Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// BenchmarkHasher measures hashing and verifying a password: with the
// production parameters (what every login and sign-up pays), and with the
// benchmark-only cheap ones.
func BenchmarkHasher(b *testing.B) {
	cases := []struct {
		name   string
		params auth.Argon2Params
	}{
		{"default", auth.DefaultArgon2Params},
		{"benchcost", benchCostParams},
	}
	ctx := context.Background()
	for _, tc := range cases {
		h := auth.NewHasher(tc.params)
		b.Run(tc.name+"/hash", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Hash(ctx, benchPassword); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/verify", func(b *testing.B) {
			encoded, err := h.Hash(ctx, benchPassword)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				ok, rehash, err := h.Verify(ctx, benchPassword, encoded)
				if err != nil || !ok || rehash {
					b.Fatalf("Verify: got (%v, %v, %v), want (true, false, nil)", ok, rehash, err)
				}
			}
		})
	}
}

// BenchmarkBcryptCost4 is the reference for benchCostParams: the password
// check of the Express original (bcrypt cost 4; it uses bcryptjs, a
// JavaScript port that is slower than Go's bcrypt).
func BenchmarkBcryptCost4(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), 4)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := bcrypt.CompareHashAndPassword(hash, []byte(benchPassword)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckPassword measures the sign-up password policy (length,
// email, 30,000 common passwords).
func BenchmarkCheckPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := auth.CheckPassword(benchPassword, "user@example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
