package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/souk/souk/tools/client"
)

// fakeDLQ imitates the gateway's admin login and dead-letter routes.
type fakeDLQ struct {
	*httptest.Server
	mu     sync.Mutex
	items  string   // the JSON array GET answers with
	bodies []string // the redrive bodies received
}

func newFakeDLQ(t *testing.T, items string) *fakeDLQ {
	f := &fakeDLQ{items: items}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Email, Password string }
		_ = json.NewDecoder(r.Body).Decode(&b)
		if b.Email != client.DefaultAdminEmail || b.Password != client.DefaultAdminPassword {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"status":401,"code":"unauthorized","detail":"wrong email or password"}`)
			return
		}
		io.WriteString(w, `{"access_token":"tok","token_type":"Bearer","expires_in":900}`)
	})
	admin := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer tok" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v1/admin/dlq", admin(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items":`+f.items+`}`)
	}))
	mux.HandleFunc("POST /api/v1/admin/dlq/redrive", admin(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(body))
		f.mu.Unlock()
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if _, one := req["seq"]; one {
			if req["seq"] == float64(404) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"status":404,"code":"not_found","detail":"no dead letter 404"}`)
				return
			}
			io.WriteString(w, `{"redriven":1}`)
			return
		}
		io.WriteString(w, `{"redriven":3}`)
	}))
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDLQ) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

const twoLetters = `[
 {"seq":7,"consumer":"notification","subject":"order.order_placed","error":"send mail:\n smtp down","attempts":5,"failed":"2026-03-01T10:00:00Z",
  "event":{"id":"0195-a","type":"ORDER_PLACED","source":"order","key":"o1","time":"2026-03-01T09:59:00Z","data":{}}},
 {"seq":9,"consumer":"warehouse","subject":"order.order_placed","error":"decode event: bad json","attempts":1,"failed":"2026-03-01T10:01:00Z",
  "event":{"id":"","type":"","source":"","key":""}}
]`

func TestDLQList(t *testing.T) {
	tests := []struct {
		name    string
		items   string
		args    []string
		want    []string
		notWant []string
	}{
		{name: "table", items: twoLetters, want: []string{
			"SEQ", "CONSUMER",
			"7    notification  order.order_placed  ORDER_PLACED 0195-a  o1   5         2026-03-01T10:00:00Z  send mail: smtp down",
			"9    warehouse", "(undecodable)", "decode event: bad json",
			"2 dead letter(s)",
		}},
		{name: "empty", items: `[]`, want: []string{"no dead letters"}, notWant: []string{"SEQ"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDLQ(t, tt.items)
			out, errOut, code := runSouk(t, noEnv, append([]string{"dlq", "list", "--gateway", f.URL}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		f := newFakeDLQ(t, twoLetters)
		out, errOut, code := runSouk(t, noEnv, "dlq", "list", "--gateway", f.URL, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var doc struct {
			Items []dlqLetter `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if len(doc.Items) != 2 || doc.Items[0].Seq != 7 || doc.Items[0].Event.Key != "o1" || doc.Items[1].Consumer != "warehouse" {
			t.Errorf("items = %+v", doc.Items)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		f := newFakeDLQ(t, twoLetters)
		env := func(k string) string { return map[string]string{"SOUK_ADMIN_PASSWORD": "wrong"}[k] }
		_, errOut, code := runSouk(t, env, "dlq", "list", "--gateway", f.URL)
		if code != 1 || !strings.Contains(errOut, "SOUK_ADMIN_PASSWORD") {
			t.Errorf("exit %d, stderr %q; want 1 and a hint at the credentials", code, errOut)
		}
	})
}

func TestDLQRedrive(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
		wantBody []string
	}{
		{name: "one", args: []string{"--seq", "7"}, wantOut: "redriven: 1\n", wantBody: []string{`{"seq":7}`}},
		{name: "all", args: []string{"--all"}, wantOut: "redriven: 3\n", wantBody: []string{`{}`}},
		{name: "unknown seq", args: []string{"--seq", "404"}, wantCode: 1, wantErr: "no dead letter 404", wantBody: []string{`{"seq":404}`}},
		{name: "neither", wantCode: 2, wantErr: "exactly one of"},
		{name: "both", args: []string{"--seq", "7", "--all"}, wantCode: 2, wantErr: "exactly one of"},
		{name: "seq zero", args: []string{"--seq", "0"}, wantCode: 2},
		{name: "seq not a number", args: []string{"--seq", "x"}, wantCode: 2},
		{name: "stray argument", args: []string{"--all", "7"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDLQ(t, `[]`)
			out, errOut, code := runSouk(t, noEnv, append([]string{"dlq", "redrive", "--gateway", f.URL}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.wantCode, errOut)
			}
			if out != tt.wantOut && tt.wantOut != "" {
				t.Errorf("stdout = %q, want %q", out, tt.wantOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantBody, f.received()); diff != "" {
				t.Errorf("redrive bodies (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDLQUsage(t *testing.T) {
	for _, args := range [][]string{{"dlq"}, {"dlq", "purge"}} {
		if _, _, code := runSouk(t, noEnv, args...); code != 2 {
			t.Errorf("souk %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
	if out, _, code := runSouk(t, noEnv, "dlq", "--help"); code != 0 || !strings.Contains(out, "souk dlq list") {
		t.Errorf("souk dlq --help: exit %d, %q", code, out)
	}
}
