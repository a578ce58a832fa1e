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
	return apply(ctx, db, d, func(p *goose.Provider) ([]*goose.MigrationResult, error) { return p.Up(ctx) })
}

// UpTo applies the pending migrations up to version, a file's number.
func UpTo(ctx context.Context, db *sql.DB, d Dialect, version int64) (int, error) {
	return apply(ctx, db, d, func(p *goose.Provider) ([]*goose.MigrationResult, error) { return p.UpTo(ctx, version) })
}

// DownTo undoes the migrations after version.
func DownTo(ctx context.Context, db *sql.DB, d Dialect, version int64) (int, error) {
	return apply(ctx, db, d, func(p *goose.Provider) ([]*goose.MigrationResult, error) { return p.DownTo(ctx, version) })
}

func apply(ctx context.Context, db *sql.DB, d Dialect, run func(*goose.Provider) ([]*goose.MigrationResult, error)) (int, error) {
	p, err := provider(db, d)
	if err != nil {
		return 0, err
	}
	res, err := run(p)
	if err != nil {
		return 0, fmt.Errorf("migrations: apply %s: %w", d, err)
	}
	return len(res), nil
}

func provider(db *sql.DB, d Dialect) (*goose.Provider, error) {
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
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
			return nil, fmt.Errorf("migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case SQLite:
		dialect = goose.DialectSQLite3
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", d)
	}
	p, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}
