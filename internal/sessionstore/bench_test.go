package sessionstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
)

// signedInValues is what a signed-in session holds (see auth.Sessions):
// the user id, the registry id and the last registry touch.
func signedInValues() (time.Time, map[string]any) {
	now := time.Now()
	return now.Add(12 * time.Hour), map[string]any{
		"uid":  int64(42),
		"sid":  "q3Zx8VbNw0PyLk2m",
		"seen": now.Unix(),
	}
}

// BenchmarkCodec compares the compact codec with SCS's default gob codec on
// a signed-in session: decoding runs on every page view, encoding on every
// write. The stored size is reported as bytes/session.
func BenchmarkCodec(b *testing.B) {
	codecs := []struct {
		name  string
		codec scs.Codec
	}{
		{"compact", sessionstore.Codec{}},
		{"gob", scs.GobCodec{}},
	}
	deadline, values := signedInValues()
	for _, c := range codecs {
		encoded, err := c.codec.Encode(deadline, values)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.codec.Encode(deadline, values); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(encoded)), "bytes/session") // after the loop, which resets metrics
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, got, err := c.codec.Decode(encoded)
				if err != nil || len(got) != len(values) {
					b.Fatalf("Decode: got %d values, %v; want %d values", len(got), err, len(values))
				}
			}
			b.ReportMetric(float64(len(encoded)), "bytes/session")
		})
	}
}

// BenchmarkStoreFind is the store's part of a page view on the memory
// back-end: read, check the header's idle and absolute expiry, and (not
// here: the session was just written) refresh.
func BenchmarkStoreFind(b *testing.B) {
	backend := memstate.NewSessionBackend()
	b.Cleanup(backend.Close)
	store := sessionstore.New(backend, 30*time.Minute, nil)
	deadline, values := signedInValues()
	payload, err := sessionstore.Codec{}.Encode(deadline, values)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := store.CommitCtx(ctx, "key", payload, deadline); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := store.FindCtx(ctx, "key"); !found || err != nil {
			b.Fatalf("FindCtx: got found=%v, err=%v; want the session", found, err)
		}
	}
}
