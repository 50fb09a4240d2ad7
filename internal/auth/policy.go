package auth

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/frequency"
)

// Password length limits, in Unicode code points (NIST SP 800-63B).
const (
	MinPasswordLength = 8
	MaxPasswordLength = 256
	maxEmailLength    = 254
)

// FieldError is a policy error about one input of a form: Field names the
// input ("email", "password", "new_password") and Message says what is
// wrong in a sentence fit to show beside it. A handler maps every policy
// error in one place with errors.As.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return "auth: " + e.Field + ": " + e.Message }

// Is reports whether target is the same policy error, whichever field it
// was put on (see onField).
func (e *FieldError) Is(target error) bool {
	t, ok := target.(*FieldError)
	return ok && t.Message == e.Message
}

// onField returns err moved to field when it is a *FieldError.
func onField(err error, field string) error {
	if fe, ok := err.(*FieldError); ok {
		return &FieldError{Field: field, Message: fe.Message}
	}
	return err
}

// Policy errors, each on the field it concerns. Compare with errors.Is.
var (
	ErrEmailRequired    = &FieldError{Field: "email", Message: "Enter your email address."}
	ErrEmailInvalid     = &FieldError{Field: "email", Message: "Enter a valid email address, like name@example.com."}
	ErrPasswordTooShort = &FieldError{Field: "password", Message: fmt.Sprintf("Use at least %d characters.", MinPasswordLength)}
	ErrPasswordTooLong  = &FieldError{Field: "password", Message: fmt.Sprintf("Use at most %d characters.", MaxPasswordLength)}
	ErrPasswordIsEmail  = &FieldError{Field: "password", Message: "Your password must not be your email address."}
	ErrPasswordCommon   = &FieldError{Field: "password", Message: "This password is too common and easy to guess. Choose another, such as a few unrelated words."}
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

// plainText reports whether s is valid UTF-8 without control characters
// once surrounding space is trimmed. Checked before anything else touches
// an email: strings.ToLower turns
// invalid bytes into U+FFFD, which would then pass as part of a valid
// address, and PostgreSQL refuses a NUL byte with an error (a 503).
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range strings.TrimSpace(s) {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// ValidateEmail normalises email and checks that it is a bare address.
func ValidateEmail(email string) (string, error) {
	if !plainText(email) {
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
