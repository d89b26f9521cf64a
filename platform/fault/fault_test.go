package fault

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestKindSurvivesWrapping(t *testing.T) {
	base := New(Conflict, "out_of_stock", "only 2 left")
	err := fmt.Errorf("reserve 4521: %w", base)
	if got, want := KindOf(err), Conflict; got != want {
		t.Fatalf("KindOf = %v, want %v", got, want)
	}
	if got, want := CodeOf(err), "out_of_stock"; got != want {
		t.Fatalf("CodeOf = %q, want %q", got, want)
	}
	if !HasCode(err, "out_of_stock") || HasCode(nil, "out_of_stock") {
		t.Fatal("HasCode wrong")
	}
}

func TestToProblem(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Problem
	}{
		{"unknown error hides its text", errors.New("sql: secret table"),
			Problem{Type: ProblemType + "internal", Title: "Internal error", Status: 500, Code: "internal", Detail: "internal error"}},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded),
			Problem{Type: ProblemType + "timeout", Title: "Timeout", Status: 504, Code: "timeout", Detail: "the request took too long"}},
		{"conflict keeps code", New(Conflict, "out_of_stock", "product 4521: 3 available"),
			Problem{Type: ProblemType + "out_of_stock", Title: "Conflict", Status: 409, Code: "out_of_stock", Detail: "product 4521: 3 available"}},
		{"internal kind hides message", Wrap(errors.New("boom"), Internal, "", "secret"),
			Problem{Type: ProblemType + "internal", Title: "Internal error", Status: 500, Code: "internal", Detail: "internal error"}},
		{"fields", Fields(FieldError{"items", "must not be empty"}),
			Problem{Type: ProblemType + "invalid", Title: "Invalid request", Status: 400, Code: "invalid", Detail: "items: must not be empty", Errors: []FieldError{{"items", "must not be empty"}}}},
		{"retry after rounds up", &Error{Kind: Unavailable, Message: "payment is down", RetryAfter: 1500 * time.Millisecond},
			Problem{Type: ProblemType + "unavailable", Title: "Service unavailable", Status: 503, Code: "unavailable", Detail: "payment is down", RetryAfter: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ToProblem(tt.err)); diff != "" {
				t.Errorf("ToProblem mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProblemRoundTrip(t *testing.T) {
	orig := &Error{Kind: PaymentRequired, Code: "payment_declined", Message: "card declined"}
	p := ToProblem(orig)
	back := FromProblem(p)
	if back.Kind != orig.Kind || back.Code != orig.Code || back.Message != orig.Message {
		t.Fatalf("round trip = %+v, want %+v", back, orig)
	}
	if _, ok := DecodeProblem(502, []byte("<html>bad gateway</html>")); ok {
		t.Fatal("DecodeProblem accepted HTML")
	}
	e, ok := DecodeProblem(409, []byte(`{"type":"x","title":"Conflict","status":409,"code":"out_of_stock","detail":"gone"}`))
	if !ok || e.Kind != Conflict || e.Code != "out_of_stock" {
		t.Fatalf("DecodeProblem = %+v, %v", e, ok)
	}
}

func TestKindForStatus(t *testing.T) {
	for status, want := range map[int]Kind{400: Invalid, 404: NotFound, 418: Invalid, 502: Unavailable, 503: Unavailable, 504: Timeout, 500: Internal} {
		if got := KindForStatus(status); got != want {
			t.Errorf("KindForStatus(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestFormatRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", 2 * time.Second: "2", 2001 * time.Millisecond: "3"} {
		if got := FormatRetryAfter(d); got != want {
			t.Errorf("FormatRetryAfter(%v) = %q, want %q", d, got, want)
		}
	}
}
