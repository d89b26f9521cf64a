package search

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/boot"
	"github.com/souk/souk/platform/rpc"
)

// Run runs one search instance until ctx is done.
func Run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := boot.ConfigFromEnv("search", getenv)
	if err != nil {
		return err
	}
	// No migrations: the index is the service's database.
	in, err := boot.Start(ctx, cfg, boot.Spec{}, stderr)
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.DataDir, "search", safeName(cfg.Instance), "index.bleve")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("start search: %w", err)
	}
	idx, err := OpenIndex(path)
	if err != nil {
		return fmt.Errorf("start search: %w", err)
	}
	defer idx.Close()
	consumer := ConsumerConfig(cfg.Instance)
	if err := resetFeed(ctx, in.JS, idx, consumer.Durable); err != nil {
		return fmt.Errorf("start search: %w", err)
	}
	svc := NewService(idx)
	in.Metrics.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "souk_search_cache_hits_total",
			Help: "Searches answered from the result cache.",
		}, func() float64 { h, _ := idx.CacheStats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "souk_search_cache_misses_total",
			Help: "Searches that queried the index (and cached the result).",
		}, func() float64 { _, m := idx.CacheStats(); return float64(m) }),
	)
	in.Go(func(ctx context.Context) error { return in.Bus.Consume(ctx, consumer, svc.HandleCatalogEvent) })
	in.Go(func(ctx context.Context) error { return backfill(ctx, svc, catalogPages(in.RPC), in.Log) })
	return in.Run(ctx, NewHandler(svc, in.Log))
}

// backfill runs svc.Backfill until it succeeds or ctx ends, waiting longer
// after each failure (the catalog may be starting, or down for a while).
func backfill(ctx context.Context, svc *Service, page PageFunc, log *slog.Logger) error {
	wait := time.Second
	for {
		n, err := svc.Backfill(ctx, page)
		if err == nil {
			if n > 0 {
				log.Info("copied the catalog into a new index", "products", n)
			}
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("catalog backfill failed; retrying", "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// catalogPages reads the catalog's public product list through the RPC
// client, 100 products a page.
func catalogPages(c *rpc.Client) PageFunc {
	return func(ctx context.Context, cursor string) ([]Product, string, error) {
		var page struct {
			Items      []Product `json:"items"`
			NextCursor string    `json:"next_cursor"`
		}
		q := url.Values{"limit": {strconv.Itoa(MaxLimit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		err := c.Do(ctx, "catalog", rpc.Call{Method: "GET", Path: "/api/v1/products", Query: q, Idempotent: true}, &page)
		return page.Items, page.NextCursor, err
	}
}
