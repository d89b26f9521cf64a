package catalog

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the catalog's HTTP surface: public reads, admin
// writes, and the internal lookup the order service prices orders with.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/products", handleList(svc, log))
	mux.Handle("GET /api/v1/products/{id}", handleGet(svc, log))
	mux.Handle("POST /api/v1/products", handleCreate(svc, log))
	mux.Handle("PUT /api/v1/products/{id}", handleUpdate(svc, log))
	mux.Handle("GET /internal/products", handleLookup(svc, log))
	return mux
}

func handleList(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, err := parseLimit(q.Get("limit"), DefaultPageSize, MaxPageSize)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		page, err := svc.List(r.Context(), q.Get("cursor"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, page)
	})
}

func handleGet(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := svc.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, p)
	})
}

func handleCreate(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireAdmin(r.Context()); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		var req CreateRequest
		if err := httpapi.Decode(w, r, &req); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		p, err := svc.Create(r.Context(), req)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		w.Header().Set("Location", "/api/v1/products/"+p.ID)
		httpapi.JSON(w, http.StatusCreated, p)
	})
}

func handleUpdate(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireAdmin(r.Context()); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		var req UpdateRequest
		if err := httpapi.Decode(w, r, &req); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		p, err := svc.Update(r.Context(), r.PathValue("id"), req)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, p)
	})
}

func handleLookup(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), true); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		items, err := svc.Lookup(r.Context(), splitIDs(r.URL.Query().Get("ids")))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, map[string]any{"items": items})
	})
}

// parseLimit reads a limit query parameter: def when absent, else an
// integer from 1 to max.
func parseLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, fault.Fields(fault.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", max)})
	}
	return n, nil
}

// splitIDs parses a comma-separated id list, skipping empty items.
func splitIDs(s string) []string {
	var ids []string
	for id := range strings.SplitSeq(s, ",") {
		if id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
