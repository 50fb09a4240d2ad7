package app_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// formPaths are the forms an anonymous visitor can post.
var formPaths = []string{"/login", "/signup", "/password/forgot", "/password/reset", "/email/verify", "/email/verify/resend",
	"/login/passkey", "/login/second-factor"}

// FuzzFormPost sends arbitrary bodies to every form handler an anonymous
// visitor can reach. Whatever the bytes, the answer is a redirect or a 4xx
// page (or, from the two forms that answer "check your email" to any
// address, that page), never a 500, a panic or a hang: bad input loses
// nothing.
func FuzzFormPost(f *testing.F) {
	for _, seed := range []string{
		"email=ann%40example.com&password=correct+horse+battery+staple",
		"email=ann%40example.com&password=correct+horse+battery+staple&remember=on&next=%2Faccount",
		"email=&password=",
		"email=%ff%fe&password=%00",
		"email=a&email=b&password=x&next=%2F%2Fevil.com",
		"%zz",
		"email=" + strings.Repeat("a", 300) + "%40example.com&password=" + strings.Repeat("p", 300),
		"next=javascript:alert(1)&email=x%40y.z&password=12345678",
		";;&&==",
		"token=" + strings.Repeat("A", 43) + "&new_password=correct+horse+battery+staple",
		"token=%00&new_password=x",
		"credential=%7B%22id%22%3A%22AAAA%22%2C%22rawId%22%3A%22AAAA%22%2C%22type%22%3A%22public-key%22%7D&next=%2Faccount",
		"credential=%7B%22response%22%3A%7B%22clientDataJSON%22%3A%22%25%22%7D%7D",
		"credential=null&remember=on",
		"code=123456&recovery_code=abcde-fghij",
	} {
		for _, path := range formPaths {
			f.Add(path, seed)
		}
	}
	sh := newShared(f, "memory")
	srv := newInstance(f, sh, options{maxFailures: 1 << 20})
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	f.Fuzz(func(t *testing.T, path, body string) {
		if !slices.Contains(formPaths, path) {
			path = "/login"
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusSeeOther:
			if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
				t.Fatalf("POST %s %q: redirect to %q, want a local path", path, body, loc)
			}
		case http.StatusOK:
			if path != "/password/forgot" && path != "/email/verify/resend" {
				t.Fatalf("POST %s %q: got status 200, want 303 or a 4xx page", path, body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusTooManyRequests:
		default:
			t.Fatalf("POST %s %q: got status %d, want 303 or a 4xx page", path, body, res.StatusCode)
		}
	})
}
