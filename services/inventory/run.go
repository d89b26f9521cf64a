package inventory

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/souk/souk/platform/boot"
	"github.com/souk/souk/sampledata"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the inventory service's schema.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Defaults of the service's settings (see the package doc).
const (
	DefaultReservationTTL = 2 * time.Minute
	DefaultSweepInterval  = 5 * time.Second
)

// expireBatch bounds one expiry transaction, so a backlog of expired
// reservations never holds SQLite's write lock for long.
const expireBatch = 50

// Run runs one inventory instance until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("inventory", getenv)
	if err != nil {
		return err
	}
	ttl, err := durationSetting(cfg.Getenv, "SOUK_INVENTORY_RESERVATION_TTL", DefaultReservationTTL)
	if err != nil {
		return err
	}
	sweep, err := durationSetting(cfg.Getenv, "SOUK_INVENTORY_SWEEP_INTERVAL", DefaultSweepInterval)
	if err != nil {
		return err
	}
	seed := true
	if v := cfg.Getenv("SOUK_INVENTORY_SEED"); v != "" {
		if seed, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("config: SOUK_INVENTORY_SEED is %q, want true or false", v)
		}
	}
	in, err := boot.Start(ctx, cfg, boot.Spec{Migrations: Migrations()}, stderr)
	if err != nil {
		return err
	}
	svc := NewService(in.DB, time.Now, ttl)
	if seed {
		if err := svc.Seed(ctx, SampleStock()); err != nil {
			return err
		}
	}
	in.Go(func(ctx context.Context) error { return expireEvery(ctx, svc, sweep, in.Log) })
	in.Go(func(ctx context.Context) error {
		return in.Bus.Consume(ctx, orderCancelledConsumer(), svc.OrderCancelledHandler(in.Log))
	})
	return in.Run(ctx, NewHandler(svc, in.Log))
}

// SampleStock is the initial stock of the sample catalog.
func SampleStock() []InitialStock {
	out := make([]InitialStock, len(sampledata.Products))
	for i, p := range sampledata.Products {
		out[i] = InitialStock{ProductID: p.ID, Quantity: p.InitialStock}
	}
	return out
}

// expireEvery releases expired reservations every interval until ctx ends.
// A failed sweep is logged and tried again next time: a database hiccup
// must not restart the instance, and the reservations wait meanwhile.
func expireEvery(ctx context.Context, svc *Service, every time.Duration, log *slog.Logger) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for {
			n, err := svc.ExpireDue(ctx, expireBatch)
			if err != nil {
				if ctx.Err() == nil {
					log.WarnContext(ctx, "expiry sweep failed", "err", err)
				}
				break
			}
			if n > 0 {
				log.InfoContext(ctx, "reservations expired", "count", n)
			}
			if n < expireBatch {
				break
			}
		}
	}
}

func durationSetting(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("config: %s is %q, want a positive duration such as 2m", name, v)
	}
	return d, nil
}
