package payment

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

var orderService = &authn.Principal{Subject: "service:order", Role: authn.RoleService, Service: "order"}

// newFuzzHandler returns the payment service's real handler, as boot
// serves it, on a SQLite store.
func newFuzzHandler(f *testing.F) http.Handler {
	f.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{
		DSN: filepath.Join(f.TempDir(), "payment.db"), Name: "payment", Migrations: Migrations(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	return httpapi.Routes(NewHandler(NewService(db, func() time.Time { return now }, nil), nil))
}

func serveAs(h http.Handler, p *authn.Principal, r *http.Request) *httptest.ResponseRecorder {
	if p != nil {
		r = r.WithContext(authn.WithPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func checkProblem(t *testing.T, w *httptest.ResponseRecorder, want ...int) {
	t.Helper()
	ok := false
	for _, s := range want {
		ok = ok || w.Code == s
	}
	if !ok {
		t.Fatalf("status %d (%s), want one of %v", w.Code, w.Body, want)
	}
	var p fault.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code == "" || p.Status != w.Code || w.Header().Get("Content-Type") != fault.ContentType {
		t.Fatalf("problem %q (%s): %v", w.Body, w.Header().Get("Content-Type"), err)
	}
}

func chargeSeeds() []string {
	c := func(number string) string {
		return `"card":{"card_number":"` + number + `","exp_month":12,"exp_year":2030,"cvc":"123"}`
	}
	return []string{
		`{"order_id":"o1","amount_cents":4999,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"o2","amount_cents":4999,"currency":"USD",` + c(CardDeclined) + `}`,
		`{"order_id":"o3","amount_cents":4999,"currency":"USD",` + c(CardInsufficient) + `}`,
		`{"order_id":"o1","amount_cents":1,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"o4","amount_cents":10000000000,"currency":"EUR",` + c("5555555555554444") + `}`,
		`{"order_id":"o5","amount_cents":10000000001,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"o6","amount_cents":0,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"o7","amount_cents":-4999,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"o8","amount_cents":9223372036854775808,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"o9","amount_cents":1e3,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"o10","amount_cents":4999,"currency":"usd",` + c(CardSuccess) + `}`,
		`{"order_id":"o11","amount_cents":4999,"currency":"ÜSD",` + c(CardSuccess) + `}`,
		`{"order_id":"o12","amount_cents":4999,"currency":"USD",` + c("4242424242424241") + `}`,
		`{"order_id":"o13","amount_cents":4999,"currency":"USD",` + c("4242 4242 4242 4242") + `}`,
		`{"order_id":"o14","amount_cents":4999,"currency":"USD",` + c("42424242424242424242") + `}`,
		`{"order_id":"o15","amount_cents":4999,"currency":"USD",` + c("٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢") + `}`,
		`{"order_id":"o16","amount_cents":4999,"currency":"USD","card":{"card_number":"4242424242424242","exp_month":0,"exp_year":99,"cvc":"12345"}}`,
		`{"order_id":"o17","amount_cents":4999,"currency":"USD","card":{"card_number":"4242424242424242","exp_month":11,"exp_year":2026,"cvc":"0000"}}`,
		`{"order_id":"o18","amount_cents":4999,"currency":"USD","card":{"card_number":"4242424242424242","exp_month":10,"exp_year":2026,"cvc":"000"}}`,
		`{"order_id":"","amount_cents":4999,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"` + strings.Repeat("o", 65) + `","amount_cents":4999,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"'; DROP TABLE charges; --","amount_cents":4999,"currency":"USD",` + c(CardSuccess) + `}`,
		`{"order_id":"o19","amount_cents":4999,"currency":"USD",` + c(CardSuccess) + `,"card":null}`,
		`{"order_id":"o20","amount_cents":4999,"currency":"USD","card":{"card_number":4242424242424242}}`,
		`{"order_id":"o21","amount_cents":4999,"currency":"USD",` + c(CardSuccess) + `,"last4":"4242"}`,
		`{"order_id":"o22"}`,
		`{}`,
		`null`,
	}
}

// FuzzCharge feeds arbitrary bodies to the real POST /internal/charges
// handler as the order service: no panic, no 5xx, refusals are problems
// with a code, an accepted request kept every bound, and the answer never
// carries the card number. Seeds are in testdata/fuzz/FuzzCharge.
func FuzzCharge(f *testing.F) {
	for _, s := range chargeSeeds() {
		f.Add([]byte(s))
	}
	h := newFuzzHandler(f)
	if w := serveAs(h, orderService, httptest.NewRequest("POST", "/internal/charges", strings.NewReader(chargeSeeds()[0]))); w.Code != http.StatusCreated {
		f.Fatalf("a valid charge: %d %s", w.Code, w.Body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := serveAs(h, orderService, httptest.NewRequest("POST", "/internal/charges", bytes.NewReader(body)))
		if w.Code != http.StatusCreated {
			// 402 declined, 409 voided or charged another amount.
			checkProblem(t, w, 400, 402, 409, 413)
		}
		var req ChargeRequest
		decodeErr := httpapi.Unmarshal(body, &req)
		if w.Code == http.StatusCreated {
			if decodeErr != nil {
				t.Fatalf("the handler accepted a body Unmarshal refuses: %v", decodeErr)
			}
			checkAcceptedCharge(t, req)
		}
		if decodeErr == nil && len(req.Card.Number) >= 8 && strings.Contains(w.Body.String(), req.Card.Number) {
			t.Fatalf("the answer carries the card number: %s", w.Body)
		}
	})
}

// FuzzChargeRequest is the decoding and validation of a charge alone.
func FuzzChargeRequest(f *testing.F) {
	for _, s := range chargeSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req ChargeRequest
		err := httpapi.Unmarshal(body, &req)
		if err == nil {
			err = req.Validate(now)
		}
		if err != nil {
			if k := fault.KindOf(err); k != fault.Invalid {
				t.Fatalf("error %v of kind %v, want Invalid", err, k)
			}
			return
		}
		checkAcceptedCharge(t, req)
	})
}

func checkAcceptedCharge(t *testing.T, req ChargeRequest) {
	t.Helper()
	if req.OrderID == "" || len(req.OrderID) > 64 {
		t.Fatalf("accepted order id %q", req.OrderID)
	}
	if req.AmountCents < 1 || req.AmountCents > 100_000_000_00 {
		t.Fatalf("accepted amount %d", req.AmountCents)
	}
	if len(req.Currency) != 3 || strings.ToUpper(req.Currency) != req.Currency {
		t.Fatalf("accepted currency %q", req.Currency)
	}
	c := req.Card
	if n := len(c.Number); n < 12 || n > 19 || !digits(c.Number) || !luhn(c.Number) {
		t.Fatalf("accepted card number %q", c.Number)
	}
	if c.Last4() != c.Number[len(c.Number)-4:] || c.Brand() == "" {
		t.Fatalf("last4 %q brand %q", c.Last4(), c.Brand())
	}
	if c.ExpMonth < 1 || c.ExpMonth > 12 || c.ExpYear < now.Year() || c.ExpYear > now.Year()+25 ||
		(c.ExpYear == now.Year() && c.ExpMonth < int(now.Month())) {
		t.Fatalf("accepted expiry %d/%d", c.ExpMonth, c.ExpYear)
	}
	if n := len(c.CVC); (n != 3 && n != 4) || !digits(c.CVC) {
		t.Fatalf("accepted cvc %q", c.CVC)
	}
}

// FuzzPaymentQueries feeds arbitrary order ids and audit queries to the
// read routes as an admin: 200, 400 or 404, never a 5xx.
func FuzzPaymentQueries(f *testing.F) {
	for _, s := range []struct{ id, query string }{
		{"o1", ""}, {"nope", "limit=1"}, {"' OR 1=1 --", "limit=-1"}, {strings.Repeat("x", 100), "limit=99999999999999999999"},
		{"%00", "cursor=" + strings.Repeat("z", 1000)}, {"☕", "cursor=o1&limit=5000"}, {"a/b", "limit=abc"},
	} {
		f.Add(s.id, s.query)
	}
	h := newFuzzHandler(f)
	admin := &authn.Principal{Subject: "admin", Role: authn.RoleAdmin}
	f.Fuzz(func(t *testing.T, id, query string) {
		paths := []string{"/internal/charges/" + url.PathEscape(id), (&url.URL{Path: "/internal/audit/charges", RawQuery: query}).String()}
		for _, p := range paths {
			r, err := http.NewRequest(http.MethodGet, p, nil)
			if err != nil {
				continue
			}
			w := serveAs(h, admin, r)
			switch {
			case w.Code == http.StatusOK:
			case w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect:
			default:
				checkProblem(t, w, 400, 404)
			}
		}
	})
}
