package sqlstore

import "time"

// Times is how a backend keeps a time.Time in a column. Both backends give
// times back in UTC, and both keep the zero time ("not yet") as NULL in a
// nullable column.
type Times interface {
	// Arg is the query argument for t.
	Arg(t time.Time) any
	// Dest is a scan destination that sets *t from a NOT NULL column.
	Dest(t *time.Time) any
	// NullDest is a scan destination that sets *t from a nullable column,
	// NULL as the zero time.
	NullDest(t *time.Time) any
}

// Row is one result row: pgx.Row, pgx.CollectableRow, *sql.Row and
// *sql.Rows all are.
type Row interface {
	Scan(dest ...any) error
}

// Codec turns the broker's models into the arguments of an INSERT of their
// column list, and a row of that column list back into a model.
type Codec struct {
	Times Times
}

// nullTime is the argument for a nullable time column: NULL for the zero
// time.
func (c Codec) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return c.Times.Arg(t)
}

// NullBytes is the argument for a nullable blob column: NULL for a nil
// slice, which SQLite's driver would otherwise store as an empty blob
// (pgx already sends a nil slice as NULL).
func NullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
