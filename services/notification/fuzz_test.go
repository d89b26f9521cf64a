package notification

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
	"unicode"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
	"github.com/souk/souk/platform/sqlstore"
)

// newFuzzService returns a notification service on a SQLite store, with
// two messages for alice, and its real handler as boot serves it.
func newFuzzService(f *testing.F) (*Service, http.Handler) {
	f.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{
		DSN: filepath.Join(f.TempDir(), "notification.db"), Name: "notification", Migrations: Migrations(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	svc := NewService(db, func() time.Time { return start })
	for _, order := range []string{"o1", "o2"} {
		data, _ := json.Marshal(placed(order, "alice"))
		if err := svc.HandleOrderPlaced(context.Background(), events.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: "ORDER_PLACED", Data: data}); err != nil {
			f.Fatal(err)
		}
	}
	return svc, httpapi.Routes(NewHandler(svc, nil))
}

// FuzzNotificationQueries feeds arbitrary query strings to the mailbox and
// the audit: 200 or a 400 problem, never a 5xx; and a cursor the list
// returned always leads to the next page.
func FuzzNotificationQueries(f *testing.F) {
	for _, q := range []string{
		"", "limit=1", "limit=0", "limit=101", "limit=-1", "limit=99999999999999999999", "limit=1.5", "limit=%00",
		"cursor=1." + uuid.Nil.String(), "cursor=-1." + uuid.Nil.String(), "cursor=99999999999999999999." + uuid.Nil.String(),
		"cursor=1.not-a-uuid-but-thirty-six-characters", "cursor=" + url.QueryEscape("1.<script>"), "cursor=.", "cursor=o1:order_confirmation",
		"cursor=:order_confirmation", "cursor=o1:", "cursor=" + strings.Repeat("o", 65) + ":order_shipped", "cursor=' OR 1=1 --:order_cancelled",
		"limit=1&limit=2&cursor=a&cursor=b",
	} {
		f.Add(q)
	}
	_, h := newFuzzService(f)
	alice := &authn.Principal{Subject: "alice", Email: "alice@example.com", Role: authn.RoleCustomer}
	admin := &authn.Principal{Subject: "admin", Role: authn.RoleAdmin}
	f.Fuzz(func(t *testing.T, query string) {
		for _, c := range []struct {
			path string
			who  *authn.Principal
		}{{"/api/v1/notifications", alice}, {"/internal/audit/notifications", admin}} {
			r, err := http.NewRequest(http.MethodGet, (&url.URL{Path: c.path, RawQuery: query}).String(), nil)
			if err != nil {
				return
			}
			r = r.WithContext(authn.WithPrincipal(r.Context(), c.who))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code == http.StatusOK {
				continue
			}
			var p fault.Problem
			if w.Code != 400 || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Code == "" || w.Header().Get("Content-Type") != fault.ContentType {
				t.Fatalf("GET %s?%s: %d %s", c.path, query, w.Code, w.Body)
			}
		}
	})
}

// FuzzCursors checks both cursor parsers: they never panic, refuse only as
// Invalid, and what they accept encodes back to the same position.
func FuzzCursors(f *testing.F) {
	for _, s := range []string{
		"", "1732708800000." + uuid.Nil.String(), "-1." + uuid.Nil.String(), "1.{00000000-0000-0000-0000-000000000000}",
		"o1:order_confirmation", "a:b:order_shipped", ":order_shipped", "o1:", "o1:ORDER_SHIPPED", "\x00:order_cancelled",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := parseCursor(s); err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("parseCursor: %v of kind %v, want Invalid", err, fault.KindOf(err))
			}
		} else {
			if c.createdAt < 0 || len(c.id) != 36 {
				t.Fatalf("parseCursor(%q) accepted %+v", s, c)
			}
			if back, err := parseCursor(c.String()); err != nil || back != c {
				t.Fatalf("%+v encodes to %q, which parses to %+v, %v", c, c.String(), back, err)
			}
		}
		if c, err := parseAuditCursor(s); err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("parseAuditCursor: %v of kind %v, want Invalid", err, fault.KindOf(err))
			}
		} else if s != "" {
			if c.orderID == "" || len(c.orderID) > maxID || !validKind(c.kind) {
				t.Fatalf("parseAuditCursor(%q) accepted %+v", s, c)
			}
			if back, err := parseAuditCursor(c.String()); err != nil || back != c {
				t.Fatalf("%+v encodes to %q, which parses to %+v, %v", c, c.String(), back, err)
			}
		}
	})
}

