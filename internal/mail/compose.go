package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"text/template"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Product is the name mails are signed with.
const Product = "Sessionlogin"

//go:embed templates/mail.txt templates/mail.html
var templateFS embed.FS

// detail is one labelled fact of a mail (when, which browser, which IP).
type detail struct{ Label, Value string }

// content is what a mail says, whatever its format: the templates lay it
// out as plain text and as HTML.
type content struct {
	Product    string
	Subject    string
	Intro      []string // paragraphs
	Details    []detail
	Action     string // what the link does, as a button label
	Link       string
	Valid      string // how long the link works
	NotYou     string // what to do if it was not you
	NotYouLink string
}

// Composer words mails from the embedded templates.
type Composer struct {
	text *template.Template
	html *htmltemplate.Template
}

// NewComposer parses the templates; an error here is a broken build.
func NewComposer() (*Composer, error) {
	text, err := template.ParseFS(templateFS, "templates/mail.txt")
	if err != nil {
		return nil, fmt.Errorf("mail text template: %w", err)
	}
	html, err := htmltemplate.ParseFS(templateFS, "templates/mail.html")
	if err != nil {
		return nil, fmt.Errorf("mail HTML template: %w", err)
	}
	return &Composer{text: text, html: html}, nil
}

// Compose words m. An unknown kind or missing data is an error wrapping
// ErrPermanent: sending again would not help.
func (c *Composer) Compose(m auth.Mail) (Message, error) {
	ct, err := words(m)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	ct.Product = Product
	var text, html bytes.Buffer
	if err := c.text.ExecuteTemplate(&text, "text", ct); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	if err := c.html.ExecuteTemplate(&html, "html", ct); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	return Message{To: m.To, Subject: ct.Subject, Text: text.String(), HTML: html.String()}, nil
}

