package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

func TestValidateEmail(t *testing.T) {
	// 254 characters: the longest address SMTP can carry (RFC 5321).
	local := strings.Repeat("a", 64)
	domain254 := strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57) + ".com"
	longest := local + "@" + domain254
	if len(longest) != 254 {
		t.Fatalf("test setup: got %d characters, want 254", len(longest))
	}
	tests := []struct {
		name  string
		email string
		want  string
		err   error
	}{
		{"plain", "ann@example.com", "ann@example.com", nil},
		{"shortest", "a@b.co", "a@b.co", nil},
		{"lower-cased", "Ann.Smith@Example.COM", "ann.smith@example.com", nil},
		{"trimmed", " \t ann@example.com \n", "ann@example.com", nil},
		{"plus and subdomain", "ann+news@mail.example.co.uk", "ann+news@mail.example.co.uk", nil},
		{"unicode", "Ännä@Exämple.com", "ännä@exämple.com", nil},
		{"254 characters", longest, longest, nil},

		{"empty", "", "", auth.ErrEmailRequired},
		{"blank", "   ", "", auth.ErrEmailRequired},
		{"no at", "a", "", auth.ErrEmailInvalid},
		{"no domain dot", "a@b", "", auth.ErrEmailInvalid},
		{"localhost", "ann@localhost", "", auth.ErrEmailInvalid},
		{"no local part", "@example.com", "", auth.ErrEmailInvalid},
		{"no domain", "ann@", "", auth.ErrEmailInvalid},
		{"two ats", "ann@@example.com", "", auth.ErrEmailInvalid},
		{"display name", "Name <a@b.co>", "", auth.ErrEmailInvalid},
		{"angle brackets", "<a@b.co>", "", auth.ErrEmailInvalid},
		{"two addresses", "ann@example.com, bob@example.com", "", auth.ErrEmailInvalid},
		{"comment", "ann@example.com (Ann)", "", auth.ErrEmailInvalid},
		{"space inside", "ann smith@example.com", "", auth.ErrEmailInvalid},
		{"newline inside", "ann@example.com\nBcc: eve@example.com", "", auth.ErrEmailInvalid},
		{"double dot", "ann@example..com", "", auth.ErrEmailInvalid},
		{"domain starts with dot", "ann@.com", "", auth.ErrEmailInvalid},
		{"trailing dot", "ann@example.com.", "", auth.ErrEmailInvalid},
		{"invalid UTF-8", "ann\xff@example.com", "", auth.ErrEmailInvalid},
		{"255 characters", local + "@d" + domain254, "", auth.ErrEmailInvalid},
		{"very long", strings.Repeat("a", 10_000) + "@example.com", "", auth.ErrEmailInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.ValidateEmail(tt.email)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ValidateEmail(%q): got error %v, want %v", tt.email, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("ValidateEmail(%q): got %q, want %q", tt.email, got, tt.want)
			}
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	// Sign-up and login normalise alike, so one account has one spelling.
	for _, in := range []string{"Ann@Example.com", " ann@example.com ", "ANN@EXAMPLE.COM\t"} {
		if got := auth.NormalizeEmail(in); got != "ann@example.com" {
			t.Errorf("NormalizeEmail(%q): got %q, want %q", in, got, "ann@example.com")
		}
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		email    string
		err      error
	}{
		{"strong passphrase", "correct horse battery staple", "ann@example.com", nil},
		{"8 code points", "xk3#vq9z", "", nil},
		{"7 code points", "xk3#vq9", "", auth.ErrPasswordTooShort},
		{"empty", "", "", auth.ErrPasswordTooShort},
		// Length counts code points, not bytes: 7 two-byte runes are 14
		// bytes and still too short; 8 are enough.
		{"7 two-byte runes", "ééééééé", "", auth.ErrPasswordTooShort},
		{"8 two-byte runes", "éèêëēėęě", "", nil},
		{"7 four-byte runes", "🔑🔒🔓🗝🔐🛡🧩", "", auth.ErrPasswordTooShort},
		{"8 four-byte runes", "🔑🔒🔓🗝🔐🛡🧩🎲", "", nil},
		{"256 code points", strings.Repeat("é", 255) + "x", "", nil},
		{"257 code points", strings.Repeat("é", 256) + "x", "", auth.ErrPasswordTooLong},
		{"huge", strings.Repeat("x", 1<<20), "", auth.ErrPasswordTooLong},
		{"the email", "ann.smith@example.com", "ann.smith@example.com", auth.ErrPasswordIsEmail},
		{"the email in other case", "ANN.SMITH@EXAMPLE.COM", "Ann.Smith@example.com", auth.ErrPasswordIsEmail},
		{"the email's local part", "ann.smithers", "ann.smithers@example.com", auth.ErrPasswordIsEmail},
		{"the local part in other case", "Ann.Smithers", "ann.smithers@example.com", auth.ErrPasswordIsEmail},
		{"contains the local part", "ann.smithers-2024!", "ann.smithers@example.com", nil},
		{"no email given", "ann.smith@example.com", "", nil},
		{"common", "password", "", auth.ErrPasswordCommon},
		{"common with capital", "Password1", "", auth.ErrPasswordCommon},
		{"common in upper case", "QWERTY123", "", auth.ErrPasswordCommon},
		{"common digits", "12345678", "", auth.ErrPasswordCommon},
		{"common keyboard walk", "1qaz2wsx", "", auth.ErrPasswordCommon},
		{"common deep in the list", "thecakeisalie", "", auth.ErrPasswordCommon},
		{"common with a space added", "password 1", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := auth.CheckPassword(tt.password, tt.email); !errors.Is(err, tt.err) {
				t.Fatalf("CheckPassword(%.40q, %q): got %v, want %v", tt.password, tt.email, err, tt.err)
			}
		})
	}
}
