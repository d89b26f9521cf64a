package legacy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
	"github.com/souk/souk/sampledata"
)

func newTestStore(t *testing.T, open func(fs.FS) *sqlstore.DB) *Store {
	t.Helper()
	s := NewStore(open(Migrations()))
	n, err := s.Seed(context.Background(), sampledata.Products)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(sampledata.Products) {
		t.Fatalf("seeded %d products, want %d", n, len(sampledata.Products))
	}
	return s
}

func get(t *testing.T, h http.Handler, path string) (status int, header http.Header, body string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w.Code, w.Header(), w.Body.String()
}

func TestRoutes(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := NewHandler(newTestStore(t, open), slog.New(slog.DiscardHandler), slog.LevelDebug)
		tests := []struct {
			name, path string
			status     int
			want       string // problem code, or a substring of a 2xx body
		}{
			{"list", "/api/v1/products?limit=2", 200, `"next_cursor":"NDUwMg"`},
			{"list, default limit", "/api/v1/products", 200, `"id":"4520","name"`},
			{"list, next page", "/api/v1/products?limit=2&cursor=NDUwMg", 200, `{"items":[{"id":"4503"`},
			{"list, last page", "/api/v1/products?limit=100", 200, `"next_cursor":""`},
			{"list, limit 0", "/api/v1/products?limit=0", 400, "invalid"},
			{"list, limit 101", "/api/v1/products?limit=101", 400, "invalid"},
			{"list, limit text", "/api/v1/products?limit=ten", 400, "invalid"},
			{"list, bad cursor", "/api/v1/products?cursor=%00%ff", 400, "invalid"},
			{"product page", "/api/v1/products/4521", 200, `"price_cents":4999,"currency":"USD","stock":{"available":12},"recommendations":[]`},
			{"unknown product", "/api/v1/products/nope", 404, "not_found"},
			{"hostile product id", "/api/v1/products/" + url.PathEscape("' OR 1=1 --"), 404, "not_found"},
			{"overlong product id", "/api/v1/products/" + strings.Repeat("9", 65), 400, "invalid"},
			{"search", "/api/v1/search?q=kettle", 200, `"id":"4512"`},
			{"search, any case", "/api/v1/search?q=KeTTle", 200, `"id":"4512"`},
			{"search, nothing", "/api/v1/search?q=bicycle", 200, `{"items":[]}`},
			{"search, % is literal", "/api/v1/search?q=%25", 200, `{"items":[]}`},
			{"search, _ is literal", "/api/v1/search?q=_", 200, `{"items":[]}`},
			{"search, blank", "/api/v1/search?q=%20", 400, "invalid"},
			{"search, missing", "/api/v1/search", 400, "invalid"},
			{"search, overlong", "/api/v1/search?q=" + strings.Repeat("a", 201), 400, "invalid"},
			{"search, limit 0", "/api/v1/search?q=tea&limit=0", 400, "invalid"},
			{"report", "/legacy/reports/sales?top=1", 200, `"rows":[{"product_id":"4524","name":"Enamel Dutch Oven, 4 L","units":9,"revenue_cents":107100`},
			{"report, top 0", "/legacy/reports/sales?top=0", 400, "invalid"},
			{"report, top text", "/legacy/reports/sales?top=x", 400, "invalid"},
			{"health", "/health", 200, `{"status":"healthy"}`},
			{"no such page", "/api/v1/orders", 404, "not_found"},
		}
		for _, tt := range tests {
			status, hdr, body := get(t, h, tt.path)
			if got := hdr.Get(ServedBy); got != "legacy" {
				t.Errorf("%s: %s = %q, want legacy", tt.name, ServedBy, got)
			}
			if status != tt.status {
				t.Errorf("%s: status = %d, want %d; body %s", tt.name, status, tt.status, body)
				continue
			}
			if status >= 400 {
				var p fault.Problem
				if err := json.Unmarshal([]byte(body), &p); err != nil || p.Code != tt.want || hdr.Get("Content-Type") != fault.ContentType {
					t.Errorf("%s: problem code = %q (%v, %s), want %q; body %s", tt.name, p.Code, err, hdr.Get("Content-Type"), tt.want, body)
				}
			} else if !strings.Contains(body, tt.want) {
				t.Errorf("%s: body %s lacks %s", tt.name, body, tt.want)
			}
		}
	})
}

