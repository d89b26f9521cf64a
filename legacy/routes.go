package legacy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// ServedBy is the header every response of the monolith carries, with the
// value "legacy". Souk's services never set it.
const ServedBy = "X-Served-By"

// NewHandler returns the monolith's whole HTTP surface, inside the
// middleware every Souk service runs (request id, panic recovery, access
// log at level access) and with X-Served-By: legacy on every response.
func NewHandler(store *Store, log *slog.Logger, access slog.Level) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/products", handleList(store, log))
	mux.Handle("GET /api/v1/products/{id}", handleProduct(store, log))
	mux.Handle("GET /api/v1/search", handleSearch(store, log))
	mux.Handle("GET /legacy/reports/sales", handleSalesReport(store, log))
	mux.Handle("GET /health", handleHealth(store, log))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.Error(w, r, log, fault.NotFoundf("the legacy system has no page %s %s", r.Method, r.URL.Path))
	}))
	h := httpapi.Wrap(mux, httpapi.Options{Log: log, AccessLevel: access})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ServedBy, "legacy")
		h.ServeHTTP(w, r)
	})
}

func handleList(store *Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, err := intParam(q.Get("limit"), "limit", DefaultPageSize)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		page, err := store.Page(r.Context(), q.Get("cursor"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, page)
	})
}

func handleProduct(store *Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := store.Product(r.Context(), r.PathValue("id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, p)
	})
}

func handleSearch(store *Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, err := intParam(q.Get("limit"), "limit", DefaultPageSize)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		hits, err := store.Search(r.Context(), q.Get("q"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, map[string]any{"items": hits})
	})
}

func handleSalesReport(store *Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		top, err := intParam(r.URL.Query().Get("top"), "top", DefaultTop)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		rep, err := store.SalesReport(r.Context(), top)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, rep)
	})
}

func handleHealth(store *Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			httpapi.Error(w, r, log, fault.Wrap(err, fault.Unavailable, "", "the database does not answer"))
			return
		}
		httpapi.JSON(w, http.StatusOK, map[string]string{"status": "healthy"})
	})
}

// intParam reads an integer query parameter, def when absent; the range is
// the caller's to check.
func intParam(s, name string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fault.Fields(fault.FieldError{Field: name, Message: fmt.Sprintf("must be an integer from 1 to %d", MaxPageSize)})
	}
	return n, nil
}
