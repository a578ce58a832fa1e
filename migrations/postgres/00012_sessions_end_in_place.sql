-- +goose Up
-- A session that a family revocation or a logout ended is marked on its
-- own row (ended_at), so that a rotation reads that row and no other: the
-- probes of revoked_families and user_logouts that every rotation ran cost
-- a fifth of its statement (BENCHMARKS.md, session 15). revoked_families and
-- user_logouts stay the record that access tokens are checked against.
ALTER TABLE refresh_tokens ADD COLUMN ended_at TIMESTAMPTZ, ADD COLUMN older_family BOOLEAN;
UPDATE refresh_tokens SET older_family = true;
UPDATE refresh_tokens t SET ended_at = f.revoked_at
FROM revoked_families f WHERE f.family_id = t.family_id;
UPDATE refresh_tokens t SET ended_at = o.logged_out_at
FROM user_logouts o
WHERE o.user_id = t.user_id AND o.logged_out_at >= t.created_at AND t.ended_at IS NULL;
-- A family begun from now on has its key, encrypted, for its ID, so the
-- broker finds its row by key. The rows of older families are found by ID;
-- only they are in this index, so a login pays nothing for it.
CREATE INDEX refresh_tokens_older_family_idx ON refresh_tokens (family_id) WHERE older_family;

-- +goose Down
DROP INDEX refresh_tokens_older_family_idx;
ALTER TABLE refresh_tokens DROP COLUMN older_family, DROP COLUMN ended_at;
