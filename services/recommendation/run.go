package recommendation

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

// Migrations are the recommendation service's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// defaultConcurrency lets a few orders' transactions overlap; they are
// short, and on SQLite they queue for the one writer anyway.
const defaultConcurrency = 4

// Run runs one recommendation instance until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("recommendation", getenv)
	if err != nil {
		return err
	}
	concurrency, err := concurrencyFrom(cfg.Getenv("SOUK_RECOMMENDATION_CONCURRENCY"))
	if err != nil {
		return err
	}
	in, err := boot.Start(ctx, cfg, boot.Spec{Migrations: Migrations()}, stderr)
	if err != nil {
		return err
	}
	svc := NewService(in.DB)
	in.Go(func(ctx context.Context) error {
		return in.Bus.Consume(ctx, OrdersConsumer(concurrency), svc.HandleOrderPlaced)
	})
	in.Go(pruneInbox(in.DB, time.Now, in.Log))
	return in.Run(ctx, NewHandler(svc, in.Log))
}

// concurrencyFrom parses SOUK_RECOMMENDATION_CONCURRENCY.
func concurrencyFrom(v string) (int, error) {
	if v == "" {
		return defaultConcurrency, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 64 {
		return 0, fmt.Errorf("config: SOUK_RECOMMENDATION_CONCURRENCY is %q, want 1 to 64", v)
	}
	return n, nil
}
