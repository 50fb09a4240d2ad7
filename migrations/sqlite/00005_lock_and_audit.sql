-- +goose Up
-- An operator's lock (bin/web admin lock): the account cannot sign in and
-- its sessions end. NULL = not locked; else unix milliseconds, UTC.
ALTER TABLE users ADD COLUMN locked_at INTEGER;

-- The durable audit log, read back by /account/activity and the admin
-- command, kept 90 days. No foreign key to users: the events of a deleted
-- account stay until they age out (AUTOINCREMENT never reuses an id).
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    at         INTEGER NOT NULL, -- unix milliseconds, UTC
    ip         TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT '', -- as sent (at most 512 bytes); shown as browser and OS
    session_id TEXT    NOT NULL DEFAULT '',
    actor      TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT ''
);
-- A user's events newest first, page by page (keyset on at, id).
CREATE INDEX audit_events_user_at ON audit_events (user_id, at, id);
-- Pruning by age.
CREATE INDEX audit_events_at ON audit_events (at);

-- +goose Down
DROP TABLE audit_events;
ALTER TABLE users DROP COLUMN locked_at;
