package app

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"root", "/", "/"},
		{"path", "/account/sessions", "/account/sessions"},
		{"query and fragment", "/account?tab=1#top", "/account?tab=1#top"},
		{"encoded slashes", "/%2F%2Fevil.com", "/%2F%2Fevil.com"},
		{"encoded backslash", "/%5Cevil.com", "/%5Cevil.com"},
		{"dot segments", "/./account", "/./account"},
		{"unicode path", "/konto/übersicht", "/konto/übersicht"},
		{"protocol-relative", "//evil.com", ""},
		{"triple slash", "///evil.com", ""},
		{"backslash", `/\evil.com`, ""},
		{"backslash later", `/a\b`, ""},
		{"double backslash", `\\evil.com`, ""},
		{"absolute http", "http://evil.com", ""},
		{"absolute https", "https://evil.com/account", ""},
		{"scheme only", "https:evil.com", ""},
		{"javascript", "javascript:alert(1)", ""},
		{"data", "data:text/html,<script>alert(1)</script>", ""},
		{"relative", "account", ""},
		{"relative host", "evil.com", ""},
		{"leading tab", "\t//evil.com", ""},
		{"leading space", " /account", ""},
		{"tab between slashes", "/\t/evil.com", ""},
		{"newline between slashes", "/\n/evil.com", ""},
		{"carriage return", "/\r/evil.com", ""},
		{"NUL", "/\x00/evil.com", ""},
		{"DEL", "/\x7f/evil.com", ""},
		{"header injection", "/account\r\nSet-Cookie: x=y", ""},
		{"too long", "/" + strings.Repeat("a", 2048), ""},
		{"longest", "/" + strings.Repeat("a", 2047), "/" + strings.Repeat("a", 2047)},
		{"bad escape", "/%zz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safeNext(tt.in); got != tt.want {
				t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzSafeNext checks that whatever comes in, what comes out is "" or a
// path on this site, also once http.Redirect has turned it into a Location
// header and a browser has resolved that against the page.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{
		"", "/", "/account", "/account?x=1#y", "//evil.com", "///evil.com", `/\evil.com`, `\/evil.com`,
		"https://evil.com", "javascript:alert(1)", "\t//evil.com", "/\t/evil.com", "/\n/evil.com",
		"/%2F%2Fevil.com", "/%5C%5Cevil.com", "/./..//evil.com", "/../../evil.com", "/.//evil.com",
		"/a/../..//evil.com", "//user:pass@evil.com/", "/@evil.com", "/ /evil.com", "/\u3000/evil.com",
		"/\uff0f/evil.com", "http:/evil.com", "/%09/evil.com", "/?next=//evil.com", "/#//evil.com",
	} {
		f.Add(s)
	}
	base, err := url.Parse("https://site.example/login")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := safeNext(in)
		if got == "" {
			return
		}
		if got != in {
			t.Fatalf("safeNext(%q) = %q, want the input or nothing", in, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`) {
			t.Fatalf("safeNext(%q) = %q: not a local path", in, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || r == '\\' {
				t.Fatalf("safeNext(%q) = %q holds %q", in, got, r)
			}
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
			t.Fatalf("safeNext(%q) = %q parses as %#v (err %v)", in, got, u, err)
		}

		// What the handlers do with it: http.Redirect, which cleans the
		// path, then a browser resolving the Location against the page.
		rec := httptest.NewRecorder()
		http.Redirect(rec, httptest.NewRequest(http.MethodPost, "/login", nil), got, http.StatusSeeOther)
		loc := rec.Header().Get("Location")
		if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\r\n") {
			t.Fatalf("safeNext(%q) = %q redirects to Location %q", in, got, loc)
		}
		lu, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q does not parse: %v", loc, err)
		}
		if r := base.ResolveReference(lu); r.Scheme != base.Scheme || r.Host != base.Host || r.User != nil {
			t.Fatalf("safeNext(%q) = %q: Location %q leads to %s", in, got, loc, r)
		}
	})
}
