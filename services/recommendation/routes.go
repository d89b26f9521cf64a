package recommendation

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the recommendation service's HTTP surface: one public
// read.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/recommendations/{product_id}", handleRecommend(svc, log))
	return mux
}

func handleRecommend(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := DefaultLimit
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				httpapi.Error(w, r, log, errBadLimit())
				return
			}
			limit = n
		}
		rec, err := svc.Recommend(r.Context(), r.PathValue("product_id"), limit)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, rec)
	})
}
