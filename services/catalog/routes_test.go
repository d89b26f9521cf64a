package catalog

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
	"github.com/souk/souk/sampledata"
)

var (
	admin    = &authn.Principal{Subject: "u-admin", Role: authn.RoleAdmin}
	customer = &authn.Principal{Subject: "u-1", Role: authn.RoleCustomer}
	service  = &authn.Principal{Subject: "service:order", Role: authn.RoleService, Service: "order"}
)

// call sends a request as p (nil: anonymous) and returns the status and
// body.
func call(t *testing.T, h http.Handler, p *authn.Principal, method, target, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if p != nil {
		r = r.WithContext(authn.WithPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func newHandler(t *testing.T, open func(fs.FS) *sqlstore.DB) http.Handler {
	svc, _ := newService(t, open)
	if _, err := svc.Seed(context.Background(), sampledata.Products); err != nil {
		t.Fatal(err)
	}
	return NewHandler(svc, slog.New(slog.DiscardHandler))
}

func TestRoutes(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := newHandler(t, open)
		const mug = `{"id":"mug-9","name":"Mug","description":"Green","price_cents":1200,"currency":"EUR"}`
		const put = `{"name":"Mug","description":"Green","price_cents":1300,"currency":"EUR"}`
		tests := []struct {
			name         string
			who          *authn.Principal
			method, path string
			body         string
			status       int
			code         string // problem code, or a substring of the body for 2xx
		}{
			{"product page, anonymous", nil, "GET", "/api/v1/products/4521", "", 200, `"price_cents":4999`},
			{"product page, customer", customer, "GET", "/api/v1/products/4521", "", 200, `"currency":"USD"`},
			{"unknown product", nil, "GET", "/api/v1/products/nope", "", 404, "not_found"},
			{"hostile product id", nil, "GET", "/api/v1/products/" + url.PathEscape("' OR 1=1 --"), "", 404, "not_found"},
			{"overlong product id", nil, "GET", "/api/v1/products/" + strings.Repeat("9", 65), "", 400, "invalid"},
			{"list", nil, "GET", "/api/v1/products?limit=2", "", 200, `"next_cursor":"NDUwMg"`},
			{"list, default limit", nil, "GET", "/api/v1/products", "", 200, `"id":"4520"`},
			{"list, limit 0", nil, "GET", "/api/v1/products?limit=0", "", 400, "invalid"},
			{"list, limit 101", nil, "GET", "/api/v1/products?limit=101", "", 400, "invalid"},
			{"list, limit text", nil, "GET", "/api/v1/products?limit=ten", "", 400, "invalid"},
			{"list, bad cursor", nil, "GET", "/api/v1/products?cursor=%00%ff", "", 400, "invalid"},

			{"create, anonymous", nil, "POST", "/api/v1/products", mug, 401, "unauthorized"},
			{"create, customer", customer, "POST", "/api/v1/products", mug, 403, "forbidden"},
			{"create, service", service, "POST", "/api/v1/products", mug, 401, "unauthorized"},
			{"create", admin, "POST", "/api/v1/products", mug, 201, `"version":1`},
			{"create again", admin, "POST", "/api/v1/products", mug, 409, "product_exists"},
			{"create, unknown field", admin, "POST", "/api/v1/products", `{"name":"x","price_cents":1,"currency":"USD","stock":5}`, 400, "invalid"},
			{"create, price as text", admin, "POST", "/api/v1/products", `{"name":"x","price_cents":"1","currency":"USD"}`, 400, "invalid"},
			{"create, invalid fields", admin, "POST", "/api/v1/products", `{"name":"","price_cents":0,"currency":"usd"}`, 400, "invalid"},
			{"create, not JSON", admin, "POST", "/api/v1/products", `name=x`, 400, "invalid"},

			{"update, customer", customer, "PUT", "/api/v1/products/mug-9", put, 403, "forbidden"},
			{"update", admin, "PUT", "/api/v1/products/mug-9", put, 200, `"version":2`},
			{"update unknown", admin, "PUT", "/api/v1/products/nope", put, 404, "not_found"},
			{"update, invalid", admin, "PUT", "/api/v1/products/mug-9", `{"name":"Mug","price_cents":-5,"currency":"EUR"}`, 400, "invalid"},
			{"update, no body", admin, "PUT", "/api/v1/products/mug-9", ``, 400, "invalid"},

			{"lookup, anonymous", nil, "GET", "/internal/products?ids=4521", "", 401, "unauthorized"},
			{"lookup, customer", customer, "GET", "/internal/products?ids=4521", "", 403, "forbidden"},
			{"lookup", service, "GET", "/internal/products?ids=4521,nope,mug-9", "", 200, `"id":"mug-9"`},
			{"lookup, admin", admin, "GET", "/internal/products?ids=4521", "", 200, `"id":"4521"`},
			{"lookup, no ids", service, "GET", "/internal/products", "", 400, "invalid"},
			{"lookup, too many", service, "GET", "/internal/products?ids=" + strings.Repeat("a,", 101), "", 400, "invalid"},
		}
		// In order: the writes build on each other.
		for _, tt := range tests {
			status, body := call(t, h, tt.who, tt.method, tt.path, tt.body)
			if status != tt.status {
				t.Errorf("%s: status = %d, want %d; body %s", tt.name, status, tt.status, body)
				continue
			}
			if status >= 400 {
				var p fault.Problem
				if err := json.Unmarshal([]byte(body), &p); err != nil || p.Code != tt.code {
					t.Errorf("%s: problem code = %q (%v), want %q; body %s", tt.name, p.Code, err, tt.code, body)
				}
			} else if !strings.Contains(body, tt.code) {
				t.Errorf("%s: body %s lacks %s", tt.name, body, tt.code)
			}
		}
	})
}

func TestLookupRouteAnswersKnownIDsOnly(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := newHandler(t, open)
		status, body := call(t, h, service, "GET", "/internal/products?ids=4501,,4521,missing,4521", "")
		if status != 200 {
			t.Fatalf("status = %d: %s", status, body)
		}
		var got struct {
			Items []Product `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Items) != 2 || got.Items[0].ID != "4501" || got.Items[1].ID != "4521" || got.Items[1].PriceCents != 4999 {
			t.Errorf("items = %+v, want 4501 and 4521", got.Items)
		}
	})
}

func TestListRouteShape(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := newHandler(t, open)
		status, body := call(t, h, nil, "GET", "/api/v1/products?limit=1", "")
		if status != 200 {
			t.Fatalf("status = %d: %s", status, body)
		}
		var page map[string]any
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		items, _ := page["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("items = %v", page["items"])
		}
		item := items[0].(map[string]any)
		for _, k := range []string{"id", "name", "description", "price_cents", "currency"} {
			if _, ok := item[k]; !ok {
				t.Errorf("item lacks %q: %v", k, item)
			}
		}
		// The last page has an empty cursor, not a missing one.
		status, body = call(t, h, nil, "GET", "/api/v1/products?limit=100", "")
		if status != 200 || !strings.Contains(body, `"next_cursor":""`) {
			t.Errorf("last page: %d %s", status, body)
		}
	})
}
