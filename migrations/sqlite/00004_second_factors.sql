-- +goose Up
-- Authenticator app (TOTP). The secret is sealed with AES-256-GCM under a
-- key derived from SECRET_KEY; confirmed_at is NULL while the set-up waits
-- for its first code; last_step is the last 30-second step accepted, so
-- that no code is accepted twice.
CREATE TABLE totp_secrets (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB    NOT NULL,
    confirmed_at INTEGER,          -- unix milliseconds, UTC
    last_step    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);

-- Recovery codes, as keyed hashes; used_at is set when one is spent.
CREATE TABLE recovery_codes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL,
    used_at   INTEGER
);
CREATE UNIQUE INDEX recovery_codes_user_hash_key ON recovery_codes (user_id, code_hash);

-- The WebAuthn user handle: random, stable for the account, never its id.
CREATE TABLE webauthn_users (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  BLOB    NOT NULL
);
CREATE UNIQUE INDEX webauthn_users_handle_key ON webauthn_users (handle);

-- Passkeys. credential is the library's credential record (JSON); the
-- columns beside it are what is looked up, shown or compared atomically.
-- cloned is set when the signature counter went back (a copy of the key
-- exists): the passkey signs in no more.
CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB    NOT NULL,
    name          TEXT    NOT NULL,
    credential    BLOB    NOT NULL,
    sign_count    INTEGER NOT NULL DEFAULT 0,
    cloned        INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- A value sealed under each derived key on first start and opened on every
-- start: a wrong SECRET_KEY stops start-up instead of someone's login.
CREATE TABLE secret_key_checks (
    purpose    TEXT    PRIMARY KEY,
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE secret_key_checks;
DROP TABLE passkeys;
DROP TABLE webauthn_users;
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
