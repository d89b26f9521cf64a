package order

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

// fuzzNow is the fuzzers' clock: cards expiring in 2026-12 or later are
// valid.
var fuzzNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// newFuzzHandler returns the order service's real handler on a SQLite
// store, with the fakes of the unit tests as its neighbours and plenty of
// stock, so that a valid order can succeed again and again.
func newFuzzHandler(f *testing.F) http.Handler {
	f.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{
		DSN: filepath.Join(f.TempDir(), "order.db"), Name: "order", Migrations: Migrations(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	svc := NewService(Options{
		DB: db,
		Catalog: &fakeCatalog{products: map[string]Product{
			"4521": {ID: "4521", Name: "Coffee grinder", PriceCents: 4999, Currency: "USD"},
			"4502": {ID: "4502", Name: "Tea", PriceCents: 1250, Currency: "USD"},
			"eur1": {ID: "eur1", Name: "Croissant", PriceCents: 250, Currency: "EUR"},
		}},
		Inventory:       newFakeInventory(map[string]int64{"4521": 1 << 40, "4502": 1 << 40, "eur1": 1 << 40}),
		Payments:        newFakePayments(),
		Now:             func() time.Time { return fuzzNow },
		CheckoutTimeout: 5 * time.Second,
	})
	// As boot serves it: the mux's own 404 and 405 become problems.
	return httpapi.Routes(NewHandler(svc, nil))
}

// serveAs runs r through h as principal p and returns the recorded answer.
func serveAs(h http.Handler, p *authn.Principal, r *http.Request) *httptest.ResponseRecorder {
	r = r.WithContext(authn.WithPrincipal(r.Context(), p))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkProblem fails unless w is a problem+json answer with a code and a
// status in want.
func checkProblem(t *testing.T, w *httptest.ResponseRecorder, want ...int) {
	t.Helper()
	ok := false
	for _, s := range want {
		ok = ok || w.Code == s
	}
	if !ok {
		t.Fatalf("status %d (%s), want one of %v", w.Code, w.Body, want)
	}
	if ct := w.Header().Get("Content-Type"); ct != fault.ContentType {
		t.Fatalf("content type %q of a %d", ct, w.Code)
	}
	var p fault.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code == "" || p.Status != w.Code {
		t.Fatalf("problem %s: %v", w.Body, err)
	}
}

func fuzzPlaceSeeds() []string {
	card := `"payment":{"card_number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}`
	many := make([]string, 51)
	for i := range many {
		many[i] = `{"product_id":"4521","quantity":1}`
	}
	return []string{
		`{"items":[{"product_id":"4521","quantity":2}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":1},{"product_id":"4502","quantity":3},{"product_id":"4521","quantity":1}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":1}],"payment":{"card_number":"4000000000000002","exp_month":12,"exp_year":2030,"cvc":"123"}}`,
		`{"items":[{"product_id":"4521","quantity":1},{"product_id":"eur1","quantity":1}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":1}],"payment":{"card_number":"4242424242424241","exp_month":13,"exp_year":2026,"cvc":"12a"}}`,
		`{"items":[{"product_id":"4521","quantity":1}],"payment":{"card_number":"4242424242424242","exp_month":10,"exp_year":2026,"cvc":"123"}}`,
		`{"items":[{"product_id":"4521","quantity":"2"}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":0}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":-1}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":1001}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":1e30}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":9223372036854775808}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":2.5}],` + card + `}`,
		`{"items":[],` + card + `}`,
		`{"items":{},` + card + `}`,
		`{"items":null,` + card + `}`,
		`{"items":[` + strings.Join(many, ",") + `],` + card + `}`,
		`{"items":[{"product_id":"nope","quantity":1}],` + card + `}`,
		`{"items":[{"product_id":"' OR 1=1 --","quantity":1}],` + card + `}`,
		`{"items":[{"product_id":"../../internal","quantity":1}],` + card + `}`,
		`{"items":[{"product_id":"☕🍵","quantity":1}],` + card + `}`,
		`{"items":[{"product_id":"45\u000021","quantity":1}],` + card + `}`,
		`{"items":[{"product_id":"` + strings.Repeat("x", 65) + `","quantity":1}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":1}],` + card + `,"admin":true}`,
		`{"items":[{"product_id":"4521","quantity":1}],` + card + `,"items":[]}`,
		`{"items":[{"product_id":"4521","quantity":1,"PRODUCT_ID":"4502"}],` + card + `}`,
		`{"items":[{"product_id":"4521","quantity":1}],` + card + `}{}`,
		`{"items":[{"product_id":"4521","quantity":1}],` + card,
		`{"items":[{"product_id":"4521","quantity":1}],"payment":null}`,
		`{"items":[{"product_id":"4521","quantity":1}],"payment":{"card_number":4242424242424242,"exp_month":12,"exp_year":2030,"cvc":123}}`,
		`null`,
		`[]`,
	}
}

// FuzzPlaceOrder feeds arbitrary bodies and Idempotency-Keys to the real
// POST /api/v1/orders handler: it must never panic nor answer 5xx, every
// refusal must be a problem with a code, and whatever is accepted must have
// passed the documented bounds. Seeds are in testdata/fuzz/FuzzPlaceOrder.
func FuzzPlaceOrder(f *testing.F) {
	for i, s := range fuzzPlaceSeeds() {
		key := ""
		if i%3 == 1 {
			key = "key-1"
		}
		f.Add([]byte(s), key)
	}
	f.Add([]byte(fuzzPlaceSeeds()[0]), strings.Repeat("k", 201))
	f.Add([]byte(fuzzPlaceSeeds()[0]), "key with spaces")
	f.Add([]byte(fuzzPlaceSeeds()[0]), "ключ")
	h := newFuzzHandler(f)
	ada := &authn.Principal{Subject: "u-ada", Email: "ada@example.com", Name: "Ada", Role: authn.RoleCustomer}
	// The fixture itself: a valid order is placed.
	if w := serveAs(h, ada, httptest.NewRequest(http.MethodPost, "/api/v1/orders", strings.NewReader(fuzzPlaceSeeds()[0]))); w.Code != http.StatusCreated {
		f.Fatalf("a valid order: %d %s", w.Code, w.Body)
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/orders", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if key != "" {
			if strings.ContainsAny(key, "\r\n\x00") {
				return // not a header net/http would deliver
			}
			r.Header.Set("Idempotency-Key", key)
		}
		w := serveAs(h, ada, r)
		if w.Code >= 300 {
			// 402 declined, 409 out of stock or reused key, 422 key reuse.
			checkProblem(t, w, 400, 402, 409, 413, 422)
			return
		}
		if w.Code != http.StatusCreated && w.Code != http.StatusAccepted {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if key != "" && !ValidIdempotencyKey(key) {
			t.Fatalf("accepted Idempotency-Key %q", key)
		}
		var req PlaceRequest
		if err := httpapi.Unmarshal(body, &req); err != nil {
			t.Fatalf("the handler accepted a body Unmarshal refuses: %v", err)
		}
		checkAcceptedOrder(t, req)
	})
}

// FuzzPlaceRequest is FuzzPlaceOrder without the service: decoding and
// validation alone, fast enough to explore the card and line rules.
func FuzzPlaceRequest(f *testing.F) {
	for _, s := range fuzzPlaceSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req PlaceRequest
		err := httpapi.Unmarshal(body, &req)
		if err == nil {
			err = req.Validate(fuzzNow)
		}
		if err != nil {
			if k := fault.KindOf(err); k != fault.Invalid {
				t.Fatalf("error %v of kind %v, want Invalid", err, k)
			}
			return
		}
		checkAcceptedOrder(t, req)
	})
}