// TestListPagesThroughEverything walks the list by cursor as a client
// would and finds the whole sample catalog once, in order.
func TestListPagesThroughEverything(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		s := newTestStore(t, open)
		var got []Product
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > len(sampledata.Products) {
				t.Fatal("the cursor does not advance")
			}
			p, err := s.Page(context.Background(), cursor, 7)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p.Items...)
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		var want []Product
		for _, p := range sampledata.Products {
			want = append(want, Product{ID: p.ID, Name: p.Name, Description: p.Description, PriceCents: p.PriceCents, Currency: p.Currency})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
	})
}

func TestSearchRanksNamesFirst(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		s := newTestStore(t, open)
		// "matcha" is in the names of 4509 and 4518 and only in the
		// descriptions of 4505 (no), 4520 ("matcha lattes").
		hits, err := s.Search(context.Background(), "matcha", 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.ID+":"+strings.Repeat("*", int(h.Score)))
		}
		want := []string{"4509:**", "4518:**", "4520:*"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("hits (-want +got):\n%s", diff)
		}
	})
}

func TestSeedOnceAndReport(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		s := newTestStore(t, open)
		ctx := context.Background()
		if n, err := s.Seed(ctx, sampledata.Products); err != nil || n != 0 {
			t.Fatalf("second Seed = %d, %v; want 0, nil", n, err)
		}
		rep, err := s.SalesReport(ctx, MaxPageSize)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(rep.Rows), len(sampledata.Products); got != want {
			t.Fatalf("report rows = %d, want %d (every product sold)", got, want)
		}
		var units, cents int64
		for i, r := range rep.Rows {
			units += r.Units
			cents += r.RevenueCents
			if i > 0 && r.RevenueCents > rep.Rows[i-1].RevenueCents {
				t.Errorf("row %d (%d) sorts after a smaller one (%d)", i, r.RevenueCents, rep.Rows[i-1].RevenueCents)
			}
		}
		if units != rep.TotalUnits || cents != rep.TotalCents {
			t.Errorf("rows sum to %d units, %d cents; totals say %d, %d", units, cents, rep.TotalUnits, rep.TotalCents)
		}
		if rep.TotalUnits != 145 || rep.TotalCents != 478867 {
			t.Errorf("totals = %d units, %d cents; want the fixed history's 145, 478867", rep.TotalUnits, rep.TotalCents)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"sqlite", Config{Addr: "127.0.0.1:9090", DataDir: "d"}, true},
		{"free port", Config{Addr: "127.0.0.1:0", DataDir: "d"}, true},
		{"postgres", Config{Addr: ":9090", DatabaseURL: "postgres://u@h/db"}, true},
		{"no port", Config{Addr: "127.0.0.1", DataDir: "d"}, false},
		{"no data", Config{Addr: "127.0.0.1:9090"}, false},
		{"not postgres", Config{Addr: "127.0.0.1:9090", DatabaseURL: "mysql://x"}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// TestRun starts the monolith as `souk legacy` does, serves a request,
// stops it by its context, and starts it again on the same data.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	for round := 1; round <= 2; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		var logs strings.Builder
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Config{Addr: "127.0.0.1:0", DataDir: dir}, pw, &logs)
			pw.Close()
		}()
		lines := bufio.NewScanner(pr)
		if !lines.Scan() {
			cancel()
			t.Fatalf("round %d: no startup line; Run: %v", round, <-done)
		}
		first := lines.Text()
		i := strings.Index(first, "http://")
		if !strings.HasPrefix(first, "souk legacy: serving http://") || i < 0 {
			cancel()
			t.Fatalf("round %d: startup line %q", round, first)
		}
		base := strings.Fields(first[i:])[0]
		resp, err := http.Get(base + "/api/v1/products?limit=100")
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var page Page
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(page.Items) != len(sampledata.Products) || resp.Header.Get(ServedBy) != "legacy" {
			t.Errorf("round %d: list = %d %s, %d items, %v", round, resp.StatusCode, resp.Header.Get(ServedBy), len(page.Items), err)
		}
		cancel()
		var rest []string
		for lines.Scan() {
			rest = append(rest, lines.Text())
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: Run = %v, want nil after a graceful stop", round, err)
			}
		case <-time.After(ShutdownTimeout + time.Second):
			t.Fatalf("round %d: Run did not return after cancel", round)
		}
		if diff := cmp.Diff([]string{"souk legacy: stopping", "souk legacy: stopped"}, rest); diff != "" {
			t.Errorf("round %d: lines after start (-want +got):\n%s", round, diff)
		}
		seeded := strings.Contains(logs.String(), "seeded the legacy database")
		if seeded != (round == 1) {
			t.Errorf("round %d: seeded = %v; logs %s", round, seeded, logs.String())
		}
	}
}
