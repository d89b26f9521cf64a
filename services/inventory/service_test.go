package inventory

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
	"github.com/souk/souk/sampledata"
)

const ttl = 2 * time.Minute

// clock is a settable time source shared by the Services of one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newService(t *testing.T, open func(fs.FS) *sqlstore.DB, c *clock) *Service {
	t.Helper()
	return NewService(open(Migrations()), c.Now, ttl)
}

func seed(t *testing.T, svc *Service, stock ...InitialStock) {
	t.Helper()
	if err := svc.Seed(context.Background(), stock); err != nil {
		t.Fatal(err)
	}
}

func items(kv ...any) []Item {
	var out []Item
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Item{ProductID: kv[i].(string), Quantity: int64(kv[i+1].(int))})
	}
	return out
}

func reserve(ctx context.Context, svc *Service, order string, its ...Item) (Reservation, bool, error) {
	return svc.Reserve(ctx, ReserveRequest{OrderID: order, Items: its})
}

// stockOf returns productID's row as the audit sees it.
func stockOf(t *testing.T, svc *Service, productID string) Stock {
	t.Helper()
	for _, s := range auditAllStock(t, svc) {
		if s.ProductID == productID {
			return s
		}
	}
	t.Fatalf("no stock row for %s", productID)
	return Stock{}
}

func auditAllStock(t *testing.T, svc *Service) []Stock {
	t.Helper()
	var all []Stock
	cursor := ""
	for {
		p, err := svc.AuditStock(context.Background(), cursor, MaxAuditLimit)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if cursor = p.NextCursor; cursor == "" {
			return all
		}
	}
}

func auditAllReservations(t *testing.T, svc *Service) []ReservationAudit {
	t.Helper()
	var all []ReservationAudit
	cursor := ""
	for {
		p, err := svc.AuditReservations(context.Background(), cursor, MaxAuditLimit)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if cursor = p.NextCursor; cursor == "" {
			return all
		}
	}
}

// checkInvariants fails the test unless every product balances and its
// reserved and sold units are exactly those of the reservations in those
// states.
func checkInvariants(t *testing.T, svc *Service) {
	t.Helper()
	reserved, sold := map[string]int64{}, map[string]int64{}
	for _, r := range auditAllReservations(t, svc) {
		for _, it := range r.Items {
			switch r.Status {
			case StatusReserved:
				reserved[it.ProductID] += it.Quantity
			case StatusCommitted:
				sold[it.ProductID] += it.Quantity
			}
		}
	}
	for _, s := range auditAllStock(t, svc) {
		if !s.Balanced() {
			t.Fatalf("stock %+v does not balance: initial+restocked = %d, available+reserved+sold = %d",
				s, s.Initial+s.Restocked, s.Available+s.Reserved+s.Sold)
		}
		if s.Reserved != reserved[s.ProductID] || s.Sold != sold[s.ProductID] {
			t.Fatalf("stock %+v: reservations hold reserved %d, sold %d", s, reserved[s.ProductID], sold[s.ProductID])
		}
	}
}

