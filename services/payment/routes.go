package payment

import (
	"log/slog"
	"net/http"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the payment service's HTTP surface. Every route is
// internal: only other services (and admins, for audits) may call it.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /internal/charges", handleCharge(svc, log))
	mux.Handle("POST /internal/charges/{order_id}/void", handleVoid(svc, log))
	mux.Handle("GET /internal/charges/{order_id}", handleGet(svc, log))
	mux.Handle("GET /internal/audit/charges", handleAudit(svc, log))
	return mux
}

func handleCharge(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), false); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		var req ChargeRequest
		if err := httpapi.Decode(w, r, &req); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		c, err := svc.Charge(r.Context(), req)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusCreated, c)
	})
}

func handleVoid(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), false); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		c, err := svc.Void(r.Context(), r.PathValue("order_id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, c)
	})
}

func handleGet(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), true); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		c, err := svc.Get(r.Context(), r.PathValue("order_id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, c)
	})
}

func handleAudit(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), true); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		limit, err := httpapi.ParseLimit(r.URL.Query().Get("limit"), 1000, 5000)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		items, err := svc.Audit(r.Context(), r.URL.Query().Get("cursor"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		next := ""
		if len(items) == limit {
			next = items[len(items)-1].OrderID
		}
		httpapi.JSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	})
}
