package sessionstore_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
)

// prefs stands for an application's own type in a session: not one the
// compact format knows, so it takes the gob fallback.
type prefs struct {
	Theme string
	Size  int
}

func init() { gob.Register(prefs{}) }

// sameValue compares decoded session values: times by instant, floats by
// bits (NaN included), the rest by deep equality, and types exactly.
func sameValue(a, b any) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	switch a := a.(type) {
	case time.Time:
		return a.Equal(b.(time.Time))
	case float64:
		return math.Float64bits(a) == math.Float64bits(b.(float64))
	case []byte:
		return bytes.Equal(a, b.([]byte))
	}
	return reflect.DeepEqual(a, b)
}

func sameValues(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !sameValue(v, w) {
			return false
		}
	}
	return true
}

// codecCases are sessions of every type the compact format encodes itself.
func codecCases() map[string]map[string]any {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	return map[string]map[string]any{
		"empty":  {},
		"string": {"s": "hello", "empty": "", "unicode": "ünïcode 🔑", "binary": "\x00\xff\n", "": "empty key"},
		"int64":  {"zero": int64(0), "one": int64(1), "neg": int64(-1), "min": int64(math.MinInt64), "max": int64(math.MaxInt64)},
		"int":    {"zero": 0, "neg": -42, "min": math.MinInt, "max": math.MaxInt},
		"bool":   {"t": true, "f": false},
		"float64": {
			"zero": 0.0, "negzero": math.Copysign(0, -1), "pi": math.Pi, "tiny": math.SmallestNonzeroFloat64,
			"max": math.MaxFloat64, "inf": math.Inf(1), "-inf": math.Inf(-1), "nan": math.NaN(),
		},
		"bytes": {"b": []byte{0, 1, 2, 0xff}, "text": []byte("hello")},
		"time": {
			"utc":    time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
			"zone":   time.Date(2024, 6, 1, 12, 0, 0, 1, zone),
			"zero":   time.Time{},
			"year1":  time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			"future": time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		},
		"signed in": {"uid": int64(42), "sid": "q3Zx8VbNw0PyLk2m", "seen": time.Now().Unix(), "flash": "Welcome back"},
		"mixed": {
			"s": "x", "i64": int64(7), "i": 7, "b": true, "f": 1.5, "bytes": []byte("y"),
			"t": time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	deadlines := map[string]time.Time{
		"now":       time.Now(),
		"nanos":     time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", -7200)),
		"unix zero": time.Unix(0, 0),
	}
	for name, values := range codecCases() {
		for dname, deadline := range deadlines {
			t.Run(name+"/"+dname, func(t *testing.T) {
				b, err := sessionstore.Codec{}.Encode(deadline, values)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				// The compact format, not the gob fallback: a round trip
				// through gob would pass too, and hide a lost fast path.
				if b[0] != 'B' {
					t.Fatalf("format byte: got %q, want 'B'", b[0])
				}
				gotDeadline, got, err := sessionstore.Codec{}.Decode(b)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !gotDeadline.Equal(deadline) {
					t.Errorf("deadline: got %v, want %v", gotDeadline, deadline)
				}
				if !sameValues(got, values) {
					t.Errorf("values:\n got  %#v\n want %#v", got, values)
				}
			})
		}
	}
}

func TestCodecDeadlineOutOfRange(t *testing.T) {
	// Unix nanoseconds end in 2262: a later (or zero) deadline must come
	// back as itself, not wrap around into the past and end the session.
	values := map[string]any{"uid": int64(42)}
	for name, deadline := range map[string]time.Time{
		"zero":      {},
		"year 2300": time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		"year 1600": time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		"last nano": time.Unix(0, math.MaxInt64),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := sessionstore.Codec{}.Encode(deadline, values)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, gotValues, err := sessionstore.Codec{}.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !got.Equal(deadline) || !sameValues(gotValues, values) {
				t.Fatalf("got (%v, %v), want (%v, %v)", got, gotValues, deadline, values)
			}
		})
	}
}