// checkAcceptedOrder fails unless req keeps every documented bound.
func checkAcceptedOrder(t *testing.T, req PlaceRequest) {
	t.Helper()
	if n := len(req.Items); n < 1 || n > MaxItems {
		t.Fatalf("accepted %d lines", n)
	}
	for _, it := range req.Items {
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			t.Fatalf("accepted quantity %d", it.Quantity)
		}
		if it.ProductID == "" || len(it.ProductID) > maxIDLen || !printable(it.ProductID) {
			t.Fatalf("accepted product id %q", it.ProductID)
		}
	}
	c := req.Payment
	if n := len(c.Number); n < 12 || n > 19 || strings.Trim(c.Number, "0123456789") != "" {
		t.Fatalf("accepted card number of %d characters", n)
	}
	if c.ExpMonth < 1 || c.ExpMonth > 12 || c.ExpYear < fuzzNow.Year() || c.ExpYear > fuzzNow.Year()+25 {
		t.Fatalf("accepted expiry %d/%d", c.ExpMonth, c.ExpYear)
	}
	if c.ExpYear == fuzzNow.Year() && c.ExpMonth < int(fuzzNow.Month()) {
		t.Fatalf("accepted an expired card %d/%d", c.ExpMonth, c.ExpYear)
	}
	if n := len(c.CVC); (n != 3 && n != 4) || strings.Trim(c.CVC, "0123456789") != "" {
		t.Fatalf("accepted cvc of %d characters", n)
	}
	if len(req.lines()) > len(req.Items) {
		t.Fatalf("merging %d lines gave more", len(req.Items))
	}
}

