package warehouse

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"

	"github.com/souk/souk/platform/boot"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the warehouse service's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// defaultConcurrency keeps event lag low at 500 orders/s: each handler is
// one short transaction, so eight in flight hide the commit latency.
const defaultConcurrency = 8

// Run runs one warehouse instance until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("warehouse", getenv)
	if err != nil {
		return err
	}
	concurrency, err := concurrencyFrom(cfg.Getenv("SOUK_WAREHOUSE_CONCURRENCY"))
	if err != nil {
		return err
	}
	in, err := boot.Start(ctx, cfg, boot.Spec{Migrations: Migrations(), Publishes: true}, stderr)
	if err != nil {
		return err
	}
	relay := in.Outbox()
	svc := NewService(in.DB, time.Now, relay.Notify)
	in.Go(func(ctx context.Context) error {
		return in.Bus.Consume(ctx, OrderPlacedConsumer(concurrency), svc.HandleOrderPlaced)
	})
	in.Go(pruneInbox(in.DB, time.Now, in.Log))
	return in.Run(ctx, NewHandler(svc, in.Log))
}

// concurrencyFrom parses SOUK_WAREHOUSE_CONCURRENCY.
func concurrencyFrom(v string) (int, error) {
	if v == "" {
		return defaultConcurrency, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 64 {
		return 0, fmt.Errorf("config: SOUK_WAREHOUSE_CONCURRENCY is %q, want 1 to 64", v)
	}
	return n, nil
}