func TestCodecIsCompact(t *testing.T) {
	// The point of the codec: a signed-in session is a fraction of gob's size.
	deadline := time.Now().Add(12 * time.Hour)
	values := codecCases()["signed in"]
	compact, err := sessionstore.Codec{}.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	gobbed, err := scs.GobCodec{}.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	if len(compact)*2 > len(gobbed) {
		t.Fatalf("got %d bytes, want less than half of gob's %d", len(compact), len(gobbed))
	}
}

func TestCodecGobFallback(t *testing.T) {
	deadline := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	values := map[string]any{
		"prefs": prefs{Theme: "dark", Size: 3},
		"uid":   int64(42),
		"name":  "Ann",
		"when":  time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	b, err := sessionstore.Codec{}.Encode(deadline, values)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if b[0] != 'G' {
		t.Fatalf("format byte: got %q, want 'G'", b[0])
	}
	gotDeadline, got, err := sessionstore.Codec{}.Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !gotDeadline.Equal(deadline) || !sameValues(got, values) {
		t.Fatalf("got (%v, %#v), want (%v, %#v)", gotDeadline, got, deadline, values)
	}

	// A type gob does not know is an error, as with SCS's own codec.
	type unregistered struct{ X int }
	if _, err := (sessionstore.Codec{}).Encode(deadline, map[string]any{"u": unregistered{1}}); err == nil {
		t.Fatal("Encode of an unregistered type: got nil error, want one")
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	valid, err := sessionstore.Codec{}.Encode(time.Now(), codecCases()["mixed"])
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"nil":            nil,
		"empty":          {},
		"unknown format": []byte("X123"),
		"gob garbage":    []byte("Gnot gob at all"),
		"format only":    []byte("B"),
		// One value announced, none present.
		"count too large": {'B', 0, 1},
		"huge count":      {'B', 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		// Key "k", then an unknown tag.
		"unknown tag": {'B', 0, 1, 1, 'k', 99},
		// Key "k", a string of length 5 with 2 bytes.
		"short string": {'B', 0, 1, 1, 'k', 1, 5, 'a', 'b'},
		// Key "k", a float64 of 3 bytes.
		"short float": {'B', 0, 1, 1, 'k', 5, 1, 2, 3},
		// Key "k", a time of 2 bytes.
		"bad time": {'B', 0, 1, 1, 'k', 7, 2, 1, 2},
		// Key "k", a varint that never ends.
		"endless varint": {'B', 0, 1, 1, 'k', 2, 0xff, 0xff, 0xff},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := (sessionstore.Codec{}).Decode(b); err == nil {
				t.Fatalf("Decode(%q): got nil error, want one", b)
			}
		})
	}
	// Every truncation of a valid encoding is an error, never a session
	// with values missing.
	for n := range len(valid) {
		if _, values, err := (sessionstore.Codec{}).Decode(valid[:n]); err == nil {
			t.Fatalf("Decode of the first %d of %d bytes: got %v and no error", n, len(valid), values)
		}
	}
}

