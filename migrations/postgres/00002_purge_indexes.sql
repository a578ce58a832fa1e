-- +goose Up
-- The janitor deletes by expiry; without these it scans both tables.
CREATE INDEX revoked_families_expires_idx ON revoked_families (expires_at);
CREATE INDEX revoked_access_tokens_expires_idx ON revoked_access_tokens (expires_at);

-- +goose Down
DROP INDEX revoked_access_tokens_expires_idx;
DROP INDEX revoked_families_expires_idx;