// words returns what a mail of m's kind says.
func words(m auth.Mail) (content, error) {
	d := m.Data
	need := func(keys ...string) error {
		for _, k := range keys {
			if d[k] == "" {
				return fmt.Errorf("mail %s: no %q", m.Kind, k)
			}
		}
		return nil
	}
	switch m.Kind {
	case auth.MailPasswordReset:
		return content{
			Subject: "Reset your " + Product + " password",
			Intro:   []string{"Someone asked to reset the password of the " + Product + " account of this address. Follow the link to choose a new password."},
			Action:  "Choose a new password", Link: d[auth.DataLink], Valid: d[auth.DataValid],
			NotYou: "ignore this mail. Your password stays as it is, and the link stops working by itself.",
		}, need(auth.DataLink, auth.DataValid)
	case auth.MailPasswordChanged:
		return content{
			Subject: "Your " + Product + " password was changed",
			Intro:   []string{"The password of your " + Product + " account was just changed through a reset link. Every session of the account was signed out."},
			Details: []detail{{"When", d[auth.DataWhen]}, {"From IP address", d[auth.DataIP]}},
			NotYou:  "someone can read your mail or knew a reset link. Secure your mailbox, then reset your password again here:", NotYouLink: d[auth.DataForgot],
		}, need(auth.DataWhen, auth.DataForgot)
	case auth.MailVerifyEmail:
		return content{
			Subject: "Confirm your address for " + Product,
			Intro:   []string{"Welcome to " + Product + ". Please confirm that this address is yours: follow the link and press the confirm button."},
			Action:  "Confirm my address", Link: d[auth.DataLink], Valid: d[auth.DataValid],
			NotYou: "someone typed your address by mistake. Ignore this mail; without confirmation the address is never verified.",
		}, need(auth.DataLink, auth.DataValid)
	case auth.MailSignupExisting:
		return content{
			Subject: "Someone tried to sign up to " + Product + " with your address",
			Intro: []string{"Someone tried to create a " + Product + " account with this address, but it already has one, so nothing was created.",
				"If it was you, log in instead. If you forgot your password, you can reset it: " + d[auth.DataForgot]},
			Action: "Log in", Link: d[auth.DataLogin],
			NotYou: "ignore this mail. Your account is unchanged.",
		}, need(auth.DataLogin, auth.DataForgot)
	case auth.MailChangeEmail:
		return content{
			Subject: "Confirm your new address for " + Product,
			Intro:   []string{"Someone asked to make " + d[auth.DataEmail] + " the address of their " + Product + " account. Follow the link and press the confirm button to make the change."},
			Action:  "Confirm the new address", Link: d[auth.DataLink], Valid: d[auth.DataValid],
			NotYou: "ignore this mail. Nothing changes unless the link is followed.",
		}, need(auth.DataLink, auth.DataValid, auth.DataEmail)
	case auth.MailEmailChanging:
		return content{
			Subject: "Your " + Product + " address is about to change",
			Intro: []string{"Someone signed in to your " + Product + " account asked to change its address to " + d[auth.DataEmail] + ".",
				"The address changes only when the link mailed to the new address is followed."},
			NotYou: "someone knows your password. Reset it now, which signs out every session, and check your sessions:", NotYouLink: d[auth.DataForgot],
		}, need(auth.DataEmail, auth.DataForgot)
	case auth.MailEmailTaken:
		return content{
			Subject: "Someone tried to move a " + Product + " account to your address",
			Intro: []string{"Someone asked to change the address of a " + Product + " account to this address, but this address already has an account, so nothing changed.",
				"If you forgot the password of your account, you can reset it: " + d[auth.DataForgot]},
			Action: "Log in", Link: d[auth.DataLogin],
			NotYou: "ignore this mail. Your account is unchanged.",
		}, need(auth.DataLogin, auth.DataForgot)
	case auth.MailNewDevice:
		return content{
			Subject: "New sign-in to your " + Product + " account",
			Intro:   []string{"Your " + Product + " account was just signed in to from a browser that had never signed in to it before."},
			Details: []detail{{"When", d[auth.DataWhen]}, {"Browser", d[auth.DataDevice]}, {"IP address", d[auth.DataIP]}},
			Action:  "Review your sessions", Link: d[auth.DataSessions],
			NotYou: "end that session on your sessions page and reset your password, which signs out every session:", NotYouLink: d[auth.DataForgot],
		}, need(auth.DataWhen, auth.DataSessions, auth.DataForgot)
	case auth.MailTOTPEnabled:
		return factorNotice(d, "Two-step login is on for your "+Product+" account",
				"An authenticator app was set up on your "+Product+" account: from now on, logging in with the password also asks for a code from the app.",
				"someone knows your password. Reset it now, which signs out every session, then review your security settings:"),
			need(auth.DataWhen, auth.DataSecurity, auth.DataForgot)
	case auth.MailTOTPDisabled:
		return factorNotice(d, "Two-step login is off for your "+Product+" account",
				"The authenticator app of your "+Product+" account was switched off, and its recovery codes no longer work: logging in now takes the password alone.",
				"someone may control your account. Reset your password now, which signs out every session, then set up the authenticator app again:"),
			need(auth.DataWhen, auth.DataSecurity, auth.DataForgot)
	case auth.MailPasskeyAdded, auth.MailPasskeyRemoved:
		ct := factorNotice(d, "A passkey was added to your "+Product+" account",
			"A passkey was added to your "+Product+" account. It can sign in to the account without the password.",
			"someone may control your account. Remove the passkey on your security page and reset your password, which signs out every session:")
		if m.Kind == auth.MailPasskeyRemoved {
			ct = factorNotice(d, "A passkey was removed from your "+Product+" account",
				"A passkey was removed from your "+Product+" account. It can no longer sign in to it.",
				"someone may control your account. Reset your password now, which signs out every session, then review your security settings:")
		}
		ct.Details = append([]detail{{"Passkey", d[auth.DataName]}}, ct.Details...)
		return ct, need(auth.DataWhen, auth.DataName, auth.DataSecurity, auth.DataForgot)
	case auth.MailRecoveryCodeUsed:
		ct := factorNotice(d, "A recovery code was used on your "+Product+" account",
			"Someone logged in to your "+Product+" account with the password and one of its recovery codes instead of a code from the authenticator app. Each code works once.",
			"someone knows your password and has your recovery codes. Reset your password now, which signs out every session, then make new recovery codes:")
		if left := d[auth.DataLeft]; left != "" {
			ct.Details = append(ct.Details, detail{"Recovery codes left", left})
		}
		return ct, need(auth.DataWhen, auth.DataSecurity, auth.DataForgot)
	}
	return content{}, fmt.Errorf("unknown mail kind %q", m.Kind)
}

// factorNotice is the common shape of the second-factor notices: what
// changed, when and from where, a link to the security page, and what to
// do if it was not the account's owner.
func factorNotice(d map[string]string, subject, intro, notYou string) content {
	ct := content{
		Subject: subject,
		Intro:   []string{intro},
		Details: []detail{{"When", d[auth.DataWhen]}},
		Action:  "Review your security settings", Link: d[auth.DataSecurity],
		NotYou: notYou, NotYouLink: d[auth.DataForgot],
	}
	// An operator's change (bin/web admin) comes from no IP address.
	if ip := d[auth.DataIP]; ip != "" {
		ct.Details = append(ct.Details, detail{"IP address", ip})
	}
	return ct
}
