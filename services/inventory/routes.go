package inventory

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the inventory service's HTTP surface: the public stock
// routes the gateway forwards, and the internal routes of the order saga,
// the gateway's batch read and the audits.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/inventory/{product_id}", handleLevel(svc, log))
	mux.Handle("PUT /api/v1/inventory/{product_id}", handleSetStock(svc, log))
	mux.Handle("POST /internal/reservations", handleReserve(svc, log))
	mux.Handle("POST /internal/reservations/{order_id}/commit", handleCommit(svc, log))
	mux.Handle("POST /internal/reservations/{order_id}/release", handleRelease(svc, log))
	mux.Handle("GET /internal/stock", handleLevels(svc, log))
	mux.Handle("GET /internal/audit/stock", handleAuditStock(svc, log))
	mux.Handle("GET /internal/audit/reservations", handleAuditReservations(svc, log))
	return mux
}

// handleLevel answers anyone: stock levels are shown on product pages.
func handleLevel(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, err := svc.Level(r.Context(), r.PathValue("product_id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, l)
	})
}

func handleSetStock(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireAdmin(r.Context()); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		var req SetStockRequest
		if err := httpapi.Decode(w, r, &req); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		v, err := svc.SetAvailable(r.Context(), r.PathValue("product_id"), req)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, v)
	})
}

// handleReserve answers 201 when it reserved and 200 when the order's
// reservation already existed.
func handleReserve(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), false); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		var req ReserveRequest
		if err := httpapi.Decode(w, r, &req); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		res, created, err := svc.Reserve(r.Context(), req)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		httpapi.JSON(w, status, res)
	})
}

func handleCommit(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), false); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		res, err := svc.Commit(r.Context(), r.PathValue("order_id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, res)
	})
}

func handleRelease(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), false); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		res, err := svc.Release(r.Context(), r.PathValue("order_id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, res)
	})
}

// handleLevels is the gateway's batch read: ?ids=a,b.
func handleLevels(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), false); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		raw := r.URL.Query().Get("ids")
		var ids []string
		if raw != "" {
			// Bounded before splitting, so a huge list costs nothing.
			if len(raw) > MaxBatchIDs*(MaxIDLength+1) {
				httpapi.Error(w, r, log, fault.Fields(fault.FieldError{Field: "ids", Message: "is too long"}))
				return
			}
			ids = strings.Split(raw, ",")
		}
		levels, err := svc.Levels(r.Context(), ids)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, levels)
	})
}

func handleAuditStock(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), true); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		limit, err := limitParam(r)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		p, err := svc.AuditStock(r.Context(), r.URL.Query().Get("cursor"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, p)
	})
}

func handleAuditReservations(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), true); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		limit, err := limitParam(r)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		p, err := svc.AuditReservations(r.Context(), r.URL.Query().Get("cursor"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, p)
	})
}

// limitParam reads ?limit=; absent is 0 (the default), anything but a
// positive integer is a 400.
func limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fault.Fields(fault.FieldError{Field: "limit", Message: "must be a positive integer"})
	}
	return n, nil
}