func TestStateMachine(t *testing.T) {
	type counts struct{ available, reserved, sold int64 }
	tests := []struct {
		from, op string
		// What op answers: a status, or an error code.
		wantStatus, wantReason, wantCode string
		want                             counts // of the product, initially 10, the order holding 2
	}{
		{"none", "reserve", StatusReserved, "", "", counts{8, 2, 0}},
		{"none", "commit", "", "", "not_found", counts{10, 0, 0}},
		{"none", "release", StatusReleased, ReasonReleased, "", counts{10, 0, 0}},
		{"reserved", "reserve", StatusReserved, "", "", counts{8, 2, 0}},
		{"reserved", "commit", StatusCommitted, "", "", counts{8, 0, 2}},
		{"reserved", "release", StatusReleased, ReasonReleased, "", counts{10, 0, 0}},
		{"committed", "reserve", StatusCommitted, "", "", counts{8, 0, 2}},
		{"committed", "commit", StatusCommitted, "", "", counts{8, 0, 2}},
		{"committed", "release", "", "", "already_committed", counts{8, 0, 2}},
		{"released", "reserve", "", "", "reservation_released", counts{10, 0, 0}},
		{"released", "commit", "", "", "reservation_expired", counts{10, 0, 0}},
		{"released", "release", StatusReleased, ReasonReleased, "", counts{10, 0, 0}},
		{"expired", "reserve", "", "", "reservation_released", counts{10, 0, 0}},
		{"expired", "commit", "", "", "reservation_expired", counts{10, 0, 0}},
		{"expired", "release", StatusReleased, ReasonExpired, "", counts{10, 0, 0}},
		{"tombstone", "reserve", "", "", "reservation_released", counts{10, 0, 0}},
		{"tombstone", "commit", "", "", "reservation_expired", counts{10, 0, 0}},
		{"tombstone", "release", StatusReleased, ReasonReleased, "", counts{10, 0, 0}},
	}
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, open, c)
		for _, tt := range tests {
			name := tt.from + "/" + tt.op
			product, order := "p-"+name, "o-"+name
			seed(t, svc, InitialStock{product, 10})
			hold := items(product, 2)

			// Bring the order to tt.from. Each step must succeed.
			var err error
			switch tt.from {
			case "reserved":
				_, _, err = reserve(ctx, svc, order, hold...)
			case "committed":
				if _, _, err = reserve(ctx, svc, order, hold...); err == nil {
					_, err = svc.Commit(ctx, order)
				}
			case "released":
				if _, _, err = reserve(ctx, svc, order, hold...); err == nil {
					_, err = svc.Release(ctx, order)
				}
			case "expired":
				if _, _, err = reserve(ctx, svc, order, hold...); err == nil {
					c.Advance(ttl)
					_, err = svc.ExpireDue(ctx, 100)
				}
			case "tombstone":
				_, err = svc.Release(ctx, order)
			}
			if err != nil {
				t.Fatalf("%s: setup: %v", name, err)
			}

			var got Reservation
			switch tt.op {
			case "reserve":
				got, _, err = reserve(ctx, svc, order, hold...)
			case "commit":
				got, err = svc.Commit(ctx, order)
			case "release":
				got, err = svc.Release(ctx, order)
			}
			switch {
			case tt.wantCode != "":
				if !fault.HasCode(err, tt.wantCode) {
					t.Errorf("%s: err = %v, want code %s", name, err, tt.wantCode)
				}
			case err != nil:
				t.Errorf("%s: err = %v, want status %s", name, err, tt.wantStatus)
			case got.Status != tt.wantStatus || got.Reason != tt.wantReason || got.OrderID != order:
				t.Errorf("%s: got %s/%s (%q), want %s/%s", name, got.Status, got.Reason, got.OrderID, tt.wantStatus, tt.wantReason)
			}
			s := stockOf(t, svc, product)
			if g := (counts{s.Available, s.Reserved, s.Sold}); g != tt.want {
				t.Errorf("%s: stock = %+v, want %+v", name, g, tt.want)
			}
		}
		checkInvariants(t, svc)
	})
}

func TestReserveAllOrNothing(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, open, newClock())
		seed(t, svc, InitialStock{"a", 5}, InitialStock{"b", 1})

		_, _, err := reserve(ctx, svc, "o1", items("a", 3, "b", 2)...)
		if !fault.Is(err, fault.Conflict) || !fault.HasCode(err, "out_of_stock") {
			t.Fatalf("err = %v, want 409 out_of_stock", err)
		}
		if e, _ := fault.As(err); !strings.Contains(e.Message, "product b ") {
			t.Errorf("message %q does not name product b", e.Message)
		}
		if s := stockOf(t, svc, "a"); s.Available != 5 || s.Reserved != 0 {
			t.Errorf("a after a failed reserve = %+v, want untouched", s)
		}
		if rs := auditAllReservations(t, svc); len(rs) != 0 {
			t.Errorf("reservations after a failed reserve = %+v, want none", rs)
		}

		// An unknown product is out of stock too, and says so.
		_, _, err = reserve(ctx, svc, "o1", items("a", 1, "nope", 1)...)
		if e, _ := fault.As(err); !fault.HasCode(err, "out_of_stock") || !strings.Contains(e.Message, "nope is not stocked") {
			t.Errorf("unknown product: err = %v", err)
		}

		// Nothing of the failures stuck to the order id: it can reserve now.
		r, created, err := reserve(ctx, svc, "o1", items("b", 1, "a", 2, "a", 1)...)
		if err != nil || !created {
			t.Fatalf("reserve after failures = %v, created %v", err, created)
		}
		if diff := cmp.Diff(items("a", 3, "b", 1), r.Items); diff != "" {
			t.Errorf("items not merged and sorted (-want +got):\n%s", diff)
		}
		if s := stockOf(t, svc, "a"); s.Available != 2 || s.Reserved != 3 {
			t.Errorf("a = %+v, want available 2, reserved 3", s)
		}
		checkInvariants(t, svc)
	})
}

