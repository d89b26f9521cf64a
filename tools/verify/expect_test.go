package verify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseExpectations(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Expectations
		wantErr string
	}{
		{name: "empty", in: "", want: &Expectations{}},
		{name: "accepted and ambiguous", in: `{"id":"o1","status":"CONFIRMED","idempotency_key":"k1","at":"2026-01-02T03:04:05Z"}
{"idempotency_key":"k2","error":"context deadline exceeded"}

{"id":"o3","status":"PENDING","idempotency_key":"k3","at":1767322800000,"extra":true}
`, want: &Expectations{
			Accepted:  []Accepted{{ID: "o1", Status: "CONFIRMED", IdempotencyKey: "k1"}, {ID: "o3", Status: "PENDING", IdempotencyKey: "k3"}},
			Ambiguous: []Ambiguous{{IdempotencyKey: "k2", Error: "context deadline exceeded"}},
		}},
		{name: "no final newline, CRLF", in: "{\"id\":\"o1\"}\r\n{\"id\":\"o2\",\"status\":\"CONFIRMED\"}",
			want: &Expectations{Accepted: []Accepted{{ID: "o1"}, {ID: "o2", Status: "CONFIRMED"}}}},
		{name: "an id wins over an error", in: `{"id":"o1","error":"retried"}`,
			want: &Expectations{Accepted: []Accepted{{ID: "o1"}}}},
		{name: "not JSON", in: "{\"id\":\"o1\"}\nnot json\n", wantErr: "line 2"},
		{name: "not an object", in: "[1,2]\n", wantErr: "line 1"},
		{name: "neither id nor error", in: "{\"id\":\"o1\"}\n\n{\"status\":\"CONFIRMED\"}\n", wantErr: "line 3: neither an id nor an error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExpectations(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadExpectations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.jsonl")
	long := strings.Repeat("x", 200_000) // longer than a default bufio.Scanner line
	if err := os.WriteFile(path, []byte(`{"id":"o1","status":"CONFIRMED"}`+"\n"+`{"idempotency_key":"k","error":"`+long+`"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadExpectations(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Accepted) != 1 || len(got.Ambiguous) != 1 || got.Ambiguous[0].Error != long {
		t.Errorf("got %d accepted, %d ambiguous", len(got.Accepted), len(got.Ambiguous))
	}
	if _, err := ReadExpectations(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}
