-- +goose Up
-- Issue 14: the operator's side.

-- The audit trail: security events, each written in the transaction of
-- the action it records. Append-only: the trigger refuses any update, and
-- only the janitor deletes, past audit_retention.
CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    type         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    address      TEXT NOT NULL DEFAULT '',
    namespace_id TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL DEFAULT '',
    target       TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT ''
);
-- Listed newest first, by user or not, and purged by time.
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, at, id);

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- A player's sessions (refresh-token families) for support staff: by user.
-- Every login and rotation pays one more index entry for it.
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
-- Support finds players by nickname prefix.
CREATE INDEX users_nickname_idx ON users (namespace_id, nickname text_pattern_ops);

-- +goose Down
DROP INDEX users_nickname_idx;
DROP INDEX refresh_tokens_user_idx;
DROP TRIGGER audit_events_no_update ON audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE audit_events;
