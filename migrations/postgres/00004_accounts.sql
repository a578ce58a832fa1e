-- +goose Up
-- An account's namespace is its user's: the foreign key is on both columns,
-- which needs a unique key on users (id, namespace_id) to point at.
CREATE UNIQUE INDEX users_id_namespace_idx ON users (id, namespace_id);
CREATE TABLE accounts (
    user_id               TEXT PRIMARY KEY,
    namespace_id          TEXT NOT NULL,
    password_hash         BYTEA NOT NULL,        -- bcrypt
    time_offset           INTEGER NOT NULL DEFAULT 0,
    created_at            TIMESTAMPTZ NOT NULL,
    last_authenticated_at TIMESTAMPTZ,
    FOREIGN KEY (user_id, namespace_id) REFERENCES users (id, namespace_id) ON DELETE CASCADE
);
-- describeAccounts pages a namespace's accounts by user ID.
CREATE INDEX accounts_namespace_user_idx ON accounts (namespace_id, user_id);

-- +goose Down
DROP TABLE accounts;
DROP INDEX users_id_namespace_idx;
