-- +goose Up
-- Issue 15: scheduled key rotation publishes the next key before it signs.
-- NULL: the key signs from created_at (every key made before this). Unix
-- milliseconds, as every time here.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER;

-- +goose Down
ALTER TABLE signing_keys DROP COLUMN activates_at;