// FuzzOrderEvents feeds arbitrary payloads to the three consumers: each
// must either record its email or refuse the event as permanent, and an
// email's subject never holds a control character nor its body more lines
// than its template (nothing from an event can forge a header or a line).
func FuzzOrderEvents(f *testing.F) {
	for _, s := range []string{
		`{"order_id":"o9","customer_id":"bob","email":"bob@example.com","name":"Bob","items":[{"product_id":"4521","name":"Cup","quantity":2,"price_cents":1250}],"total_cents":2500,"currency":"USD","transaction_id":"txn_9"}`,
		`{"order_id":"o9","customer_id":"bob","email":"bob@example.com","reason":"the card was declined","code":"payment_declined"}`,
		`{"order_id":"o9","task_id":"t1","customer_id":"bob","email":"bob@example.com","shipped_at":"2026-11-27T12:00:00Z"}`,
		`{"order_id":"o\r\nBcc: eve@example.com","customer_id":"bob","email":"bob@example.com","name":"Bob\nX-Evil: 1","reason":"\u2028\u0085"}`,
		`{"order_id":"o10","customer_id":"bob","email":"bob@example.com","items":[{"product_id":"\n","name":"","quantity":-9223372036854775808,"price_cents":-9223372036854775808}],"total_cents":-9223372036854775808,"currency":"\n"}`,
		`{"order_id":"o11","customer_id":"bob","email":"bob@example.com","items":[{"quantity":1e30}]}`,
		`{"order_id":"o12","customer_id":"bob","email":"bob@example.com","shipped_at":"not a time"}`,
		`{"order_id":"","customer_id":"bob","email":"bob@example.com"}`, `{"order_id":"o13","customer_id":"bob","email":"bob"}`,
		`{"order_id":"o14","customer_id":"","email":"bob@example.com"}`, `[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(2))
	}
	svc, _ := newFuzzService(f)
	handlers := []func(context.Context, events.Event) error{svc.HandleOrderPlaced, svc.HandleOrderCancelled, svc.HandleOrderShipped}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		ev := events.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: "ORDER_EVENT", Data: data, Delivery: 1}
		err := handlers[int(which)%len(handlers)](context.Background(), ev)
		if err != nil && !events.IsPermanent(err) {
			t.Fatalf("a payload failed as retryable: %v", err)
		}
		if err != nil {
			return
		}
		var subject, body string
		lines := 0
		switch which % 3 {
		case 0:
			var p OrderPlaced
			_ = json.Unmarshal(data, &p)
			subject, body = confirmation(p)
			lines = 8 + len(p.Items)
			if p.TransactionID != "" {
				lines++
			}
		case 1:
			var c OrderCancelled
			_ = json.Unmarshal(data, &c)
			subject, body = cancellation(c)
			lines = 5
		case 2:
			var s OrderShipped
			_ = json.Unmarshal(data, &s)
			subject, body = shipment(s)
			lines = 5
		}
		if strings.IndexFunc(subject, unicode.IsControl) >= 0 {
			t.Fatalf("subject %q holds a control character", subject)
		}
		if got := strings.Count(body, "\n"); got != lines {
			t.Fatalf("body has %d lines, want %d:\n%s", got, lines, body)
		}
	})
}
