package warehouse

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
	"github.com/souk/souk/platform/sqlstore"
)

// newFuzzService returns a warehouse service on a SQLite store with one
// task, and its real handler as boot serves it.
func newFuzzService(f *testing.F) (*Service, http.Handler) {
	f.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{
		DSN: filepath.Join(f.TempDir(), "warehouse.db"), Name: "warehouse", Migrations: Migrations(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	svc := NewService(db, func() time.Time { return start }, nil)
	ev := events.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: "ORDER_PLACED", Data: json.RawMessage(
		`{"order_id":"o1","customer_id":"alice","email":"alice@example.com","items":[{"product_id":"4521","name":"Cup","quantity":2}]}`)}
	if err := svc.HandleOrderPlaced(context.Background(), ev); err != nil {
		f.Fatal(err)
	}
	return svc, httpapi.Routes(NewHandler(svc, nil))
}

// FuzzOrderPlacedEvent feeds arbitrary payloads to the ORDER_PLACED
// consumer: it must never panic, and must either create the task or refuse
// the event as permanent (a payload that fails once fails on every
// redelivery, so retrying it would only clog the consumer).
func FuzzOrderPlacedEvent(f *testing.F) {
	for _, s := range []string{
		`{"order_id":"o2","customer_id":"alice","email":"alice@example.com","items":[{"product_id":"4521","name":"Cup","quantity":2}]}`,
		`{"order_id":"o2","customer_id":"alice","email":"alice@example.com","items":[{"product_id":"4521","quantity":2}],"total_cents":1,"placed_at":"2026-11-27T12:00:00Z"}`,
		`{"order_id":"","customer_id":"alice","email":"a@b","items":[{"product_id":"1","quantity":1}]}`,
		`{"order_id":"o3","customer_id":"alice","email":"nobody","items":[{"product_id":"1","quantity":1}]}`,
		`{"order_id":"o4","customer_id":"alice","email":"a@b","items":[]}`,
		`{"order_id":"o5","customer_id":"alice","email":"a@b","items":[{"product_id":"","quantity":1}]}`,
		`{"order_id":"o6","customer_id":"alice","email":"a@b","items":[{"product_id":"1","quantity":0}]}`,
		`{"order_id":"o7","customer_id":"alice","email":"a@b","items":[{"product_id":"1","quantity":1e30}]}`,
		`{"order_id":"o8","customer_id":"alice","email":"a@b","items":[{"product_id":"1","quantity":"1"}]}`,
		`{"order_id":"` + strings.Repeat("o", 65) + `","customer_id":"alice","email":"a@b","items":[{"product_id":"1","quantity":1}]}`,
		`{"order_id":"'; DROP TABLE tasks; --","customer_id":"☕","email":"\u0000@\n","items":[{"product_id":"🍵","name":"\r\nBcc: x","quantity":1}]}`,
		`{"order_id":"o9"}`, `[]`, `null`, `"x"`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	svc, _ := newFuzzService(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ev := events.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: "ORDER_PLACED", Source: "order", Data: data, Delivery: 1}
		err := svc.HandleOrderPlaced(context.Background(), ev)
		if err != nil && !events.IsPermanent(err) {
			t.Fatalf("a payload failed as retryable: %v", err)
		}
		if err == nil {
			var p OrderPlaced
			if json.Unmarshal(data, &p) != nil || p.validate() != nil {
				t.Fatalf("accepted %q", data)
			}
		}
	})
}

// FuzzWarehouseQueries feeds arbitrary queries and task ids to the staff
// and audit routes as an admin: 200, or a 400/404/409 problem.
func FuzzWarehouseQueries(f *testing.F) {
	for _, s := range []struct{ query, id string }{
		{"", "0190f0b2-6b1c-7c3e-9f2a-1b2c3d4e5f60"}, {"order_id=o1", "x"}, {"status=pending&limit=1", "' OR 1=1 --"},
		{"status=lost", "../../internal"}, {"limit=0", "☕"}, {"limit=101", strings.Repeat("a", 100)},
		{"limit=99999999999999999999", "%00"}, {"cursor=not-a-uuid", ""}, {"cursor=0190f0b2-6b1c-7c3e-9f2a-1b2c3d4e5f60", "a/b"},
		{"order_id=" + strings.Repeat("o", 65), "x"}, {"limit=5001", "x"}, {"cursor=" + strings.Repeat("c", 65), "x"},
	} {
		f.Add(s.query, s.id)
	}
	_, h := newFuzzService(f)
	admin := &authn.Principal{Subject: "admin", Role: authn.RoleAdmin}
	f.Fuzz(func(t *testing.T, query, id string) {
		for _, c := range []struct{ method, path string }{
			{"GET", (&url.URL{Path: "/api/v1/warehouse/tasks", RawQuery: query}).String()},
			{"GET", (&url.URL{Path: "/internal/audit/tasks", RawQuery: query}).String()},
			{"POST", "/api/v1/warehouse/tasks/" + url.PathEscape(id) + "/ship"},
		} {
			r, err := http.NewRequest(c.method, c.path, nil)
			if err != nil {
				continue
			}
			r = r.WithContext(authn.WithPrincipal(r.Context(), admin))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			switch w.Code {
			case 200, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
				continue
			case 400, 404, 409: // 409: already shipped
			default:
				t.Fatalf("%s %s: status %d (%s)", c.method, c.path, w.Code, w.Body)
			}
			var p fault.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code == "" || w.Header().Get("Content-Type") != fault.ContentType {
				t.Fatalf("%s %s: problem %q: %v", c.method, c.path, w.Body, err)
			}
		}
	})
}
