package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
	"github.com/souk/souk/sampledata"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newService(t *testing.T, open func(fs.FS) *sqlstore.DB) (*Service, *sqlstore.DB) {
	db := open(Migrations())
	return NewService(db, func() time.Time { return now }, nil), db
}

// outboxEvents returns the data of the outbox events of typ, oldest first.
func outboxEvents(t *testing.T, db *sqlstore.DB, typ string) []ProductEvent {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT data FROM outbox WHERE type = ? ORDER BY seq`, typ)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []ProductEvent
	for rows.Next() {
		var data string
		var ev ProductEvent
		if err := rows.Scan(&data); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event data %s: %v", data, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSeed(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ctx := context.Background()
		want := len(sampledata.Products)

		n, err := svc.Seed(ctx, sampledata.Products)
		if err != nil || n != want {
			t.Fatalf("seed = %d, %v; want %d", n, err, want)
		}
		// A restart seeds nothing more.
		if n, err := svc.Seed(ctx, sampledata.Products); err != nil || n != 0 {
			t.Fatalf("second seed = %d, %v; want 0", n, err)
		}
		evs := outboxEvents(t, db, EventProductCreated)
		if len(evs) != want {
			t.Fatalf("PRODUCT_CREATED events = %d, want %d", len(evs), want)
		}
		p, err := svc.Get(ctx, "4521")
		if err != nil {
			t.Fatal(err)
		}
		if p.PriceCents != 4999 || p.Currency != "USD" || p.Version != 1 {
			t.Errorf("4521 = %+v, want 4999 USD at version 1", p)
		}
		if evs[20].ID != "4521" || evs[20].PriceCents != 4999 || evs[20].Version != 1 {
			t.Errorf("event of 4521 = %+v", evs[20])
		}
	})
}

// Replicas starting together over one database insert and announce each
// sample product exactly once.
func TestSeedConcurrentReplicas(t *testing.T) {
	sqlstoretest.EachBackend(t, func(t *testing.T, b *sqlstoretest.Backend) {
		const replicas = 4
		dbs := make([]*sqlstore.DB, replicas)
		for i := range dbs {
			dbs[i] = b.Open(sqlstore.Options{Migrations: Migrations()})
		}
		var wg sync.WaitGroup
		counts := make([]int, replicas)
		for i, db := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := NewService(db, time.Now, nil).Seed(context.Background(), sampledata.Products)
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		total := 0
		for _, n := range counts {
			total += n
		}
		if total != len(sampledata.Products) {
			t.Errorf("inserted %v in all = %d, want %d", counts, total, len(sampledata.Products))
		}
		if got := len(outboxEvents(t, dbs[0], EventProductCreated)); got != len(sampledata.Products) {
			t.Errorf("PRODUCT_CREATED events = %d, want %d", got, len(sampledata.Products))
		}
	})
}

func TestSeedSkipsNonEmptyCatalog(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx := context.Background()
		if _, err := svc.Create(ctx, CreateRequest{ID: "own", Name: "Own product", PriceCents: 100, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
		if n, err := svc.Seed(ctx, sampledata.Products); err != nil || n != 0 {
			t.Errorf("seed = %d, %v; want 0 into a catalog that has products", n, err)
		}
	})
}

func TestCreateAndUpdate(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ctx := context.Background()

		req := CreateRequest{ID: "mug-1", Name: "Mug", Description: "Blue, 300 ml", PriceCents: 1500, Currency: "EUR"}
		p, err := svc.Create(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		want := Product{ID: "mug-1", Name: "Mug", Description: "Blue, 300 ml", PriceCents: 1500, Currency: "EUR", Version: 1, CreatedAt: now, UpdatedAt: now}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("created (-want +got):\n%s", diff)
		}
		if got, err := svc.Get(ctx, "mug-1"); err != nil || !cmp.Equal(got, want) {
			t.Errorf("get = %+v, %v; want %+v", got, err, want)
		}
		if _, err := svc.Create(ctx, req); !fault.HasCode(err, "product_exists") || !fault.Is(err, fault.Conflict) {
			t.Errorf("duplicate create: err = %v, want 409 product_exists", err)
		}

		anon, err := svc.Create(ctx, CreateRequest{Name: "Saucer", PriceCents: 500, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := uuid.Parse(anon.ID); err != nil || id.Version() != 7 {
			t.Errorf("generated id %q: want a UUIDv7 (%v)", anon.ID, err)
		}

		upd := UpdateRequest{Name: "Mug", Description: "Blue, 300 ml", PriceCents: 1700, Currency: "EUR"}
		p, err = svc.Update(ctx, "mug-1", upd)
		if err != nil || p.Version != 2 || p.PriceCents != 1700 {
			t.Fatalf("update = %+v, %v; want version 2 at 1700", p, err)
		}
		// The same content again changes nothing and announces nothing.
		if p, err := svc.Update(ctx, "mug-1", upd); err != nil || p.Version != 2 {
			t.Errorf("repeated update = %+v, %v; want version 2", p, err)
		}
		if _, err := svc.Update(ctx, "nope", upd); !fault.Is(err, fault.NotFound) {
			t.Errorf("update unknown: err = %v, want NotFound", err)
		}
		if _, err := svc.Get(ctx, "nope"); !fault.Is(err, fault.NotFound) || !fault.HasCode(err, "not_found") {
			t.Errorf("get unknown: err = %v, want 404 not_found", err)
		}

		created := outboxEvents(t, db, EventProductCreated)
		updated := outboxEvents(t, db, EventProductUpdated)
		if len(created) != 2 {
			t.Errorf("PRODUCT_CREATED events = %d, want 2", len(created))
		}
		wantUpd := []ProductEvent{{ID: "mug-1", Name: "Mug", Description: "Blue, 300 ml", PriceCents: 1700, Currency: "EUR", Version: 2}}
		if diff := cmp.Diff(wantUpd, updated); diff != "" {
			t.Errorf("PRODUCT_UPDATED events (-want +got):\n%s", diff)
		}
	})
}

// Concurrent updates of one product each get their own version, and the
// events carry them, so a read model that keeps the highest version ends up
// with the last write.
func TestConcurrentUpdatesGetDistinctVersions(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ctx := context.Background()
		if _, err := svc.Create(ctx, CreateRequest{ID: "hot", Name: "Hot", PriceCents: 1, Currency: "USD"}); err != nil {
			t.Fatal(err)
		}
		const writers = 8
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := svc.Update(ctx, "hot", UpdateRequest{Name: "Hot", PriceCents: int64(100 + i), Currency: "USD"})
				if err != nil {
					t.Errorf("update %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		evs := outboxEvents(t, db, EventProductUpdated)
		versions := map[int64]bool{}
		for _, ev := range evs {
			versions[ev.Version] = true
		}
		if len(evs) != writers || len(versions) != writers {
			t.Errorf("%d events with %d distinct versions, want %d of each", len(evs), len(versions), writers)
		}
		p, err := svc.Get(ctx, "hot")
		if err != nil || p.Version != writers+1 {
			t.Errorf("final = %+v, %v; want version %d", p, err, writers+1)
		}
	})
}

func TestList(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx := context.Background()
		if _, err := svc.Seed(ctx, sampledata.Products); err != nil {
			t.Fatal(err)
		}
		var got []string
		cursor, pages := "", 0
		for {
			page, err := svc.List(ctx, cursor, 7)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, p := range page.Items {
				got = append(got, p.ID)
			}
			if page.NextCursor == "" {
				break
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			cursor = page.NextCursor
		}
		var want []string
		for _, p := range sampledata.Products {
			want = append(want, p.ID)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ids over all pages (-want +got):\n%s", diff)
		}
		if wantPages := (len(want) + 6) / 7; pages != wantPages {
			t.Errorf("pages = %d, want %d", pages, wantPages)
		}

		// A page that ends exactly at the last product says so.
		page, err := svc.List(ctx, "", len(want))
		if err != nil || len(page.Items) != len(want) || page.NextCursor != "" {
			t.Errorf("full page: %d items, cursor %q, %v", len(page.Items), page.NextCursor, err)
		}
		for _, tc := range []struct {
			cursor string
			limit  int
		}{{"", 0}, {"", 101}, {"!!", 10}, {encodeCursor("bad id"), 10}, {encodeCursor(strings.Repeat("a", 65)), 10}} {
			if _, err := svc.List(ctx, tc.cursor, tc.limit); !fault.Is(err, fault.Invalid) {
				t.Errorf("List(%q, %d): err = %v, want Invalid", tc.cursor, tc.limit, err)
			}
		}
	})
}

func TestLookup(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx := context.Background()
		if _, err := svc.Seed(ctx, sampledata.Products); err != nil {
			t.Fatal(err)
		}
		items, err := svc.Lookup(ctx, []string{"4521", "nope", "4501", "4521", "a b"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range items {
			ids = append(ids, p.ID)
		}
		if diff := cmp.Diff([]string{"4501", "4521"}, ids); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		many := make([]string, MaxLookupIDs)
		for i := range many {
			many[i] = fmt.Sprint(4450 + i) // 4450..4549 holds the 30 samples
		}
		if items, err := svc.Lookup(ctx, many); err != nil || len(items) != 30 {
			t.Errorf("lookup of %d ids = %d items, %v; want 30", len(many), len(items), err)
		}
		for _, ids := range [][]string{nil, append(many, "one-more"), {strings.Repeat("x", 65)}} {
			if _, err := svc.Lookup(ctx, ids); !fault.Is(err, fault.Invalid) {
				t.Errorf("lookup of %d ids: err = %v, want Invalid", len(ids), err)
			}
		}
	})
}

func TestValidate(t *testing.T) {
	valid := CreateRequest{ID: "4521", Name: "Chef's Knife", Description: "Sharp.\nVery.", PriceCents: 4999, Currency: "USD"}
	tests := []struct {
		name   string
		mutate func(*CreateRequest)
		field  string // "" when valid
	}{
		{"valid", func(r *CreateRequest) {}, ""},
		{"no id", func(r *CreateRequest) { r.ID = "" }, ""},
		{"unicode name", func(r *CreateRequest) { r.Name = "Théière en fonte 鉄瓶 🍵" }, ""},
		{"longest name", func(r *CreateRequest) { r.Name = strings.Repeat("é", MaxNameLen) }, ""},
		{"largest price", func(r *CreateRequest) { r.PriceCents = MaxPriceCents }, ""},
		{"id with slash", func(r *CreateRequest) { r.ID = "a/b" }, "id"},
		{"id with comma", func(r *CreateRequest) { r.ID = "a,b" }, "id"},
		{"long id", func(r *CreateRequest) { r.ID = strings.Repeat("a", MaxIDLen+1) }, "id"},
		{"empty name", func(r *CreateRequest) { r.Name = "" }, "name"},
		{"blank name", func(r *CreateRequest) { r.Name = " \u00a0 " }, "name"},
		{"long name", func(r *CreateRequest) { r.Name = strings.Repeat("é", MaxNameLen+1) }, "name"},
		{"newline in name", func(r *CreateRequest) { r.Name = "a\nb" }, "name"},
		{"NUL in name", func(r *CreateRequest) { r.Name = "a\x00b" }, "name"},
		{"invalid UTF-8", func(r *CreateRequest) { r.Name = "a\xffb" }, "name"},
		{"long description", func(r *CreateRequest) { r.Description = strings.Repeat("a", MaxDescriptionLen+1) }, "description"},
		{"escape in description", func(r *CreateRequest) { r.Description = "\x1b[31mred" }, "description"},
		{"zero price", func(r *CreateRequest) { r.PriceCents = 0 }, "price_cents"},
		{"negative price", func(r *CreateRequest) { r.PriceCents = -1 }, "price_cents"},
		{"huge price", func(r *CreateRequest) { r.PriceCents = MaxPriceCents + 1 }, "price_cents"},
		{"lowercase currency", func(r *CreateRequest) { r.Currency = "usd" }, "currency"},
		{"long currency", func(r *CreateRequest) { r.Currency = "USDT" }, "currency"},
		{"empty currency", func(r *CreateRequest) { r.Currency = "" }, "currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid
			tt.mutate(&r)
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if got := fieldsOf(err); !got[tt.field] || len(got) != 1 {
				t.Errorf("invalid fields = %v (%v), want just %s", got, err, tt.field)
			}
		})
	}
}

func fieldsOf(err error) map[string]bool {
	e, ok := fault.As(err)
	if !ok || e.Kind != fault.Invalid {
		return nil
	}
	out := map[string]bool{}
	for _, f := range e.Fields {
		out[f.Field] = true
	}
	return out
}

func TestSampleProductsAreValid(t *testing.T) {
	for _, p := range sampledata.Products {
		req := CreateRequest{ID: p.ID, Name: p.Name, Description: p.Description, PriceCents: p.PriceCents, Currency: p.Currency}
		if err := req.Validate(); err != nil {
			t.Errorf("sample product %s: %v", p.ID, err)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []string{"4521", "0190a6b4-1c2d-7e3f-8a9b-0c1d2e3f4a5b", "a_B-9"} {
		got, err := decodeCursor(encodeCursor(id))
		if err != nil || got != id {
			t.Errorf("decode(encode(%q)) = %q, %v", id, got, err)
		}
	}
	if _, err := decodeCursor("===="); !fault.Is(err, fault.Invalid) {
		t.Errorf("bad cursor: err = %v, want Invalid", err)
	}
}
