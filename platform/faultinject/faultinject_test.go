package faultinject

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestHit(t *testing.T) {
	dir := t.TempDir()
	p, err := Parse("a.exit=exit, b.err=error, c.slow=delay:20ms, svc.after POST /x/{id}=exit", dir)
	if err != nil {
		t.Fatal(err)
	}
	exits := 0
	p.exit = func(code int) { exits++ }
	if err := p.Hit("unknown"); err != nil {
		t.Fatal(err)
	}
	_ = p.Hit("a.exit")
	_ = p.Hit("a.exit")
	if exits != 1 {
		t.Errorf("exit point fired %d times, want once", exits)
	}
	if err := p.Hit("b.err"); !errors.Is(err, ErrInjected) {
		t.Errorf("error point: %v", err)
	}
	start := time.Now()
	_ = p.Hit("c.slow")
	if time.Since(start) < 20*time.Millisecond {
		t.Error("delay point did not sleep")
	}
	_ = p.Hit("svc.after POST /x/{id}")
	if _, err := os.Stat(MarkerPath(dir, "svc.after POST /x/{id}")); err != nil || exits != 2 {
		t.Errorf("a point named like a route: marker %v, exits %d", err, exits)
	}
	// A new process (new Points) on the same state folder stays past the hit exit point.
	q, _ := Parse("a.exit=exit", dir)
	q.exit = func(int) { t.Error("exit point fired again after restart") }
	_ = q.Hit("a.exit")
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{"x", "=exit", "a=boom", "a=delay:xx"} {
		if _, err := Parse(spec, t.TempDir()); err == nil {
			t.Errorf("Parse(%q) accepted", spec)
		}
	}
	var nilPoints *Points
	if err := nilPoints.Hit("a"); err != nil {
		t.Error(err)
	}
}
