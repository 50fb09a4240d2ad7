package auth

import (
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestMatchTOTP checks the window: the code of this 30-second step or of
// one step either side is accepted, with the step it belongs to; two
// steps away, or anything but six digits, is not. (A code two steps away
// can equal a nearer one by chance; the fixed secret and time rule that
// out here.)
func TestMatchTOTP(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Unix(1_800_000_015, 0) // 15 s into step 60,000,000
	step := now.Unix() / 30
	code := func(d time.Duration) string {
		c, err := totp.GenerateCode(secret, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		name     string
		code     string
		wantStep int64
		ok       bool
	}{
		{"this step", code(0), step, true},
		{"previous step", code(-30 * time.Second), step - 1, true},
		{"next step", code(30 * time.Second), step + 1, true},
		{"two steps back", code(-60 * time.Second), 0, false},
		{"two steps ahead", code(60 * time.Second), 0, false},
		{"five digits", code(0)[:5], 0, false},
		{"letters", "12a456", 0, false},
		{"seven digits", code(0) + "1", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := matchTOTP(secret, tt.code, now)
			if ok != tt.ok || got != tt.wantStep {
				t.Errorf("matchTOTP(%q) = %d, %v; want %d, %v", tt.code, got, ok, tt.wantStep, tt.ok)
			}
		})
	}
}

// TestNormalizeCode checks what people type around codes.
func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{
		"123 456":       "123456",
		" ABCDE-FGHIJ ": "abcdefghij",
		"abcde fghij":   "abcdefghij",
		"":              "",
	} {
		if got := normalizeCode(in); got != want {
			t.Errorf("normalizeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParsePublicURL checks PUBLIC_URL's forms.
func TestParsePublicURL(t *testing.T) {
	for _, tt := range []struct{ in, origin, host string }{
		{"https://login.example.com", "https://login.example.com", "login.example.com"},
		{"https://login.example.com/", "https://login.example.com", "login.example.com"},
		{"http://localhost:4000", "http://localhost:4000", "localhost"},
	} {
		origin, host, err := ParsePublicURL(tt.in)
		if err != nil || origin != tt.origin || host != tt.host {
			t.Errorf("ParsePublicURL(%q) = %q, %q, %v; want %q, %q", tt.in, origin, host, err, tt.origin, tt.host)
		}
	}
	for _, bad := range []string{"", "localhost", "ftp://x.example", "https://x.example/app", "https://u:p@x.example", "https://x.example#f", "https://:80", "http://127.0.0.1:4000", "https://[::1]"} {
		if _, _, err := ParsePublicURL(bad); err == nil {
			t.Errorf("ParsePublicURL(%q): no error", bad)
		}
	}
}
