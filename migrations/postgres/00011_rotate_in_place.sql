-- +goose Up
-- A session (refresh-token family) is one row, and a rotation replaces its
-- current token in place: one update and no insert, where rotation used to
-- insert a row (and three index entries) per refresh. Refresh tokens now
-- carry their row's key (hash), which never changes while the session lives.
-- cur is the hash of the token that may rotate (NULL on rows spent before
-- this migration), prev the hash of the token it replaced at spent_at (the
-- grace window), started_at when the session began.
ALTER TABLE refresh_tokens ADD COLUMN cur BYTEA, ADD COLUMN prev BYTEA, ADD COLUMN started_at TIMESTAMPTZ;
UPDATE refresh_tokens t SET
    cur = CASE WHEN t.spent_at IS NULL THEN t.hash END,
    prev = CASE WHEN t.spent_at IS NOT NULL THEN t.hash END,
    started_at = f.started
FROM (SELECT family_id, min(created_at) AS started FROM refresh_tokens GROUP BY family_id) f
WHERE f.family_id = t.family_id;
ALTER TABLE refresh_tokens ALTER COLUMN started_at SET NOT NULL;
-- PostgreSQL 15 updates a row in place (HOT) only when no indexed column
-- changes, and a rotation moves expires_at: the janitor's purge scans the
-- table instead, every janitor_interval. Free space on each page keeps the
-- new row version beside the old one.
DROP INDEX refresh_tokens_expires_brin;
ALTER TABLE refresh_tokens SET (fillfactor = 75);

-- +goose Down
-- Sessions rotated in place cannot go back: their tokens name their row.
DELETE FROM refresh_tokens WHERE cur IS NOT NULL AND cur <> hash;
ALTER TABLE refresh_tokens RESET (fillfactor);
CREATE INDEX refresh_tokens_expires_brin ON refresh_tokens USING brin (expires_at);
ALTER TABLE refresh_tokens DROP COLUMN started_at, DROP COLUMN prev, DROP COLUMN cur;
