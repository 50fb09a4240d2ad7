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
	"sync"

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
//
// A bounded number of hashes run at once: each one holds Memory KiB, so an
// unbounded burst of logins could exhaust the process's memory. Waiting
// hashes queue per client network and the free slots go round the networks
// in turn, so a client with forty logins queued gets no more slots than a
// client with one, and another user waits about one hash per active client,
// not behind the whole queue. A network may have at most MaxQueuedPerClient
// hashes waiting; beyond that its hashes are refused at once, which keeps
// the memory of the queue bounded.
type Hasher struct {
	params Argon2Params

	mu      sync.Mutex
	free    int                  // slots not in use
	waiting map[string][]*waiter // per client network, in arrival order
	turns   []string             // networks with waiters, in serving order
}

// MaxQueuedPerClient is how many hashes one client network may have
// waiting for a slot. It is generous: a browser, or a benchmark with 64
// connections, never reaches it; a flood does.
const MaxQueuedPerClient = 128

// errQueueFull means the client's network already has MaxQueuedPerClient
// hashes waiting.
var errQueueFull = errors.New("auth: too many password checks queued for this client")

type waiter struct {
	ready   chan struct{}
	granted bool // a slot was handed over; whoever gave up waiting gives it back
}

type clientKey struct{}

// withClient marks ctx with the client ip, whose network queue the hashes
// of this request wait in.
func withClient(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientNetwork(ip))
}

// NewHasher returns a Hasher using p for new hashes, running up to twice
// GOMAXPROCS hashes at once.
func NewHasher(p Argon2Params) *Hasher {
	return NewHasherSlots(p, 2*runtime.GOMAXPROCS(0))
}

// NewHasherSlots returns a Hasher using p for new hashes, running up to
// slots hashes at once.
func NewHasherSlots(p Argon2Params, slots int) *Hasher {
	return &Hasher{params: p, free: max(slots, 1), waiting: map[string][]*waiter{}}
}

// Params returns the parameters used for new hashes.
func (h *Hasher) Params() Argon2Params { return h.params }

// Waiting returns how many hashes wait for a slot.
func (h *Hasher) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, q := range h.waiting {
		n += len(q)
	}
	return n
}

func (h *Hasher) acquire(ctx context.Context) error {
	network, _ := ctx.Value(clientKey{}).(string)
	h.mu.Lock()
	if h.free > 0 && len(h.turns) == 0 {
		h.free--
		h.mu.Unlock()
		return nil
	}
	q := h.waiting[network]
	if len(q) >= MaxQueuedPerClient {
		h.mu.Unlock()
		return errQueueFull
	}
	w := &waiter{ready: make(chan struct{})}
	if len(q) == 0 {
		h.turns = append(h.turns, network)
	}
	h.waiting[network] = append(q, w)
	h.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		h.mu.Lock()
		if w.granted {
			h.mu.Unlock()
			h.release()
		} else {
			h.remove(network, w)
			h.mu.Unlock()
		}
		return ctx.Err()
	}
}

// remove takes w out of the queue of network; h.mu is held.
func (h *Hasher) remove(network string, w *waiter) {
	q := h.waiting[network]
	for i, x := range q {
		if x == w {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(q) > 0 {
		h.waiting[network] = q
		return
	}
	delete(h.waiting, network)
	for i, n := range h.turns {
		if n == network {
			h.turns = append(h.turns[:i:i], h.turns[i+1:]...)
			break
		}
	}
}

// release hands the slot to the first waiter of the network whose turn it
// is, and puts that network at the back of the line.
func (h *Hasher) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.turns) == 0 {
		h.free++
		return
	}
	network := h.turns[0]
	h.turns = h.turns[1:]
	q := h.waiting[network]
	w := q[0]
	if len(q) > 1 {
		h.waiting[network] = q[1:]
		h.turns = append(h.turns, network)
	} else {
		delete(h.waiting, network)
	}
	w.granted = true
	close(w.ready)
}

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
