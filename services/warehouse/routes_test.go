package warehouse

import (
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
	customer = &authn.Principal{Subject: "alice", Email: "alice@example.com", Role: authn.RoleCustomer}
	admin    = &authn.Principal{Subject: "admin", Email: "admin@example.com", Role: authn.RoleAdmin}
	service  = &authn.Principal{Subject: "service:order", Role: authn.RoleService, Service: "order"}
)

// call sends method path to h as p (nil: no token) and returns the status
// and the decoded body.
func call(t *testing.T, h http.Handler, p *authn.Principal, method, path string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if p != nil {
		r = r.WithContext(authn.WithPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, w.Body.String(), err)
	}
	return w.Code, body
}

func TestRoutes(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		h := NewHandler(svc, nil)
		t1 := mustTask(t, svc, "o1")
		t2 := mustTask(t, svc, "o2")
		ship := func(id string) string { return "/api/v1/warehouse/tasks/" + id + "/ship" }

		tests := []struct {
			name   string
			who    *authn.Principal
			method string
			path   string
			status int
			code   string // problem code, for errors
		}{
			{"customer lists", customer, "GET", "/api/v1/warehouse/tasks", 403, "forbidden"},
			{"customer ships", customer, "POST", ship(t1.ID), 403, "forbidden"},
			{"service lists", service, "GET", "/api/v1/warehouse/tasks", 401, "unauthorized"},
			{"anonymous ships", nil, "POST", ship(t1.ID), 401, "unauthorized"},
			{"admin lists", admin, "GET", "/api/v1/warehouse/tasks?status=pending&limit=5", 200, ""},
			{"admin filters by order", admin, "GET", "/api/v1/warehouse/tasks?order_id=o2", 200, ""},
			{"bad status", admin, "GET", "/api/v1/warehouse/tasks?status=lost", 400, "invalid"},
			{"bad limit", admin, "GET", "/api/v1/warehouse/tasks?limit=x", 400, "invalid"},
			{"bad cursor", admin, "GET", "/api/v1/warehouse/tasks?cursor=%27%20OR%201=1", 400, "invalid"},
			{"admin ships", admin, "POST", ship(t1.ID), 200, ""},
			{"admin ships again", admin, "POST", ship(t1.ID), 409, "already_shipped"},
			{"unknown task", admin, "POST", ship("0190f3a4-0000-7000-8000-000000000000"), 404, "not_found"},
			{"long id", admin, "POST", ship(strings.Repeat("x", 100)), 400, "invalid"},
			{"audit as service", service, "GET", "/internal/audit/tasks", 200, ""},
			{"audit as admin", admin, "GET", "/internal/audit/tasks?limit=1", 200, ""},
			{"audit as customer", customer, "GET", "/internal/audit/tasks", 403, "forbidden"},
			{"audit bad limit", service, "GET", "/internal/audit/tasks?limit=-3", 400, "invalid"},
		}
		for _, tt := range tests {
			status, body := call(t, h, tt.who, tt.method, tt.path)
			if status != tt.status {
				t.Errorf("%s: status %d, want %d (%v)", tt.name, status, tt.status, body)
				continue
			}
			if tt.code != "" && body["code"] != tt.code {
				t.Errorf("%s: code %v, want %s", tt.name, body["code"], tt.code)
			}
		}

		// The answers' shapes.
		_, body := call(t, h, admin, "GET", "/api/v1/warehouse/tasks?order_id=o2")
		items, _ := body["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["id"] != t2.ID || body["next_cursor"] != "" {
			t.Errorf("tasks of o2 = %v, want just %s", body, t2.ID)
		}
		_, body = call(t, h, admin, "GET", "/api/v1/warehouse/tasks?order_id=o1")
		task := body["items"].([]any)[0].(map[string]any)
		if task["status"] != StatusShipped || task["shipped_at"] == nil {
			t.Errorf("shipped task = %v", task)
		}
		_, body = call(t, h, service, "GET", "/internal/audit/tasks")
		audit, _ := json.Marshal(body["items"])
		if want := `[{"order_id":"o1","status":"shipped","tasks":1},{"order_id":"o2","status":"pending","tasks":1}]`; string(audit) != want {
			t.Errorf("audit = %s, want %s", audit, want)
		}
	})
}
