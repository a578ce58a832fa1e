-- +goose Up
-- A session (refresh-token family) is one row, and a rotation replaces its
-- current token in place: one update and no insert, where rotation used to
-- insert a row per refresh. Refresh tokens now carry their row's key
-- (hash), which never changes while the session lives. cur is the hash of
-- the token that may rotate (NULL on rows spent before this migration), prev
-- the hash of the token it replaced at spent_at (the grace window),
-- started_at when the session began.
ALTER TABLE refresh_tokens ADD COLUMN cur BLOB;
ALTER TABLE refresh_tokens ADD COLUMN prev BLOB;
ALTER TABLE refresh_tokens ADD COLUMN started_at INTEGER NOT NULL DEFAULT 0;
UPDATE refresh_tokens SET
    cur = CASE WHEN spent_at IS NULL THEN hash END,
    prev = CASE WHEN spent_at IS NOT NULL THEN hash END,
    started_at = f.started
FROM (SELECT family_id, min(created_at) AS started FROM refresh_tokens GROUP BY family_id) AS f
WHERE f.family_id = refresh_tokens.family_id;

-- +goose Down
-- Sessions rotated in place cannot go back: their tokens name their row.
DELETE FROM refresh_tokens WHERE cur IS NOT NULL AND cur <> hash;
ALTER TABLE refresh_tokens DROP COLUMN started_at;
ALTER TABLE refresh_tokens DROP COLUMN prev;
ALTER TABLE refresh_tokens DROP COLUMN cur;
