package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

var cheapParams = Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// waitWaiting waits until n hashes wait for a slot (a synchronisation
// point, not a timing assertion).
func waitWaiting(t *testing.T, h *Hasher, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.Waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %d queued hashes (have %d)", n, h.Waiting())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHasherFairQueue checks that hashing slots go round the client
// networks: with one slot, a client that queued 40 hashes first and a
// client that queued one after them, the second is served after at most
// one hash of the first.
func TestHasherFairQueue(t *testing.T) {
	h := NewHasherSlots(cheapParams, 1)
	ctxA := withClient(t.Context(), "192.0.2.1")
	ctxB := withClient(t.Context(), "2001:db8:1:2::9")
	if err := h.acquire(ctxA); err != nil { // the test holds the only slot
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	queue := func(ctx context.Context, name string) {
		wg.Go(func() {
			if err := h.acquire(ctx); err != nil {
				t.Errorf("acquire: %v", err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			h.release()
		})
	}
	for i := range 40 {
		queue(ctxA, "A")
		waitWaiting(t, h, i+1)
	}
	// Another address of B's /64 is the same client.
	queue(withClient(t.Context(), "2001:db8:1:2::1"), "B")
	waitWaiting(t, h, 41)
	h.release()
	wg.Wait()
	if len(order) != 41 {
		t.Fatalf("served %d hashes, want 41", len(order))
	}
	for i, name := range order {
		if name == "B" {
			if i > 1 {
				t.Fatalf("B was served after %d of A's hashes, want at most 1", i)
			}
			break
		}
	}
	// Every slot came back.
	if err := h.acquire(ctxB); err != nil {
		t.Fatal(err)
	}
	h.release()
}

// TestHasherQueueBound checks that one client network cannot queue more
// than MaxQueuedPerClient hashes, that others still can, and that a hash
// whose request gives up leaves the queue.
func TestHasherQueueBound(t *testing.T) {
	h := NewHasherSlots(cheapParams, 1)
	ctxA, cancelA := context.WithCancel(withClient(t.Context(), "192.0.2.1"))
	if err := h.acquire(ctxA); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, MaxQueuedPerClient)
	for range MaxQueuedPerClient {
		go func() { errs <- h.acquire(ctxA) }()
	}
	waitWaiting(t, h, MaxQueuedPerClient)
	if err := h.acquire(ctxA); !errors.Is(err, errQueueFull) {
		t.Fatalf("acquire past the bound: got %v, want errQueueFull", err)
	}
	ctxB, cancelB := context.WithCancel(withClient(t.Context(), "198.51.100.2"))
	go func() { errs <- h.acquire(ctxB) }()
	waitWaiting(t, h, MaxQueuedPerClient+1)
	cancelA()
	cancelB()
	for range MaxQueuedPerClient + 1 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled acquire: got %v, want context.Canceled", err)
		}
	}
	if n := h.Waiting(); n != 0 || len(h.turns) != 0 || len(h.waiting) != 0 {
		t.Fatalf("after every waiter gave up: %d waiting, %d turns, %d queues; want none", n, len(h.turns), len(h.waiting))
	}
	h.release()
	if h.free != 1 {
		t.Fatalf("free slots: got %d, want 1", h.free)
	}
}

// BenchmarkHasherOtherClient measures another user's password check while
// one client keeps 40 checks queued, with the slots shared round the
// client networks ("rotation") and, for comparison, with every check in
// one queue, as before ("one queue"). ns/op is the other user's latency.
func BenchmarkHasherOtherClient(b *testing.B) {
	params := Argon2Params{Memory: 4 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	for _, tc := range []struct {
		name  string
		other string
	}{
		{"rotation", "198.51.100.2"},
		{"one queue", "192.0.2.1"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := NewHasherSlots(params, 2)
			encoded, err := h.Hash(context.Background(), "correct horse battery staple")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			hog := withClient(ctx, "192.0.2.1")
			var wg sync.WaitGroup
			for range 40 {
				wg.Go(func() {
					for ctx.Err() == nil {
						_, _, _ = h.Verify(hog, "a guess", encoded)
					}
				})
			}
			for h.Waiting() < 30 {
				time.Sleep(time.Millisecond)
			}
			other := withClient(context.Background(), tc.other)
			b.ResetTimer()
			for b.Loop() {
				if ok, _, err := h.Verify(other, "correct horse battery staple", encoded); !ok || err != nil {
					b.Fatal(fmt.Errorf("Verify: %v %v", ok, err))
				}
			}
			b.StopTimer()
			cancel()
			wg.Wait()
		})
	}
}
