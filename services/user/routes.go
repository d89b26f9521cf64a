package user

import (
	"log/slog"
	"net/http"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the user service's HTTP surface.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/users/me", handleMe(svc, log))
	mux.Handle("PATCH /api/v1/users/me", handleUpdateMe(svc, log))
	mux.Handle("GET /internal/users/{id}", handleGet(svc, log))
	return mux
}

func handleMe(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		me, err := authn.RequireUser(r.Context())
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		p, err := svc.Profile(r.Context(), me.Subject)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, p)
	})
}

func handleUpdateMe(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		me, err := authn.RequireUser(r.Context())
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		var req UpdateRequest
		if err := httpapi.Decode(w, r, &req); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		p, err := svc.UpdateName(r.Context(), me.Subject, req)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, p)
	})
}

func handleGet(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), true); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		p, err := svc.Profile(r.Context(), r.PathValue("id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, p)
	})
}
