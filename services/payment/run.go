package payment

import (
	"context"
	"embed"
	"io"
	"io/fs"
	"time"

	"github.com/souk/souk/platform/boot"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the payment service's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Run runs one payment instance until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("payment", getenv)
	if err != nil {
		return err
	}
	in, err := boot.Start(ctx, cfg, boot.Spec{Migrations: Migrations(), Publishes: true}, stderr)
	if err != nil {
		return err
	}
	relay := in.Outbox()
	svc := NewService(in.DB, time.Now, relay.Notify)
	return in.Run(ctx, NewHandler(svc, in.Log))
}
