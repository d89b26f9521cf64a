package sqlstoretest_test

import (
	"database/sql"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"testing/fstest"

	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

var schema = fstest.MapFS{"0001.sql": {Data: []byte(`CREATE TABLE notes (id TEXT NOT NULL PRIMARY KEY);`)}}

func TestOpensShareOneStorePerSubtest(t *testing.T) {
	var dialects []sqlstore.Dialect
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		a, b := open(schema), open(schema)
		dialects = append(dialects, a.Dialect())
		if _, err := a.Exec(t.Context(), `INSERT INTO notes (id) VALUES ('n1')`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := b.QueryRow(t.Context(), `SELECT COUNT(*) FROM notes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("second DB sees %d rows, want 1", n)
		}
	})
	want := 1
	if os.Getenv(sqlstoretest.EnvPostgres) != "" {
		want = 2
	}
	if len(dialects) != want || dialects[0] != sqlstore.SQLite {
		t.Errorf("backends run = %v, want %d starting with sqlite", dialects, want)
	}
}

func TestSubtestsAreIsolated(t *testing.T) {
	for range 2 {
		sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
			db := open(schema)
			// Fails with a unique violation if the store were shared.
			if _, err := db.Exec(t.Context(), `INSERT INTO notes (id) VALUES ('same')`); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSchemaIsDroppedAtCleanup(t *testing.T) {
	base := os.Getenv(sqlstoretest.EnvPostgres)
	if base == "" {
		t.Skipf("needs PostgreSQL: set %s", sqlstoretest.EnvPostgres)
	}
	var schemaName string
	t.Run("inner", func(t *testing.T) {
		u, err := url.Parse(sqlstoretest.Schema(t, base))
		if err != nil {
			t.Fatal(err)
		}
		schemaName = u.Query().Get("search_path")
	})
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1`, schemaName).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if schemaName == "" || n != 0 {
		t.Errorf("schema %q: %d left after the test, want 0", schemaName, n)
	}
}
