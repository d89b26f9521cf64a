package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// exampleLegacyURL is where deploy/routes expects `souk legacy`; the test
// puts its own monolith's address there.
const exampleLegacyURL = "http://127.0.0.1:9090"

// TestStranglerFig moves the product list and the product page from the
// legacy monolith to Souk's services under continuous traffic, by editing
// the gateway's routes file only: the shipped examples strangler-start,
// -split and -done in turn, with an invalid file in between. Not one
// request may fail along the way.
func TestStranglerFig(t *testing.T) {
	old := startLegacy(t)
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	installRoutes(t, routes, "strangler-start.yaml", old.URL)
	sys := start(t, nil, "SOUK_GATEWAY_ROUTES="+routes,
		// The test is about routing: no request may be refused for its
		// rate.
		"SOUK_GATEWAY_ANON_RATE=0")

	// Before any traffic: the monolith answers what it alone has, and the
	// strangled search.
	expectServedBy(t, sys.URL+"/legacy/reports/sales", "legacy")
	expectServedBy(t, sys.URL+"/api/v1/search?q=kettle", "legacy")

	tr := newTraffic(sys.URL, 4, "/api/v1/products", "/api/v1/products/4521")
	defer tr.stop()
	began := time.Now()
	tr.waitFor(t, "100 requests before any change", func(s []sample) bool { return len(s) >= 100 })

	// Step 2: a 90/10 split of the list. The reload has taken effect once
	// the catalog answers one request.
	splitWritten := time.Now()
	installRoutes(t, routes, "strangler-split.yaml", old.URL)
	splitSeen := tr.waitFor(t, "the catalog to answer a share of the list", func(s []sample) bool {
		return hasSample(s, splitWritten, func(x sample) bool { return x.path == "/api/v1/products" && x.servedBy == "" })
	})
	tr.waitFor(t, "500 list requests on the split", func(s []sample) bool {
		return count(s, func(x sample) bool { return x.path == "/api/v1/products" && x.start.After(splitSeen) }) >= 500
	})

	// A broken file mid-run is rejected and the split keeps running.
	rejectedBefore := strings.Count(sys.out.String(), "routes file rejected")
	writeAtomically(t, routes, []byte(strings.Replace(routesFor(t, "strangler-split.yaml", old.URL), "weight: 10}", "weight: -10}", 1)))
	eventually(t, 10*time.Second, "the gateway to reject the broken routes file", func() error {
		if strings.Count(sys.out.String(), "routes file rejected") > rejectedBefore {
			return nil
		}
		return errors.New("no rejection logged")
	})
	rejected := time.Now()
	tr.waitFor(t, "300 list requests after the rejection", func(s []sample) bool {
		return count(s, func(x sample) bool { return x.path == "/api/v1/products" && x.start.After(rejected) }) >= 300
	})

	// Step 3: everything on Souk but /legacy/. The product page was on the
	// monolith until now, so Souk's page (no X-Served-By) proves the
	// reload.
	doneWritten := time.Now()
	installRoutes(t, routes, "strangler-done.yaml", old.URL)
	doneSeen := tr.waitFor(t, "Souk's product page", func(s []sample) bool {
		return hasSample(s, doneWritten, func(x sample) bool { return x.path == "/api/v1/products/4521" && x.servedBy == "" })
	})
	tr.waitFor(t, "200 requests after the switch", func(s []sample) bool {
		return count(s, func(x sample) bool { return x.start.After(doneSeen) }) >= 200
	})
	samples := tr.stop()
	expectServedBy(t, sys.URL+"/legacy/reports/sales", "legacy")
	expectServedBy(t, sys.URL+"/api/v1/search?q=kettle", "")

	// Zero failed requests across the whole run.
	var failed []string
	for _, x := range samples {
		if x.err != "" || x.status != http.StatusOK {
			failed = append(failed, fmt.Sprintf("%s at +%v: %d %s", x.path, x.start.Sub(began).Round(time.Millisecond), x.status, x.err))
		}
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d requests failed, first ones:\n%s", len(failed), len(samples), strings.Join(failed[:min(len(failed), 10)], "\n"))
	}

	// Before: all legacy.
	before := filter(samples, func(x sample) bool { return x.end.Before(splitWritten) })
	if n := count(before, func(x sample) bool { return x.servedBy != "legacy" }); n > 0 || len(before) < 100 {
		t.Errorf("before the split: %d of %d requests not served by legacy, want 0 of at least 100", n, len(before))
	}

	// During the split (broken file included): the list about 90/10, the
	// product page still all legacy.
	split := filter(samples, func(x sample) bool { return x.start.After(splitSeen) && x.end.Before(doneWritten) })
	list := filter(split, func(x sample) bool { return x.path == "/api/v1/products" })
	souk := count(list, func(x sample) bool { return x.servedBy == "" })
	if share := float64(souk) / float64(len(list)); len(list) < 800 || share < 0.03 || share > 0.2 {
		t.Errorf("split: catalog served %d of %d list requests (%.1f%%), want about 10%% of at least 800", souk, len(list), 100*share)
	}
	if n := count(split, func(x sample) bool { return x.path == "/api/v1/products/4521" && x.servedBy != "legacy" }); n > 0 {
		t.Errorf("split: %d product pages not served by legacy, want 0", n)
	}
	afterReject := filter(list, func(x sample) bool { return x.start.After(rejected) })
	if n := count(afterReject, func(x sample) bool { return x.servedBy == "" }); n == 0 || n == len(afterReject) {
		t.Errorf("after the broken file: catalog served %d of %d list requests; the split table should still run", n, len(afterReject))
	}

	// After: nothing strangled reaches the monolith.
	after := filter(samples, func(x sample) bool { return x.start.After(doneSeen) })
	if n := count(after, func(x sample) bool { return x.servedBy != "" }); n > 0 {
		t.Errorf("after the switch: %d of %d requests still served by %q", n, len(after), "legacy")
	}

	// The two systems give the same answers, so clients cannot tell.
	compareBodies(t, samples, "/api/v1/products", func() any {
		return &struct {
			Items []struct {
				ID, Name, Description, Currency string
				PriceCents                      int64 `json:"price_cents"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}{}
	})
	compareBodies(t, samples, "/api/v1/products/4521", func() any {
		return &struct {
			ID, Name, Description, Currency string
			PriceCents                      int64 `json:"price_cents"`
			Stock                           struct {
				Available int64 `json:"available"`
			} `json:"stock"`
		}{}
	})
	t.Logf("%d requests in %v: %d before, %d during the split (%d of %d list requests to the catalog), %d after",
		len(samples), time.Since(began).Round(time.Millisecond), len(before), len(split), souk, len(list), len(after))
}

// legacyApp is a running `souk legacy`.
type legacyApp struct {
	URL    string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// startLegacy runs `souk legacy` on a free port and a new data folder, and
// stops it with SIGTERM at the end of the test, which it must survive
// gracefully (exit 0).
func startLegacy(t *testing.T) *legacyApp {
	t.Helper()
	a := &legacyApp{out: &syncBuffer{}, exited: make(chan struct{})}
	a.cmd = exec.Command(binary, "legacy", "--addr", "127.0.0.1:0", "--data", t.TempDir())
	pr, pw := io.Pipe()
	a.cmd.Stdout, a.cmd.Stderr = pw, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(a.out, line)
			if rest, ok := strings.CutPrefix(line, "souk legacy: serving "); ok {
				serving <- strings.Fields(rest)[0]
			}
		}
	}()
	var err error
	go func() {
		err = a.cmd.Wait()
		pw.Close()
		close(a.exited)
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
			if err != nil || !strings.Contains(a.out.String(), "souk legacy: stopped") {
				t.Errorf("souk legacy did not stop gracefully: %v\n%s", err, tail(a.out.String(), 20))
			}
		case <-time.After(15 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.exited
			t.Errorf("souk legacy did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("souk legacy output (last 30 lines):\n%s", tail(a.out.String(), 30))
		}
	})
	select {
	case a.URL = <-serving:
	case <-a.exited:
		t.Fatalf("souk legacy exited before serving:\n%s", a.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("souk legacy not serving after 30s:\n%s", a.out.String())
	}
	return a
}

// routesFor is the example routes file name from deploy/routes, pointed at
// the monolith at legacyURL.
func routesFor(t *testing.T, name, legacyURL string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "routes", name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), exampleLegacyURL) {
		t.Fatalf("%s does not name the monolith at %s", name, exampleLegacyURL)
	}
	return strings.ReplaceAll(string(data), exampleLegacyURL, legacyURL)
}

// installRoutes makes path the example routes file name.
func installRoutes(t *testing.T, path, name, legacyURL string) {
	t.Helper()
	writeAtomically(t, path, []byte(routesFor(t, name, legacyURL)))
}

// writeAtomically replaces path by a complete new file, never a partial
// one: what an operator does with `cp new tmp && mv tmp path`.
func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// expectServedBy GETs url once and checks it succeeds with the given
// X-Served-By ("" for Souk).
func expectServedBy(t *testing.T, url, want string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("X-Served-By"); resp.StatusCode != 200 || got != want {
		t.Errorf("GET %s: %d, X-Served-By %q; want 200, %q; body %s", url, resp.StatusCode, got, want, body)
	}
}

// sample is one request of the traffic.
type sample struct {
	path       string
	start, end time.Time
	status     int
	servedBy   string
	err        string
	body       []byte // kept for the first few of each path and server
}

// traffic is several clients GETting paths in a loop through the gateway,
// each request recorded.
type traffic struct {
	mu      sync.Mutex
	samples []sample
	kept    map[string]int // path + server → bodies kept
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	done    []sample
	once    sync.Once
}

func newTraffic(base string, workers int, paths ...string) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{cancel: cancel, kept: map[string]int{}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := 0; w < workers; w++ {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				tr.record(client.Get, base, paths[i%len(paths)])
				// Leave the two cores some room for the system under test.
				time.Sleep(3 * time.Millisecond)
			}
		}()
	}
	return tr
}

func (tr *traffic) record(get func(string) (*http.Response, error), base, path string) {
	x := sample{path: path, start: time.Now()}
	resp, err := get(base + path)
	if err != nil {
		x.err = err.Error()
	} else {
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		x.status, x.servedBy = resp.StatusCode, resp.Header.Get("X-Served-By")
		if rerr != nil {
			x.err = "read body: " + rerr.Error()
		}
		x.body = body
	}
	x.end = time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if key := x.path + " " + x.servedBy; tr.kept[key] < 5 || x.status != 200 {
		tr.kept[key]++
	} else {
		x.body = nil
	}
	tr.samples = append(tr.samples, x)
}

// waitFor polls the samples until ok holds, and returns when it did.
func (tr *traffic) waitFor(t *testing.T, what string, ok func([]sample) bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		tr.mu.Lock()
		held := ok(tr.samples)
		tr.mu.Unlock()
		if held {
			return time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	tr.stop()
	t.Fatalf("waiting for %s: not within 20s", what)
	return time.Time{}
}

// stop ends the traffic and returns every sample.
func (tr *traffic) stop() []sample {
	tr.once.Do(func() {
		tr.cancel()
		tr.wg.Wait()
		tr.mu.Lock()
		tr.done = tr.samples
		tr.mu.Unlock()
	})
	return tr.done
}

// hasSample reports whether some sample that started after since matches.
func hasSample(s []sample, since time.Time, match func(sample) bool) bool {
	for _, x := range s {
		if x.start.After(since) && match(x) {
			return true
		}
	}
	return false
}

func count(s []sample, match func(sample) bool) int {
	n := 0
	for _, x := range s {
		if match(x) {
			n++
		}
	}
	return n
}

func filter(s []sample, match func(sample) bool) []sample {
	var out []sample
	for _, x := range s {
		if match(x) {
			out = append(out, x)
		}
	}
	return out
}

// compareBodies decodes a kept 200 body of path from the monolith and one
// from Souk into new() values and reports any difference.
func compareBodies(t *testing.T, samples []sample, path string, newValue func() any) {
	t.Helper()
	got := map[string]any{}
	for _, x := range samples {
		// A page that lacks a part (stock, under load) is still a 200,
		// but not one to compare.
		if x.path != path || x.status != 200 || x.body == nil || got[x.servedBy] != nil || strings.Contains(string(x.body), `"degraded":["`) {
			continue
		}
		v := newValue()
		if err := json.Unmarshal(x.body, v); err != nil {
			t.Errorf("%s from %q: %v: %s", path, x.servedBy, err, x.body)
			return
		}
		got[x.servedBy] = v
	}
	if got["legacy"] == nil || got[""] == nil {
		t.Errorf("%s: want an answer from each system, have %d", path, len(got))
		return
	}
	if diff := cmp.Diff(got["legacy"], got[""]); diff != "" {
		t.Errorf("%s: the monolith and Souk answer differently (-legacy +souk):\n%s", path, diff)
	}
}
