package search

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the search service's HTTP surface: one public query
// route.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/search", handleSearch(svc, log))
	return mux
}

func handleSearch(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := DefaultLimit
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				httpapi.Error(w, r, log, errBadLimit())
				return
			}
			limit = n
		}
		hits, err := svc.Search(r.Context(), q.Get("q"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, map[string]any{"items": hits})
	})
}
