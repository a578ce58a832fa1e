-- +goose Up
-- GS2-Account takeovers are takeover links with a password (bcrypt) and a
-- revision that an update checks, so that of concurrent writes one wins.
ALTER TABLE takeover_links ADD COLUMN password_hash BYTEA;
ALTER TABLE takeover_links ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;

-- GS2-Account ban statuses: a user is banned while any release_at is ahead.
CREATE TABLE bans (
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    release_at   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, name)
);
CREATE INDEX bans_release_idx ON bans (release_at);

-- GS2-Auth federation policies, addressed by the SHA-256 of the document:
-- a federated token carries the hash, and one row serves every token of a
-- policy.
CREATE TABLE policies (
    hash       BYTEA PRIMARY KEY,
    document   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE policies;
DROP TABLE bans;
ALTER TABLE takeover_links DROP COLUMN revision;
ALTER TABLE takeover_links DROP COLUMN password_hash;
