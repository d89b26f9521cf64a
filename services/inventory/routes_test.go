package inventory

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

var (
	anonymous = (*authn.Principal)(nil)
	customer  = &authn.Principal{Subject: "u1", Role: authn.RoleCustomer}
	admin     = &authn.Principal{Subject: "u0", Role: authn.RoleAdmin}
	orderSvc  = &authn.Principal{Subject: "service:order", Role: authn.RoleService, Service: "order"}
)

type answer struct {
	status int
	body   map[string]any
}

// call sends one request to h as p, the way boot's middleware would hand
// it over after verifying p's token.
func call(t *testing.T, h http.Handler, p *authn.Principal, method, path, body string) answer {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if p != nil {
		r = r.WithContext(authn.WithPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	a := answer{status: w.Code}
	if err := json.Unmarshal(w.Body.Bytes(), &a.body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, w.Body.String(), err)
	}
	return a
}

func TestRoutes(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc := newService(t, open, newClock())
		seed(t, svc, InitialStock{"4521", 12}, InitialStock{"a", 1})
		h := NewHandler(svc, discard)

		tests := []struct {
			name         string
			as           *authn.Principal
			method, path string
			body         string
			status       int
			code         string // problem code, for errors
		}{
			{"public level", anonymous, "GET", "/api/v1/inventory/4521", "", 200, ""},
			{"unknown level", anonymous, "GET", "/api/v1/inventory/nope", "", 404, "not_found"},
			{"long product id", anonymous, "GET", "/api/v1/inventory/" + strings.Repeat("x", 65), "", 400, "invalid"},

			{"set stock anonymous", anonymous, "PUT", "/api/v1/inventory/a", `{"available":5}`, 401, "unauthorized"},
			{"set stock customer", customer, "PUT", "/api/v1/inventory/a", `{"available":5}`, 403, "forbidden"},
			{"set stock service", orderSvc, "PUT", "/api/v1/inventory/a", `{"available":5}`, 401, "unauthorized"},
			{"set stock missing", admin, "PUT", "/api/v1/inventory/a", `{}`, 400, "invalid"},
			{"set stock negative", admin, "PUT", "/api/v1/inventory/a", `{"available":-1}`, 400, "invalid"},
			{"set stock too big", admin, "PUT", "/api/v1/inventory/a", `{"available":1000000001}`, 400, "invalid"},
			{"set stock string", admin, "PUT", "/api/v1/inventory/a", `{"available":"5"}`, 400, "invalid"},
			{"set stock unknown field", admin, "PUT", "/api/v1/inventory/a", `{"available":5,"sold":0}`, 400, "invalid"},
			{"set stock", admin, "PUT", "/api/v1/inventory/a", `{"available":5}`, 200, ""},

			{"reserve anonymous", anonymous, "POST", "/internal/reservations", `{"order_id":"o1","items":[{"product_id":"a","quantity":1}]}`, 401, "unauthorized"},
			{"reserve customer", customer, "POST", "/internal/reservations", `{"order_id":"o1","items":[{"product_id":"a","quantity":1}]}`, 403, "forbidden"},
			{"reserve admin", admin, "POST", "/internal/reservations", `{"order_id":"o1","items":[{"product_id":"a","quantity":1}]}`, 403, "forbidden"},
			{"reserve bad", orderSvc, "POST", "/internal/reservations", `{"order_id":"o1","items":[]}`, 400, "invalid"},
			{"reserve", orderSvc, "POST", "/internal/reservations", `{"order_id":"o1","items":[{"product_id":"a","quantity":1}]}`, 201, ""},
			{"reserve again", orderSvc, "POST", "/internal/reservations", `{"order_id":"o1","items":[{"product_id":"a","quantity":1}]}`, 200, ""},
			{"reserve short", orderSvc, "POST", "/internal/reservations", `{"order_id":"o2","items":[{"product_id":"4521","quantity":13}]}`, 409, "out_of_stock"},
			{"commit customer", customer, "POST", "/internal/reservations/o1/commit", "", 403, "forbidden"},
			{"commit anonymous", anonymous, "POST", "/internal/reservations/o1/commit", "", 401, "unauthorized"},
			{"commit", orderSvc, "POST", "/internal/reservations/o1/commit", "", 200, ""},
			{"commit unknown", orderSvc, "POST", "/internal/reservations/o9/commit", "", 404, "not_found"},
			{"release committed", orderSvc, "POST", "/internal/reservations/o1/release", "", 409, "already_committed"},
			{"release customer", customer, "POST", "/internal/reservations/o3/release", "", 403, "forbidden"},
			{"release unknown", orderSvc, "POST", "/internal/reservations/o3/release", "", 200, ""},
			{"reserve released", orderSvc, "POST", "/internal/reservations", `{"order_id":"o3","items":[{"product_id":"a","quantity":1}]}`, 409, "reservation_released"},
			{"commit released", orderSvc, "POST", "/internal/reservations/o3/commit", "", 409, "reservation_expired"},

			{"stock batch", orderSvc, "GET", "/internal/stock?ids=4521,a,zz", "", 200, ""},
			{"stock batch customer", customer, "GET", "/internal/stock?ids=a", "", 403, "forbidden"},
			{"stock batch anonymous", anonymous, "GET", "/internal/stock?ids=a", "", 401, "unauthorized"},
			{"stock batch empty", orderSvc, "GET", "/internal/stock", "", 400, "invalid"},
			{"stock batch huge", orderSvc, "GET", "/internal/stock?ids=" + strings.Repeat("x,", 4000), "", 400, "invalid"},

			{"audit stock admin", admin, "GET", "/internal/audit/stock?limit=1", "", 200, ""},
			{"audit stock service", orderSvc, "GET", "/internal/audit/stock", "", 200, ""},
			{"audit stock customer", customer, "GET", "/internal/audit/stock", "", 403, "forbidden"},
			{"audit stock anonymous", anonymous, "GET", "/internal/audit/stock", "", 401, "unauthorized"},
			{"audit stock bad limit", admin, "GET", "/internal/audit/stock?limit=x", "", 400, "invalid"},
			{"audit stock zero limit", admin, "GET", "/internal/audit/stock?limit=0", "", 400, "invalid"},
			{"audit stock big limit", admin, "GET", "/internal/audit/stock?limit=5001", "", 400, "invalid"},
			{"audit stock bad cursor", admin, "GET", "/internal/audit/stock?cursor=a%20b", "", 400, "invalid"},
			{"audit reservations", admin, "GET", "/internal/audit/reservations", "", 200, ""},
			{"audit reservations customer", customer, "GET", "/internal/audit/reservations", "", 403, "forbidden"},
		}
		for _, tt := range tests {
			a := call(t, h, tt.as, tt.method, tt.path, tt.body)
			if a.status != tt.status {
				t.Errorf("%s: status %d, want %d (%v)", tt.name, a.status, tt.status, a.body)
				continue
			}
			if tt.code != "" && a.body["code"] != tt.code {
				t.Errorf("%s: code %v, want %s", tt.name, a.body["code"], tt.code)
			}
		}

		// A few answers in full.
		checks := []struct {
			as           *authn.Principal
			method, path string
			want         string
		}{
			{anonymous, "GET", "/api/v1/inventory/4521", `{"product_id":"4521","available":12}`},
			{orderSvc, "GET", "/internal/stock?ids=4521,a,zz", `{"items":[{"product_id":"4521","available":12},{"product_id":"a","available":4}]}`},
			{admin, "GET", "/internal/audit/stock?limit=1", `{"items":[{"product_id":"4521","initial":12,"restocked":0,"available":12,"reserved":0,"sold":0}],"next_cursor":"4521"}`},
			{admin, "GET", "/internal/audit/reservations", `{"items":[
				{"order_id":"o1","status":"committed","reason":"","items":[{"product_id":"a","quantity":1}]},
				{"order_id":"o3","status":"released","reason":"released","items":[]}],"next_cursor":""}`},
		}
		for _, c := range checks {
			a := call(t, h, c.as, c.method, c.path, "")
			var want map[string]any
			if err := json.Unmarshal([]byte(c.want), &want); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(a.body)
			wantJSON, _ := json.Marshal(want)
			if string(got) != string(wantJSON) {
				t.Errorf("%s %s = %s, want %s", c.method, c.path, got, wantJSON)
			}
		}
		checkInvariants(t, svc)
	})
}

// TestRunConfig checks the settings Run reads before it connects to
// anything.
func TestRunConfig(t *testing.T) {
	env := map[string]string{
		"SOUK_NATS_URL":       "nats://127.0.0.1:1", // never dialled: the setting fails first
		"SOUK_SERVICE_SECRET": "0123456789abcdef",
	}
	for _, name := range []string{"SOUK_INVENTORY_RESERVATION_TTL", "SOUK_INVENTORY_SWEEP_INTERVAL"} {
		env[name] = "soon"
		err := Run(context.Background(), func(k string) string { return env[k] }, nil)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Run with %s=soon: err = %v, want one naming the setting", name, err)
		}
		delete(env, name)
	}
	for _, tt := range []struct {
		v    string
		want bool
	}{{"", true}, {"90s", true}, {"0s", false}, {"-1m", false}, {"2", false}} {
		_, err := durationSetting(func(string) string { return tt.v }, "X", DefaultReservationTTL)
		if (err == nil) != tt.want {
			t.Errorf("durationSetting(%q) err = %v, want ok %v", tt.v, err, tt.want)
		}
	}
}
