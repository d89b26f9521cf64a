package auth

import (
	"log/slog"
	"net/http"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/httpapi"
)

// NewHandler returns the auth service's HTTP surface.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/auth/signup", handleSignup(svc, log))
	mux.Handle("POST /api/v1/auth/login", handleLogin(svc, log))
	mux.Handle("GET /.well-known/jwks.json", handleJWKS(svc))
	mux.Handle("POST /api/v1/admin/keys/rotate", handleRotate(svc, log))
	mux.Handle("GET /internal/users/{id}", handleUser(svc, log))
	return mux
}

// signupResponse is the public answer to a sign-up.
type signupResponse struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

func handleSignup(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req SignupRequest
		if err := httpapi.Decode(w, r, &req); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		u, err := svc.Signup(r.Context(), req)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusCreated, signupResponse{ID: u.ID, Email: u.Email, Name: u.Name})
	})
}

func handleLogin(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req LoginRequest
		if err := httpapi.Decode(w, r, &req); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		tok, err := svc.Login(r.Context(), req)
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store") // RFC 6749 §5.1
		httpapi.JSON(w, http.StatusOK, tok)
	})
}

func handleJWKS(svc *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Souk's verifiers fetch the set directly (platform/rpc keeps no
		// HTTP cache) whenever a token names an unknown kid; max-age lets
		// outside clients and proxies keep it for a minute.
		w.Header().Set("Cache-Control", "public, max-age=60")
		httpapi.JSON(w, http.StatusOK, svc.JWKS())
	})
}

func handleRotate(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireAdmin(r.Context()); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		key, err := svc.RotateKey(r.Context())
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusCreated, key)
	})
}

func handleUser(svc *Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.RequireService(r.Context(), false); err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		u, err := svc.User(r.Context(), r.PathValue("id"))
		if err != nil {
			httpapi.Error(w, r, log, err)
			return
		}
		httpapi.JSON(w, http.StatusOK, u)
	})
}
