package auth

import (
	"context"
	"fmt"
)

// The notices of changes to an account's second factors, mailed to the
// account's address (see Recovery.Notify).
const (
	MailTOTPEnabled      MailKind = "totp_enabled"
	MailTOTPDisabled     MailKind = "totp_disabled"
	MailPasskeyAdded     MailKind = "passkey_added"
	MailPasskeyRemoved   MailKind = "passkey_removed"
	MailRecoveryCodeUsed MailKind = "recovery_code_used"
)

// Keys of Mail.Data for the factor notices.
const (
	DataName     = "name"       // a passkey's name
	DataSecurity = "security"   // the security page
	DataLeft     = "codes_left" // recovery codes left, in figures
)

// noticeMails maps each notice to its mail.
var noticeMails = map[NoticeKind]MailKind{
	NoticeTOTPEnabled:      MailTOTPEnabled,
	NoticeTOTPDisabled:     MailTOTPDisabled,
	NoticePasskeyAdded:     MailPasskeyAdded,
	NoticePasskeyRemoved:   MailPasskeyRemoved,
	NoticeRecoveryCodeUsed: MailRecoveryCodeUsed,
}

// NoticeMails makes the mail outbox Factors' Notifier: each notice becomes
// a mail to the account's address, with when and from where the change
// was made and links to the security page and to a password reset,
// queued by the FactorStore in the change's transaction. details may hold
// "ip", "name" (a passkey's) and "codes_left" (recovery codes).
func (r *Recovery) NoticeMails(ctx context.Context, userID int64, kind NoticeKind, details map[string]string) ([]Mail, error) {
	mk, ok := noticeMails[kind]
	if !ok {
		return nil, fmt.Errorf("auth: no mail for notice %q", kind)
	}
	u, err := r.svc.users.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	data := map[string]string{
		DataWhen:     r.now().UTC().Format(mailTimeLayout),
		DataIP:       details["ip"],
		DataSecurity: r.url("/account/security"),
		DataForgot:   r.url("/password/forgot"),
	}
	for _, k := range []string{DataName, DataLeft} {
		if v := details[k]; v != "" {
			data[k] = v
		}
	}
	return []Mail{{Kind: mk, To: u.Email, Data: data}}, nil
}

// Queued counts the notice's mails as queued and records the notice in the
// audit log, once the change and its mails are committed.
func (r *Recovery) Queued(ctx context.Context, userID int64, kind NoticeKind, details map[string]string, mails []Mail) {
	for _, m := range mails {
		r.queued(m)
	}
	r.svc.audit.Record(ctx, Event{Kind: EventNotice, UserID: userID, IP: details["ip"], Detail: string(kind)})
}
