package notification

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

var (
	alice   = &authn.Principal{Subject: "alice", Email: "alice@example.com", Role: authn.RoleCustomer}
	bob     = &authn.Principal{Subject: "bob", Email: "bob@example.com", Role: authn.RoleCustomer}
	admin   = &authn.Principal{Subject: "admin", Email: "admin@example.com", Role: authn.RoleAdmin}
	service = &authn.Principal{Subject: "service:order", Role: authn.RoleService, Service: "order"}
)

// get calls path on h as p (nil: no token) and returns the status and the
// decoded body.
func get(t *testing.T, h http.Handler, p *authn.Principal, path string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if p != nil {
		r = r.WithContext(authn.WithPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: body %q: %v", path, w.Body.String(), err)
	}
	return w.Code, body
}

func TestRoutes(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		h := NewHandler(svc, nil)
		for _, order := range []string{"o1", "o2"} {
			if err := svc.HandleOrderPlaced(context.Background(), event(t, "ORDER_PLACED", placed(order, "alice"))); err != nil {
				t.Fatal(err)
			}
		}

		tests := []struct {
			name   string
			who    *authn.Principal
			path   string
			status int
			items  int // checked when status is 200
		}{
			{"owner", alice, "/api/v1/notifications", 200, 2},
			{"owner, one per page", alice, "/api/v1/notifications?limit=1", 200, 1},
			{"another user sees none", bob, "/api/v1/notifications", 200, 0},
			{"admin sees only their own", admin, "/api/v1/notifications", 200, 0},
			{"no token", nil, "/api/v1/notifications", 401, 0},
			{"a service is no user", service, "/api/v1/notifications", 401, 0},
			{"limit not a number", alice, "/api/v1/notifications?limit=ten", 400, 0},
			{"limit too big", alice, "/api/v1/notifications?limit=101", 400, 0},
			{"limit overflows", alice, "/api/v1/notifications?limit=99999999999999999999", 400, 0},
			{"bad cursor", alice, "/api/v1/notifications?cursor=" + url.QueryEscape("1.<script>"), 400, 0},
			{"audit as service", service, "/internal/audit/notifications", 200, 2},
			{"audit as admin", admin, "/internal/audit/notifications?limit=1", 200, 1},
			{"audit as customer", alice, "/internal/audit/notifications", 403, 0},
			{"audit without token", nil, "/internal/audit/notifications", 401, 0},
			{"audit bad limit", admin, "/internal/audit/notifications?limit=5001", 400, 0},
		}
		for _, tt := range tests {
			status, body := get(t, h, tt.who, tt.path)
			if status != tt.status {
				t.Errorf("%s: status %d, want %d (%v)", tt.name, status, tt.status, body)
				continue
			}
			if status != 200 {
				continue
			}
			items, ok := body["items"].([]any)
			if !ok || len(items) != tt.items {
				t.Errorf("%s: items %v, want %d", tt.name, body["items"], tt.items)
			}
			if _, ok := body["next_cursor"].(string); !ok {
				t.Errorf("%s: next_cursor missing: %v", tt.name, body)
			}
		}
	})
}

func TestListAnswerShape(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		if err := svc.HandleOrderPlaced(context.Background(), event(t, "ORDER_PLACED", placed("o1", "alice"))); err != nil {
			t.Fatal(err)
		}
		_, body := get(t, NewHandler(svc, nil), alice, "/api/v1/notifications")
		item := body["items"].([]any)[0].(map[string]any)
		for _, key := range []string{"id", "order_id", "kind", "to", "subject", "body", "created_at"} {
			if _, ok := item[key]; !ok {
				t.Errorf("item lacks %q: %v", key, item)
			}
		}
		for _, key := range []string{"user_id", "event_id", "UserID", "EventID"} {
			if _, ok := item[key]; ok {
				t.Errorf("item shows %q: %v", key, item)
			}
		}
		if item["kind"] != KindConfirmation || item["to"] != "alice@example.com" {
			t.Errorf("item = %v", item)
		}
	})
}
