package auth_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// fastParams are cheap argon2id parameters: these tests exercise the
// logic, not the cost (BenchmarkHasher measures that).
var fastParams = auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func mustHash(t *testing.T, h *auth.Hasher, password string) string {
	t.Helper()
	encoded, err := h.Hash(context.Background(), password)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return encoded
}

// phcParts returns the salt and key fields of a PHC string.
func phcParts(t *testing.T, encoded string) (params, salt, key string) {
	t.Helper()
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		t.Fatalf("%q: got %d $-separated parts, want 6", encoded, len(parts))
	}
	return parts[3], parts[4], parts[5]
}

func TestHashDefaultParams(t *testing.T) {
	// One hash at the production cost (19 MiB, two passes): the format is
	// what other argon2id implementations read.
	h := auth.NewHasher(auth.DefaultArgon2Params)
	encoded := mustHash(t, h, "correct horse battery staple")
	// Unpadded standard base64: 16 salt bytes are 22 characters, 32 key
	// bytes 43.
	want := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !want.MatchString(encoded) {
		t.Fatalf("Hash: got %q, want it to match %s", encoded, want)
	}
	match, rehash, err := h.Verify(context.Background(), "correct horse battery staple", encoded)
	if err != nil || !match || rehash {
		t.Fatalf("Verify: got (%v, %v, %v), want (true, false, nil)", match, rehash, err)
	}
}

func TestHashSalts(t *testing.T) {
	h := auth.NewHasher(fastParams)
	seen := map[string]bool{}
	for range 20 {
		_, salt, key := phcParts(t, mustHash(t, h, "same password"))
		if seen[salt] || seen[key] {
			t.Fatalf("salt %q or key %q repeated: salts must be random", salt, key)
		}
		seen[salt], seen[key] = true, true
	}
}

