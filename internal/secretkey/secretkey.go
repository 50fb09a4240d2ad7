// Package secretkey holds the service's one secret (SECRET_KEY) and derives
// from it an independent key for each purpose (device cookies, second-factor
// secrets at rest), so that no two features ever share key material.
package secretkey

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Size is the length of the secret in bytes.
const Size = 32

// Key is the service's secret. The zero Key is not valid: build one with
// Parse, LoadOrCreate or Generate.
type Key struct {
	b   [Size]byte
	set bool
}

// Parse decodes base64 (standard or URL alphabet, padded or not) of exactly
// Size bytes.
func Parse(s string) (Key, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != Size {
			return Key{}, fmt.Errorf("want base64 of %d bytes, got %d bytes", Size, len(b))
		}
		var k Key
		copy(k.b[:], b)
		k.set = true
		return k, nil
	}
	return Key{}, errors.New("not base64 (generate one with: head -c 32 /dev/urandom | base64)")
}

// Generate returns a new random key.
func Generate() Key {
	var k Key
	_, _ = rand.Read(k.b[:]) // crypto/rand never fails on supported platforms
	k.set = true
	return k
}

// String returns the key in the form Parse and SECRET_KEY take.
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k.b[:]) }

// Valid reports whether k holds a key.
func (k Key) Valid() bool { return k.set }

// Derive returns a 32-byte key for purpose (a fixed label such as
// "device-cookie"), computed with HKDF-SHA256: keys for different purposes
// are independent, and none reveals the secret.
func (k Key) Derive(purpose string) []byte {
	if !k.set {
		panic("secretkey: Derive on a zero Key")
	}
	out, err := hkdf.Key(sha256.New, k.b[:], nil, "sessionlogin/"+purpose, Size)
	if err != nil {
		panic("secretkey: " + err.Error()) // only for lengths HKDF cannot produce
	}
	return out
}

// LoadOrCreate reads the key kept in the file at path, or, when there is
// none, generates one and writes it there (mode 0600, its folder created).
// created reports a new key. It serves `make run` without configuration;
// a deployment sets SECRET_KEY instead, the same on every instance.
func LoadOrCreate(path string) (k Key, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := Parse(string(b))
		if err != nil {
			return Key{}, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return Key{}, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Key{}, false, err
	}
	k = Generate()
	// O_EXCL: of two processes starting at once, one writes and the other
	// reads what it wrote.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreate(path)
	}
	if err != nil {
		return Key{}, false, err
	}
	if _, err := f.WriteString(k.String() + "\n"); err != nil {
		f.Close()
		return Key{}, false, err
	}
	if err := f.Close(); err != nil {
		return Key{}, false, err
	}
	return k, true, nil
}
