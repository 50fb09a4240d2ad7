-- +goose Up
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL, -- unix milliseconds, UTC
    updated_at    INTEGER NOT NULL
);
-- Emails are stored normalised (trimmed, lower case); the index enforces
-- uniqueness case-insensitively all the same.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- +goose Down
DROP TABLE users;
