package app

import (
	"net/url"
	"strings"
	"testing"
)

// TestFieldEscapes checks that the Go-rendered form field escapes what a
// client sent back, and links its error and hint to the input.
func TestFieldEscapes(t *testing.T) {
	f := newForm(url.Values{"email": {`"><script>alert(1)</script>`}, "password": {"secret"}})
	f.AddError("email", `Enter an email <address>`)
	got := string(field(f, "email", "Email", "email", "email", "We never share it."))
	for _, bad := range []string{"<script>", "<address>"} {
		if strings.Contains(got, bad) {
			t.Errorf("field output contains %q unescaped:\n%s", bad, got)
		}
	}
	for _, want := range []string{
		`value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`,
		`aria-describedby="email-error email-hint"`,
		`aria-invalid="true"`, ` autofocus>`, `inputmode="email"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("field output lacks %q:\n%s", want, got)
		}
	}
	if pw := string(field(f, "password", "Password", "password", "current-password")); strings.Contains(pw, "secret") || strings.Contains(pw, "value=") {
		t.Errorf("a password field shows its value:\n%s", pw)
	}
}
