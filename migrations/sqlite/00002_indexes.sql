-- +goose Up
-- The janitor deletes by expiry; without these it scans both tables.
CREATE INDEX revoked_families_expires_idx ON revoked_families (expires_at);
CREATE INDEX revoked_access_tokens_expires_idx ON revoked_access_tokens (expires_at);
-- Family revocation lives in revoked_families; nothing looks refresh tokens
-- up by family, and every login and rotation paid for this index.
DROP INDEX refresh_tokens_family_idx;

-- +goose Down
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
DROP INDEX revoked_access_tokens_expires_idx;
DROP INDEX revoked_families_expires_idx;
