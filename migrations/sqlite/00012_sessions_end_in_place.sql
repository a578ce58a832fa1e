-- +goose Up
-- A session that a family revocation or a logout ended is marked on its
-- own row (ended_at), so that a rotation reads that row and no other.
-- revoked_families and user_logouts stay the record that access tokens are
-- checked against. (PostgreSQL's migration says why.)
ALTER TABLE refresh_tokens ADD COLUMN ended_at INTEGER;
ALTER TABLE refresh_tokens ADD COLUMN older_family INTEGER;
UPDATE refresh_tokens SET older_family = 1;
UPDATE refresh_tokens SET ended_at = f.revoked_at
FROM revoked_families AS f WHERE f.family_id = refresh_tokens.family_id;
UPDATE refresh_tokens SET ended_at = o.logged_out_at
FROM user_logouts AS o
WHERE o.user_id = refresh_tokens.user_id AND o.logged_out_at >= refresh_tokens.created_at
  AND refresh_tokens.ended_at IS NULL;
-- A family begun from now on is found by its key; only older families'
-- rows are in this index.
CREATE INDEX refresh_tokens_older_family_idx ON refresh_tokens (family_id) WHERE older_family;

-- +goose Down
DROP INDEX refresh_tokens_older_family_idx;
ALTER TABLE refresh_tokens DROP COLUMN older_family;
ALTER TABLE refresh_tokens DROP COLUMN ended_at;
