-- +goose Up
-- When the account's current address was confirmed by following a mailed
-- link; NULL until then.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;

-- One-time links: password reset, address verification, address change.
-- Only the SHA-256 of the token is stored; the token itself is only in the
-- mail. A token is used at most once (used_at), and a newer token of the
-- same purpose marks the older ones used.
CREATE TABLE one_time_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT        NOT NULL,
    token_hash BYTEA       NOT NULL UNIQUE,
    email      TEXT        NOT NULL, -- the address the link was mailed to
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose);

-- Mails waiting to be sent, written in the same transaction as the change
-- that caused them; see package mail for the sender. Several instances
-- claim mails with FOR UPDATE SKIP LOCKED and a lease (claim, claimed_until).
CREATE TABLE mail_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT        NOT NULL,
    recipient       TEXT        NOT NULL,
    data            TEXT        NOT NULL, -- JSON object; emptied once sent
    created_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    claim           TEXT,
    claimed_until   TIMESTAMPTZ,
    sent_at         TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ, -- given up: a permanent refusal
    last_error      TEXT
);
CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE one_time_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
