// Package sqlite is the embedded broker.Store: one database file, pure Go
// (modernc.org/sqlite, no cgo), for `make run`, demos and single-box studios.
//
// The file is in WAL mode with synchronous=FULL, so a commit that returned is
// on disk. SQLite allows one writer at a time; rather than let connections
// race for the lock and fail with SQLITE_BUSY, every write and every
// transaction goes through a pool of exactly one connection, and transactions
// begin IMMEDIATE so they take the write lock up front instead of upgrading
// (and possibly deadlocking) midway. Plain reads use a separate pool and run
// beside the writer, which WAL allows.
//
// Times are Unix milliseconds and lists are space-separated, matching
// migrations/sqlite.
package sqlite
