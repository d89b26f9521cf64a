package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeedUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
	}{
		{"no users", []string{"--data", dir}},
		{"zero users", []string{"--data", dir, "--users", "0", "--orders", "5"}},
		{"negative orders", []string{"--data", dir, "--users", "1", "--orders", "-1"}},
		{"batch zero", []string{"--data", dir, "--users", "1", "--batch", "0"}},
		{"batch too big", []string{"--data", dir, "--users", "1", "--batch", "100001"}},
		{"seed zero", []string{"--data", dir, "--users", "1", "--seed", "0"}},
		{"explain runs zero", []string{"--data", dir, "--explain", "--runs", "0"}},
		{"unknown flag", []string{"--data", dir, "--users", "1", "--customers", "3"}},
		{"extra argument", []string{"--data", dir, "--users", "1", "now"}},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"seed"}, tt.args...), loadNoEnv, &stdout, &stderr)
		if got := exitCode(err); err == nil || got != 2 {
			t.Errorf("%s: got exit %d (%v), want 2", tt.name, got, err)
		}
	}
}

// TestSeedThenExplain seeds a small store with a cheap hash (the
// SOUK_AUTH_ARGON2 that `souk up` would pass auth), prints the JSON report,
// and explains the hot queries on it.
func TestSeedThenExplain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := func(k string) string {
		if k == "SOUK_AUTH_ARGON2" {
			return "m=64,t=1,p=1"
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"seed", "--data", dir, "--users", "4", "--orders", "40", "--json"}, env, &stdout, &stderr); err != nil {
		t.Fatalf("souk seed: %v\n%s", err, stderr.String())
	}
	var rep struct {
		Users, Orders int
		Rows          map[string]int64
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v: %s", err, stdout.String())
	}
	if rep.Users != 4 || rep.Orders != 40 || rep.Rows["order"] != 240 {
		t.Errorf("report: got %+v, want 4 users, 40 orders, 240 order rows", rep)
	}
	if !strings.Contains(stderr.String(), "argon2id m=64,t=1,p=1") {
		t.Errorf("the hash did not use SOUK_AUTH_ARGON2:\n%s", stderr.String())
	}

	stdout.Reset()
	if err := run(context.Background(), []string{"seed", "--data", dir, "--explain", "--runs", "3"}, env, &stdout, &stderr); err != nil {
		t.Fatalf("souk seed --explain: %v", err)
	}
	for _, want := range []string{"list_by_customer", "SEARCH orders USING INDEX orders_by_customer", "stalled_scan"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, stdout.String())
		}
	}

	// A bad SOUK_AUTH_ARGON2 is a usage error.
	bad := func(k string) string {
		if k == "SOUK_AUTH_ARGON2" {
			return "fast"
		}
		return ""
	}
	err := run(context.Background(), []string{"seed", "--data", filepath.Join(t.TempDir(), "x"), "--users", "1"}, bad, &stdout, &stderr)
	if got := exitCode(err); got != 2 {
		t.Errorf("bad SOUK_AUTH_ARGON2: got exit %d (%v), want 2", got, err)
	}
}
