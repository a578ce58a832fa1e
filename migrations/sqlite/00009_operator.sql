-- +goose Up
-- Issue 14: the operator's side (see the PostgreSQL migration). Times are
-- Unix milliseconds.
CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,
    at           INTEGER NOT NULL,
    type         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    address      TEXT NOT NULL DEFAULT '',
    namespace_id TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL DEFAULT '',
    target       TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, at, id);
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
-- +goose StatementEnd

CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX users_nickname_idx ON users (namespace_id, nickname);

-- +goose Down
DROP INDEX users_nickname_idx;
DROP INDEX refresh_tokens_user_idx;
DROP TRIGGER audit_events_no_update;
DROP TABLE audit_events;
