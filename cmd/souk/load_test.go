package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadNoEnv(string) string { return "" }

func TestLoadUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no rate", []string{"--duration", "1s"}},
		{"no duration", []string{"--rate", "10"}},
		{"zero rate", []string{"--rate", "0", "--duration", "1s"}},
		{"negative duration", []string{"--rate", "10", "--duration", "-1s"}},
		{"unknown journey", []string{"--rate", "10", "--duration", "1s", "--mix", "checkout=10"}},
		{"bad weight", []string{"--rate", "10", "--duration", "1s", "--mix", "browse=x"}},
		{"negative weight", []string{"--rate", "10", "--duration", "1s", "--mix", "browse=-5"}},
		{"zero weights", []string{"--rate", "10", "--duration", "1s", "--mix", "browse=0"}},
		{"orders without users", []string{"--rate", "10", "--duration", "1s", "--mix", "order=1", "--users", "0"}},
		{"my orders without users", []string{"--rate", "10", "--duration", "1s", "--mix", "my_orders=1", "--users", "0"}},
		{"negative login users", []string{"--rate", "10", "--duration", "1s", "--login-users", "-1"}},
		{"bad gateway", []string{"--rate", "10", "--duration", "1s", "--gateway", "ftp://x"}},
		{"unknown flag", []string{"--rate", "10", "--duration", "1s", "--burst", "3"}},
		{"extra argument", []string{"--rate", "10", "--duration", "1s", "now"}},
		{"error rate above 1", []string{"--rate", "10", "--duration", "1s", "--max-error-rate", "5"}},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"load"}, tt.args...), loadNoEnv, &stdout, &stderr)
		if got := exitCode(err); err == nil || got != 2 {
			t.Errorf("%s: got exit %d (%v), want 2", tt.name, got, err)
		}
	}
}

func TestLoadUnreachableExits1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"load", "--gateway", "http://" + addr, "--rate", "10", "--duration", "1s"}, loadNoEnv, &stdout, &stderr)
	if got := exitCode(err); err == nil || got != 1 {
		t.Errorf("got exit %d (%v), want 1", got, err)
	}
}

// TestLoadJSONAndErrorRate runs against a gateway whose every answer is
// 503: the run completes (exit 0) with the errors as data, prints one JSON
// object and a chart, and --max-error-rate turns the errors into exit 1.
func TestLoadJSONAndErrorRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":503,"code":"unavailable","title":"Service unavailable"}`)
	}))
	defer srv.Close()
	svg := filepath.Join(t.TempDir(), "latency.svg")
	args := []string{"load", "--gateway", srv.URL, "--rate", "40", "--duration", "500ms", "--mix", "product=1,search=1", "--json", "--out", svg}

	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, loadNoEnv, &stdout, &stderr); err != nil {
		t.Fatalf("got %v, want exit 0 when the run completed\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(&stdout)
	var rep struct {
		Requests int64            `json:"requests"`
		Errors   int64            `json:"errors"`
		ErrorsBy map[string]int64 `json:"errors_by"`
		Steps    map[string]struct {
			Requests int64 `json:"requests"`
		} `json:"steps"`
	}
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not JSON: %v", err)
	}
	if dec.More() {
		t.Error("stdout holds more than one JSON value")
	}
	if rep.Requests != 20 || rep.Errors != 20 || rep.ErrorsBy["503 unavailable"] != 20 || rep.Steps["product"].Requests+rep.Steps["search"].Requests != 20 {
		t.Errorf("got %+v, want 20 requests, all 503 unavailable", rep)
	}
	if !strings.Contains(stderr.String(), "warning") {
		t.Errorf("no warning about the unreadable catalog on stderr:\n%s", stderr.String())
	}
	f, err := os.Open(svg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for d := xml.NewDecoder(f); ; {
		if _, err := d.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("the chart is not XML: %v", err)
		}
	}

	stdout.Reset()
	err = run(context.Background(), append(args[:len(args)-3], "--max-error-rate", "0.5"), loadNoEnv, &stdout, &stderr)
	if got := exitCode(err); err == nil || got != 1 {
		t.Errorf("with --max-error-rate 0.5 and every request failing: got exit %d (%v), want 1", got, err)
	}
	if !strings.Contains(stdout.String(), "total") {
		t.Errorf("the table is not printed before the error exit:\n%s", stdout.String())
	}
}
