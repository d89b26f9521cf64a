package user

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

func serve(h http.Handler, p *authn.Principal, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if p != nil {
		r = r.WithContext(authn.WithPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRoutes(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		f := newFixture(t, open)
		h := NewHandler(f.svc, nil)
		me := &authn.Principal{Subject: ada.ID, Email: ada.Email, Role: authn.RoleCustomer}
		stranger := &authn.Principal{Subject: "0190c8f8-0000-7000-8000-00000000dead", Role: authn.RoleCustomer}
		admin := &authn.Principal{Subject: "a1", Role: authn.RoleAdmin}
		service := &authn.Principal{Subject: "service:order", Role: authn.RoleService, Service: "order"}
		tests := []struct {
			name   string
			p      *authn.Principal
			method string
			path   string
			body   string
			status int
		}{
			{"me anonymous", nil, "GET", "/api/v1/users/me", "", 401},
			{"me as a service", service, "GET", "/api/v1/users/me", "", 401},
			{"me", me, "GET", "/api/v1/users/me", "", 200},
			{"me unknown to auth", stranger, "GET", "/api/v1/users/me", "", 404},
			{"rename", me, "PATCH", "/api/v1/users/me", `{"name":"Countess"}`, 200},
			{"rename anonymous", nil, "PATCH", "/api/v1/users/me", `{"name":"Countess"}`, 401},
			{"rename blank", me, "PATCH", "/api/v1/users/me", `{"name":" "}`, 400},
			{"rename too long", me, "PATCH", "/api/v1/users/me", `{"name":"` + strings.Repeat("x", 101) + `"}`, 400},
			{"rename unknown field", me, "PATCH", "/api/v1/users/me", `{"name":"Ada","role":"admin"}`, 400},
			{"rename not json", me, "PATCH", "/api/v1/users/me", `name=Ada`, 400},
			{"internal as customer", me, "GET", "/internal/users/" + ada.ID, "", 403},
			{"internal anonymous", nil, "GET", "/internal/users/" + ada.ID, "", 401},
			{"internal as admin", admin, "GET", "/internal/users/" + ada.ID, "", 200},
			{"internal as service", service, "GET", "/internal/users/" + ada.ID, "", 200},
			{"internal unknown", service, "GET", "/internal/users/" + stranger.Subject, "", 404},
			{"internal overlong id", service, "GET", "/internal/users/" + strings.Repeat("x", 65), "", 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := serve(h, tt.p, tt.method, tt.path, tt.body)
				if w.Code != tt.status {
					t.Errorf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
				}
			})
		}

		var got map[string]any
		if err := json.Unmarshal(serve(h, me, "GET", "/api/v1/users/me", "").Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		for field, want := range map[string]any{"id": ada.ID, "email": ada.Email, "name": "Countess", "role": "customer", "created_at": "2026-11-27T11:59:00Z"} {
			if got[field] != want {
				t.Errorf("me.%s = %v, want %v", field, got[field], want)
			}
		}
	})
}