func TestReserveIdempotent(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, open, newClock())
		seed(t, svc, InitialStock{"a", 10})

		first, created, err := reserve(ctx, svc, "o1", items("a", 4)...)
		if err != nil || !created {
			t.Fatalf("first reserve: %v, created %v", err, created)
		}
		// The same order again, even with other items, is the same
		// reservation and moves no stock.
		again, created, err := reserve(ctx, svc, "o1", items("a", 1)...)
		if err != nil || created {
			t.Fatalf("second reserve: %v, created %v", err, created)
		}
		if diff := cmp.Diff(first, again); diff != "" {
			t.Errorf("second reserve differs (-first +second):\n%s", diff)
		}
		if s := stockOf(t, svc, "a"); s.Available != 6 || s.Reserved != 4 {
			t.Errorf("stock = %+v, want available 6, reserved 4", s)
		}
	})
}

// TestConcurrentReservesOfOneOrder checks that retried reserves racing each
// other reserve once: on PostgreSQL the losers wait on the reservation row.
func TestConcurrentReservesOfOneOrder(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, open, newClock())
		seed(t, svc, InitialStock{"a", 100})
		var wg sync.WaitGroup
		var mu sync.Mutex
		createdN := 0
		for range 20 {
			wg.Go(func() {
				_, created, err := reserve(ctx, svc, "o1", items("a", 3)...)
				if err != nil {
					t.Errorf("reserve: %v", err)
					return
				}
				if created {
					mu.Lock()
					createdN++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if createdN != 1 {
			t.Errorf("%d calls created the reservation, want 1", createdN)
		}
		if s := stockOf(t, svc, "a"); s.Available != 97 || s.Reserved != 3 {
			t.Errorf("stock = %+v, want available 97, reserved 3", s)
		}
	})
}

func TestReleaseBeforeReserve(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, open, newClock())
		seed(t, svc, InitialStock{"a", 10})

		tomb, err := svc.Release(ctx, "late")
		if err != nil || tomb.Status != StatusReleased || len(tomb.Items) != 0 {
			t.Fatalf("release of an unknown order = %+v, %v; want an empty released tombstone", tomb, err)
		}
		if _, _, err := reserve(ctx, svc, "late", items("a", 2)...); !fault.HasCode(err, "reservation_released") {
			t.Fatalf("late reserve: err = %v, want reservation_released", err)
		}
		if s := stockOf(t, svc, "a"); s.Available != 10 || s.Reserved != 0 {
			t.Errorf("stock = %+v, want untouched", s)
		}
	})
}

// TestReleaseRacingReserve races a release with the reserve of the same
// order, as when the order saga gives up on a reserve that is still in
// flight: whichever wins, no stock stays held.
func TestReleaseRacingReserve(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, open, newClock())
		other := newService(t, open, newClock())
		// Many items make the reserve's transaction long enough for the
		// release to land inside it.
		var stock []InitialStock
		var its []Item
		for i := range MaxItems {
			stock = append(stock, InitialStock{fmt.Sprintf("p%02d", i), 1000})
			its = append(its, Item{fmt.Sprintf("p%02d", i), 1})
		}
		seed(t, svc, stock...)
		for i := range 40 {
			order := fmt.Sprintf("o%02d", i)
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				<-start
				if _, _, err := reserve(ctx, svc, order, its...); err != nil && !fault.HasCode(err, "reservation_released") {
					t.Errorf("reserve %s: %v", order, err)
				}
			})
			wg.Go(func() {
				<-start
				if i%2 == 1 {
					time.Sleep(time.Duration(i) * 100 * time.Microsecond) // land mid-reserve
				}
				if r, err := other.Release(ctx, order); err != nil || r.Status != StatusReleased {
					t.Errorf("release %s = %+v, %v", order, r, err)
				}
			})
			close(start)
			wg.Wait()
		}
		for _, s := range auditAllStock(t, svc) {
			if s.Available != 1000 || s.Reserved != 0 {
				t.Errorf("stock = %+v, want all available", s)
			}
		}
		checkInvariants(t, svc)
	})
}

