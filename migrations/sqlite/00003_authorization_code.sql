-- +goose Up
CREATE TABLE auth_requests (
    hash           BLOB PRIMARY KEY,     -- SHA-256 of the request ID (the upstream state)
    client_id      TEXT NOT NULL,
    namespace_id   TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    state          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    provider       TEXT NOT NULL,
    link_user_id   TEXT NOT NULL,         -- '' unless linking
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX auth_requests_expires_idx ON auth_requests (expires_at);

CREATE TABLE auth_codes (
    hash           BLOB PRIMARY KEY,     -- SHA-256 of the code
    client_id      TEXT NOT NULL,
    namespace_id   TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    family_id      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX auth_codes_expires_idx ON auth_codes (expires_at);

-- +goose Down
DROP TABLE auth_codes;
DROP TABLE auth_requests;
