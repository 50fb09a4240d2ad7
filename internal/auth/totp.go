package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"image/png"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters (RFC 6238), the ones every authenticator app supports.
const (
	totpPeriod = 30 // seconds per step
	totpDigits = otp.DigitsSix
	totpSkew   = 1 // steps of clock drift accepted either way
)

// RecoveryCodeCount is how many recovery codes a user holds.
const RecoveryCodeCount = 10

// TOTPSetup is an authenticator-app secret waiting for its first code.
type TOTPSetup struct {
	// URI is the otpauth:// URI: the QR code's content, and what a password
	// manager takes as text.
	URI string
	// Secret is the base32 secret, for typing by hand.
	Secret string
}

// PNG returns the QR code of the URI as a size×size PNG image.
func (s TOTPSetup) PNG(size int) ([]byte, error) {
	key, err := otp.NewKeyFromURL(s.URI)
	if err != nil {
		return nil, err
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// totpAD binds a sealed secret to its user's row.
func totpAD(userID int64) string { return "totp:" + strconv.FormatInt(userID, 10) }

func (f *Factors) totpKey(user User, secret []byte) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{
		Issuer: f.issuer, AccountName: user.Email, Period: totpPeriod,
		Secret: secret, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
}

// BeginTOTP starts setting up an authenticator app: a new secret, stored
// sealed and unconfirmed (replacing an earlier unconfirmed one), switched
// on only by ConfirmTOTP. ErrTOTPEnabled when the app is already on.
func (f *Factors) BeginTOTP(ctx context.Context, user User, c Client) (TOTPSetup, error) {
	secret := make([]byte, 20) // 160 bits, as RFC 4226 recommends
	if _, err := rand.Read(secret); err != nil {
		return TOTPSetup{}, err
	}
	key, err := f.totpKey(user, secret)
	if err != nil {
		return TOTPSetup{}, err
	}
	sealed, err := f.seal([]byte(key.Secret()), totpAD(user.ID))
	if err != nil {
		return TOTPSetup{}, err
	}
	if err := f.store.PutPendingTOTP(ctx, user.ID, sealed, f.now()); err != nil {
		return TOTPSetup{}, err
	}
	f.audit.Record(ctx, Event{Kind: EventTOTPSetupStarted, UserID: user.ID, IP: c.IP, UserAgent: c.UserAgent})
	return TOTPSetup{URI: key.URL(), Secret: key.Secret()}, nil
}

// PendingTOTP returns the set-up waiting for its first code, or
// ErrTOTPNotSetUp.
func (f *Factors) PendingTOTP(ctx context.Context, user User) (TOTPSetup, error) {
	rec, secret, err := f.loadTOTP(ctx, user.ID)
	if err != nil {
		return TOTPSetup{}, err
	}
	if rec.Confirmed {
		return TOTPSetup{}, ErrTOTPEnabled
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return TOTPSetup{}, err
	}
	key, err := f.totpKey(user, raw)
	if err != nil {
		return TOTPSetup{}, err
	}
	return TOTPSetup{URI: key.URL(), Secret: key.Secret()}, nil
}

// loadTOTP returns the user's record and its secret, opened.
func (f *Factors) loadTOTP(ctx context.Context, userID int64) (TOTPRecord, string, error) {
	rec, err := f.store.TOTP(ctx, userID)
	if errors.Is(err, ErrFactorNotFound) {
		return TOTPRecord{}, "", ErrTOTPNotSetUp
	}
	if err != nil {
		return TOTPRecord{}, "", err
	}
	plain, err := f.open(rec.Sealed, totpAD(userID))
	if err != nil {
		// CheckKey at start makes this a tampered or misplaced row.
		return TOTPRecord{}, "", errors.New("auth: stored authenticator secret does not open")
	}
	return rec, string(plain), nil
}

// matchTOTP returns the step whose code is code, within the drift allowed
// around now.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != totpDigits.Length() {
		return 0, false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	current := now.Unix() / totpPeriod
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	found, step := false, int64(0)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((current+d)*totpPeriod, 0), opts)
		if err != nil {
			return 0, false
		}
		// Every step is compared, in constant time, so the time taken
		// does not say which one matched.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !found {
			found, step = true, current+d
		}
	}
	return step, found
}