func TestExpiry(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, open, c)
		seed(t, svc, InitialStock{"a", 10})

		r, _, err := reserve(ctx, svc, "o1", items("a", 4)...)
		if err != nil {
			t.Fatal(err)
		}
		if want := c.Now().Add(ttl); !r.ExpiresAt.Equal(want) {
			t.Errorf("expires_at = %v, want %v", r.ExpiresAt, want)
		}
		c.Advance(ttl - time.Millisecond)
		if n, err := svc.ExpireDue(ctx, 10); err != nil || n != 0 {
			t.Fatalf("sweep before the TTL = %d, %v; want 0", n, err)
		}
		c.Advance(time.Millisecond)
		if n, err := svc.ExpireDue(ctx, 10); err != nil || n != 1 {
			t.Fatalf("sweep at the TTL = %d, %v; want 1", n, err)
		}
		if n, err := svc.ExpireDue(ctx, 10); err != nil || n != 0 {
			t.Fatalf("second sweep = %d, %v; want 0", n, err)
		}
		if s := stockOf(t, svc, "a"); s.Available != 10 || s.Reserved != 0 {
			t.Errorf("stock after expiry = %+v", s)
		}
		if _, err := svc.Commit(ctx, "o1"); !fault.HasCode(err, "reservation_expired") {
			t.Errorf("commit after expiry: err = %v", err)
		}
		if rs := auditAllReservations(t, svc); len(rs) != 1 || rs[0].Reason != ReasonExpired {
			t.Errorf("audit = %+v, want o1 released for expiry", rs)
		}

		// Past expires_at but not yet swept, a commit still wins: the stock
		// is still held, and the sweep then leaves it alone.
		if _, _, err := reserve(ctx, svc, "o2", items("a", 1)...); err != nil {
			t.Fatal(err)
		}
		c.Advance(2 * ttl)
		if r, err := svc.Commit(ctx, "o2"); err != nil || r.Status != StatusCommitted {
			t.Fatalf("late commit = %+v, %v", r, err)
		}
		if n, err := svc.ExpireDue(ctx, 10); err != nil || n != 0 {
			t.Errorf("sweep after the commit = %d, %v; want 0", n, err)
		}
		checkInvariants(t, svc)
	})
}

// TestExpiryBatchesAndReplicas sweeps a backlog from two "processes" at
// once: every reservation is released exactly once.
func TestExpiryBatchesAndReplicas(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		c := newClock()
		svcs := []*Service{newService(t, open, c), newService(t, open, c)}
		seed(t, svcs[0], InitialStock{"a", 500}, InitialStock{"b", 500})
		const orders = 130
		for i := range orders {
			if _, _, err := reserve(ctx, svcs[i%2], fmt.Sprintf("o%03d", i), items("a", 1, "b", 2)...); err != nil {
				t.Fatal(err)
			}
		}
		c.Advance(ttl)
		var wg sync.WaitGroup
		released := make([]int, len(svcs))
		for i, svc := range svcs {
			wg.Go(func() {
				for {
					n, err := svc.ExpireDue(ctx, 20)
					if err != nil {
						t.Errorf("sweep: %v", err)
						return
					}
					released[i] += n
					if n == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		if got := released[0] + released[1]; got != orders {
			t.Errorf("released %d (%v), want %d", got, released, orders)
		}
		for _, p := range []string{"a", "b"} {
			if s := stockOf(t, svcs[0], p); s.Available != 500 || s.Reserved != 0 {
				t.Errorf("%s = %+v, want all available", p, s)
			}
		}
		checkInvariants(t, svcs[0])
	})
}

func TestSeed(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		c := newClock()
		a, b := newService(t, open, c), newService(t, open, c)
		// Two instances starting together, then a restart.
		var wg sync.WaitGroup
		for _, svc := range []*Service{a, b} {
			wg.Go(func() {
				if err := svc.Seed(ctx, SampleStock()); err != nil {
					t.Errorf("seed: %v", err)
				}
			})
		}
		wg.Wait()
		if _, _, err := reserve(ctx, a, "o1", items("4521", 2)...); err != nil {
			t.Fatal(err)
		}
		if err := a.Seed(ctx, SampleStock()); err != nil {
			t.Fatal(err)
		}
		rows := auditAllStock(t, a)
		if len(rows) != len(sampledata.Products) {
			t.Errorf("%d stock rows, want %d", len(rows), len(sampledata.Products))
		}
		want := Stock{ProductID: "4521", Initial: 12, Available: 10, Reserved: 2}
		if diff := cmp.Diff(want, stockOf(t, a, "4521")); diff != "" {
			t.Errorf("4521 after reseeding (-want +got):\n%s", diff)
		}
		if err := a.Seed(ctx, []InitialStock{{"bad id", 1}}); !fault.Is(err, fault.Invalid) {
			t.Errorf("seed of a bad id: err = %v", err)
		}
	})
}

