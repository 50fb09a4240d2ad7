package app

import (
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Real user-agent strings, as browsers and tools send them.
const (
	uaChromeMac      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaChromeWindows  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaChromeAndroid  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36"
	uaChromeTablet   = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaChromeIOS      = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1"
	uaChromeOS       = "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaHeadless       = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
	uaOldChromium    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/37.0.2062.94 Chrome/37.0.2062.94 Safari/537.36"
	uaFirefoxLinux   = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaFirefoxWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaFirefoxIOS     = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15"
	uaFirefoxAndroid = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
	uaSafariMac      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
	uaSafariIPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	uaSafariIPad     = "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
	uaEdgeWindows    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
	uaEdgeAndroid    = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0"
	uaOperaWindows   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0"
	uaSamsung        = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
	uaVivaldi        = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Vivaldi/7.0.3495.18"
	uaIE11           = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"
	uaCurl           = "curl/8.11.0"
	uaGo             = "Go-http-client/1.1"
	uaWget           = "Wget/1.21.4"
	uaUnknownLinux   = "SomeBrowser/1.0 (X11; Linux x86_64)"
)

func TestDescribeUserAgent(t *testing.T) {
	tests := []struct {
		name, ua, device, kind string
	}{
		{"chrome on mac", uaChromeMac, "Chrome on macOS", "desktop"},
		{"chrome on windows", uaChromeWindows, "Chrome on Windows", "desktop"},
		{"chrome on android phone", uaChromeAndroid, "Chrome on Android", "phone"},
		{"chrome on android tablet", uaChromeTablet, "Chrome on Android", "tablet"},
		{"chrome on iphone", uaChromeIOS, "Chrome on iPhone", "phone"},
		{"chrome on chromeos", uaChromeOS, "Chrome on ChromeOS", "desktop"},
		{"headless chrome", uaHeadless, "Headless Chrome on Linux", "desktop"},
		{"old ubuntu chromium", uaOldChromium, "Chromium on Linux", "desktop"},
		{"firefox on linux", uaFirefoxLinux, "Firefox on Linux", "desktop"},
		{"firefox on windows", uaFirefoxWindows, "Firefox on Windows", "desktop"},
		{"firefox on iphone", uaFirefoxIOS, "Firefox on iPhone", "phone"},
		{"firefox on android", uaFirefoxAndroid, "Firefox on Android", "phone"},
		{"safari on mac", uaSafariMac, "Safari on macOS", "desktop"},
		{"safari on iphone", uaSafariIPhone, "Safari on iPhone", "phone"},
		{"safari on ipad", uaSafariIPad, "Safari on iPad", "tablet"},
		{"edge on windows", uaEdgeWindows, "Edge on Windows", "desktop"},
		{"edge on android", uaEdgeAndroid, "Edge on Android", "phone"},
		{"opera on windows", uaOperaWindows, "Opera on Windows", "desktop"},
		{"samsung internet", uaSamsung, "Samsung Internet on Android", "phone"},
		{"vivaldi", uaVivaldi, "Vivaldi on Linux", "desktop"},
		{"internet explorer", uaIE11, "Internet Explorer on Windows", "desktop"},
		{"curl", uaCurl, "curl", "other"},
		{"go client", uaGo, "Go HTTP client", "other"},
		{"wget", uaWget, "Wget", "other"},
		{"unknown browser, known system", uaUnknownLinux, "Browser on Linux", "other"},
		{"unknown everything", "Mozilla/5.0", "Unknown browser", "other"},
		{"empty", "", "Unknown device", "other"},
		{"blank", "   ", "Unknown device", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describeUserAgent(tt.ua); got != tt.device {
				t.Errorf("describeUserAgent(%q) = %q, want %q", tt.ua, got, tt.device)
			}
			if got := deviceKind(tt.ua); got != tt.kind {
				t.Errorf("deviceKind(%q) = %q, want %q", tt.ua, got, tt.kind)
			}
		})
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"now", 0, "just now"},
		{"seconds", 59 * time.Second, "just now"},
		{"one minute", time.Minute, "1 minute ago"},
		{"minutes", 3*time.Minute + 20*time.Second, "3 minutes ago"},
		{"one hour", time.Hour, "1 hour ago"},
		{"hours", 23*time.Hour + 59*time.Minute, "23 hours ago"},
		{"one day", 24 * time.Hour, "1 day ago"},
		{"days", 29 * 24 * time.Hour, "29 days ago"},
		{"long ago", 45 * 24 * time.Hour, "on 24 Jan 2026"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ago(now, now.Add(-tt.d)); got != tt.want {
				t.Errorf("ago(%v before) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestNewSessionViews(t *testing.T) {
	seen := time.Now().Add(-3*time.Minute - 10*time.Second)
	views := newSessionViews([]auth.SessionInfo{{
		ID: "abc", Created: seen.Add(-2 * time.Hour), LastSeen: seen, IP: "192.0.2.7",
		UserAgent: uaSafariIPhone, Remember: true,
	}})
	if len(views) != 1 {
		t.Fatalf("got %d views, want 1", len(views))
	}
	v := views[0]
	for _, c := range []struct{ field, got, want string }{
		{"Device", v.Device, "Safari on iPhone"},
		{"DeviceKind", v.DeviceKind, "phone"},
		{"LastSeenAgo", v.LastSeenAgo, "3 minutes ago"},
		{"CreatedAgo", v.CreatedAgo, "2 hours ago"},
		{"LastSeenISO", v.LastSeenISO, seen.UTC().Format(time.RFC3339)},
		{"LastSeenAt", v.LastSeenAt, seen.UTC().Format("2 Jan 2006, 15:04 UTC")},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
}
