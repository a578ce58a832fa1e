// Package migrations holds the versioned SQL schema of each dialect, embedded
// in the binary, and applies it with goose (one transaction per file).
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names a schema folder.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Up applies every pending migration of the dialect and reports how many ran.
func Up(ctx context.Context, db *sql.DB, d Dialect) (int, error) {
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	var (
		dialect goose.Dialect
		opts    = []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	)
	switch d {
	case Postgres:
		dialect = goose.DialectPostgres
		// Replicas starting together must not migrate at once.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return 0, fmt.Errorf("migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case SQLite:
		dialect = goose.DialectSQLite3
	default:
		return 0, fmt.Errorf("migrations: unknown dialect %q", d)
	}
	p, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: apply %s: %w", d, err)
	}
	return len(res), nil
}
