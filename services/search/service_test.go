package search

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/sampledata"
)

func newService(t testing.TB) (*Service, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.bleve")
	idx, err := OpenIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return NewService(idx), path
}

func productEvent(t testing.TB, typ string, p Product) events.Event {
	t.Helper()
	ev, err := events.New(typ, "catalog", p.ID, p)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// feedSamples indexes the sample catalog through PRODUCT_CREATED events.
func feedSamples(t testing.TB, svc *Service) {
	t.Helper()
	for _, sp := range sampledata.Products {
		p := Product{ID: sp.ID, Name: sp.Name, Description: sp.Description, PriceCents: sp.PriceCents, Currency: sp.Currency, Version: 1}
		if err := svc.HandleCatalogEvent(context.Background(), productEvent(t, EventProductCreated, p)); err != nil {
			t.Fatalf("handle %s: %v", sp.ID, err)
		}
	}
}

func ids(hits []Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

func search(t *testing.T, svc *Service, q string) []Hit {
	t.Helper()
	hits, err := svc.Search(context.Background(), q, 10)
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	return hits
}

func TestSearchFinds(t *testing.T) {
	svc, _ := newService(t)
	feedSamples(t, svc)
	tests := []struct {
		q     string
		first string   // the best hit
		also  []string // more ids that must be among the hits
	}{
		{"knife", "4521", nil},
		{"Chef's Knife", "4521", nil},
		{"coffee", "", []string{"4501", "4502", "4503", "4504"}},
		{"cof", "", []string{"4501", "4502"}},      // prefix
		{"cofee", "", []string{"4501", "4502"}},    // one typo
		{"kettel", "4512", nil},                    // transposed letters
		{"teapot", "4516", nil},                    // name word
		{"jasmine", "4501", nil},                   // description only
		{"mugs", "4515", nil},                      // stemming
		{"DARJEELING", "4506", nil},                // case
		{"matcha whisk", "4518", []string{"4509"}}, // both words beat one
		{"théière fonte", "", nil},                 // unicode, no match, no error
		{"ethiopia yirgacheffe", "4501", nil},
	}
	for _, tt := range tests {
		hits := search(t, svc, tt.q)
		got := ids(hits)
		if tt.first != "" && (len(got) == 0 || got[0] != tt.first) {
			t.Errorf("search %q = %v, want %s first", tt.q, got, tt.first)
		}
		for _, id := range tt.also {
			if !contains(got, id) {
				t.Errorf("search %q = %v, want %s among them", tt.q, got, id)
			}
		}
	}
	// A hit carries the product as indexed.
	hits := search(t, svc, "knife")
	want := Hit{ID: "4521", Name: "Chef's Knife, 20 cm", Description: sampledata.Products[20].Description, PriceCents: 4999, Currency: "USD", Score: hits[0].Score}
	if diff := cmp.Diff(want, hits[0]); diff != "" || hits[0].Score <= 0 {
		t.Errorf("hit (-want +got):\n%s (score %v)", diff, hits[0].Score)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestUpdateChangesResultsAndOldVersionsAreIgnored(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	v1 := Product{ID: "p1", Name: "Blue Mug", Description: "Ceramic", PriceCents: 1000, Currency: "EUR", Version: 1}
	v2 := Product{ID: "p1", Name: "Green Teapot", Description: "Cast iron", PriceCents: 3000, Currency: "EUR", Version: 2}
	if err := svc.HandleCatalogEvent(ctx, productEvent(t, EventProductCreated, v1)); err != nil {
		t.Fatal(err)
	}
	// Searched before the update too, so a result cached then must not
	// outlive it.
	if got := ids(search(t, svc, "mug")); len(got) != 1 {
		t.Errorf("before the update, mug finds %v, want p1", got)
	}
	if err := svc.HandleCatalogEvent(ctx, productEvent(t, EventProductUpdated, v2)); err != nil {
		t.Fatal(err)
	}
	if got := ids(search(t, svc, "mug")); len(got) != 0 {
		t.Errorf("after the update, mug finds %v, want nothing", got)
	}
	if hits := search(t, svc, "teapot"); len(hits) != 1 || hits[0].PriceCents != 3000 {
		t.Errorf("teapot = %+v, want p1 at 3000", hits)
	}
	// Late or repeated events change nothing.
	for _, ev := range []events.Event{
		productEvent(t, EventProductCreated, v1),
		productEvent(t, EventProductUpdated, Product{ID: "p1", Name: "Stale Mug", PriceCents: 1, Currency: "EUR", Version: 2}),
	} {
		if err := svc.HandleCatalogEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if hits := search(t, svc, "teapot"); len(hits) != 1 || hits[0].Name != "Green Teapot" {
		t.Errorf("after stale events teapot = %+v", hits)
	}
	if got := ids(search(t, svc, "mug")); len(got) != 0 {
		t.Errorf("after stale events mug finds %v, want nothing", got)
	}
}

func TestIndexSurvivesReopen(t *testing.T) {
	svc, path := newService(t)
	if _, err := svc.Index(Product{ID: "p1", Name: "Walnut Board", PriceCents: 1, Currency: "USD", Version: 3}); err != nil {
		t.Fatal(err)
	}
	if err := svc.idx.SetDurable("search-products-x"); err != nil {
		t.Fatal(err)
	}
	svc.idx.Close()
	idx, err := OpenIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	svc = NewService(idx)
	if got := ids(search(t, svc, "walnut")); !cmp.Equal(got, []string{"p1"}) {
		t.Errorf("after reopen walnut = %v", got)
	}
	if applied, err := svc.Index(Product{ID: "p1", Name: "Old", PriceCents: 1, Currency: "USD", Version: 3}); applied || err != nil {
		t.Errorf("version 3 again: applied %v, %v; want ignored", applied, err)
	}
	if d, err := idx.Durable(); d != "search-products-x" || err != nil {
		t.Errorf("durable = %q, %v", d, err)
	}
}

func TestOtherSchemaIsRebuilt(t *testing.T) {
	svc, path := newService(t)
	if _, err := svc.Index(Product{ID: "p1", Name: "Walnut Board", PriceCents: 1, Currency: "USD", Version: 1}); err != nil {
		t.Fatal(err)
	}
	if err := svc.idx.SetDurable("search-products-x"); err != nil {
		t.Fatal(err)
	}
	if err := svc.idx.idx.SetInternal(keySchema, []byte("0")); err != nil {
		t.Fatal(err)
	}
	svc.idx.Close()
	idx, err := OpenIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if got := ids(search(t, NewService(idx), "walnut")); len(got) != 0 {
		t.Errorf("rebuilt index finds %v, want nothing", got)
	}
	if d, err := idx.Durable(); d != "" || err != nil {
		t.Errorf("rebuilt index durable = %q, %v; want none, so the feed replays", d, err)
	}
}

func TestHandleCatalogEvent(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	other, _ := events.New("PRODUCT_DELETED_SOMEDAY", "catalog", "p1", map[string]string{"id": "p1"})
	if err := svc.HandleCatalogEvent(ctx, other); err != nil {
		t.Errorf("unknown type: %v, want ignored", err)
	}
	bad := []events.Event{
		{ID: "e1", Type: EventProductCreated, Data: json.RawMessage(`not json`)},
		{ID: "e2", Type: EventProductUpdated, Data: json.RawMessage(`{"id":"p1"}`)},   // no version
		{ID: "e3", Type: EventProductUpdated, Data: json.RawMessage(`{"version":4}`)}, // no id
		{ID: "e4", Type: EventProductCreated, Data: json.RawMessage(`{"id":7,"version":1}`)},
	}
	for _, ev := range bad {
		if err := svc.HandleCatalogEvent(ctx, ev); !events.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", ev.Data, err)
		}
	}
}

func TestBackfill(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	// The event of a newer version arrived before the snapshot: it wins.
	if _, err := svc.Index(Product{ID: "4521", Name: "Renamed Santoku", PriceCents: 5999, Currency: "USD", Version: 2}); err != nil {
		t.Fatal(err)
	}
	calls := 0
	pages := func(ctx context.Context, cursor string) ([]Product, string, error) {
		calls++
		var out []Product
		for _, sp := range sampledata.Products {
			if sp.ID > cursor && len(out) < 10 {
				out = append(out, Product{ID: sp.ID, Name: sp.Name, Description: sp.Description, PriceCents: sp.PriceCents, Currency: sp.Currency, Version: 1})
			}
		}
		next := ""
		if len(out) == 10 && out[9].ID != sampledata.Products[len(sampledata.Products)-1].ID {
			next = out[9].ID
		}
		return out, next, nil
	}
	n, err := svc.Backfill(ctx, pages)
	if err != nil || n != len(sampledata.Products)-1 {
		t.Fatalf("backfill = %d, %v; want %d", n, err, len(sampledata.Products)-1)
	}
	if hits := search(t, svc, "santoku"); len(hits) != 1 || hits[0].PriceCents != 5999 {
		t.Errorf("santoku = %+v, want the newer version", hits)
	}
	// Done once per index.
	before := calls
	if n, err := svc.Backfill(ctx, pages); n != 0 || err != nil || calls != before {
		t.Errorf("second backfill = %d, %v after %d calls; want nothing done", n, err, calls-before)
	}

	// A failing page leaves the index not backfilled, to be retried.
	svc2, _ := newService(t)
	if _, err := svc2.Backfill(ctx, func(context.Context, string) ([]Product, string, error) {
		return nil, "", fault.Unavailablef("catalog is down")
	}); err == nil {
		t.Fatal("backfill with the catalog down succeeded")
	}
	if done, _ := svc2.idx.Backfilled(); done {
		t.Error("a failed backfill is recorded as done")
	}
}

func TestRoutes(t *testing.T) {
	svc, _ := newService(t)
	feedSamples(t, svc)
	h := NewHandler(svc, slog.New(slog.DiscardHandler))
	get := func(rawQuery string) (int, string) {
		r := httptest.NewRequest("GET", "/api/v1/search?"+rawQuery, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	status, body := get("q=coffee&limit=2")
	var res struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || status != 200 || len(res.Items) != 2 {
		t.Fatalf("coffee: %d %s", status, body)
	}
	for _, k := range []string{"id", "name", "description", "price_cents", "currency", "score"} {
		if _, ok := res.Items[0][k]; !ok {
			t.Errorf("item lacks %q: %v", k, res.Items[0])
		}
	}
	if status, body := get("q=zzzzqqqq"); status != 200 || body != `{"items":[]}` {
		t.Errorf("no match: %d %s, want an empty list", status, body)
	}

	invalid := []string{
		"", "q=", "q=%20%20", "q=" + strings.Repeat("a", MaxQueryLen+1), "q=%ff%fe",
		"q=tea&limit=0", "q=tea&limit=101", "q=tea&limit=ten", "q=tea&limit=99999999999999999999",
	}
	for _, raw := range invalid {
		if status, body := get(raw); status != 400 {
			t.Errorf("%s: %d %s, want 400", raw, status, body)
		}
	}
}

// Whatever q holds, the answer is 200 or 400, never a server error.
func TestHostileQueries(t *testing.T) {
	svc, _ := newService(t)
	feedSamples(t, svc)
	h := NewHandler(svc, slog.New(slog.DiscardHandler))
	hostile := []string{
		`"`, `""`, `"unterminated`, `'`, `\`, `\\\`, `*`, `?`, `~`, `^`, `:`, `/`, `/regex.*/`,
		`+coffee -tea`, `name:knife`, `_id:4521`, `coffee AND tea OR NOT mug`, `coffee~2`, `cof*`, `te?`,
		`price_cents:>1000`, `(((((`, `)))))`, `[a TO z]`, `{a TO z}`, `&&||!`, `<script>alert(1)</script>`,
		`' OR 1=1 --`, `%00`, "\x00", "\x01\x02", "a\x00b", "\t\n\r", "\u202eevil", "\ufeff", "😀", "👩‍👩‍👧",
		"☕ coffee", "中文搜索", "مرحبا", "Ωμέγα", "ᚠᛇᚻ", strings.Repeat("é", MaxQueryLen),
		strings.Repeat("a ", MaxQueryLen/2), strings.Repeat("coffee ", 28), strings.Repeat("x", MaxQueryLen),
		strings.Repeat("𝕏", MaxQueryLen), "a", "1", "0x41", "1e309", "-1", "NaN", "null", "{}", "[]",
	}
	for _, q := range hostile {
		r := httptest.NewRequest("GET", "/api/v1/search?q="+url.QueryEscape(q), nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 && w.Code != 400 {
			t.Errorf("q=%q: status %d: %s", q, w.Code, w.Body)
		}
	}
	for i := range 256 {
		q := fmt.Sprintf("%c%c", rune(i), rune(255-i))
		if _, err := svc.Search(context.Background(), q, 5); err != nil && !fault.Is(err, fault.Invalid) {
			t.Errorf("q=%q: %v", q, err)
		}
	}
}
