// Package sqlstoretest runs a service's store tests against every database
// backend available: SQLite always, PostgreSQL when the environment variable
// SOUK_TEST_POSTGRES holds a DSN (for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); without it the
// "postgres" subtest is skipped with a message saying so.
//
// Each backend gets its own empty store per subtest: a SQLite file in
// t.TempDir, or a fresh PostgreSQL schema t_<random> reached through the
// DSN's search_path and dropped (CASCADE) when the subtest ends. Every call
// of open within one subtest opens another *sqlstore.DB on that same store,
// as another process of the same service would; each is closed at cleanup,
// before the schema is dropped.
//
//	//go:embed migrations/*.sql
//	var migrations embed.FS
//
//	func TestStore(t *testing.T) {
//		sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
//			db := open(migrations)
//			...
//		})
//	}
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/souk/souk/platform/sqlstore"
)

// EnvPostgres names the environment variable holding the PostgreSQL DSN
// the tests may use.
const EnvPostgres = "SOUK_TEST_POSTGRES"

// Each runs fn once per available backend, as t.Run("sqlite") and
// t.Run("postgres"). open opens the subtest's store with the given
// migrations (nil for none), fails the test if that fails, and must be
// called from the test's goroutine (use Backend.TryOpen elsewhere).
func Each(t *testing.T, fn func(t *testing.T, open func(migrations fs.FS) *sqlstore.DB)) {
	t.Helper()
	EachBackend(t, func(t *testing.T, b *Backend) {
		fn(t, func(migrations fs.FS) *sqlstore.DB {
			t.Helper()
			return b.Open(sqlstore.Options{Migrations: migrations})
		})
	})
}

// EachBackend is Each for tests that need more than open: other Options,
// opening from several goroutines, the DSN, the dialect before opening.
func EachBackend(t *testing.T, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	each(t, fn)
}

// Bench is EachBackend for benchmarks: b.Run("sqlite") and
// b.Run("postgres").
func Bench(b *testing.B, fn func(b *testing.B, be *Backend)) {
	b.Helper()
	each(b, fn)
}

// runner is *testing.T or *testing.B.
type runner[T any] interface {
	testing.TB
	Run(name string, f func(T)) bool
}

func each[T runner[T]](t T, fn func(T, *Backend)) {
	t.Run("sqlite", func(t T) {
		fn(t, &Backend{
			tb:      t,
			DSN:     filepath.Join(t.TempDir(), "db", "test.sqlite"),
			Dialect: sqlstore.SQLite,
		})
	})
	t.Run("postgres", func(t T) {
		base := os.Getenv(EnvPostgres)
		if base == "" {
			t.Skipf("PostgreSQL backend not tested: set %s to a DSN such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable", EnvPostgres)
		}
		fn(t, &Backend{tb: t, DSN: Schema(t, base), Dialect: sqlstore.Postgres})
	})
}

// Backend is one store of one subtest.
type Backend struct {
	tb testing.TB
	// DSN opens the store: a SQLite file path (its folder not yet created)
	// or a PostgreSQL URL whose search_path is the subtest's schema.
	DSN string
	// Dialect is the store's engine.
	Dialect sqlstore.Dialect
}

// Open opens the store with opts, filling in DSN, and Name ("test") and
// Logger (warnings to the test's output) when empty. It fails the test if
// Open fails, so call it from the test's goroutine only. The DB is closed
// when the test ends.
func (b *Backend) Open(opts sqlstore.Options) *sqlstore.DB {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := b.TryOpen(ctx, opts)
	if err != nil {
		b.tb.Fatal(err)
	}
	return db
}

// TryOpen is Open returning the error instead of failing the test; it may be
// called from any goroutine. A DB it returns is closed when the test ends.
func (b *Backend) TryOpen(ctx context.Context, opts sqlstore.Options) (*sqlstore.DB, error) {
	opts.DSN = b.DSN
	if opts.Name == "" {
		opts.Name = "test"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(b.tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	db, err := sqlstore.Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", opts.Name, err)
	}
	// Registered after Schema's cleanup, so it runs first: the schema is
	// dropped once every pool on it is closed.
	b.tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.tb.Errorf("close %s store: %v", opts.Name, err)
		}
	})
	return db, nil
}

// Schema creates a fresh schema t_<random> on the PostgreSQL server at
// base, drops it (CASCADE) when t ends, and returns base with search_path
// set to it.
func Schema(t testing.TB, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
