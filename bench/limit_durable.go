package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Grant types and parameters of the wire contract being measured.
const (
	grantClientCredentials = "client_credentials"
	grantRefreshToken      = "refresh_token"
	grantServerCustomID    = "urn:bridgekeeper:params:oauth:grant-type:server_custom_id"
	paramServerCustomID    = "server_custom_id"
)

// paramIssueRefresh asks LimitDurable's custom-ID login to also store and
// return a refresh token. Only the refresh scenario's untimed seeding sends
// it: the measured custom-ID login is the one upsert the spec names, and the
// refresh chains still need a first token to rotate.
const paramIssueRefresh = "limit_issue_refresh_token"

// limitSchema is LimitDurable's own tables, prefixed so they can never be
// mistaken for the broker's. Secrets are stored only as SHA-256 hashes, as
// the broker stores them.
const limitSchema = `
CREATE TABLE IF NOT EXISTS limit_users (
    hash       BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_login TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS limit_refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at   TIMESTAMPTZ
);`

// upsertUserSQL is a custom-ID login's whole durable work: create the user on
// first sight, else touch last_login; either way one statement, one commit.
const upsertUserSQL = `
INSERT INTO limit_users (hash, user_id, created_at, last_login) VALUES ($1, $2, $3, $3)
ON CONFLICT (hash) DO UPDATE SET last_login = EXCLUDED.last_login
RETURNING user_id`

// upsertUserIssueSQL is upsertUserSQL plus storing a first refresh token, in
// the same statement; used only to seed refresh chains.
const upsertUserIssueSQL = `
WITH u AS (
    INSERT INTO limit_users (hash, user_id, created_at, last_login) VALUES ($1, $2, $3, $3)
    ON CONFLICT (hash) DO UPDATE SET last_login = EXCLUDED.last_login
    RETURNING user_id
)
INSERT INTO limit_refresh_tokens (hash, user_id, created_at, expires_at)
SELECT $4, user_id, $3, $5 FROM u
RETURNING user_id`

// rotateSQL spends the presented refresh token and stores its successor in
// one statement, so one implicit transaction. The row lock taken by UPDATE
// makes a concurrent second spend re-check spent_at and find nothing, so a
// token is spent once (RFC 9700 §4.14.2 rotation) without an explicit
// transaction's extra round trips.
const rotateSQL = `
WITH spent AS (
    UPDATE limit_refresh_tokens SET spent_at = $2
    WHERE hash = $1 AND spent_at IS NULL AND expires_at > $2
    RETURNING user_id
)
INSERT INTO limit_refresh_tokens (hash, user_id, created_at, expires_at)
SELECT $3, user_id, $2, $4 FROM spent
RETURNING user_id`

// LimitDurable is the ceiling for the grants that must write to PostgreSQL:
// server_custom_id logins and refresh_token rotation (RFC 6749 §6). It does
// LimitCPU's work plus the least durable work that gives the same answer.
type LimitDurable struct {
	*limitCore
	pool *pgxpool.Pool
}

var _ http.Handler = (*LimitDurable)(nil)

// NewLimitDurable creates the limit_ tables if they are missing and returns
// the durable limit server's handler. The pool stays the caller's.
func NewLimitDurable(ctx context.Context, pool *pgxpool.Pool, cfg LimitConfig) (*LimitDurable, error) {
	core, err := newLimitCore(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, limitSchema); err != nil {
		return nil, fmt.Errorf("create limit tables: %w", err)
	}
	l := &LimitDurable{limitCore: core, pool: pool}
	core.grants[grantServerCustomID] = l.customID
	core.grants[grantRefreshToken] = l.refresh
	return l, nil
}

// customID logs in the user that server_custom_id names, creating it on
// first sight.
func (l *LimitDurable) customID(ctx context.Context, form url.Values, now time.Time) (*tokenResponse, error) {
	id := form.Get(paramServerCustomID)
	if id == "" || len(id) > 1024 {
		return nil, badRequest("invalid_request", "server_custom_id must be 1 to 1024 characters")
	}
	idHash := sha256.Sum256([]byte(id))
	var userID, refresh string
	var err error
	if form.Get(paramIssueRefresh) == "1" {
		var rtHash []byte
		refresh, rtHash = newRefreshToken()
		err = l.pool.QueryRow(ctx, upsertUserIssueSQL,
			idHash[:], rand.Text(), now, rtHash, now.Add(l.cfg.RefreshTTL)).Scan(&userID)
	} else {
		err = l.pool.QueryRow(ctx, upsertUserSQL, idHash[:], rand.Text(), now).Scan(&userID)
	}
	if err != nil {
		return nil, fmt.Errorf("upsert user: %w", err)
	}
	return l.issue(userID, refresh, now)
}

// refresh spends the presented refresh token and issues its successor.
func (l *LimitDurable) refresh(ctx context.Context, form url.Values, now time.Time) (*tokenResponse, error) {
	old := form.Get("refresh_token")
	if old == "" {
		return nil, badRequest("invalid_request", "refresh_token is required")
	}
	oldHash := sha256.Sum256([]byte(old))
	next, nextHash := newRefreshToken()
	var userID string
	err := l.pool.QueryRow(ctx, rotateSQL, oldHash[:], now, nextHash, now.Add(l.cfg.RefreshTTL)).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, badRequest("invalid_grant", "refresh token is invalid, expired or spent")
	}
	if err != nil {
		return nil, fmt.Errorf("rotate refresh token: %w", err)
	}
	return l.issue(userID, next, now)
}

// issue signs the access token for a user and builds the answer.
func (l *LimitDurable) issue(userID, refresh string, now time.Time) (*tokenResponse, error) {
	tok, exp, err := l.sign(userID, userID, "", now)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{
		AccessToken:  tok,
		TokenType:    "Bearer",
		ExpiresIn:    int64(l.cfg.AccessTTL / time.Second),
		RefreshToken: refresh,
		UserID:       userID,
		Expire:       exp.Unix(),
	}, nil
}

// newRefreshToken returns an opaque 256-bit token and its stored SHA-256 hash.
func newRefreshToken() (string, []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(tok))
	return tok, h[:]
}
