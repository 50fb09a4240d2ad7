-- +goose Up
-- When the account's current address was confirmed by following a mailed
-- link; NULL until then (unix milliseconds, UTC).
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- One-time links: password reset, address verification, address change.
-- Only the SHA-256 of the token is stored; the token itself is only in the
-- mail. A token is used at most once (used_at), and a newer token of the
-- same purpose marks the older ones used.
CREATE TABLE one_time_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL,
    token_hash BLOB    NOT NULL UNIQUE,
    email      TEXT    NOT NULL, -- the address the link was mailed to
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose);

-- Mails waiting to be sent, written in the same transaction as the change
-- that caused them; see package mail for the sender.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    data            TEXT    NOT NULL, -- JSON object; emptied once sent
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    claim           TEXT,             -- the sender holding the mail, until claimed_until
    claimed_until   INTEGER,
    sent_at         INTEGER,
    failed_at       INTEGER,          -- given up: a permanent refusal
    last_error      TEXT
);
CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE one_time_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
