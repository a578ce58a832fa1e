-- +goose Up
-- Issue 15: scheduled key rotation publishes the next key before it signs.
-- NULL: the key signs from created_at (every key made before this).
ALTER TABLE signing_keys ADD COLUMN activates_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE signing_keys DROP COLUMN activates_at;
