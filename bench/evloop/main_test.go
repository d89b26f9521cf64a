package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProxiesAndLogs sends requests through one loop to a net/http
// upstream over kept-alive connections and checks what both ends see.
func TestProxiesAndLogs(t *testing.T) {
	var seen []http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Clone())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}))
	defer up.Close()
	logPath := filepath.Join(t.TempDir(), "access.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	l, err := newLoop(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort(strings.TrimPrefix(up.URL, "http://")), lf)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.spin = true
	go l.run()
	sa, _ := syscall.Getsockname(l.lfd)
	base := fmt.Sprintf("http://127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)

	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 3 {
		path := fmt.Sprintf("/p/%d", i)
		res, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != fmt.Sprintf(`{"path":%q}`, path) {
			t.Fatalf("GET %s = %d %q", path, res.StatusCode, body)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: security headers missing: %v", path, res.Header)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("upstream saw %d requests, want 3", len(seen))
	}
	for _, h := range seen {
		if h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Request-Id") == "" {
			t.Errorf("upstream headers %v: want X-Forwarded-For 127.0.0.1 and an X-Request-Id", h)
		}
	}
	// A body is not handled: the connection is dropped, not forwarded.
	if res, err := client.Post(base+"/p", "text/plain", strings.NewReader("x")); err == nil {
		res.Body.Close()
		t.Errorf("POST with a body answered %d, want the connection dropped", res.StatusCode)
	}
	if len(seen) != 3 {
		t.Errorf("upstream saw %d requests after the POST, want 3", len(seen))
	}
	// The access log is flushed within 100 ms of the loop's next wake-up.
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if n := strings.Count(string(b), `"msg":"request"`); n == 3 {
			if !strings.Contains(string(b), `"path":"/p/2","status":200`) {
				t.Errorf("access log %q lacks the third request", b)
			}
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("access log has %d lines after 3 s, want 3: %q", n, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