// normalizeCode drops the spaces and dashes people type inside codes.
func normalizeCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
}

// ConfirmTOTP switches the authenticator app on when code is right for the
// pending secret, and returns the new recovery codes, to be shown once.
// Wrong codes count towards the account's code throttle.
func (f *Factors) ConfirmTOTP(ctx context.Context, user User, code string, c Client) ([]string, error) {
	if err := f.limiter.check(ctx, user.ID); err != nil {
		return nil, f.codeThrottled(ctx, err, user.ID, c)
	}
	rec, secret, err := f.loadTOTP(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	if rec.Confirmed {
		return nil, ErrTOTPEnabled
	}
	step, ok := matchTOTP(secret, normalizeCode(code), f.now())
	if !ok {
		return nil, f.codeFailed(ctx, user.ID, c)
	}
	if err := f.limiter.succeed(ctx, user.ID); err != nil {
		return nil, f.codeThrottled(ctx, err, user.ID, c)
	}
	codes, hashes, err := f.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	// The set-up's code proves the app works; it is not spent, so the
	// user may sign in with it at once. Codes of earlier steps never work.
	n := f.prepareNotice(ctx, user.ID, NoticeTOTPEnabled, c, nil)
	done, err := f.store.ConfirmTOTP(ctx, user.ID, step-1, hashes, f.now(), n.mails...)
	if err != nil {
		return nil, err
	}
	if !done {
		// Confirmed by a parallel request meanwhile, with its own codes.
		return nil, ErrTOTPEnabled
	}
	f.audit.Record(ctx, Event{Kind: EventTOTPEnabled, UserID: user.ID, IP: c.IP, UserAgent: c.UserAgent})
	f.queued(ctx, n)
	return codes, nil
}

// DisableTOTP switches the authenticator app off and deletes the recovery
// codes. ErrTOTPNotSetUp when it was not on.
func (f *Factors) DisableTOTP(ctx context.Context, userID int64, c Client) error {
	n := f.prepareNotice(ctx, userID, NoticeTOTPDisabled, c, nil)
	done, err := f.store.DeleteTOTP(ctx, userID, n.mails...)
	if err != nil {
		return err
	}
	if !done {
		return ErrTOTPNotSetUp
	}
	f.audit.Record(ctx, Event{Kind: EventTOTPDisabled, UserID: userID, IP: c.IP, UserAgent: c.UserAgent})
	f.queued(ctx, n)
	return nil
}

// SecondFactorMethod says which second factor a user passed.
type SecondFactorMethod string

// The second factors.
const (
	SecondFactorTOTP     SecondFactorMethod = "totp"
	SecondFactorRecovery SecondFactorMethod = "recovery"
)

// VerifyCode checks an authenticator-app code (or, when code is empty, a
// recovery code) of user userID, throttled per account. A code is accepted
// once: its step is recorded, and a recovery code is spent. It returns
// ErrInvalidCode, ErrCodeReused, a *ThrottledError, or ErrTOTPNotSetUp.
func (f *Factors) VerifyCode(ctx context.Context, userID int64, code, recoveryCode string, c Client) (SecondFactorMethod, error) {
	if err := f.limiter.check(ctx, userID); err != nil {
		return "", f.codeThrottled(ctx, err, userID, c)
	}
	rec, secret, err := f.loadTOTP(ctx, userID)
	if err != nil {
		return "", err
	}
	if !rec.Confirmed {
		return "", ErrTOTPNotSetUp
	}
	method := SecondFactorTOTP
	var used notice
	if strings.TrimSpace(code) == "" {
		method = SecondFactorRecovery
		// The notice says how many codes are left after this one; it is
		// queued only if the code is spent. (Two codes spent at the same
		// moment both say the same number: a race of one user with
		// themself, harmless.)
		details := map[string]string{}
		if left, err := f.store.RecoveryCodesLeft(ctx, userID); err == nil && left > 0 {
			details[DataLeft] = strconv.Itoa(left - 1)
		}
		used = f.prepareNotice(ctx, userID, NoticeRecoveryCodeUsed, c, details)
		spent, err := f.store.UseRecoveryCode(ctx, userID, f.recoveryHash(userID, normalizeCode(recoveryCode)), f.now(), used.mails...)
		if err != nil {
			return "", err
		}
		if !spent {
			return "", f.codeFailed(ctx, userID, c)
		}
		// Spent, and its notice committed with it, whatever follows.
		ev := Event{Kind: EventRecoveryCodeUsed, UserID: userID, IP: c.IP, UserAgent: c.UserAgent}
		if left, ok := used.details[DataLeft]; ok {
			ev.Detail = left + " left"
		}
		f.audit.Record(ctx, ev)
		f.queued(ctx, used)
	} else {
		step, ok := matchTOTP(secret, normalizeCode(code), f.now())
		if !ok {
			return "", f.codeFailed(ctx, userID, c)
		}
		fresh, err := f.store.UseTOTPStep(ctx, userID, step)
		if err != nil {
			return "", err
		}
		if !fresh {
			// Right, but seen before: someone may have read it over the
			// user's shoulder. It counts as a failure.
			f.audit.Record(ctx, Event{Kind: EventCodeReused, UserID: userID, IP: c.IP, UserAgent: c.UserAgent})
			if err := f.codeFailed(ctx, userID, c); !errors.Is(err, ErrInvalidCode) {
				return "", err
			}
			return "", ErrCodeReused
		}
	}
	if err := f.limiter.succeed(ctx, userID); err != nil {
		return "", f.codeThrottled(ctx, err, userID, c)
	}
	return method, nil
}

// codeFailed counts a wrong code and returns ErrInvalidCode, or a
// *ThrottledError when parallel guesses went past the limit.
func (f *Factors) codeFailed(ctx context.Context, userID int64, c Client) error {
	f.audit.Record(ctx, Event{Kind: EventCodeFailure, UserID: userID, IP: c.IP, UserAgent: c.UserAgent})
	if err := f.limiter.fail(ctx, userID); err != nil {
		return f.codeThrottled(ctx, err, userID, c)
	}
	return ErrInvalidCode
}

func (f *Factors) codeThrottled(ctx context.Context, err error, userID int64, c Client) error {
	var te *ThrottledError
	if errors.As(err, &te) {
		f.audit.Record(ctx, Event{Kind: EventCodeThrottled, UserID: userID, IP: c.IP, UserAgent: c.UserAgent})
	}
	return err
}

// recoveryAlphabet leaves out letters and digits that read alike (0/o,
// 1/l/i) and vowels (no words by chance).
const recoveryAlphabet = "bcdfghjkmnpqrstvwxz23456789"

// newRecoveryCodes returns RecoveryCodeCount codes ("xxxxx-xxxxx", about
// 47 bits each) and their hashes.
func (f *Factors) newRecoveryCodes(userID int64) ([]string, [][]byte, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([][]byte, RecoveryCodeCount)
	for i := range codes {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		var sb strings.Builder
		for j, x := range b {
			if j == 5 {
				sb.WriteByte('-')
			}
			// A byte modulo 27 is skewed by under 1%: a negligible loss of
			// the codes' strength.
			sb.WriteByte(recoveryAlphabet[int(x)%len(recoveryAlphabet)])
		}
		codes[i] = sb.String()
		hashes[i] = f.recoveryHash(userID, normalizeCode(codes[i]))
	}
	return codes, hashes, nil
}

// recoveryHash is a keyed hash of a normalised code: a copy of the
// database without SECRET_KEY does not allow testing codes offline.
func (f *Factors) recoveryHash(userID int64, code string) []byte {
	m := hmac.New(sha256.New, f.hashKey)
	m.Write([]byte(strconv.FormatInt(userID, 10) + ":" + code))
	return m.Sum(nil)
}

// RegenerateRecoveryCodes replaces the user's recovery codes and returns
// the new ones, to be shown once. ErrTOTPNotSetUp when the app is off.
func (f *Factors) RegenerateRecoveryCodes(ctx context.Context, userID int64, c Client) ([]string, error) {
	on, err := f.TOTPEnabled(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !on {
		return nil, ErrTOTPNotSetUp
	}
	codes, hashes, err := f.newRecoveryCodes(userID)
	if err != nil {
		return nil, err
	}
	if err := f.store.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, err
	}
	f.audit.Record(ctx, Event{Kind: EventRecoveryCodesRegenerated, UserID: userID, IP: c.IP, UserAgent: c.UserAgent})
	return codes, nil
}
