package user

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/registry"
	"github.com/souk/souk/platform/rpc"
)

// resolver always names one auth instance.
type resolver []registry.Instance

func (r resolver) Instances(service string) []registry.Instance {
	if service != "auth" {
		return nil
	}
	return r
}

// TestAuthAccounts runs the real Accounts against a stand-in for auth's
// GET /internal/users/{id}.
func TestAuthAccounts(t *testing.T) {
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer service-token" {
			http.Error(w, `{"status":401,"code":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/internal/users/" + ada.ID:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"` + ada.ID + `","email":"ada@example.com","name":"Ada","role":"customer","created_at":"2026-11-27T11:59:00Z"}`))
		case "/internal/users/a/../b":
			if r.URL.EscapedPath() != "/internal/users/a%2F..%2Fb" {
				t.Errorf("path sent as %s, want the id escaped", r.URL.EscapedPath())
			}
			fallthrough
		default:
			w.Header().Set("Content-Type", fault.ContentType)
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"type":"x","title":"Not found","status":404,"code":"not_found","detail":"no user"}`))
		}
	}))
	defer auth.Close()
	client := rpc.New(rpc.Options{
		Resolver: resolver{{ID: "auth-1", Service: "auth", Addr: strings.TrimPrefix(auth.URL, "http://")}},
		Token:    func(context.Context) string { return "Bearer service-token" },
	})
	accounts := NewAuthAccounts(client)

	got, err := accounts.Account(context.Background(), ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ada, got); diff != "" {
		t.Errorf("account (-want +got):\n%s", diff)
	}
	if _, err := accounts.Account(context.Background(), "a/../b"); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown id: err = %v, want NotFound", err)
	}
}
