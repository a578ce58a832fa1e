-- +goose Up
-- Xsolla-style user attributes: upserted by each login, except that a
-- read_only attribute keeps its first value.
CREATE TABLE user_attributes (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,            -- JSON
    attr_type  TEXT NOT NULL CHECK (attr_type IN ('client', 'server')),
    permission TEXT NOT NULL CHECK (permission IN ('private', 'public')),
    read_only  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- The Xsolla user profile's nickname, carried in the user's tokens.
ALTER TABLE users ADD COLUMN nickname TEXT;

-- with_logout=1 ends the user's earlier sessions: refresh tokens created
-- at or before logged_out_at stop rotating, and access tokens issued at or
-- before it (whole seconds, as JWT iat) are inactive, except keep_jti, the
-- token the logout itself issued.
CREATE TABLE user_logouts (
    user_id       TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    logged_out_at INTEGER NOT NULL,
    keep_jti      TEXT NOT NULL
);

-- Requests per second a client may make to the rate-limited endpoints;
-- 0 means unlimited.
ALTER TABLE clients ADD COLUMN rate_limit REAL NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE clients DROP COLUMN rate_limit;
DROP TABLE user_logouts;
ALTER TABLE users DROP COLUMN nickname;
DROP TABLE user_attributes;
