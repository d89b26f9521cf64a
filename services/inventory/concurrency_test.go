package inventory

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

// TestLastUnits is the inventory's central promise: 50 buyers race for the
// last 10 units, each with its own order; exactly 10 get one, the other 40
// are told out_of_stock, and nothing is oversold. It runs with one
// *sqlstore.DB, and with two on the same store as two processes would.
func TestLastUnits(t *testing.T) {
	for _, processes := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d processes", processes), func(t *testing.T) {
			sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
				ctx := context.Background()
				c := newClock()
				svcs := make([]*Service, processes)
				for i := range svcs {
					svcs[i] = newService(t, open, c)
				}
				seed(t, svcs[0], InitialStock{"hot", 10})

				const buyers = 50
				var ok, sold atomic.Int32
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range buyers {
					svc := svcs[i%processes]
					wg.Go(func() {
						<-start
						_, _, err := reserve(ctx, svc, fmt.Sprintf("order-%02d", i), items("hot", 1)...)
						switch {
						case err == nil:
							ok.Add(1)
						case fault.HasCode(err, "out_of_stock"):
							sold.Add(1)
						default:
							t.Errorf("buyer %d: %v", i, err)
						}
					})
				}
				close(start)
				wg.Wait()
				if ok.Load() != 10 || sold.Load() != 40 {
					t.Errorf("%d reserved and %d out of stock, want 10 and 40", ok.Load(), sold.Load())
				}
				s := stockOf(t, svcs[0], "hot")
				if s.Available != 0 || s.Reserved != 10 {
					t.Errorf("stock = %+v, want available 0, reserved 10", s)
				}
				checkInvariants(t, svcs[0])
			})
		})
	}
}

// TestConservation runs 1000 random operations of every kind, from two
// "processes", and checks the invariants after each one.
func TestConservation(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		c := newClock()
		svcs := []*Service{newService(t, open, c), newService(t, open, c)}
		products := []string{"p0", "p1", "p2", "p3", "p4"}
		for _, p := range products {
			seed(t, svcs[0], InitialStock{p, 20})
		}
		rng := rand.New(rand.NewPCG(1, 2))
		// Orders are numbered as they are made. Operations mostly touch one
		// of the last few, as a saga does; sometimes an older one, or one not
		// made yet (a release before its reserve).
		made := 0
		order := func() string {
			switch k := rng.IntN(10); {
			case k == 0 || made == 0:
				return fmt.Sprintf("o%04d", made+rng.IntN(3))
			case k == 1:
				return fmt.Sprintf("o%04d", rng.IntN(made))
			default:
				return fmt.Sprintf("o%04d", made-1-rng.IntN(min(made, 4)))
			}
		}
		// The answers an operation may give besides success.
		expected := map[string]bool{
			"out_of_stock": true, "reservation_released": true, "reservation_expired": true,
			"already_committed": true, "not_found": true,
		}
		counts := map[string]int{}
		for step := range 1000 {
			svc := svcs[rng.IntN(len(svcs))]
			var op string
			var err error
			switch k := rng.IntN(100); {
			case k < 35:
				op = "reserve"
				var its []Item
				for range 1 + rng.IntN(3) {
					its = append(its, Item{products[rng.IntN(len(products))], 1 + rng.Int64N(6)})
				}
				id := order()
				if rng.IntN(4) > 0 {
					id = fmt.Sprintf("o%04d", made) // a new order
					made++
				}
				_, _, err = reserve(ctx, svc, id, its...)
			case k < 55:
				op = "commit"
				_, err = svc.Commit(ctx, order())
			case k < 70:
				op = "release"
				_, err = svc.Release(ctx, order())
			case k < 80:
				op = "cancel"
				err = svc.OrderCancelledHandler(discard)(ctx, cancelledEvent(t, order()))
			case k < 92:
				op = "expire"
				c.Advance(time.Duration(rng.IntN(90)) * time.Second)
				_, err = svc.ExpireDue(ctx, 1+rng.IntN(5))
			default:
				op = "set"
				n := rng.Int64N(30)
				_, err = svc.SetAvailable(ctx, products[rng.IntN(len(products))], SetStockRequest{Available: &n})
			}
			if err != nil {
				if !expected[fault.CodeOf(err)] {
					t.Fatalf("step %d %s: unexpected error %v", step, op, err)
				}
				op += " " + fault.CodeOf(err)
			}
			counts[op]++
			checkInvariants(t, svcs[0])
		}
		// The run must have exercised the interesting paths, or it proves
		// little.
		for _, op := range []string{"reserve", "reserve out_of_stock", "reserve reservation_released", "commit",
			"release", "release already_committed", "cancel", "expire", "set"} {
			if counts[op] == 0 {
				t.Errorf("no %q in the run: %v", op, counts)
			}
		}
	})
}

// BenchmarkReserveCommit measures one checkout's inventory work: a reserve
// of two products and its commit, each its own transaction.
func BenchmarkReserveCommit(b *testing.B) {
	sqlstoretest.Bench(b, func(b *testing.B, be *sqlstoretest.Backend) {
		ctx := context.Background()
		svc := NewService(be.Open(sqlstore.Options{Migrations: Migrations()}), time.Now, ttl)
		if err := svc.Seed(ctx, []InitialStock{{"a", MaxAvailable}, {"b", MaxAvailable}}); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			order := fmt.Sprintf("bench-%d", i)
			if _, _, err := reserve(ctx, svc, order, items("a", 1, "b", 2)...); err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Commit(ctx, order); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
	})
}
