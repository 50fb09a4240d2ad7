package app_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// TestEmailControlCharactersPages checks that an email with a NUL byte,
// another control character or invalid UTF-8 gets the form back with a
// 422 and the error beside the email field, at login and at sign-up.
func TestEmailControlCharactersPages(t *testing.T) {
	srv := newInstance(t, newShared(t, "memory"), options{})
	for _, email := range []string{"ann\x00@example.com", "ann@example.com\x1b", "\xff@example.com"} {
		for _, path := range []string{"/login", "/signup"} {
			res := webtest.NewClient(t).Post(srv.URL+path, url.Values{"email": {email}, "password": {webtest.Password}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			if res.Doc(t).Find(`#email[aria-invalid="true"]`).Length() != 1 {
				t.Errorf("POST %s %q: the email field is not marked invalid", path, email)
			}
		}
	}
}
