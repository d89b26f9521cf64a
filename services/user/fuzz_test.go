package user

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
	"github.com/souk/souk/platform/sqlstore"
)

// newFuzzService returns a user service on a SQLite store that knows ada,
// and its real handler as boot serves it.
func newFuzzService(f *testing.F) (*Service, http.Handler) {
	f.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{
		DSN: filepath.Join(f.TempDir(), "user.db"), Name: "user", Migrations: Migrations(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	svc := NewService(db, newClock().Now, &fakeAccounts{accounts: map[string]Account{ada.ID: ada}})
	return svc, httpapi.Routes(NewHandler(svc, nil))
}

// FuzzUpdateMe feeds arbitrary bodies to the real PATCH /api/v1/users/me
// handler as ada: no panic, no 5xx, a refusal is a 400/413 problem, and an
// accepted name is trimmed, 1 to 100 characters, without control
// characters, and is what the answer shows. Seeds are in
// testdata/fuzz/FuzzUpdateMe.
func FuzzUpdateMe(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ada Lovelace"}`, `{"name":"  Ada  "}`, `{"name":""}`, `{"name":"   "}`, `{"name":null}`,
		`{"name":"` + strings.Repeat("a", 100) + `"}`, `{"name":"` + strings.Repeat("a", 101) + `"}`,
		`{"name":"` + strings.Repeat("é", 100) + `"}`, `{"name":"` + strings.Repeat("x", 10<<10) + `"}`,
		`{"name":"Ada\nBcc: eve@example.com"}`, `{"name":"Ada\u0000"}`, `{"name":"\u202eadA"}`, `{"name":"👩‍💻 Ada"}`,
		"{\"name\":\"\xff\xfe\"}", `{"name":"Robert'); DROP TABLE profiles;--"}`, `{"name":"<script>alert(1)</script>"}`,
		`{"name":1}`, `{"name":["Ada"]}`, `{"name":"Ada","role":"admin"}`, `{"name":"Ada","email":"eve@example.com"}`,
		`{"name":"Ada","name":"Eve"}`, `{"name":"Ada"} x`, `{}`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	_, h := newFuzzService(f)
	me := &authn.Principal{Subject: ada.ID, Email: ada.Email, Name: ada.Name, Role: authn.RoleCustomer}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPatch, "/api/v1/users/me", bytes.NewReader(body))
		r = r.WithContext(authn.WithPrincipal(r.Context(), me))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			if w.Code != 400 && w.Code != 413 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var p fault.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code == "" || w.Header().Get("Content-Type") != fault.ContentType {
				t.Fatalf("problem %q: %v", w.Body, err)
			}
			return
		}
		var got Profile
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		n := utf8.RuneCountInString(got.Name)
		if n < 1 || n > 100 || got.Name != strings.TrimSpace(got.Name) || strings.IndexFunc(got.Name, unicode.IsControl) >= 0 {
			t.Fatalf("accepted name %q", got.Name)
		}
		var req UpdateRequest
		if err := httpapi.Unmarshal(body, &req); err != nil {
			t.Fatalf("the handler accepted a body Unmarshal refuses: %v", err)
		}
		if got.Name != req.Normalize().Name || got.ID != ada.ID || got.Email != ada.Email || got.Role != ada.Role {
			t.Fatalf("asked %q, got %+v", req.Name, got)
		}
	})
}

// FuzzUserRegisteredEvent feeds arbitrary payloads to the USER_REGISTERED
// projection: it must never panic, and must either project the profile or
// refuse the event as permanent.
func FuzzUserRegisteredEvent(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"0190c8f8-0000-7000-8000-0000000000b0","email":"bob@example.com","name":"Bob","role":"customer"}`,
		`{"user_id":"","email":"bob@example.com"}`, `{"user_id":"u1","email":""}`,
		`{"user_id":"` + strings.Repeat("u", 65) + `","email":"x@y"}`, `{"user_id":1}`, `{"user_id":"u2","email":"x@y","name":"\u0000\n"}`,
		`{"user_id":"'; DROP TABLE profiles; --","email":"x@y","role":"admin"}`, `[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	svc, _ := newFuzzService(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ev := events.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: EventUserRegistered, Source: "auth", Data: data, Delivery: 1}
		if err := svc.HandleUserRegistered(context.Background(), ev); err != nil && !events.IsPermanent(err) {
			t.Fatalf("a payload failed as retryable: %v", err)
		}
	})
}
