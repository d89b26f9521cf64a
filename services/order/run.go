package order

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/souk/souk/platform/boot"
	"github.com/souk/souk/platform/events"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the order service's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Run runs one order instance until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("order", getenv)
	if err != nil {
		return err
	}
	durations := map[string]*time.Duration{}
	checkout, lease, recovery := 3*time.Second, 10*time.Second, 2*time.Second
	durations["SOUK_ORDER_CHECKOUT_TIMEOUT"] = &checkout
	durations["SOUK_ORDER_LEASE"] = &lease
	durations["SOUK_ORDER_RECOVERY_INTERVAL"] = &recovery
	for key, d := range durations {
		if v := getenv(key); v != "" {
			if *d, err = time.ParseDuration(v); err != nil || *d <= 0 {
				return fmt.Errorf("%s: want a positive duration like 3s, got %q", key, v)
			}
		}
	}
	in, err := boot.Start(ctx, cfg, boot.Spec{Migrations: Migrations(), Publishes: true}, stderr)
	if err != nil {
		return err
	}
	relay := in.RelayFrom(Source{db: in.DB})
	clients := Clients{RPC: in.RPC}
	svc := NewService(Options{
		DB: in.DB, Catalog: clients, Inventory: clients, Payments: clients,
		Log: in.Log, Faults: in.Faults, Notify: relay.Notify,
		CheckoutTimeout: checkout, Lease: lease,
	})
	in.Go(svc.RecoverLoop(recovery))
	in.Go(func(ctx context.Context) error {
		return in.Bus.Consume(ctx, events.ConsumerConfig{Durable: "order-shipped", Stream: "warehouse", Subject: "warehouse.order_shipped"}, svc.HandleShipped)
	})
	err = in.Run(ctx, NewHandler(svc, in.Log))
	svc.Wait()
	return err
}
