package warehouse

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the warehouse service's HTTP surface: the staff
// routes (admins only) and the audit (services and admins).
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/warehouse/tasks", handleList(svc, log))
	mux.Handle("POST /api/v1/warehouse/tasks/{id}/ship", handleShip(svc, log))
	mux.Handle("GET /internal/audit/tasks", handleAudit(svc, log))
	return mux
}

func handleList(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireAdmin(r.Context()); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		q := r.URL.Query()
		limit, err := parseLimit(q, DefaultLimit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		page, err := svc.List(r.Context(), ListQuery{
			OrderID: q.Get("order_id"), Status: q.Get("status"), Cursor: q.Get("cursor"), Limit: limit,
		})
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, page)
	})
}

func handleShip(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireAdmin(r.Context()); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		t, err := svc.Ship(r.Context(), r.PathValue("id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, t)
	})
}

func handleAudit(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), true); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		q := r.URL.Query()
		limit, err := parseLimit(q, DefaultAuditLimit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		page, err := svc.Audit(r.Context(), q.Get("cursor"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, page)
	})
}

// parseLimit reads ?limit=, def when absent. Its range is checked by the
// service, which knows each list's maximum.
func parseLimit(q url.Values, def int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fault.Fields(fault.FieldError{Field: "limit", Message: "must be a whole number"})
	}
	return n, nil
}
