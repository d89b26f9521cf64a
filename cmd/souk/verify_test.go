package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/souk/souk/tools/verify"
	"github.com/souk/souk/tools/verify/verifytest"
)

// verifyData is a small consistent system: one confirmed order and one
// declined.
func verifyData() verify.Data {
	items := []verify.Item{{ProductID: "4521", Quantity: 2}}
	return verify.Data{
		Orders: []verify.Order{
			{OrderID: "a", Status: verify.OrderConfirmed, TotalCents: 9998, Currency: "USD", Items: items},
			{OrderID: "b", Status: verify.OrderCancelled, TotalCents: 4999, Currency: "USD", Items: []verify.Item{{ProductID: "4521", Quantity: 1}}},
		},
		Charges: []verify.Charge{
			{OrderID: "a", Status: "captured", CapturedCents: 9998, Captures: 1, Currency: "USD"},
			{OrderID: "b", Status: "declined", Currency: "USD"},
		},
		Stock: []verify.Stock{{ProductID: "4521", Initial: 12, Available: 10, Sold: 2}},
		Reservations: []verify.Reservation{
			{OrderID: "a", Status: verify.ReservationCommitted, Items: items},
			{OrderID: "b", Status: verify.ReservationReleased, Items: []verify.Item{{ProductID: "4521", Quantity: 1}}},
		},
		Notifications: []verify.Notification{
			{OrderID: "a", Kind: verify.KindConfirmation, Count: 1},
			{OrderID: "b", Kind: "order_cancelled", Count: 1},
		},
		Tasks: []verify.Task{{OrderID: "a", Tasks: 1, Status: "pending"}},
	}
}

func noEnv(string) string { return "" }

func runSouk(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, getenv, &out, &errb)
	if err != nil {
		code = exitCode(err)
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

type verifyDoc struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name       string   `json:"name"`
		OK         bool     `json:"ok"`
		Checked    int      `json:"checked"`
		Violations []string `json:"violations"`
		Detail     string   `json:"detail"`
	} `json:"checks"`
	Summary map[string]int `json:"summary"`
}

func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	lostFile := filepath.Join(dir, "lost.jsonl")
	okFile := filepath.Join(dir, "ok.jsonl")
	badFile := filepath.Join(dir, "bad.jsonl")
	for path, body := range map[string]string{
		okFile:   `{"id":"a","status":"CONFIRMED","idempotency_key":"k1","at":"2026-01-01T00:00:00Z"}` + "\n" + `{"idempotency_key":"k2","error":"timeout"}` + "\n",
		lostFile: `{"id":"a","status":"CONFIRMED","idempotency_key":"k1"}` + "\n" + `{"id":"zz","status":"CONFIRMED","idempotency_key":"k3"}` + "\n",
		badFile:  "{oops\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		mutate   func(d *verify.Data)
		onFetch  func(n int, d *verify.Data)
		getenv   func(string) string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{name: "clean", wantOut: []string{"terminal", "OK", "orders: 2 total, 1 confirmed, 0 shipped, 1 cancelled, 0 pending", "lost: 0", "duplicates: 0", "all checks hold"}},
		{name: "pending confirmed on the third audit", args: []string{"--wait", "20s", "--interval", "10ms"},
			mutate: func(d *verify.Data) { d.Orders[0].Status = verify.OrderPending },
			onFetch: func(n int, d *verify.Data) {
				if n == 3 {
					d.Orders[0].Status = verify.OrderConfirmed
				}
			},
			wantOut: []string{"all checks hold (after 3 audit(s))"}},
		{name: "still pending after the wait", args: []string{"--wait", "50ms", "--interval", "10ms"}, wantCode: 1,
			mutate:  func(d *verify.Data) { d.Orders[0].Status = verify.OrderPending },
			wantOut: []string{"terminal", "FAIL", "1 still PENDING: a"}, wantErr: "1 of 8 checks failed"},
		{name: "a duplicate email", args: []string{"--wait", "0"}, wantCode: 1,
			mutate:  func(d *verify.Data) { d.Notifications[0].Count = 2 },
			wantOut: []string{"confirmed_email", "FAIL", "duplicates: 1"}},
		{name: "expectations hold", args: []string{"--expect", okFile}, wantOut: []string{"expected_orders", "1 ambiguous outcomes", "expected: 1 accepted, 1 ambiguous", "lost: 0"}},
		{name: "an accepted order lost", args: []string{"--expect", lostFile, "--wait", "0"}, wantCode: 1,
			wantOut: []string{"accepted then lost: zz", "lost: 1"}},
		{name: "bad credentials", getenv: func(k string) string { return map[string]string{"SOUK_ADMIN_PASSWORD": "nope"}[k] },
			wantCode: 1, wantErr: "could not audit"},
		{name: "gateway down", args: []string{"--gateway", "http://127.0.0.1:1"}, wantCode: 1, wantErr: "could not audit"},
		{name: "unknown flag", args: []string{"--frobnicate"}, wantCode: 2},
		{name: "negative wait", args: []string{"--wait", "-1s"}, wantCode: 2},
		{name: "stray argument", args: []string{"now"}, wantCode: 2},
		{name: "missing expectations file", args: []string{"--expect", filepath.Join(dir, "missing")}, wantCode: 2, wantErr: "--expect"},
		{name: "bad expectations file", args: []string{"--expect", badFile}, wantCode: 2, wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := verifyData()
			if tt.mutate != nil {
				tt.mutate(&d)
			}
			srv := verifytest.NewServer(d)
			defer srv.Close()
			srv.OnFetch = tt.onFetch
			getenv := tt.getenv
			if getenv == nil {
				getenv = noEnv
			}
			args := append([]string{"verify", "--gateway", srv.URL}, tt.args...)
			out, errOut, code := runSouk(t, getenv, args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
		})
	}
}

func TestVerifyCommandJSON(t *testing.T) {
	d := verifyData()
	d.Tasks = nil // the confirmed order lost its warehouse task
	srv := verifytest.NewServer(d)
	defer srv.Close()
	out, errOut, code := runSouk(t, noEnv, "verify", "--gateway", srv.URL, "--json", "--wait", "0")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, errOut)
	}
	var doc verifyDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if doc.OK {
		t.Error("ok = true")
	}
	for _, c := range doc.Checks {
		wantOK := c.Name != verify.CheckTask
		if c.OK != wantOK {
			t.Errorf("%s ok = %v, want %v", c.Name, c.OK, wantOK)
		}
		if c.Name == verify.CheckTask && (len(c.Violations) != 1 || c.Violations[0] != "a" || c.Checked != 1) {
			t.Errorf("%s: checked %d, violations %v; want a of 1", c.Name, c.Checked, c.Violations)
		}
	}
	if doc.Summary["orders"] != 2 || doc.Summary["confirmed"] != 1 || doc.Summary["cancelled"] != 1 || doc.Summary["tasks"] != 0 {
		t.Errorf("summary = %v", doc.Summary)
	}
}
