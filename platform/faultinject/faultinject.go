package faultinject

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type action struct {
	kind  string // exit, delay, error
	delay time.Duration
}

// MarkerPath is the file that records that the exit point name was hit.
func MarkerPath(stateDir, name string) string {
	safe := []byte(name)
	for i, c := range safe {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			safe[i] = '_'
		}
	}
	return filepath.Join(stateDir, "fault-"+string(safe)+".hit")
}

// Points holds the configured fault points of a process.
type Points struct {
	points   map[string]action
	stateDir string
	exit     func(code int)
}

// ErrInjected is returned by Hit for an "error" action.
var ErrInjected = errors.New("injected fault")

// Parse reads a SOUK_FAULT value. stateDir keeps the markers of exit points
// already hit.
func Parse(spec, stateDir string) (*Points, error) {
	p := &Points{stateDir: stateDir, exit: os.Exit}
	if strings.TrimSpace(spec) == "" {
		return p, nil
	}
	p.points = map[string]action{}
	for _, item := range strings.Split(spec, ",") {
		name, act, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("SOUK_FAULT: %q is not point=action", item)
		}
		switch {
		case act == "exit" || act == "error":
			p.points[name] = action{kind: act}
		case strings.HasPrefix(act, "delay:"):
			d, err := time.ParseDuration(strings.TrimPrefix(act, "delay:"))
			if err != nil {
				return nil, fmt.Errorf("SOUK_FAULT: %s: %w", name, err)
			}
			p.points[name] = action{kind: "delay", delay: d}
		default:
			return nil, fmt.Errorf("SOUK_FAULT: %s: unknown action %q (exit, error, delay:D)", name, act)
		}
	}
	return p, nil
}

// Enabled reports whether any point is configured, so callers can skip
// building point names on hot paths.
func (p *Points) Enabled() bool { return p != nil && len(p.points) > 0 }

// Hit acts on the point name if it is configured: exits the process, sleeps,
// or returns ErrInjected. A nil *Points does nothing.
func (p *Points) Hit(name string) error {
	if p == nil || p.points == nil {
		return nil
	}
	a, ok := p.points[name]
	if !ok {
		return nil
	}
	switch a.kind {
	case "delay":
		time.Sleep(a.delay)
	case "error":
		return fmt.Errorf("%s: %w", name, ErrInjected)
	case "exit":
		marker := MarkerPath(p.stateDir, name)
		if _, err := os.Stat(marker); err == nil {
			return nil
		}
		_ = os.MkdirAll(p.stateDir, 0o755)
		_ = os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339Nano)), 0o644)
		fmt.Fprintf(os.Stderr, "faultinject: exiting at %s\n", name)
		p.exit(86)
	}
	return nil
}
