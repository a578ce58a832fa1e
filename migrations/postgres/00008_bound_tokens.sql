-- +goose Up
-- Issue 13: clients that authenticate with private_key_jwt (jwks, jwks_uri),
-- that must prove possession with DPoP, and the resource servers (RFC 8707)
-- they may ask tokens for.
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '';

-- The resource a session's access tokens are for ('' for the client
-- itself), carried from the authorization request to its code and to every
-- refresh token of the family; and the DPoP key (RFC 7638 thumbprint) a
-- public client's refresh tokens are bound to ('' when unbound).
ALTER TABLE auth_requests ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN jkt TEXT NOT NULL DEFAULT '';

-- One-time values (a DPoP proof's jti under its key, a client assertion's
-- jti) kept until they could no longer be accepted anyway; every replica
-- sees them, so a replay is refused whichever replica it reaches.
CREATE TABLE used_once (
    key_hash   BYTEA PRIMARY KEY,   -- SHA-256 of the value
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX used_once_expires_idx ON used_once (expires_at);

-- Device authorization (RFC 8628): a console's pending sign-in, found by
-- the device code it polls with and by the user code the player types,
-- both stored hashed. status: pending, approved, denied, issued (its
-- tokens were handed out: the device code is spent).
CREATE TABLE device_codes (
    device_hash  BYTEA PRIMARY KEY,
    user_hash    BYTEA NOT NULL UNIQUE,
    client_id    TEXT NOT NULL,
    namespace_id TEXT NOT NULL,
    scope        TEXT NOT NULL,
    resource     TEXT NOT NULL,
    status       TEXT NOT NULL,
    user_id      TEXT NOT NULL DEFAULT '',
    auth_time    TIMESTAMPTZ,
    interval_ms  BIGINT NOT NULL,
    last_poll_at TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX device_codes_expires_idx ON device_codes (expires_at);
-- The device sign-in an authorization request is for: hex of the user
-- code's hash ('' for a client's own sign-in).
ALTER TABLE auth_requests ADD COLUMN device_code TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN device_code;
DROP TABLE device_codes;
DROP TABLE used_once;
ALTER TABLE refresh_tokens DROP COLUMN jkt;
ALTER TABLE refresh_tokens DROP COLUMN resource;
ALTER TABLE auth_codes DROP COLUMN resource;
ALTER TABLE auth_requests DROP COLUMN resource;
ALTER TABLE clients DROP COLUMN resources;
ALTER TABLE clients DROP COLUMN require_dpop;
ALTER TABLE clients DROP COLUMN jwks_uri;
ALTER TABLE clients DROP COLUMN jwks;
