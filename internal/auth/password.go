package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of an argon2id hash.
type Argon2Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32
	KeyLength   uint32
}

// DefaultArgon2Params are OWASP's recommended argon2id parameters:
// m=19 MiB, t=2, p=1.
var DefaultArgon2Params = Argon2Params{
	Memory:      19 * 1024,
	Iterations:  2,
	Parallelism: 1,
	SaltLength:  16,
	KeyLength:   32,
}

// ErrMalformedHash means a stored hash is not a PHC argon2id string.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// Hasher hashes and verifies passwords with argon2id, stored as PHC strings
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash) so that a hash carries its own
// parameters and older hashes keep verifying after the parameters change.
type Hasher struct {
	params Argon2Params
	// slots bounds how many hashes run at once: each one holds Memory KiB,
	// so an unbounded burst of logins could exhaust the process's memory.
	slots chan struct{}
}

// NewHasher returns a Hasher using p for new hashes.
func NewHasher(p Argon2Params) *Hasher {
	return &Hasher{params: p, slots: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
}

// Params returns the parameters used for new hashes.
func (h *Hasher) Params() Argon2Params { return h.params }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of password with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	return encodePHC(p, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded, and
// whether that hash should be replaced because it uses other parameters
// than the current ones. The comparison takes constant time.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (match, needsRehash bool, err error) {
	p, salt, key, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	other := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	if subtle.ConstantTimeCompare(key, other) != 1 {
		return false, false, nil
	}
	cur := h.params
	needsRehash = p.Memory != cur.Memory || p.Iterations != cur.Iterations ||
		p.Parallelism != cur.Parallelism || p.KeyLength != cur.KeyLength || p.SaltLength != cur.SaltLength
	return true, needsRehash, nil
}

func encodePHC(p Argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decodePHC(s string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, ErrMalformedHash
	}
	// Sscanf ignores what follows the last verb; comparing with the canonical
	// form refuses trailing junk and parameters this code would ignore.
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism); err != nil ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Iterations, p.Parallelism) {
		return p, nil, nil, ErrMalformedHash
	}
	// Refuse parameters that would make one verification a denial of service.
	if p.Memory == 0 || p.Memory > 1<<20 || p.Iterations == 0 || p.Iterations > 64 || p.Parallelism == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	p.SaltLength = uint32(len(salt))
	p.KeyLength = uint32(len(key))
	return p, salt, key, nil
}
