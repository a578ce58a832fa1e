-- +goose Up
-- A client with no_create_users signs in only players who exist: an
-- identity no player has is refused instead of making a new player, so a
-- game can ask the player to sign in to their existing account first.
ALTER TABLE clients ADD COLUMN no_create_users INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE clients DROP COLUMN no_create_users;
