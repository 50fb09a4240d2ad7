package app

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when it must not parse
	}{
		{"198.51.100.9", "198.51.100.9"},
		{"198.51.100.9:5555", "198.51.100.9"},
		{" 198.51.100.9:5555 ", "198.51.100.9"},
		{"2001:db8::1", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"::ffff:198.51.100.9", "198.51.100.9"},
		{"[::ffff:198.51.100.9]:80", "198.51.100.9"},
		{"fe80::1%eth0", "fe80::1"},
		{"", ""},
		{"unknown", ""},
		{"198.51.100.9:", ""},
		{"198.51.100.9:99999", ""},
		{"[2001:db8::1", ""},
		{"2001:db8::1]:443", ""},
		{"[198.51.100.9]:x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseAddr(tt.in)
			switch {
			case tt.want == "" && ok:
				t.Fatalf("parseAddr(%q) = %v, want no address", tt.in, got)
			case tt.want != "" && (!ok || got != netip.MustParseAddr(tt.want)):
				t.Fatalf("parseAddr(%q) = %v, %v; want %s", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no proxy", "198.51.100.1:4000", nil, "198.51.100.1"},
		{"untrusted peer's header ignored", "198.51.100.1:4000", []string{"203.0.113.7"}, "198.51.100.1"},
		{"trusted proxy", "10.0.0.2:4000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"IPv4 entry with a port", "10.0.0.2:4000", []string{"198.51.100.9:5555"}, "198.51.100.9"},
		{"IPv6 entry with a port", "10.0.0.2:4000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv6 proxy peer", "[2001:db8:ffff::2]:4000", []string{"198.51.100.9:5555"}, "198.51.100.9"},
		{"right-most untrusted wins", "10.0.0.2:4000", []string{"203.0.113.9, 198.51.100.9:5555, 10.0.0.3"}, "198.51.100.9"},
		{"several header lines", "10.0.0.2:4000", []string{"203.0.113.9", "198.51.100.9, 10.0.0.3:80"}, "198.51.100.9"},
		{"garbage stops the walk", "10.0.0.2:4000", []string{"198.51.100.9, garbage, 10.0.0.3"}, "10.0.0.3"},
		{"garbage right of the proxy", "10.0.0.2:4000", []string{"198.51.100.9, garbage"}, "10.0.0.2"},
		{"all trusted", "10.0.0.2:4000", []string{"10.0.0.4, 10.0.0.3"}, "10.0.0.4"},
		{"no header", "10.0.0.2:4000", nil, "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientAddr(tt.remote, tt.xff, proxies); got != netip.MustParseAddr(tt.want) {
				t.Fatalf("clientAddr(%q, %q) = %v, want %s", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func TestMetricsMethod(t *testing.T) {
	for in, want := range map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST",
		"PUT": "OTHER", "get": "OTHER", "PROPFIND": "OTHER", strings.Repeat("X", 16000): "OTHER",
	} {
		if got := metricsMethod(in); got != want {
			t.Errorf("metricsMethod(%.20q) = %q, want %q", in, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven cha…"},
		{"héllo", 2, "h…"}, // never half of é
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.n)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
