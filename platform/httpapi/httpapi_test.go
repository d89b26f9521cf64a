package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/telemetry"
)

type order struct {
	Items []struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	} `json:"items"`
	Note string `json:"note"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body, ctype string
		wantKind          fault.Kind
		wantField         string
	}{
		{name: "ok", body: `{"items":[{"product_id":"4521","quantity":1}]}`},
		{name: "ok with charset", body: `{"note":"x"}`, ctype: "application/json; charset=utf-8"},
		{name: "empty", body: ``, wantKind: fault.Invalid},
		{name: "unknown field", body: `{"items":[],"admin":true}`, wantKind: fault.Invalid, wantField: "admin"},
		{name: "wrong type", body: `{"items":[{"product_id":"4521","quantity":"two"}]}`, wantKind: fault.Invalid, wantField: "items.quantity"},
		{name: "overflow", body: `{"items":[{"quantity":99999999999999999999999}]}`, wantKind: fault.Invalid, wantField: "items.quantity"},
		{name: "trailing", body: `{"note":"x"} {"note":"y"}`, wantKind: fault.Invalid},
		{name: "trailing garbage", body: `{"note":"x"}garbage`, wantKind: fault.Invalid},
		{name: "truncated", body: `{"note":"x"`, wantKind: fault.Invalid},
		{name: "not an object", body: `[1,2]`, wantKind: fault.Invalid},
		{name: "xml", body: `<a/>`, ctype: "application/xml", wantKind: fault.Invalid},
		{name: "too large", body: `{"note":"` + strings.Repeat("a", MaxBody) + `"}`, wantKind: fault.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			var o order
			err := Decode(httptest.NewRecorder(), r, &o)
			if tt.wantKind == fault.Internal {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if got := fault.KindOf(err); got != tt.wantKind {
				t.Fatalf("kind = %v (%v), want %v", got, err, tt.wantKind)
			}
			if tt.wantField != "" {
				e, _ := fault.As(err)
				if len(e.Fields) != 1 || e.Fields[0].Field != tt.wantField {
					t.Fatalf("fields = %+v, want %q", e.Fields, tt.wantField)
				}
			}
		})
	}
}

func TestValidator(t *testing.T) {
	var v Validator
	v.Check(true, "a", "fine")
	if v.Err() != nil {
		t.Fatal("no failures should be nil")
	}
	v.Check(false, "items", "must not be empty")
	v.Check(false, "payment.card_number", "must be 12 to 19 digits")
	e, ok := fault.As(v.Err())
	if !ok || e.Kind != fault.Invalid || len(e.Fields) != 2 {
		t.Fatalf("Err = %+v", v.Err())
	}
}

func TestWrap(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		JSON(w, 200, map[string]string{"id": r.PathValue("id"), "rid": telemetry.RequestID(r.Context())})
	})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("GET /conflict", func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, log, fault.New(fault.Conflict, "out_of_stock", "gone"))
	})
	h := Wrap(mux, Options{Log: log, AccessLevel: slog.LevelInfo, Metrics: reg})

	t.Run("request id adopted and echoed", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/items/7", nil)
		r.Header.Set(telemetry.HeaderRequestID, "req-1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get(telemetry.HeaderRequestID); got != "req-1" {
			t.Errorf("echoed id = %q", got)
		}
		if !strings.Contains(w.Body.String(), `"rid":"req-1"`) {
			t.Errorf("body = %s", w.Body)
		}
		if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("nosniff header = %q", got)
		}
	})
	t.Run("hostile request id replaced", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/items/7", nil)
		r.Header.Set(telemetry.HeaderRequestID, "evil\"\nid")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get(telemetry.HeaderRequestID); !telemetry.ValidRequestID(got) {
			t.Errorf("id = %q", got)
		}
	})
	t.Run("panic is a 500 problem", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/panic", nil))
		if w.Code != 500 || w.Header().Get("Content-Type") != fault.ContentType {
			t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
		}
		if !strings.Contains(logs.String(), `"panic":"boom"`) {
			t.Errorf("panic not logged: %s", logs.String())
		}
	})
	t.Run("problem", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/conflict", nil))
		var p fault.Problem
		body, _ := io.ReadAll(w.Body)
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		want := fault.Problem{Type: fault.ProblemType + "out_of_stock", Title: "Conflict", Status: 409, Code: "out_of_stock", Detail: "gone", Instance: "/conflict", RequestID: w.Header().Get(telemetry.HeaderRequestID)}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("problem (-want +got):\n%s", diff)
		}
	})
	t.Run("metrics by route pattern", func(t *testing.T) {
		if got := testutil.ToFloat64(mustCounter(t, reg, "GET /items/{id}", "200")); got != 2 {
			t.Errorf("requests{GET /items/{id},200} = %v, want 2", got)
		}
	})
	if !strings.Contains(logs.String(), `"route":"GET /items/{id}"`) {
		t.Errorf("access log lacks route: %s", logs.String())
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, route, status string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "souk_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["status"] == status {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no counter for %s %s", route, status)
	return nil
}

func TestNestedRoutePattern(t *testing.T) {
	reg := prometheus.NewRegistry()
	inner := http.NewServeMux()
	inner.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	outer := http.NewServeMux()
	outer.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Middleware between the two muxes makes a new *http.Request.
		Routes(inner).ServeHTTP(w, r.WithContext(r.Context()))
	}))
	h := Wrap(outer, Options{Metrics: reg})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders/7", nil))
	if got := testutil.ToFloat64(mustCounter(t, reg, "GET /orders/{id}", "204")); got != 1 {
		t.Errorf("requests{GET /orders/{id}} = %v, want 1", got)
	}
}
