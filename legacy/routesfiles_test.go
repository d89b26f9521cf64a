package legacy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/souk/souk/services/gateway"
)

// legacyURL is where the example files expect `souk legacy`.
const legacyURL = "http://127.0.0.1:9090"

// TestExampleRoutesFiles keeps deploy/routes from rotting: each file must
// parse as the gateway parses it and be exactly gateway.DefaultRoutes with
// the strangled routes changed and the monolith's /legacy/ prefix added.
// When DefaultRoutes changes, update the three files to match.
func TestExampleRoutesFiles(t *testing.T) {
	toLegacy := []gateway.Target{{URL: legacyURL}}
	tests := []struct {
		file string
		// edits replaces the default route of a key (see routeKey).
		edits map[string]func(*gateway.Route)
	}{
		{"strangler-start.yaml", map[string]func(*gateway.Route){
			"/api/v1/products GET":  func(r *gateway.Route) { r.Service, r.Targets = "", toLegacy },
			"/api/v1/products/ GET": func(r *gateway.Route) { r.Handler, r.Targets = "", toLegacy },
			"/api/v1/search GET":    func(r *gateway.Route) { r.Service, r.Targets = "", toLegacy },
		}},
		{"strangler-split.yaml", map[string]func(*gateway.Route){
			"/api/v1/products GET": func(r *gateway.Route) {
				r.Service, r.Targets = "", []gateway.Target{{URL: legacyURL, Weight: 90}, {Service: "catalog", Weight: 10}}
			},
			"/api/v1/products/ GET": func(r *gateway.Route) { r.Handler, r.Targets = "", toLegacy },
			"/api/v1/search GET":    func(r *gateway.Route) { r.Service, r.Targets = "", toLegacy },
		}},
		{"strangler-done.yaml", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "deploy", "routes", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := gateway.ParseRoutes(data)
			if err != nil {
				t.Fatalf("the gateway rejects %s: %v", tt.file, err)
			}

			want := gateway.DefaultRoutes()
			seen := map[string]bool{}
			for i := range want.Routes {
				k := routeKey(want.Routes[i])
				if edit, ok := tt.edits[k]; ok {
					edit(&want.Routes[i])
					seen[k] = true
				}
			}
			for k := range tt.edits {
				if !seen[k] {
					t.Fatalf("DefaultRoutes has no route %q any more: update this test and deploy/routes", k)
				}
			}
			want.Routes = append(want.Routes, gateway.Route{Prefix: "/legacy/", Targets: toLegacy})
			// Through the same parser, so that defaults are filled alike.
			raw, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if want, err = gateway.ParseRoutes(raw); err != nil {
				t.Fatalf("expected table: %v", err)
			}
			sortRoutes(got.Routes)
			sortRoutes(want.Routes)
			if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(gateway.Route{}, gateway.Target{})); diff != "" {
				t.Errorf("%s is not DefaultRoutes with the strangled routes changed (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

// TestDocsRoutesSnippets parses every YAML routes table in
// docs/strangler.md, so the guide shows only files the gateway accepts.
func TestDocsRoutesSnippets(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "strangler.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(data), "```yaml\n")[1:]
	if len(blocks) < 2 {
		t.Fatalf("found %d yaml blocks in docs/strangler.md, want at least 2", len(blocks))
	}
	for i, b := range blocks {
		snippet, _, ok := strings.Cut(b, "```")
		if !ok {
			t.Fatalf("yaml block %d is not closed", i)
		}
		if _, err := gateway.ParseRoutes([]byte(snippet)); err != nil {
			t.Errorf("yaml block %d of docs/strangler.md: %v\n%s", i, err, snippet)
		}
	}
}

// routeKey names a route by its path or prefix (a prefix ends in /) and
// methods.
func routeKey(r gateway.Route) string {
	return r.Path + r.Prefix + " " + strings.Join(r.Methods, ",")
}

func sortRoutes(rs []gateway.Route) {
	sort.SliceStable(rs, func(i, j int) bool { return routeKey(rs[i]) < routeKey(rs[j]) })
}
