package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
	"github.com/souk/souk/platform/sqlstore"
)

var (
	fuzzService = &authn.Principal{Subject: "service:order", Role: authn.RoleService, Service: "order"}
	fuzzAdmin   = &authn.Principal{Subject: "admin", Role: authn.RoleAdmin}
)

// newFuzzHandler returns the inventory's real handler, as boot serves it,
// on a SQLite store seeded with two products.
func newFuzzHandler(f *testing.F) (http.Handler, *Service) {
	f.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{
		DSN: filepath.Join(f.TempDir(), "inventory.db"), Name: "inventory", Migrations: Migrations(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	svc := NewService(db, func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }, 15*time.Minute)
	if err := svc.Seed(context.Background(), []InitialStock{{ProductID: "4521", Quantity: 1_000_000}, {ProductID: "4502", Quantity: 12}}); err != nil {
		f.Fatal(err)
	}
	return httpapi.Routes(NewHandler(svc, nil)), svc
}

func serveAs(h http.Handler, p *authn.Principal, r *http.Request) *httptest.ResponseRecorder {
	if p != nil {
		r = r.WithContext(authn.WithPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkAnswer fails unless w is a success in ok, a redirect to a cleaner
// path, or a problem with a code and a status in problems.
func checkAnswer(t *testing.T, w *httptest.ResponseRecorder, ok []int, problems ...int) {
	t.Helper()
	for _, s := range ok {
		if w.Code == s {
			return
		}
	}
	if w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect {
		return
	}
	want := false
	for _, s := range problems {
		want = want || w.Code == s
	}
	if !want {
		t.Fatalf("status %d (%s), want one of %v or %v", w.Code, w.Body, ok, problems)
	}
	var p fault.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code == "" || p.Status != w.Code || w.Header().Get("Content-Type") != fault.ContentType {
		t.Fatalf("problem %q (%s): %v", w.Body, w.Header().Get("Content-Type"), err)
	}
}

// checkBalanced fails unless every product keeps the inventory invariant.
func checkBalanced(t *testing.T, svc *Service) {
	t.Helper()
	page, err := svc.AuditStock(context.Background(), "", MaxAuditLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range page.Items {
		if !s.Balanced() {
			t.Fatalf("stock out of balance: %+v", s)
		}
	}
}

// FuzzReserve feeds arbitrary bodies to the real POST
// /internal/reservations handler as the order service: no panic, no 5xx,
// refusals are problems, accepted requests kept the bounds, and the stock
// of every product stays balanced and never negative. Seeds are in
// testdata/fuzz/FuzzReserve.
func FuzzReserve(f *testing.F) {
	many := strings.Repeat(`{"product_id":"4521","quantity":1},`, 50)
	for _, s := range []string{
		`{"order_id":"o1","items":[{"product_id":"4521","quantity":2}]}`,
		`{"order_id":"o2","items":[{"product_id":"4521","quantity":1},{"product_id":"4502","quantity":1},{"product_id":"4521","quantity":1000}]}`,
		`{"order_id":"o3","items":[{"product_id":"4502","quantity":13}]}`,
		`{"order_id":"o4","items":[{"product_id":"nope","quantity":1}]}`,
		`{"order_id":"o5","items":[{"product_id":"4521","quantity":0}]}`,
		`{"order_id":"o6","items":[{"product_id":"4521","quantity":-5}]}`,
		`{"order_id":"o7","items":[{"product_id":"4521","quantity":1001}]}`,
		`{"order_id":"o8","items":[{"product_id":"4521","quantity":9223372036854775807}]}`,
		`{"order_id":"o9","items":[{"product_id":"4521","quantity":9223372036854775808}]}`,
		`{"order_id":"o10","items":[{"product_id":"4521","quantity":"1"}]}`,
		`{"order_id":"o11","items":[]}`,
		`{"order_id":"o12","items":{}}`,
		`{"order_id":"o13","items":[` + many + `{"product_id":"4521","quantity":1}]}`,
		`{"order_id":"a,b","items":[{"product_id":"4521","quantity":1}]}`,
		`{"order_id":"o 14","items":[{"product_id":"45 21","quantity":1}]}`,
		`{"order_id":"o15","items":[{"product_id":"' OR 1=1 --","quantity":1}]}`,
		`{"order_id":"☕","items":[{"product_id":"🍵","quantity":1}]}`,
		`{"order_id":"o1","items":[{"product_id":"4502","quantity":1}]}`,
		`{"order_id":"o16","items":[{"product_id":"4521","quantity":1}],"order_id":"o17"}`,
		`{"order_id":"o18","items":[{"product_id":"4521","quantity":1}],"ttl":"forever"}`,
		`{"order_id":"o19"}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	h, svc := newFuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := serveAs(h, fuzzService, httptest.NewRequest("POST", "/internal/reservations", bytes.NewReader(body)))
		// 409 out of stock or reservation released; 404 unknown product.
		checkAnswer(t, w, []int{200, 201}, 400, 404, 409, 413)
		if w.Code == 200 || w.Code == 201 {
			var req ReserveRequest
			if err := httpapi.Unmarshal(body, &req); err != nil {
				t.Fatalf("the handler accepted a body Unmarshal refuses: %v", err)
			}
			if !ValidID(req.OrderID) || len(req.Items) < 1 || len(req.Items) > MaxItems {
				t.Fatalf("accepted %+v", req)
			}
			for _, it := range req.Items {
				if !ValidID(it.ProductID) || it.Quantity < 1 || it.Quantity > MaxQuantity {
					t.Fatalf("accepted item %+v", it)
				}
			}
		}
		checkBalanced(t, svc)
	})
}

// FuzzSetStock feeds arbitrary product ids and bodies to the real PUT
// /api/v1/inventory/{product_id} handler as an admin: 200 with exactly the
// count asked for, or a 400/413 problem; the stock stays balanced.
func FuzzSetStock(f *testing.F) {
	for _, s := range []struct{ id, body string }{
		{"4521", `{"available":12}`}, {"4502", `{"available":0}`}, {"new-1", `{"available":1000000000}`},
		{"4521", `{"available":1000000001}`}, {"4521", `{"available":-1}`}, {"4521", `{}`}, {"4521", `{"available":null}`},
		{"4521", `{"available":"12"}`}, {"4521", `{"available":1.5}`}, {"4521", `{"available":1e9}`},
		{"4521", `{"available":12,"reserved":0}`}, {"4521", `{"available":1,"available":2}`},
		{"' OR 1=1 --", `{"available":1}`}, {"a,b", `{"available":1}`}, {strings.Repeat("x", 65), `{"available":1}`},
		{"☕", `{"available":1}`}, {"", `{"available":1}`}, {"..", `{"available":1}`},
	} {
		f.Add(s.id, []byte(s.body))
	}
	h, svc := newFuzzHandler(f)
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		r, err := http.NewRequest(http.MethodPut, "/api/v1/inventory/"+url.PathEscape(id), bytes.NewReader(body))
		if err != nil {
			return
		}
		w := serveAs(h, fuzzAdmin, r)
		checkAnswer(t, w, []int{200}, 400, 404, 405, 413)
		if w.Code == 200 {
			var req SetStockRequest
			if err := httpapi.Unmarshal(body, &req); err != nil || req.Available == nil {
				t.Fatalf("the handler accepted %q: %v", body, err)
			}
			var got StockView
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Available != *req.Available || *req.Available < 0 || *req.Available > MaxAvailable || !ValidID(got.ProductID) {
				t.Fatalf("asked %d for %q, got %+v", *req.Available, id, got)
			}
		}
		checkBalanced(t, svc)
	})
}

// FuzzStockQueries feeds arbitrary ids and query strings to the read
// routes: the public level, the gateway's batch read and the audits.
func FuzzStockQueries(f *testing.F) {
	for _, s := range []struct{ id, query string }{
		{"4521", "ids=4521,4502"}, {"nope", "ids="}, {"' OR 1=1 --", "ids=" + strings.Repeat("4521,", 101)},
		{"%2e%2e", "ids=,,,"}, {"☕", "ids=a%00b"}, {strings.Repeat("9", 65), "limit=0"}, {"a b", "limit=-1&cursor=4521"},
		{"x", "limit=99999999999999999999"}, {"x", "limit=5001"}, {"x", "cursor=a,b"}, {"x", "cursor=" + strings.Repeat("c", 65)},
	} {
		f.Add(s.id, s.query)
	}
	h, _ := newFuzzHandler(f)
	f.Fuzz(func(t *testing.T, id, query string) {
		for _, c := range []struct {
			path string
			who  *authn.Principal
		}{
			{"/api/v1/inventory/" + url.PathEscape(id), nil},
			{(&url.URL{Path: "/internal/stock", RawQuery: query}).String(), fuzzService},
			{(&url.URL{Path: "/internal/audit/stock", RawQuery: query}).String(), fuzzAdmin},
			{(&url.URL{Path: "/internal/audit/reservations", RawQuery: query}).String(), fuzzAdmin},
		} {
			r, err := http.NewRequest(http.MethodGet, c.path, nil)
			if err != nil {
				continue
			}
			checkAnswer(t, serveAs(h, c.who, r), []int{200}, 400, 404)
		}
	})
}
