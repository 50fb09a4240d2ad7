package auth

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCommonPasswordList(t *testing.T) {
	// The list is compiled in from zxcvbn; a dependency update that
	// shrank or emptied it would silently weaken sign-up.
	if n := len(commonPasswords); n < 10_000 {
		t.Fatalf("got %d common passwords, want at least 10,000", n)
	}
	// Every entry long enough to pass the length rule is refused, in any
	// case: an entry the lookup can never match (one with capitals, as the
	// lookup lower-cases) would be dead weight.
	checked := 0
	for p := range commonPasswords {
		if n := utf8.RuneCountInString(p); n < MinPasswordLength || n > MaxPasswordLength {
			continue
		}
		checked++
		for _, variant := range []string{p, strings.ToUpper(p)} {
			if err := CheckPassword(variant, ""); !errors.Is(err, ErrPasswordCommon) {
				t.Fatalf("CheckPassword(%q): got %v, want ErrPasswordCommon", variant, err)
			}
		}
	}
	if checked < 5_000 {
		t.Fatalf("got %d entries of a valid length, want at least 5,000", checked)
	}
}
