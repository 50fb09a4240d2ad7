-- +goose Up
-- The session generation: every session records it at login and ends when
-- it no longer matches (a password change, "end all other sessions"), so
-- revocation holds even if the session registry in Redis is lost.
ALTER TABLE users ADD COLUMN session_gen INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN session_gen;
