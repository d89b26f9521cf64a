// Package verifytest is a fake gateway for tests of souk verify: the admin
// login and the six admin audit routes, paging like the real services do
// (the notification cursor "<order_id>:<kind>" included), over a Data the
// test controls.
//
// It is safe for concurrent use; tests change the data with Update or with
// OnFetch, which runs when the first page of the order audit is asked for
// (verify reads it last in each audit).
package verifytest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/souk/souk/tools/client"
	"github.com/souk/souk/tools/verify"
)

// Token is the bearer token the fake hands the admin.
const Token = "verifytest-admin-token"

// Server is a running fake gateway; close it with Close.
type Server struct {
	*httptest.Server

	mu      sync.Mutex
	data    verify.Data
	fetches int
	limits  []int
	issued  map[string]map[string]bool // route → cursors handed out
	fail    map[string]int             // route → status to answer, once

	// PageCap, when positive, caps every page below the requested limit,
	// as a service with a smaller maximum would.
	PageCap int
	// OnFetch runs when the first page of the order audit is asked for,
	// with the number of that audit from 1, and may change d.
	OnFetch func(n int, d *verify.Data)
	// Email and Password are the admin's credentials; the client's
	// defaults when empty.
	Email, Password string
}

// NewServer starts a fake gateway over d.
func NewServer(d verify.Data) *Server {
	s := &Server{data: d, issued: map[string]map[string]bool{}, fail: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/login", s.login)
	route(s, mux, verify.PathOrders, func(d *verify.Data) []verify.Order { return d.Orders },
		func(o verify.Order) string { return o.OrderID }, lastWhenFull)
	route(s, mux, verify.PathCharges, func(d *verify.Data) []verify.Charge { return d.Charges },
		func(c verify.Charge) string { return c.OrderID }, lastWhenFull)
	route(s, mux, verify.PathStock, func(d *verify.Data) []verify.Stock { return d.Stock },
		func(st verify.Stock) string { return st.ProductID }, lookahead)
	route(s, mux, verify.PathReservations, func(d *verify.Data) []verify.Reservation { return d.Reservations },
		func(r verify.Reservation) string { return r.OrderID }, lookahead)
	route(s, mux, verify.PathNotifications, func(d *verify.Data) []verify.Notification { return d.Notifications },
		func(n verify.Notification) string { return n.OrderID + ":" + n.Kind }, lookahead)
	route(s, mux, verify.PathTasks, func(d *verify.Data) []verify.Task { return d.Tasks },
		func(t verify.Task) string { return t.OrderID }, lookahead)
	s.Server = httptest.NewServer(mux)
	return s
}

// Update changes the data under the server's lock.
func (s *Server) Update(f func(d *verify.Data)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.data)
}

// Fetches is how many times the order audit was started.
func (s *Server) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Limits are the limit parameters received, in order.
func (s *Server) Limits() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.limits)
}

// FailOnce makes the next request to path answer status.
func (s *Server) FailOnce(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[path] = status
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var body struct{ Email, Password string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		problem(w, http.StatusBadRequest, "invalid", "bad body")
		return
	}
	email, password := cmp.Or(s.Email, client.DefaultAdminEmail), cmp.Or(s.Password, client.DefaultAdminPassword)
	if body.Email != email || body.Password != password {
		problem(w, http.StatusUnauthorized, "unauthorized", "wrong email or password")
		return
	}
	writeJSON(w, http.StatusOK, client.Token{AccessToken: Token, TokenType: "Bearer", ExpiresIn: 900})
}

// paging is how a service sets next_cursor: the order and payment
// services give the last key whenever a page is full (so the last page may
// be empty); the others read one row ahead and give it only when more
// follow.
type paging int

const (
	lastWhenFull paging = iota
	lookahead
)

func route[T any](s *Server, mux *http.ServeMux, path string, list func(*verify.Data) []T, key func(T) string, pg paging) {
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+Token {
			problem(w, http.StatusUnauthorized, "unauthorized", "an admin token is required")
			return
		}
		q := r.URL.Query()
		limit, err := strconv.Atoi(q.Get("limit"))
		if err != nil || limit < 1 || limit > verify.MaxPageSize {
			problem(w, http.StatusBadRequest, "invalid", "limit must be 1 to 5000")
			return
		}
		cursor := q.Get("cursor")
		s.mu.Lock()
		defer s.mu.Unlock()
		s.limits = append(s.limits, limit)
		if st, ok := s.fail[path]; ok {
			delete(s.fail, path)
			problem(w, st, "injected", "injected failure")
			return
		}
		if cursor == "" && path == verify.PathOrders {
			s.fetches++
			if s.OnFetch != nil {
				s.OnFetch(s.fetches, &s.data)
			}
		}
		if cursor != "" && !s.issued[path][cursor] {
			problem(w, http.StatusBadRequest, "invalid", fmt.Sprintf("cursor %q was never handed out", cursor))
			return
		}
		if s.PageCap > 0 {
			limit = min(limit, s.PageCap)
		}
		items := slices.Clone(list(&s.data))
		slices.SortFunc(items, func(a, b T) int { return compareKeys(key(a), key(b)) })
		// Every row after the cursor, as the services' WHERE key > ? does.
		start := 0
		if cursor != "" {
			start = len(items)
			for i, it := range items {
				if compareKeys(key(it), cursor) > 0 {
					start = i
					break
				}
			}
		}
		rest := items[start:]
		page := rest[:min(limit, len(rest))]
		next := ""
		switch {
		case pg == lastWhenFull && len(page) == limit:
			next = key(page[len(page)-1])
		case pg == lookahead && len(rest) > limit:
			next = key(page[len(page)-1])
		}
		if next != "" {
			if s.issued[path] == nil {
				s.issued[path] = map[string]bool{}
			}
			s.issued[path][next] = true
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": page, "next_cursor": next})
	})
}

// compareKeys orders keys like the notification service does, by order id
// then kind: a key "<order_id>:<kind>" splits at its last colon. Keys of
// the other audits hold no kind and compare whole.
func compareKeys(a, b string) int {
	ao, ak := splitKey(a)
	bo, bk := splitKey(b)
	return cmp.Or(strings.Compare(ao, bo), strings.Compare(ak, bk))
}

func splitKey(k string) (string, string) {
	if i := strings.LastIndexByte(k, ':'); i >= 0 && strings.HasPrefix(k[i+1:], "order_") {
		return k[:i], k[i+1:]
	}
	return k, ""
}

func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "detail": detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
