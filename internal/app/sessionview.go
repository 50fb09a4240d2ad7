package app

import (
	"strconv"
	"strings"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// sessionView is one row of the sessions page, read like a device list.
type sessionView struct {
	auth.SessionInfo
	Device      string // "Firefox on Linux"
	LastSeenAgo string // "3 minutes ago"
	CreatedAgo  string
	LastSeenISO string
	CreatedISO  string
}

func newSessionViews(infos []auth.SessionInfo) []sessionView {
	now := time.Now()
	views := make([]sessionView, len(infos))
	for i, s := range infos {
		views[i] = sessionView{
			SessionInfo: s,
			Device:      describeUserAgent(s.UserAgent),
			LastSeenAgo: ago(now, s.LastSeen),
			CreatedAgo:  ago(now, s.Created),
			LastSeenISO: s.LastSeen.UTC().Format(time.RFC3339),
			CreatedISO:  s.Created.UTC().Format(time.RFC3339),
		}
	}
	return views
}

// ago says how long before now t was, in words.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return strconv.Itoa(n) + " " + unit + "s ago"
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	default:
		return "on " + t.Format("2 Jan 2006")
	}
}

// describeUserAgent names the browser and operating system of a user-agent
// string ("Chrome on macOS"). Order matters: Edge and Opera also say
// "Chrome", Chrome also says "Safari", and Android also says "Linux".
func describeUserAgent(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	browser := "Unknown browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"CriOS/", "Chrome"}, {"HeadlessChrome/", "Headless Chrome"}, {"Chrome/", "Chrome"},
		{"Chromium/", "Chromium"}, {"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client/", "Go HTTP client"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	os := ""
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			os = o.name
			break
		}
	}
	if os == "" {
		return browser
	}
	return browser + " on " + os
}
