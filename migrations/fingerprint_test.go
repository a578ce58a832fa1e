package migrations

import "testing"

func TestFingerprint(t *testing.T) {
	pg, err := Fingerprint(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := Fingerprint(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != 64 || len(lite) != 64 || pg == lite {
		t.Errorf("Fingerprint: postgres %q, sqlite %q; want two different SHA-256 hex strings", pg, lite)
	}
	if again, err := Fingerprint(Postgres); err != nil || again != pg {
		t.Errorf("Fingerprint(postgres) again: %q, %v; want %q", again, err, pg)
	}
	if _, err := Fingerprint("oracle"); err == nil {
		t.Errorf("Fingerprint of an unknown dialect: got nil error")
	}
}
