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
	DeviceKind  string // "desktop", "phone", "tablet" or "other": picks the icon
	LastSeenAgo string // "3 minutes ago"
	CreatedAgo  string
	LastSeenISO string // for <time datetime>
	CreatedISO  string
	LastSeenAt  string // "26 Nov 2026, 14:05 UTC", the exact time as a tooltip
	CreatedAt   string
	MethodText  string // how it signed in: "password + authenticator app"
}

// methodTexts say how a session signed in.
var methodTexts = map[auth.LoginMethod]string{
	auth.MethodPassword:         "password",
	auth.MethodPasswordTOTP:     "password + authenticator app",
	auth.MethodPasswordRecovery: "password + recovery code",
	auth.MethodPasskey:          "passkey",
}

func newSessionViews(infos []auth.SessionInfo) []sessionView {
	now := time.Now()
	views := make([]sessionView, len(infos))
	for i, s := range infos {
		views[i] = sessionView{
			SessionInfo: s,
			Device:      describeUserAgent(s.UserAgent),
			DeviceKind:  deviceKind(s.UserAgent),
			LastSeenAgo: ago(now, s.LastSeen),
			CreatedAgo:  ago(now, s.Created),
			LastSeenISO: s.LastSeen.UTC().Format(time.RFC3339),
			CreatedISO:  s.Created.UTC().Format(time.RFC3339),
			LastSeenAt:  s.LastSeen.UTC().Format(exactTime),
			CreatedAt:   s.Created.UTC().Format(exactTime),
			MethodText:  methodTexts[s.Method],
		}
	}
	return views
}

const exactTime = "2 Jan 2006, 15:04 MST"

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

// uaName maps a user-agent token to a name.
type uaName struct{ token, name string }

// browsers, in the order they must be tried: most browsers also claim to be
// others (Edge, Opera, Samsung Internet and Vivaldi say "Chrome/"; Chrome
// says "Safari/"; old Chromium builds say both "Chromium/" and "Chrome/").
var browsers = []uaName{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"OPT/", "Opera"}, {"OPiOS/", "Opera"}, {"Opera", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"}, {"YaBrowser/", "Yandex Browser"}, {"Vivaldi/", "Vivaldi"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"HeadlessChrome/", "Headless Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"Trident/", "Internet Explorer"}, {"MSIE ", "Internet Explorer"},
	{"Safari/", "Safari"},
	{"curl/", "curl"}, {"Wget/", "Wget"}, {"Go-http-client/", "Go HTTP client"}, {"python-requests/", "Python requests"},
}

// systems, in order: iPhone and iPad also say "Mac OS X", Android also says
// "Linux", ChromeOS says "X11".
var systems = []uaName{
	{"iPhone", "iPhone"}, {"iPod", "iPod"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
	{"Windows", "Windows"}, {"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
	{"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"}, {"Linux", "Linux"}, {"X11", "Unix"},
}

func lookup(ua string, names []uaName) string {
	for _, n := range names {
		if strings.Contains(ua, n.token) {
			return n.name
		}
	}
	return ""
}

// describeUserAgent names the browser and operating system of a user-agent
// string ("Chrome on macOS").
func describeUserAgent(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown device"
	}
	browser, system := lookup(ua, browsers), lookup(ua, systems)
	switch {
	case browser == "" && system == "":
		return "Unknown browser"
	case browser == "":
		return "Browser on " + system
	case system == "":
		return browser
	default:
		return browser + " on " + system
	}
}

// deviceKind guesses the kind of device from a user-agent string, for the
// icon beside it. iPadOS asks for desktop sites and says "Macintosh", so an
// iPad can look like a desktop: the icon is a hint, not a claim.
func deviceKind(ua string) string {
	switch system := lookup(ua, systems); {
	case system == "iPhone", system == "iPod", system == "Android" && strings.Contains(ua, "Mobile"):
		return "phone"
	case system == "iPad", system == "Android":
		return "tablet"
	case system != "" && lookup(ua, browsers) != "" && !isTool(ua):
		return "desktop"
	default:
		return "other"
	}
}

// isTool reports whether ua is a command-line or library client.
func isTool(ua string) bool {
	switch lookup(ua, browsers) {
	case "curl", "Wget", "Go HTTP client", "Python requests":
		return true
	}
	return false
}
