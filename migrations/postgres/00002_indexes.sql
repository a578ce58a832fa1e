-- +goose Up
-- The janitor deletes by expiry; without these it scans both tables.
CREATE INDEX revoked_families_expires_idx ON revoked_families (expires_at);
CREATE INDEX revoked_access_tokens_expires_idx ON revoked_access_tokens (expires_at);
-- Family revocation lives in revoked_families; nothing looks refresh tokens
-- up by family, and every login and rotation paid for this index.
DROP INDEX refresh_tokens_family_idx;
-- Only the janitor's range delete reads expires_at, and it grows with
-- insertion time: a BRIN index serves the purge at a fraction of a btree's
-- cost on every login and rotation.
DROP INDEX refresh_tokens_expires_idx;
CREATE INDEX refresh_tokens_expires_brin ON refresh_tokens USING brin (expires_at);

-- +goose Down
DROP INDEX refresh_tokens_expires_brin;
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
DROP INDEX revoked_access_tokens_expires_idx;
DROP INDEX revoked_families_expires_idx;
