package notification

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the notification service's HTTP surface: a user's own
// messages, and the audit for services and admins.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/notifications", handleList(svc, log))
	mux.Handle("GET /internal/audit/notifications", handleAudit(svc, log))
	return mux
}

func handleList(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := authn.RequireUser(r.Context())
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		q := r.URL.Query()
		limit, err := parseLimit(q, DefaultLimit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		page, err := svc.List(r.Context(), p.Subject, q.Get("cursor"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, page)
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
