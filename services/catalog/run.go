package catalog

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"

	"github.com/souk/souk/platform/boot"
	"github.com/souk/souk/sampledata"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the catalog's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Run runs one catalog instance until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("catalog", getenv)
	if err != nil {
		return err
	}
	seed := true
	if v := cfg.Getenv("SOUK_CATALOG_SEED"); v != "" {
		if seed, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("config: SOUK_CATALOG_SEED is %q, want true or false", v)
		}
	}
	in, err := boot.Start(ctx, cfg, boot.Spec{Migrations: Migrations(), Publishes: true}, stderr)
	if err != nil {
		return err
	}
	relay := in.Outbox()
	svc := NewService(in.DB, time.Now, relay.Notify)
	if seed {
		// Before serving, so the instance never answers with a catalog
		// that is about to fill up.
		n, err := svc.Seed(ctx, sampledata.Products)
		if err != nil {
			return err
		}
		if n > 0 {
			in.Log.Info("seeded the sample catalog", "products", n)
		}
	}
	return in.Run(ctx, NewHandler(svc, in.Log))
}
