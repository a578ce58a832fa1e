// Package postgres is the production broker.Store, on PostgreSQL through
// pgx and pgxpool.
//
// Stateless broker replicas share one database, so every invariant the
// broker relies on is enforced by the database in a single statement: a
// refresh token is spent by one conditional UPDATE that also inserts its
// successor, which is atomic under READ COMMITTED without retries, and
// duplicates are refused by unique constraints, not by read-then-write. The
// hot paths (GetClient, GetLink, CreateRefreshToken, RotateRefreshToken) are
// one round trip each, with statements prepared once per connection by pgx's
// statement cache. A returning player's login (CreateRefreshTokenByLink)
// shares its statement and commit with the logins queued beside it
// (logins.go), since the statement, not the row, is most of its cost.
package postgres
