package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Device cookies: a browser that signed in to an account successfully is
// given a signed cookie naming it a known device for that account. Its
// later logins to that account are judged on the device's own failure
// budget, which an attacker elsewhere cannot use up.
const (
	// maxDeviceAccounts bounds the accounts one cookie remembers; the one
	// signed in to least recently is dropped first.
	maxDeviceAccounts = 5
	deviceTagSize     = 16 // keyed hash of the email: the cookie does not show it
	deviceIDSize      = 16 // random: the device's budget for that account
	deviceEntrySize   = deviceTagSize + deviceIDSize
	deviceMACSize     = sha256.Size
)

// devices makes and reads device cookie values:
// base64url(entries ‖ HMAC-SHA256(key, entries)), most recent entry first.
type devices struct {
	key []byte
}

func (d *devices) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, d.key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func (d *devices) tag(email string) []byte {
	return d.mac("account\x00", email)[:deviceTagSize]
}

// entries returns the entries of a validly signed value, else nil.
func (d *devices) entries(value string) [][]byte {
	if value == "" || len(value) > base64.RawURLEncoding.EncodedLen(maxDeviceAccounts*deviceEntrySize+deviceMACSize) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < deviceEntrySize+deviceMACSize || (len(raw)-deviceMACSize)%deviceEntrySize != 0 {
		return nil
	}
	body, sig := raw[:len(raw)-deviceMACSize], raw[len(raw)-deviceMACSize:]
	if !hmac.Equal(sig, d.mac("device\x00", string(body))) {
		return nil
	}
	var out [][]byte
	for len(body) > 0 {
		out = append(out, body[:deviceEntrySize])
		body = body[deviceEntrySize:]
	}
	return out
}

// id returns the device id that value holds for email, or "".
func (d *devices) id(value, email string) string {
	if d == nil {
		return ""
	}
	tag := d.tag(email)
	for _, e := range d.entries(value) {
		if hmac.Equal(e[:deviceTagSize], tag) {
			return hex.EncodeToString(e[deviceTagSize:])
		}
	}
	return ""
}

// add returns value with email as its most recent account, keeping the
// device id it already had for email.
func (d *devices) add(value, email string) string {
	if d == nil {
		return ""
	}
	tag := d.tag(email)
	old := d.entries(value)
	entry := make([]byte, 0, deviceEntrySize)
	entry = append(entry, tag...)
	rest := make([][]byte, 0, len(old))
	for _, e := range old {
		if hmac.Equal(e[:deviceTagSize], tag) {
			entry = append(entry, e[deviceTagSize:]...)
		} else {
			rest = append(rest, e)
		}
	}
	if len(entry) == deviceTagSize {
		id := make([]byte, deviceIDSize)
		_, _ = rand.Read(id) // crypto/rand.Read never fails on supported platforms
		entry = append(entry, id...)
	}
	body := append([]byte(nil), entry...)
	for i := 0; i < len(rest) && i < maxDeviceAccounts-1; i++ {
		body = append(body, rest[i]...)
	}
	body = append(body, d.mac("device\x00", string(body))...)
	return base64.RawURLEncoding.EncodeToString(body)
}
