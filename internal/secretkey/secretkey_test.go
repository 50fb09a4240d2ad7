package secretkey

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestParse(t *testing.T) {
	k := Generate()
	got, err := Parse(k.String())
	if err != nil {
		t.Fatalf("Parse(String()): %v", err)
	}
	if got != k {
		t.Fatal("Parse(String()) is not the same key")
	}
	for _, bad := range []string{"", "not base64!", "c2hvcnQ=", k.String() + "AAAA"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", bad)
		}
	}
}

func TestDeriveSeparatesPurposes(t *testing.T) {
	k := Generate()
	a, b := k.Derive("device-cookie"), k.Derive("totp")
	if len(a) != Size || bytes.Equal(a, b) {
		t.Fatalf("Derive: len %d, equal across purposes %v", len(a), bytes.Equal(a, b))
	}
	if !bytes.Equal(a, k.Derive("device-cookie")) {
		t.Fatal("Derive is not deterministic")
	}
	if bytes.Equal(a, Generate().Derive("device-cookie")) {
		t.Fatal("two keys derive the same subkey")
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	k1, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created %v, err %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreate(path)
	if err != nil || created || k2 != k1 {
		t.Fatalf("second LoadOrCreate: created %v, err %v, same key %v", created, err, k2 == k1)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(path); err == nil {
		t.Fatal("LoadOrCreate of a corrupt file: nil error")
	}
}
