-- +goose Up
-- Times are Unix milliseconds (INTEGER); booleans are 0/1.
CREATE TABLE namespaces (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE clients (
    id            TEXT PRIMARY KEY,
    namespace_id  TEXT NOT NULL REFERENCES namespaces(id),
    name          TEXT NOT NULL,
    secret_hash   BLOB,
    public        INTEGER NOT NULL,
    grants        TEXT NOT NULL,          -- space-separated grant_type values
    scopes        TEXT NOT NULL,          -- space-separated
    redirect_uris TEXT NOT NULL,          -- space-separated (a URI holds no space)
    access_ttl_ms  INTEGER NOT NULL,
    refresh_ttl_ms INTEGER NOT NULL,
    custom_id_slot INTEGER NOT NULL CHECK (custom_id_slot BETWEEN 0 AND 1024),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    namespace_id TEXT NOT NULL REFERENCES namespaces(id),
    created_at   INTEGER NOT NULL
);

CREATE TABLE takeover_links (
    namespace_id TEXT NOT NULL,
    slot         INTEGER NOT NULL CHECK (slot BETWEEN 0 AND 1024),
    identifier   TEXT NOT NULL CHECK (length(identifier) BETWEEN 1 AND 1024),
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, slot, identifier),
    UNIQUE (user_id, slot)
);

CREATE TABLE refresh_tokens (
    hash         BLOB PRIMARY KEY,       -- SHA-256 of the opaque token
    family_id    TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    namespace_id TEXT NOT NULL,
    scope        TEXT NOT NULL,
    time_offset  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    spent_at     INTEGER
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

CREATE TABLE revoked_families (
    family_id  TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    id            TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    sealed        BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER,
    publish_until INTEGER
);

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE revoked_access_tokens;
DROP TABLE revoked_families;
DROP TABLE refresh_tokens;
DROP TABLE takeover_links;
DROP TABLE users;
DROP TABLE clients;
DROP TABLE namespaces;