// FuzzOrderQueries feeds arbitrary query strings to GET /api/v1/orders and
// arbitrary ids to GET /api/v1/orders/{id} and its history: 200, 400, 403
// or 404, never a 5xx.
func FuzzOrderQueries(f *testing.F) {
	for _, s := range []struct{ query, id string }{
		{"", "0190f0b2-6b1c-7c3e-9f2a-1b2c3d4e5f60"},
		{"limit=1", "x"},
		{"limit=0", "' OR 1=1 --"},
		{"limit=101", "../../internal/audit/orders"},
		{"limit=99999999999999999999", strings.Repeat("9", 65)},
		{"limit=-1&cursor=", "%00"},
		{"cursor=" + (cursor{createdAt: 1, id: "x"}).String(), "☕"},
		{"cursor=not-base64!!", ""},
		{"cursor=" + url.QueryEscape("MTo="), "a b"},
		{"all=true", "\x00"},
		{"all=true&limit=5&cursor=OTIyMzM3MjAzNjg1NDc3NTgwODphYmM", "a/b"},
		{"limit=1&limit=2", "%2e%2e"},
	} {
		f.Add(s.query, s.id)
	}
	h := newFuzzHandler(f)
	ada := &authn.Principal{Subject: "u-ada", Email: "ada@example.com", Name: "Ada", Role: authn.RoleCustomer}
	f.Fuzz(func(t *testing.T, query, id string) {
		u := &url.URL{Path: "/api/v1/orders", RawQuery: query}
		r, err := http.NewRequest(http.MethodGet, u.String(), nil)
		if err != nil {
			return
		}
		if w := serveAs(h, ada, r); w.Code != http.StatusOK {
			checkProblem(t, w, 400, 403)
		}
		for _, path := range []string{"/api/v1/orders/" + url.PathEscape(id), "/api/v1/orders/" + url.PathEscape(id) + "/history"} {
			r, err := http.NewRequest(http.MethodGet, path, nil)
			if err != nil {
				continue
			}
			w := serveAs(h, ada, r)
			switch {
			case w.Code == http.StatusOK:
			case w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect:
				// ServeMux sends an unclean path ("//", "..") to its clean form.
				if w.Header().Get("Location") == "" {
					t.Fatalf("%s: redirect without Location", path)
				}
			default:
				checkProblem(t, w, 400, 404)
			}
		}
	})
}

// FuzzCursor checks the list cursor: parsing never panics, refuses only as
// Invalid, and what it accepts encodes back to a cursor that parses to the
// same position.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", cursor{createdAt: 1732708800000, id: "0190f0b2-6b1c-7c3e-9f2a-1b2c3d4e5f60"}.String(), "MTo", "Og", "LTE6eA", "OTk5OTk5OTk5OTk5OTk5OTk5OTk6eA", "!!", strings.Repeat("A", 201)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("error %v of kind %v, want Invalid", err, fault.KindOf(err))
			}
			return
		}
		if s == "" {
			if c.set() {
				t.Fatalf("empty cursor parsed to %+v", c)
			}
			return
		}
		if c.id == "" || len(c.id) > maxIDLen {
			t.Fatalf("accepted cursor id %q", c.id)
		}
		back, err := parseCursor(c.String())
		if err != nil || back != c {
			t.Fatalf("%+v encodes to %q, which parses to %+v, %v", c, c.String(), back, err)
		}
	})
}
