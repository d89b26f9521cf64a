package search

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/events"
)

// The feed runs on an embedded server only: the stream and consumer names
// are the production ones, which a shared server must not see from tests.
func TestFeedReachesEveryInstanceAndReplaysIntoANewIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	nc, js, err := broker.Connect(ctx, brokertest.Embedded(t), "search-test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bus := events.NewBus(nc, js, events.Options{Logger: log})
	if err := bus.EnsureStream(ctx, "catalog"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Product{
		{ID: "p1", Name: "Blue Mug", PriceCents: 1000, Currency: "EUR", Version: 1},
		{ID: "p2", Name: "Walnut Board", PriceCents: 5000, Currency: "EUR", Version: 1},
		{ID: "p1", Name: "Green Teapot", PriceCents: 3000, Currency: "EUR", Version: 2},
	} {
		typ := EventProductCreated
		if p.Version > 1 {
			typ = EventProductUpdated
		}
		if err := bus.Publish(ctx, productEvent(t, typ, p)); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	// run feeds the index at path as instance until it holds the final
	// state and every event is acked, and returns the index, still open.
	run := func(instance, path string) *Index {
		t.Helper()
		idx, err := OpenIndex(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		cfg := ConsumerConfig(instance)
		if err := resetFeed(ctx, js, idx, cfg.Durable); err != nil {
			t.Fatal(err)
		}
		svc := NewService(idx)
		cctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- bus.Consume(cctx, cfg, svc.HandleCatalogEvent) }()
		defer func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("consume: %v", err)
			}
		}()
		for {
			teapot, _ := svc.Search(ctx, "teapot", 5)
			board, _ := svc.Search(ctx, "walnut", 5)
			cons, err := js.Consumer(ctx, events.StreamOf("catalog"), cfg.Durable)
			if len(teapot) == 1 && len(board) == 1 && err == nil && cons.CachedInfo().AckFloor.Stream == 3 {
				return idx
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: index incomplete: teapot %v, walnut %v", instance, teapot, board)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Two instances, each with its own durable, both see every event.
	a := run("search-a", filepath.Join(dir, "a", "index.bleve"))
	run("search-b", filepath.Join(dir, "b", "index.bleve"))

	// A restart with the same index keeps the durable and its position.
	if err := resetFeed(ctx, js, a, ConsumerConfig("search-a").Durable); err != nil {
		t.Fatal(err)
	}
	info, err := js.Consumer(ctx, events.StreamOf("catalog"), "search-products-search-a")
	if err != nil {
		t.Fatalf("durable of a after a restart: %v", err)
	}
	if info.CachedInfo().AckFloor.Stream != 3 {
		t.Errorf("durable of a acked up to %d, want 3", info.CachedInfo().AckFloor.Stream)
	}

	// A lost index (a new one under the same instance name) replays the
	// stream from its start through the reset durable.
	run("search-a", filepath.Join(dir, "a2", "index.bleve"))
	if _, err := js.Consumer(ctx, events.StreamOf("catalog"), "search-products-search-a"); err != nil {
		t.Errorf("durable after replay: %v", err)
	}
}

type fakeDeleter struct{ err error }

func (f fakeDeleter) DeleteConsumer(context.Context, string, string) error { return f.err }

func TestResetFeedToleratesMissingDurable(t *testing.T) {
	for _, missing := range []error{jetstream.ErrConsumerNotFound, jetstream.ErrStreamNotFound} {
		svc, _ := newService(t)
		if err := resetFeed(context.Background(), fakeDeleter{missing}, svc.idx, "d"); err != nil {
			t.Errorf("delete answering %v: %v", missing, err)
		}
		if d, _ := svc.idx.Durable(); d != "d" {
			t.Errorf("durable = %q, want d", d)
		}
	}
	svc, _ := newService(t)
	if err := resetFeed(context.Background(), fakeDeleter{jetstream.ErrConnectionClosed}, svc.idx, "d"); err == nil {
		t.Error("a broker error was ignored")
	}
	if d, _ := svc.idx.Durable(); d != "" {
		t.Errorf("durable = %q after a failed reset, want none", d)
	}
}
