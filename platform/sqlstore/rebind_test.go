package sqlstore

import (
	"fmt"
	"testing"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"SELECT 1", "SELECT 1"},
		{"SELECT ?", "SELECT $1"},
		{"INSERT INTO t (a, b) VALUES (?, ?)", "INSERT INTO t (a, b) VALUES ($1, $2)"},
		{"SELECT 'a?b', ? FROM t WHERE x = ?", "SELECT 'a?b', $1 FROM t WHERE x = $2"},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{`SELECT "odd?col", ? FROM t`, `SELECT "odd?col", $1 FROM t`},
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"SELECT ? /* what? */, ?", "SELECT $1 /* what? */, $2"},
		{"SELECT ? -- trailing ?", "SELECT $1 -- trailing ?"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
		{"SELECT ? /* unterminated ?", "SELECT $1 /* unterminated ?"},
		{"SELECT a - ? / ?", "SELECT a - $1 / $2"},
		{"?,?,?,?,?,?,?,?,?,?,?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
	}
	for _, tt := range tests {
		if got := Rebind(tt.in); got != tt.want {
			t.Errorf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRebinderCachesAndStaysBounded(t *testing.T) {
	r := newRebinder()
	q := "SELECT ? FROM t WHERE a = ?"
	if got, want := r.rebind(q), "SELECT $1 FROM t WHERE a = $2"; got != want {
		t.Fatalf("rebind = %q, want %q", got, want)
	}
	if v, ok := r.cache.Load(q); !ok || v != "SELECT $1 FROM t WHERE a = $2" {
		t.Errorf("cache entry = %v, %v; want the rewritten query", v, ok)
	}
	for i := range maxRebindCache + 100 {
		r.rebind(fmt.Sprintf("SELECT ? /* %d */", i))
	}
	if got := r.n.Load(); got != maxRebindCache {
		t.Errorf("cached entries = %d, want the cap %d", got, maxRebindCache)
	}
	if got, want := r.rebind("SELECT ?, ? /* uncached */"), "SELECT $1, $2 /* uncached */"; got != want {
		t.Errorf("rebind past the cap = %q, want %q", got, want)
	}
}

func TestBackoff(t *testing.T) {
	for n := 1; n <= 20; n++ {
		for range 50 {
			d := backoff(n)
			if d <= 0 || d > maxBackoffMs*1e6 {
				t.Fatalf("backoff(%d) = %v, want in (0, %dms]", n, d, maxBackoffMs)
			}
		}
	}
}
