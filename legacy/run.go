package legacy

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/telemetry"
	"github.com/souk/souk/sampledata"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the monolith's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// ShutdownTimeout bounds how long Run waits for requests in flight once
// asked to stop.
const ShutdownTimeout = 10 * time.Second

// Config is how the monolith runs.
type Config struct {
	// Addr is the listen address, host:port; port 0 picks a free one (the
	// startup line names it).
	Addr string
	// DataDir holds the SQLite database, legacy.db, unless DatabaseURL is
	// set.
	DataDir string
	// DatabaseURL, when set, is a postgres:// DSN used instead of SQLite.
	DatabaseURL string
	// LogLevel is debug, info (default), warn or error; at debug every
	// request is logged.
	LogLevel string
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr %q: want host:port", c.Addr)
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		return errors.New("data: a data folder is required (or a database URL)")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return errors.New("database: want a postgres:// or postgresql:// URL")
	}
	return nil
}

// Run opens (and on first start seeds) the database, serves the monolith on
// cfg.Addr until ctx is done, then shuts down gracefully. It prints one
// line to stdout once it accepts connections, "souk legacy: serving
// http://ADDR ...", and one when it stops; logs go to stderr as JSON.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := telemetry.NewLogger(stderr, telemetry.ParseLevel(cfg.LogLevel), "legacy", "legacy")
	dsn, where := cfg.DatabaseURL, "PostgreSQL"
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "legacy.db")
		where = dsn
	}
	db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: dsn, Name: "legacy", Migrations: Migrations(), Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	store := NewStore(db)
	n, err := store.Seed(ctx, sampledata.Products)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("seeded the legacy database", "products", n)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           NewHandler(store, log, slog.LevelDebug),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		// Longer than the gateway's 30 s, so the gateway closes an idle
		// pooled connection before the monolith would (see the package
		// documentation).
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "souk legacy: serving http://%s (the legacy monolith: one process, database %s)\n", ln.Addr(), where)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "souk legacy: stopping")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	fmt.Fprintln(stdout, "souk legacy: stopped")
	return nil
}