func TestSetAvailable(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, open, newClock())
		seed(t, svc, InitialStock{"a", 10})
		if _, _, err := reserve(ctx, svc, "o1", items("a", 3)...); err != nil {
			t.Fatal(err)
		}
		n := func(v int64) SetStockRequest { return SetStockRequest{Available: &v} }
		tests := []struct {
			product string
			set     int64
			want    Stock
		}{
			{"a", 20, Stock{ProductID: "a", Initial: 10, Restocked: 13, Available: 20, Reserved: 3}},
			{"a", 0, Stock{ProductID: "a", Initial: 10, Restocked: -7, Available: 0, Reserved: 3}},
			{"new", 5, Stock{ProductID: "new", Initial: 0, Restocked: 5, Available: 5}},
		}
		for _, tt := range tests {
			v, err := svc.SetAvailable(ctx, tt.product, n(tt.set))
			if err != nil {
				t.Fatalf("set %s to %d: %v", tt.product, tt.set, err)
			}
			if want := (StockView{tt.product, tt.want.Available, tt.want.Reserved, tt.want.Sold}); v != want {
				t.Errorf("set %s to %d = %+v, want %+v", tt.product, tt.set, v, want)
			}
			if diff := cmp.Diff(tt.want, stockOf(t, svc, tt.product)); diff != "" {
				t.Errorf("set %s to %d (-want +got):\n%s", tt.product, tt.set, diff)
			}
		}
		// Stock set to zero under a reservation: it can still be released.
		if _, err := svc.Release(ctx, "o1"); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, svc)

		for _, bad := range []SetStockRequest{{}, n(-1), n(MaxAvailable + 1)} {
			if _, err := svc.SetAvailable(ctx, "a", bad); !fault.Is(err, fault.Invalid) {
				t.Errorf("set %v: err = %v, want Invalid", bad.Available, err)
			}
		}
	})
}

func TestLevels(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, open, newClock())
		seed(t, svc, InitialStock{"a", 10}, InitialStock{"b", 0})

		got, err := svc.Levels(ctx, []string{"b", "zz", "a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		want := Levels{Items: []Level{{"a", 10}, {"b", 0}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("levels (-want +got):\n%s", diff)
		}
		if l, err := svc.Level(ctx, "a"); err != nil || l != (Level{"a", 10}) {
			t.Errorf("level a = %+v, %v", l, err)
		}
		if _, err := svc.Level(ctx, "zz"); !fault.Is(err, fault.NotFound) {
			t.Errorf("level of an unknown product: err = %v", err)
		}
		tooMany := make([]string, MaxBatchIDs+1)
		for i := range tooMany {
			tooMany[i] = fmt.Sprint(i)
		}
		for _, ids := range [][]string{nil, tooMany, {"a", ""}, {strings.Repeat("x", 65)}} {
			if _, err := svc.Levels(ctx, ids); !fault.Is(err, fault.Invalid) {
				t.Errorf("levels of %d ids: err = %v, want Invalid", len(ids), err)
			}
		}
	})
}

