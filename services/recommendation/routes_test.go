package recommendation

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

func TestRoutes(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		handle(t, svc, placed(t, "o1", "4521", "4522"), placed(t, "o2", "4521", "4523"), placed(t, "o3", "4521", "4522"))
		h := NewHandler(svc, slog.New(slog.DiscardHandler))
		tests := []struct {
			name   string
			who    *authn.Principal
			target string
			status int
			want   string // body substring, or problem code
		}{
			{"anonymous", nil, "/api/v1/recommendations/4521", 200, `{"product_id":"4521","items":[{"product_id":"4522","score":0.6667,"reason":"bought_together"},{"product_id":"4523","score":0.3333,"reason":"bought_together"}]}`},
			{"customer", &authn.Principal{Subject: "u1", Role: authn.RoleCustomer}, "/api/v1/recommendations/4522?limit=1", 200, `"product_id":"4521"`},
			{"unknown product", nil, "/api/v1/recommendations/nope", 200, `"reason":"popular"`},
			{"hostile id", nil, "/api/v1/recommendations/" + url.PathEscape(`'; DROP TABLE pairs; --`), 200, `"items":[`},
			{"long id", nil, "/api/v1/recommendations/" + strings.Repeat("x", 65), 400, "invalid"},
			{"limit 0", nil, "/api/v1/recommendations/4521?limit=0", 400, "invalid"},
			{"limit 21", nil, "/api/v1/recommendations/4521?limit=21", 400, "invalid"},
			{"limit text", nil, "/api/v1/recommendations/4521?limit=five", 400, "invalid"},
			{"no id", nil, "/api/v1/recommendations/", 404, ""},
		}
		for _, tt := range tests {
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.who != nil {
				r = r.WithContext(authn.WithPrincipal(r.Context(), tt.who))
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tt.status {
				t.Errorf("%s: status = %d, want %d: %s", tt.name, w.Code, tt.status, body)
				continue
			}
			switch {
			case tt.status == 200 && !strings.Contains(body, tt.want):
				t.Errorf("%s: body %s lacks %s", tt.name, body, tt.want)
			case tt.status == 400:
				var p fault.Problem
				if err := json.Unmarshal([]byte(body), &p); err != nil || p.Code != tt.want {
					t.Errorf("%s: problem %s, want code %s", tt.name, body, tt.want)
				}
			}
		}
	})
}
