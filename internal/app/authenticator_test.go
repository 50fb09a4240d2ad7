package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// authenticator is a software passkey authenticator, enough to answer the
// site's WebAuthn ceremonies over plain HTTP: it makes ES256 passkeys
// ("none" attestation) and signs assertions with user presence and
// verification, with a signature counter it keeps per passkey. The browser
// tests use Chromium's own virtual authenticator; this one lets the HTTP
// tests reach the same code with a test clock.
type authenticator struct {
	t      *testing.T
	origin string // what the browser would put in clientDataJSON
	rpID   string
	keys   []*passkey
}

// passkey is one credential held by an authenticator.
type passkey struct {
	id     []byte
	key    *ecdsa.PrivateKey
	handle []byte // the user handle the site gave at registration
	count  uint32
}

func newAuthenticator(t *testing.T) *authenticator {
	return &authenticator{t: t, origin: publicURL, rpID: "app.example"}
}

var b64 = base64.RawURLEncoding

// The little CBOR this needs (RFC 8949): maps, text and byte strings,
// small integers.
func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 1<<8:
		return []byte{major<<5 | 24, byte(n)}
	default:
		return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
	}
}

func cborInt(n int64) []byte {
	if n >= 0 {
		return cborHead(0, uint64(n))
	}
	return cborHead(1, uint64(-1-n))
}

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }
func cborText(s string) []byte  { return append(cborHead(3, uint64(len(s))), s...) }

// options extracts the publicKey member of a ceremony's options.
type ceremonyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

func (a *authenticator) parseOptions(body string) ceremonyOptions {
	a.t.Helper()
	var o ceremonyOptions
	if err := json.Unmarshal([]byte(body), &o); err != nil || o.PublicKey.Challenge == "" {
		a.t.Fatalf("ceremony options: %v\n%.400s", err, body)
	}
	return o
}

func (a *authenticator) clientData(typ, challenge string) []byte {
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

// authData builds authenticator data: the RP id's hash, flags (user
// present and verified, plus attested data when attested is given), the
// counter, and the attested credential data.
func (a *authenticator) authData(count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.rpID))
	flags := byte(0x01 | 0x04) // UP | UV
	if attested != nil {
		flags |= 0x40 // AT
	}
	d := append(h[:], flags)
	d = binary.BigEndian.AppendUint32(d, count)
	return append(d, attested...)
}

// create answers a registration ceremony (its options as the site sent
// them) with a new passkey, and returns the JSON the script would post.
func (a *authenticator) create(optionsJSON string) (string, *passkey) {
	a.t.Helper()
	o := a.parseOptions(optionsJSON)
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		a.t.Fatalf("user id: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		a.t.Fatal(err)
	}
	pk := &passkey{id: make([]byte, 16), key: key, handle: handle}
	_, _ = rand.Read(pk.id)
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		a.t.Fatal(err)
	}
	// COSE_Key: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
	cose := append(cborHead(5, 5), cborInt(1)...)
	cose = append(cose, cborInt(2)...)
	cose = append(append(cose, cborInt(3)...), cborInt(-7)...)
	cose = append(append(cose, cborInt(-1)...), cborInt(1)...)
	cose = append(append(cose, cborInt(-2)...), cborBytes(pub[1:33])...)
	cose = append(append(cose, cborInt(-3)...), cborBytes(pub[33:])...)
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(pk.id)))
	attested = append(append(attested, pk.id...), cose...)

	obj := append(cborHead(5, 3), cborText("fmt")...)
	obj = append(obj, cborText("none")...)
	obj = append(append(obj, cborText("attStmt")...), cborHead(5, 0)...)
	obj = append(append(obj, cborText("authData")...), cborBytes(a.authData(0, attested))...)

	a.keys = append(a.keys, pk)
	return a.encode(map[string]any{
		"id": b64.EncodeToString(pk.id), "rawId": b64.EncodeToString(pk.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(obj),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	}), pk
}

// get answers a sign-in ceremony with passkey pk, its counter advanced.
func (a *authenticator) get(optionsJSON string, pk *passkey) string {
	a.t.Helper()
	o := a.parseOptions(optionsJSON)
	pk.count++
	data := a.authData(pk.count, nil)
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, data...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, pk.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	return a.encode(map[string]any{
		"id": b64.EncodeToString(pk.id), "rawId": b64.EncodeToString(pk.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(data),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(pk.handle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

func (a *authenticator) encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		a.t.Fatal(err)
	}
	return string(b)
}