func TestAuditPages(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, open, newClock())
		for i := range 7 {
			seed(t, svc, InitialStock{fmt.Sprintf("p%d", i), 10})
			if _, _, err := reserve(ctx, svc, fmt.Sprintf("o%d", i), items(fmt.Sprintf("p%d", i), 1, "p0", 1)...); err != nil {
				t.Fatal(err)
			}
		}
		var sizes []int
		var orders []string
		cursor := ""
		for {
			p, err := svc.AuditReservations(ctx, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(p.Items))
			for _, r := range p.Items {
				orders = append(orders, r.OrderID)
				if r.Status != StatusReserved || (r.OrderID != "o0" && len(r.Items) != 2) {
					t.Errorf("audit %+v", r)
				}
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
			t.Errorf("page sizes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"o0", "o1", "o2", "o3", "o4", "o5", "o6"}, orders); diff != "" {
			t.Errorf("orders (-want +got):\n%s", diff)
		}
		p, err := svc.AuditStock(ctx, "p5", 0)
		if err != nil || len(p.Items) != 1 || p.Items[0].ProductID != "p6" || p.NextCursor != "" {
			t.Errorf("last stock page = %+v, %v", p, err)
		}
		for _, bad := range []struct {
			cursor string
			limit  int
		}{{"", -1}, {"", MaxAuditLimit + 1}, {"a b", 10}, {strings.Repeat("x", 65), 10}} {
			if _, err := svc.AuditStock(ctx, bad.cursor, bad.limit); !fault.Is(err, fault.Invalid) {
				t.Errorf("audit %+v: err = %v, want Invalid", bad, err)
			}
		}
	})
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", 65)
	many := make([]Item, MaxItems+1)
	for i := range many {
		many[i] = Item{ProductID: fmt.Sprint(i), Quantity: 1}
	}
	tests := []struct {
		name  string
		req   ReserveRequest
		field string
	}{
		{"no order", ReserveRequest{Items: items("a", 1)}, "order_id"},
		{"long order", ReserveRequest{OrderID: long, Items: items("a", 1)}, "order_id"},
		{"space in order", ReserveRequest{OrderID: "o 1", Items: items("a", 1)}, "order_id"},
		{"no items", ReserveRequest{OrderID: "o1"}, "items"},
		{"too many items", ReserveRequest{OrderID: "o1", Items: many}, "items"},
		{"zero quantity", ReserveRequest{OrderID: "o1", Items: items("a", 0)}, "items[0].quantity"},
		{"negative quantity", ReserveRequest{OrderID: "o1", Items: items("a", 1, "b", -1)}, "items[1].quantity"},
		{"huge quantity", ReserveRequest{OrderID: "o1", Items: items("a", MaxQuantity+1)}, "items[0].quantity"},
		{"no product", ReserveRequest{OrderID: "o1", Items: items("", 1)}, "items[0].product_id"},
		{"comma in product", ReserveRequest{OrderID: "o1", Items: items("a,b", 1)}, "items[0].product_id"},
		{"unicode product", ReserveRequest{OrderID: "o1", Items: items("café", 1)}, "items[0].product_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := fault.As(tt.req.Validate())
			if !ok || e.Kind != fault.Invalid {
				t.Fatalf("Validate = %v, want Invalid", tt.req.Validate())
			}
			found := false
			for _, f := range e.Fields {
				found = found || f.Field == tt.field
			}
			if !found {
				t.Errorf("fields = %+v, want %s", e.Fields, tt.field)
			}
		})
	}
	ok := ReserveRequest{OrderID: strings.Repeat("o", 64), Items: items("4521", MaxQuantity, "p-1_x.y:z", 1)}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid request: %v", err)
	}
}

// TestDatabaseRefusesImbalance checks that the schema itself refuses a
// write that breaks the invariant, whatever code issues it.
func TestDatabaseRefusesImbalance(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		db := open(Migrations())
		svc := NewService(db, newClock().Now, ttl)
		seed(t, svc, InitialStock{"a", 3})
		for _, q := range []string{
			`UPDATE stock SET available = available + 1 WHERE product_id = 'a'`,                  // units from nowhere
			`UPDATE stock SET available = available - 4, sold = sold + 4 WHERE product_id = 'a'`, // negative
			`INSERT INTO stock (product_id, initial, restocked, available, reserved, sold, updated_at) VALUES ('b', 1, 0, 0, 0, 0, 0)`,
		} {
			if _, err := db.Exec(ctx, q); err == nil {
				t.Errorf("%s: succeeded, want a CHECK violation", q)
			}
		}
		if s := stockOf(t, svc, "a"); s.Available != 3 {
			t.Errorf("stock = %+v, want untouched", s)
		}
	})
}