func TestVerify(t *testing.T) {
	h := auth.NewHasher(fastParams)
	const password = "Tr0ub4dor&3 ünïcode 🔑"
	encoded := mustHash(t, h, password)
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"same", password, true},
		{"other", "correct horse battery staple", false},
		{"empty", "", false},
		{"other case", strings.ToUpper(password), false},
		{"trailing space", password + " ", false},
		{"prefix", password[:len(password)-1], false},
		{"other normalisation", strings.Replace(password, "ü", "u\u0308", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			match, rehash, err := h.Verify(context.Background(), tt.password, encoded)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if match != tt.want {
				t.Fatalf("got match %v, want %v", match, tt.want)
			}
			if rehash {
				t.Fatal("got needsRehash true for a hash with the current parameters")
			}
		})
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	current := auth.NewHasher(fastParams)
	tests := []struct {
		name   string
		params auth.Argon2Params
		want   bool
	}{
		{"current", fastParams, false},
		{"less memory", auth.Argon2Params{Memory: 32, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, true},
		{"more passes", auth.Argon2Params{Memory: 64, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, true},
		{"more lanes", auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 2, SaltLength: 16, KeyLength: 32}, true},
		{"shorter salt", auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 8, KeyLength: 32}, true},
		{"shorter key", auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded := mustHash(t, auth.NewHasher(tt.params), "a long enough password")
			match, rehash, err := current.Verify(context.Background(), "a long enough password", encoded)
			if err != nil || !match {
				t.Fatalf("Verify: got (%v, %v), want a match: older hashes must keep verifying", match, err)
			}
			if rehash != tt.want {
				t.Fatalf("got needsRehash %v, want %v", rehash, tt.want)
			}
			// A wrong password never asks for a rehash: nothing is known to
			// hash.
			match, rehash, err = current.Verify(context.Background(), "wrong password", encoded)
			if err != nil || match || rehash {
				t.Fatalf("wrong password: got (%v, %v, %v), want (false, false, nil)", match, rehash, err)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := auth.NewHasher(fastParams)
	valid := mustHash(t, h, "a long enough password")
	_, salt, key := phcParts(t, valid)
	phc := func(alg, version, params, salt, key string) string {
		return "$" + alg + "$" + version + "$" + params + "$" + salt + "$" + key
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"plain text", "a long enough password"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", phc("argon2i", "v=19", "m=64,t=1,p=1", salt, key)},
		{"argon2d", phc("argon2d", "v=19", "m=64,t=1,p=1", salt, key)},
		{"old version", phc("argon2id", "v=16", "m=64,t=1,p=1", salt, key)},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"version junk", phc("argon2id", "v=19x", "m=64,t=1,p=1", salt, key)},
		{"no leading $", valid[1:]},
		{"extra field", valid + "$" + key},
		{"missing key", strings.TrimSuffix(valid, "$"+key)},
		{"empty salt", phc("argon2id", "v=19", "m=64,t=1,p=1", "", key)},
		{"empty key", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, "")},
		{"salt not base64", phc("argon2id", "v=19", "m=64,t=1,p=1", "!!!!", key)},
		{"padded base64", phc("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"params reordered", phc("argon2id", "v=19", "t=1,m=64,p=1", salt, key)},
		{"params missing", phc("argon2id", "v=19", "m=64,t=1", salt, key)},
		{"params junk", phc("argon2id", "v=19", "m=64,t=1,p=1junk", salt, key)},
		{"params extra", phc("argon2id", "v=19", "m=64,t=1,p=1,data=abc", salt, key)},
		{"params spaces", phc("argon2id", "v=19", "m= 64,t=1,p=1", salt, key)},
		{"negative memory", phc("argon2id", "v=19", "m=-64,t=1,p=1", salt, key)},
		{"zero memory", phc("argon2id", "v=19", "m=0,t=1,p=1", salt, key)},
		{"zero passes", phc("argon2id", "v=19", "m=64,t=0,p=1", salt, key)},
		{"zero lanes", phc("argon2id", "v=19", "m=64,t=1,p=0", salt, key)},
		{"lanes overflow", phc("argon2id", "v=19", "m=64,t=1,p=256", salt, key)},
		// Absurd costs are refused before any work: computing them would take
		// terabytes of memory or hours, so this test would never finish.
		{"memory above 1 GiB", phc("argon2id", "v=19", "m=1048577,t=1,p=1", salt, key)},
		{"memory 4 TiB", phc("argon2id", "v=19", "m=4294967295,t=1,p=1", salt, key)},
		{"memory overflow", phc("argon2id", "v=19", "m=4294967296,t=1,p=1", salt, key)},
		{"passes above 64", phc("argon2id", "v=19", "m=64,t=65,p=1", salt, key)},
		{"passes 2^32-1", phc("argon2id", "v=19", "m=64,t=4294967295,p=1", salt, key)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			match, rehash, err := h.Verify(context.Background(), "a long enough password", tt.encoded)
			if !errors.Is(err, auth.ErrMalformedHash) {
				t.Fatalf("Verify(%q): got error %v, want ErrMalformedHash", tt.encoded, err)
			}
			if match || rehash {
				t.Fatalf("Verify(%q): got (%v, %v), want (false, false)", tt.encoded, match, rehash)
			}
		})
	}
}

func TestHashCancelled(t *testing.T) {
	// A client that has gone away does not wait for a hashing slot; and a
	// hash either completes or fails, never returns a half-made string.
	h := auth.NewHasher(fastParams)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 10 {
		encoded, err := h.Hash(ctx, "a long enough password")
		if err != nil {
			if !errors.Is(err, context.Canceled) || encoded != "" {
				t.Fatalf("got (%q, %v), want (\"\", context.Canceled)", encoded, err)
			}
			continue
		}
		if match, _, err := h.Verify(context.Background(), "a long enough password", encoded); err != nil || !match {
			t.Fatalf("hash made under a cancelled context does not verify: %v", err)
		}
	}
}
