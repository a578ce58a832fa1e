package migrations

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
)

// Fingerprint returns a hex SHA-256 of the dialect's migration files, names
// and contents, in order: two schemas built from the same fingerprint are
// the same. Tests name a migrated template database after it
// (internal/testdb), so that a changed migration never reuses a stale one.
func Fingerprint(d Dialect) (string, error) {
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		return "", fmt.Errorf("migrations: %w", err)
	}
	names, err := fs.Glob(sub, "*.sql")
	if err != nil {
		return "", fmt.Errorf("migrations: %w", err)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("migrations: no files for dialect %q", d)
	}
	h := sha256.New()
	for _, name := range names { // fs.Glob sorts
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			return "", fmt.Errorf("migrations: %w", err)
		}
		// Length-prefixed, so that no two file sets hash alike by
		// moving bytes from one file to the next.
		fmt.Fprintf(h, "%d:%s\n%d:", len(name), name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
