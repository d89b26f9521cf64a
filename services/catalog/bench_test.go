package catalog

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
	"github.com/souk/souk/sampledata"
)

// BenchmarkGetProduct measures a product page read through the handler,
// from parallel clients: the number that decides whether the catalog needs
// a cache in front of its database.
func BenchmarkGetProduct(b *testing.B) {
	sqlstoretest.Bench(b, func(b *testing.B, be *sqlstoretest.Backend) {
		db := be.Open(sqlstore.Options{Migrations: Migrations()})
		svc := NewService(db, time.Now, nil)
		if _, err := svc.Seed(context.Background(), sampledata.Products); err != nil {
			b.Fatal(err)
		}
		h := NewHandler(svc, slog.New(slog.DiscardHandler))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/products/4521", nil))
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	})
}
