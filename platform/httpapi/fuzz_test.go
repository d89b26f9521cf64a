package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/fault"
)

// fuzzBody has a field of every shape the services decode: strings,
// integers of two sizes, a bool, a pointer, a nested object and an array
// of objects.
type fuzzBody struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Cents int64  `json:"cents"`
	Flag  bool   `json:"flag"`
	Opt   *int64 `json:"opt"`
	Items []struct {
		ID       string `json:"id"`
		Quantity int64  `json:"quantity"`
	} `json:"items"`
	Card struct {
		Number string `json:"number"`
		Month  int    `json:"month"`
	} `json:"card"`
}

// FuzzDecode feeds arbitrary bodies and content types to Decode: it must
// never panic, must refuse only as Invalid or TooLarge with a problem a
// client can read, and whatever it accepts must be one JSON object of at
// most MaxBody bytes that the standard decoder reads the same way, with no
// name that is not a field of the destination and no name twice. Seeds are
// in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	seeds := []struct{ body, ctype string }{
		{`{"name":"Ada","count":1,"cents":4999,"flag":true,"opt":null,"items":[{"id":"4521","quantity":2}],"card":{"number":"4242424242424242","month":12}}`, "application/json"},
		{`{"name":"Ada"}`, "application/json; charset=utf-8"},
		{`{"name":"Ada"}`, "application/problem+json"},
		{`{"name":"Ada"}`, "text/plain"},
		{`{"name":"Ada"}`, "application/json; charset"},
		{`{"count":9223372036854775808}`, ""},
		{`{"cents":-9223372036854775808}`, ""},
		{`{"count":1e30}`, ""},
		{`{"count":1.5}`, ""},
		{`{"count":-0}`, ""},
		{`{"count":"2"}`, ""},
		{`{"items":{}}`, ""},
		{`{"items":[null,{}]}`, ""},
		{`{"name":"a","name":"b"}`, ""},
		{`{"name":"a","NAME":"b"}`, ""},
		{`{"items":[{"id":"a","ID":"b"}]}`, ""},
		{`{"card":{"number":"1","number":"2"}}`, ""},
		{`{"name":"\u0000\ud800\udc00\u2028"}`, ""},
		{"{\"name\":\"\xff\xfe\"}", ""},
		{`{"name":"Ada"}garbage`, ""},
		{`{"name":"Ada"} {}`, ""},
		{`{"name":"Ada"`, ""},
		{`{"name":"Ada",}`, ""},
		{`{"admin":true}`, ""},
		{`null`, ""},
		{`[]`, ""},
		{`"x"`, ""},
		{`{"opt":null,"flag":null}`, ""},
		{strings.Repeat("[", 10000), ""},
		{`{"items":[` + strings.Repeat(`{"id":"x","quantity":1},`, 100) + `{}]}`, ""},
		{"\ufeff{}", ""},
		{" \t\r\n{} \n", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.ctype)
	}
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		var got fuzzBody
		err := Decode(httptest.NewRecorder(), r, &got)
		if err != nil {
			k := fault.KindOf(err)
			if k != fault.Invalid && k != fault.TooLarge {
				t.Fatalf("error %v is of kind %v, want Invalid or TooLarge", err, k)
			}
			p := fault.ToProblem(err)
			if p.Status != 400 && p.Status != 413 || p.Code == "" || p.Detail == "" {
				t.Fatalf("problem %+v", p)
			}
			if k == fault.TooLarge && len(body) <= MaxBody {
				t.Fatalf("a body of %d bytes is TooLarge", len(body))
			}
			for _, fe := range p.Errors {
				if fe.Field == "" || fe.Message == "" {
					t.Fatalf("field error %+v without field or message", fe)
				}
			}
			return
		}
		if len(body) > MaxBody {
			t.Fatalf("accepted a body of %d bytes", len(body))
		}
		trimmed := bytes.TrimSpace(body)
		if !json.Valid(trimmed) || trimmed[0] != '{' {
			t.Fatalf("accepted %q, not one JSON object", body)
		}
		var std fuzzBody
		if err := json.Unmarshal(trimmed, &std); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", body, err)
		}
		if diff := cmp.Diff(std, got); diff != "" {
			t.Fatalf("Decode and encoding/json disagree on %q (-std +Decode):\n%s", body, diff)
		}
		if path, dup := duplicateKey(trimmed); dup {
			t.Fatalf("accepted %q with %s twice", body, path)
		}
		// Decoding what we accepted, re-encoded, must give it back.
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var round fuzzBody
		if err := Unmarshal(again, &round); err != nil {
			t.Fatalf("the re-encoding %s of an accepted body is refused: %v", again, err)
		}
		if diff := cmp.Diff(got, round); diff != "" {
			t.Fatalf("round trip differs (-first +second):\n%s", diff)
		}
	})
}

func TestDuplicateKeys(t *testing.T) {
	tests := []struct {
		body, want string // want: the field named, "" for accepted
	}{
		{`{"name":"a","count":1}`, ""},
		{`{"name":"a","name":"b"}`, "name"},
		{`{"name":"a","Name":"b"}`, "Name"},
		{`{"items":[{"id":"a"},{"id":"b"}]}`, ""},
		{`{"items":[{"id":"a","quantity":1,"id":"b"}]}`, "items.id"},
		{`{"card":{"number":"1"},"name":"x","card":{}}`, "card"},
		{`{"card":{"number":"1","month":1},"items":[{"id":"x"}],"name":"n"}`, ""},
		{`{"items":[[],{"id":"a"}],"name":"x"}`, "items"}, // refused as a wrong type first
	}
	for _, tt := range tests {
		var b fuzzBody
		err := Unmarshal([]byte(tt.body), &b)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want accepted", tt.body, err)
			}
			continue
		}
		e, ok := fault.As(err)
		if !ok || e.Kind != fault.Invalid || len(e.Fields) != 1 || e.Fields[0].Field != tt.want {
			t.Errorf("%s: got %v, want Invalid naming %q", tt.body, err, tt.want)
		}
	}
}

func TestRoutesUnmatched(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, nil, fault.NotFoundf("no order %s", r.PathValue("id")))
	})
	h := Wrap(Routes(mux), Options{})
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nowhere", 404, "not_found", ""},
		{"DELETE", "/orders/7", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/orders/7", 404, "not_found", ""}, // the handler's own problem, kept
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
		var p fault.Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Errorf("%s %s: body %q: %v", tt.method, tt.path, w.Body, err)
			continue
		}
		if w.Code != tt.status || p.Status != tt.status || p.Code != tt.code || w.Header().Get("Content-Type") != fault.ContentType {
			t.Errorf("%s %s: %d %q %+v, want %d %s", tt.method, tt.path, w.Code, w.Header().Get("Content-Type"), p, tt.status, tt.code)
		}
		if got := w.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
		if tt.method == "GET" && tt.path == "/orders/7" && p.Detail != "no order 7" {
			t.Errorf("the handler's problem was replaced: %+v", p)
		}
	}
}
