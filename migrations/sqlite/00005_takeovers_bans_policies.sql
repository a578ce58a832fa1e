-- +goose Up
-- GS2-Account takeovers are takeover links with a password (bcrypt) and a
-- revision that an update checks, so that of concurrent writes one wins.
ALTER TABLE takeover_links ADD COLUMN password_hash BLOB;
ALTER TABLE takeover_links ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;

-- GS2-Account ban statuses: a user is banned while any release_at is ahead.
CREATE TABLE bans (
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    release_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, name)
);
CREATE INDEX bans_release_idx ON bans (release_at);

-- GS2-Auth federation policies, addressed by the SHA-256 of the document:
-- a federated token carries the hash, and one row serves every token of a
-- policy.
CREATE TABLE policies (
    hash       BLOB PRIMARY KEY,
    document   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE policies;
DROP TABLE bans;
ALTER TABLE takeover_links DROP COLUMN revision;
ALTER TABLE takeover_links DROP COLUMN password_hash;
