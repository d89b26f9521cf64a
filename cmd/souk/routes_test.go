package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoutesCommand(t *testing.T) {
	var out, errs strings.Builder
	if err := run(context.Background(), []string{"routes"}, os.Getenv, &out, &errs); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"routes", "check", file}, os.Getenv, &out, &errs); err != nil || !strings.Contains(out.String(), "valid") {
		t.Fatalf("the printed table does not check: %v %s", err, out.String())
	}
	if err := os.WriteFile(file, []byte("routes:\n- prefix: /internal/\n  service: order\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"routes", "check", file}, os.Getenv, &out, &errs); exitCode(err) != 1 {
		t.Errorf("a table exposing /internal: exit %d (%v), want 1", exitCode(err), err)
	}
	if err := run(context.Background(), []string{"routes", "extra"}, os.Getenv, &out, &errs); exitCode(err) != 2 {
		t.Errorf("bad usage: exit %d, want 2", exitCode(err))
	}
}