func TestCodecWithSCS(t *testing.T) {
	// SCS's typed getters work on what the codec decodes: an int must come
	// back an int, not an int64, or GetInt returns zero.
	backend := memstate.NewSessionBackend()
	sm := scs.New()
	sm.Store = sessionstore.New(backend, time.Hour, nil)
	sm.Codec = sessionstore.Codec{}
	sm.HashTokenInStore = true
	when := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)

	ctx, err := sm.Load(context.Background(), "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sm.Put(ctx, "string", "hello")
	sm.Put(ctx, "int", 7)
	sm.Put(ctx, "int64", int64(1)<<40)
	sm.Put(ctx, "bool", true)
	sm.Put(ctx, "float", 2.5)
	sm.Put(ctx, "bytes", []byte("raw"))
	sm.Put(ctx, "time", when)
	sm.Put(ctx, "prefs", prefs{Theme: "dark"})
	token, deadline, err := sm.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}

	ctx, err = sm.Load(context.Background(), token)
	if err != nil {
		t.Fatalf("Load(token): %v", err)
	}
	if got := sm.GetString(ctx, "string"); got != "hello" {
		t.Errorf("GetString: got %q, want %q", got, "hello")
	}
	if got := sm.GetInt(ctx, "int"); got != 7 {
		t.Errorf("GetInt: got %d, want 7", got)
	}
	if got := sm.GetInt64(ctx, "int64"); got != 1<<40 {
		t.Errorf("GetInt64: got %d, want %d", got, int64(1)<<40)
	}
	if got := sm.GetBool(ctx, "bool"); !got {
		t.Error("GetBool: got false, want true")
	}
	if got := sm.GetFloat(ctx, "float"); got != 2.5 {
		t.Errorf("GetFloat: got %v, want 2.5", got)
	}
	if got := sm.GetBytes(ctx, "bytes"); string(got) != "raw" {
		t.Errorf("GetBytes: got %q, want %q", got, "raw")
	}
	if got := sm.GetTime(ctx, "time"); !got.Equal(when) {
		t.Errorf("GetTime: got %v, want %v", got, when)
	}
	if got, ok := sm.Get(ctx, "prefs").(prefs); !ok || got.Theme != "dark" {
		t.Errorf("Get(prefs): got %#v, want prefs{Theme: dark}", sm.Get(ctx, "prefs"))
	}
	if got := sm.Deadline(ctx); !got.Equal(deadline) {
		t.Errorf("Deadline: got %v, want %v", got, deadline)
	}
	if got := sm.PopString(ctx, "string"); got != "hello" || sm.Exists(ctx, "string") {
		t.Errorf("PopString: got %q (still there: %v), want %q and gone", got, sm.Exists(ctx, "string"), "hello")
	}
}

// FuzzCodecDecode feeds Decode arbitrary bytes: a corrupt or hostile
// stored value must be an error, never a panic. What decodes must encode
// back to the same session.
func FuzzCodecDecode(f *testing.F) {
	deadline := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, values := range codecCases() {
		b, err := sessionstore.Codec{}.Encode(deadline, values)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	g, err := sessionstore.Codec{}.Encode(deadline, map[string]any{"p": prefs{"x", 1}, "n": 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(g)
	f.Add([]byte{})
	f.Add([]byte("B"))
	f.Add([]byte("G"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, values, err := sessionstore.Codec{}.Decode(b)
		if err != nil {
			return
		}
		again, err := sessionstore.Codec{}.Encode(d, values)
		if err != nil {
			t.Fatalf("Encode of decoded values %#v: %v", values, err)
		}
		d2, values2, err := sessionstore.Codec{}.Decode(again)
		if err != nil {
			t.Fatalf("Decode of re-encoded values: %v", err)
		}
		if !d2.Equal(d) || !sameValues(values, values2) {
			t.Fatalf("round trip changed the session:\n got  (%v, %#v)\n want (%v, %#v)", d2, values2, d, values)
		}
	})
}

// scsRememberKey is where SCS v2 keeps RememberMe's choice.
const scsRememberKey = "__rememberMe"

// TestCodecRemembered checks that the codec marks a remembered session so
// that the store can tell it without decoding, and gives the mark back.
func TestCodecRemembered(t *testing.T) {
	deadline := time.Now().Add(time.Hour).UTC()
	for name, values := range map[string]map[string]any{
		"binary": {"u": int64(7), scsRememberKey: true},
		"gob":    {"u": int64(7), scsRememberKey: true, "other": struct{ X int }{1}},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "gob" {
				gob.Register(struct{ X int }{})
			}
			b, err := sessionstore.Codec{}.Encode(deadline, values)
			if err != nil {
				t.Fatal(err)
			}
			if !sessionstore.Remembered(b) {
				t.Fatal("Remembered: got false for a session RememberMe marked")
			}
			_, got, err := sessionstore.Codec{}.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if got[scsRememberKey] != true || len(got) != len(values) {
				t.Fatalf("decoded %v, want %v", got, values)
			}
			delete(values, scsRememberKey)
			b, err = sessionstore.Codec{}.Encode(deadline, values)
			if err != nil {
				t.Fatal(err)
			}
			if sessionstore.Remembered(b) {
				t.Fatal("Remembered: got true for a session without RememberMe")
			}
		})
	}
}
