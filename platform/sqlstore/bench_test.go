package sqlstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

var benchSchema = fstest.MapFS{"0001.sql": {Data: []byte(`
CREATE TABLE rows_ (
    id         {{autoid}},
    k          TEXT NOT NULL,
    v          TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE points (id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, price BIGINT NOT NULL);
`)}}

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func insertRow(ctx context.Context, tx *sqlstore.Tx, i int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO rows_ (k, v, created_at) VALUES (?, ?, ?)`,
		fmt.Sprint("k", i), "some value of a typical row", time.Now().UnixMilli())
	return err
}

var eventSeq atomic.Int64

func insertOutbox(ctx context.Context, tx *sqlstore.Tx) error {
	_, err := tx.Exec(ctx, `INSERT INTO outbox (event_id, source, type, key, data, headers, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		fmt.Sprintf("evt-%d-%d", time.Now().UnixNano(), eventSeq.Add(1)), "bench", "ROW_CREATED", "k",
		`{"id":"k","v":"some value of a typical row"}`, `{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}`,
		time.Now().UnixMilli())
	return err
}

// BenchmarkInsertTx is one transaction per single-row insert, from one
// goroutine, then from many.
func BenchmarkInsertTx(b *testing.B) {
	sqlstoretest.Bench(b, func(b *testing.B, be *sqlstoretest.Backend) {
		for _, d := range []sqlstore.Durability{sqlstore.Normal, sqlstore.Strict} {
			db := be.Open(sqlstore.Options{Migrations: benchSchema, Durability: d})
			ctx := context.Background()
			b.Run(d.String(), func(b *testing.B) {
				var i int64
				for b.Loop() {
					i++
					if err := db.Tx(ctx, func(tx *sqlstore.Tx) error { return insertRow(ctx, tx, i) }); err != nil {
						b.Fatal(err)
					}
				}
				reportOps(b)
			})
			b.Run(d.String()+"/parallel", func(b *testing.B) {
				var n atomic.Int64
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						if err := db.Tx(ctx, func(tx *sqlstore.Tx) error { return insertRow(ctx, tx, i) }); err != nil {
							b.Error(err)
							return
						}
					}
				})
				reportOps(b)
			})
		}
	})
}

// BenchmarkInsertWithOutboxTx is the write shape of every service: the
// change and its outbox event in one transaction.
func BenchmarkInsertWithOutboxTx(b *testing.B) {
	sqlstoretest.Bench(b, func(b *testing.B, be *sqlstoretest.Backend) {
		db := be.Open(sqlstore.Options{Migrations: benchSchema})
		ctx := context.Background()
		b.Run("serial", func(b *testing.B) {
			var i int64
			for b.Loop() {
				i++
				err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
					if err := insertRow(ctx, tx, i); err != nil {
						return err
					}
					return insertOutbox(ctx, tx)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			reportOps(b)
		})
		b.Run("parallel", func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
						if err := insertRow(ctx, tx, i); err != nil {
							return err
						}
						return insertOutbox(ctx, tx)
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportOps(b)
		})
	})
}

// BenchmarkPointRead reads one row by primary key from 10,000.
func BenchmarkPointRead(b *testing.B) {
	sqlstoretest.Bench(b, func(b *testing.B, be *sqlstoretest.Backend) {
		db := be.Open(sqlstore.Options{Migrations: benchSchema})
		ctx := context.Background()
		const rows = 10_000
		if err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
			for i := range rows {
				if _, err := tx.Exec(ctx, `INSERT INTO points (id, name, price) VALUES (?, ?, ?)`, fmt.Sprint("p", i), "Product", int64(i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		read := func(i int64) error {
			var name string
			var price int64
			return db.QueryRow(ctx, `SELECT name, price FROM points WHERE id = ?`, fmt.Sprint("p", i%rows)).Scan(&name, &price)
		}
		b.Run("serial", func(b *testing.B) {
			var i int64
			for b.Loop() {
				i++
				if err := read(i); err != nil {
					b.Fatal(err)
				}
			}
			reportOps(b)
		})
		b.Run("parallel", func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := read(n.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportOps(b)
		})
	})
}
