-- +goose Up
-- Authenticator app (TOTP). The secret is sealed with AES-256-GCM under a
-- key derived from SECRET_KEY; confirmed_at is NULL while the set-up waits
-- for its first code; last_step is the last 30-second step accepted, so
-- that no code is accepted twice.
CREATE TABLE totp_secrets (
    user_id      BIGINT      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BYTEA       NOT NULL,
    confirmed_at TIMESTAMPTZ,
    last_step    BIGINT      NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Recovery codes, as keyed hashes; used_at is set when one is spent.
CREATE TABLE recovery_codes (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA       NOT NULL,
    used_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX recovery_codes_user_hash_key ON recovery_codes (user_id, code_hash);

-- The WebAuthn user handle: random, stable for the account, never its id.
CREATE TABLE webauthn_users (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  BYTEA  NOT NULL
);
CREATE UNIQUE INDEX webauthn_users_handle_key ON webauthn_users (handle);

-- Passkeys. credential is the library's credential record (JSON); the
-- columns beside it are what is looked up, shown or compared atomically.
-- cloned is set when the signature counter went back (a copy of the key
-- exists): the passkey signs in no more.
CREATE TABLE passkeys (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BYTEA       NOT NULL,
    name          TEXT        NOT NULL,
    credential    BYTEA       NOT NULL,
    sign_count    BIGINT      NOT NULL DEFAULT 0,
    cloned        BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- A value sealed under each derived key on first start and opened on every
-- start: a wrong SECRET_KEY stops start-up instead of someone's login.
CREATE TABLE secret_key_checks (
    purpose    TEXT        PRIMARY KEY,
    sealed     BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE secret_key_checks;
DROP TABLE passkeys;
DROP TABLE webauthn_users;
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
