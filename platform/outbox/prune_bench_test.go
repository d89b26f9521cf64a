package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

// BenchmarkPrune: the once-a-minute Prune of an outbox holding an hour of
// published events (50,000 rows, none past the retention yet), which is
// what it finds under steady load. It holds the service's write lock while
// it runs.
func BenchmarkPrune(b *testing.B) {
	sqlstoretest.Bench(b, func(b *testing.B, be *sqlstoretest.Backend) {
		db := be.Open(sqlstore.Options{})
		ctx := context.Background()
		now := time.Now()
		const rows = 50_000
		for i := 0; i < rows; i += 1000 {
			evs := make([]events.Event, 0, 1000)
			for j := range 1000 {
				evs = append(evs, newEvent(b, fmt.Sprintf("k-%d", i+j)))
			}
			add(b, ctx, db, evs...)
		}
		if _, err := db.Exec(ctx, `UPDATE outbox SET published_at = ?`, now.Add(-time.Minute).UnixMilli()); err != nil {
			b.Fatal(err)
		}
		tbl := outbox.Table{DB: db}
		b.ResetTimer()
		for b.Loop() {
			if err := tbl.Prune(ctx, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
