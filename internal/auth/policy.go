package auth

import (
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/frequency"
)

// Password length limits, in Unicode code points (NIST SP 800-63B).
const (
	MinPasswordLength = 8
	MaxPasswordLength = 256
	maxEmailLength    = 254
)

// Policy errors. They name what is wrong so that a form can say it beside
// the field.
var (
	ErrEmailRequired    = errors.New("auth: email is required")
	ErrEmailInvalid     = errors.New("auth: email is not a valid address")
	ErrPasswordTooShort = errors.New("auth: password is too short")
	ErrPasswordTooLong  = errors.New("auth: password is too long")
	ErrPasswordIsEmail  = errors.New("auth: password is the email address")
	ErrPasswordCommon   = errors.New("auth: password is too common")
)

// commonPasswords is the 30,000-entry list of common passwords shipped with
// zxcvbn (from leaked password corpora), compiled into the binary.
var commonPasswords = func() map[string]struct{} {
	list := frequency.FrequencyLists["passwords"]
	m := make(map[string]struct{}, len(list))
	for _, p := range list {
		m[p] = struct{}{}
	}
	return m
}()

// NormalizeEmail trims surrounding space and lower-cases the address, so
// that "Ann@Example.com " and "ann@example.com" are one account.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// ValidateEmail normalises email and checks that it is a bare address.
func ValidateEmail(email string) (string, error) {
	// Checked before normalising: strings.ToLower turns invalid bytes into
	// U+FFFD, which would then pass as part of a valid address.
	if !utf8.ValidString(email) {
		return "", ErrEmailInvalid
	}
	email = NormalizeEmail(email)
	if email == "" {
		return "", ErrEmailRequired
	}
	if len(email) > maxEmailLength {
		return "", ErrEmailInvalid
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", ErrEmailInvalid
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || !strings.Contains(email[at+1:], ".") {
		return "", ErrEmailInvalid
	}
	return email, nil
}

// CheckPassword applies the password policy of NIST SP 800-63B: a length
// between MinPasswordLength and MaxPasswordLength code points, not the
// account's email, and not a commonly used password. It does no hashing, so
// an oversized password is refused before any expensive work.
func CheckPassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n > MaxPasswordLength:
		return ErrPasswordTooLong
	case n < MinPasswordLength:
		return ErrPasswordTooShort
	}
	lower := strings.ToLower(password)
	if email != "" {
		email = NormalizeEmail(email)
		local, _, _ := strings.Cut(email, "@")
		if lower == email || (len(local) >= MinPasswordLength && lower == local) {
			return ErrPasswordIsEmail
		}
	}
	if _, common := commonPasswords[lower]; common {
		return ErrPasswordCommon
	}
	return nil
}
