package order

import (
	"log/slog"
	"net/http"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the order service's HTTP surface.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/orders", handlePlace(svc, log))
	mux.Handle("GET /api/v1/orders", handleList(svc, log))
	mux.Handle("GET /api/v1/orders/{id}", handleGet(svc, log))
	mux.Handle("GET /api/v1/orders/{id}/history", handleHistory(svc, log))
	mux.Handle("GET /internal/audit/orders", handleAudit(svc, log))
	return mux
}

func handlePlace(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := authn.RequireUser(r.Context())
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if key != "" && !ValidIdempotencyKey(key) {
			httpapi.Error(w, r, log, fault.Fields(fault.FieldError{Field: "Idempotency-Key", Message: "must be 1 to 200 visible ASCII characters"}))
			return
		}
		var req PlaceRequest
		if err := httpapi.Decode(w, r, &req); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		o, err := svc.Place(r.Context(), p, req, key)
		if err != nil {
			if o.ID != "" {
				// The problem names the order it is about.
				pr := fault.ToProblem(err)
				pr.Instance = "/api/v1/orders/" + o.ID
				httpapi.WriteProblem(w, pr)
				if pr.Status >= 500 {
					log.WarnContext(r.Context(), "order failed", "order_id", o.ID, "err", err)
				}
				return
			}
			httpapi.Error(w, r, log, err)
			return
		}
		w.Header().Set("Location", "/api/v1/orders/"+o.ID)
		if o.Status == StatusPending {
			httpapi.JSON(w, http.StatusAccepted, map[string]string{"id": o.ID, "status": StatusPending})
			return
		}
		httpapi.JSON(w, http.StatusCreated, o)
	})
}

func handleGet(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := authn.RequireUser(r.Context())
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		o, err := svc.Get(r.Context(), p, r.PathValue("id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, o)
	})
}

func handleHistory(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := authn.RequireUser(r.Context())
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		evs, err := svc.History(r.Context(), p, r.PathValue("id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, map[string]any{"order_id": r.PathValue("id"), "events": evs})
	})
}

func handleList(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := authn.RequireUser(r.Context())
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		q := r.URL.Query()
		limit, err := httpapi.ParseLimit(q.Get("limit"), 20, 100)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		all := q.Get("all")
		if all != "" && all != "true" && all != "false" {
			httpapi.Error(w, r, log, fault.Fields(fault.FieldError{Field: "all", Message: "must be true or false"}))
			return
		}
		page, err := svc.List(r.Context(), p, all == "true", q.Get("cursor"), limit)
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
