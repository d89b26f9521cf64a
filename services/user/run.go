package user

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

// Migrations are the user service's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Run runs one user instance until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("user", getenv)
	if err != nil {
		return err
	}
	in, err := boot.Start(ctx, cfg, boot.Spec{Migrations: Migrations()}, stderr)
	if err != nil {
		return err
	}
	svc := NewService(in.DB, time.Now, NewAuthAccounts(in.RPC))
	in.Go(func(ctx context.Context) error {
		return in.Bus.Consume(ctx, registeredConsumer, svc.HandleUserRegistered)
	})
	return in.Run(ctx, NewHandler(svc, in.Log))
}
