package launcher

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
)

func TestControlAPI(t *testing.T) {
	f := newFixture(t, Config{})
	id := f.start("steady")
	pid := f.waitRunning(t, id)
	secret := []byte("0123456789abcdef0123456789abcdef")
	ctl, err := startControl(context.Background(), f.sup, f.reg, secret, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			ctl.close()
		}
	})
	waitFor(t, "the launcher to register", 5*time.Second, func() bool { return len(f.reg.Instances("launcher")) == 1 })
	base := "http://" + f.reg.Instances("launcher")[0].Addr

	token := func(secret []byte) string {
		tok, err := authn.SignService(secret, "gateway", time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	good := token(secret)
	call := func(method, path, auth string) (int, []byte, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body, resp.Header.Get("Content-Type")
	}

	refused := []struct{ name, auth string }{
		{"no token", ""},
		{"another secret", token([]byte("another-secret-of-32-bytes-long!"))},
		{"not a bearer token", "Basic Zm9vOmJhcg=="},
	}
	for _, tt := range refused {
		if status, _, ctype := call("GET", "/instances", tt.auth); status != http.StatusUnauthorized || ctype != fault.ContentType {
			t.Errorf("%s: GET /instances = %d %s, want 401 %s", tt.name, status, ctype, fault.ContentType)
		}
	}

	status, body, _ := call("GET", "/instances", good)
	var list struct{ Instances []ProcInfo }
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil {
		t.Fatalf("GET /instances = %d %s (%v)", status, body, err)
	}
	if len(list.Instances) != 1 || list.Instances[0].ID != id || list.Instances[0].PID != pid || !list.Instances[0].Running {
		t.Errorf("instances = %+v, want %s running as %d", list.Instances, id, pid)
	}

	for _, path := range []string{"/instances/nobody-1/kill", "/instances/nobody-1/stop", "/instances/nobody-1/start"} {
		if status, _, _ := call("POST", path, good); status != http.StatusNotFound {
			t.Errorf("POST %s = %d, want 404", path, status)
		}
	}
	if status, body, _ := call("POST", "/instances/"+id+"/kill", good); status != http.StatusOK || !strings.Contains(string(body), `"pid":`) {
		t.Errorf("POST kill = %d %s, want 200 with the instance", status, body)
	}
	waitFor(t, "the restart after kill", 5*time.Second, func() bool { return f.info(t, id).Restarts == 1 && f.info(t, id).Running })
	if status, _, _ := call("POST", "/instances/"+id+"/stop", good); status != http.StatusOK {
		t.Errorf("POST stop = %d, want 200", status)
	}
	waitFor(t, "the stop", 5*time.Second, func() bool { in := f.info(t, id); return in.Held && !in.Running })
	if status, _, _ := call("POST", "/instances/"+id+"/start", good); status != http.StatusOK {
		t.Errorf("POST start = %d, want 200", status)
	}
	waitFor(t, "the start", 5*time.Second, func() bool { in := f.info(t, id); return !in.Held && in.Running })
	if status, _, _ := call("GET", "/instances/"+id+"/kill", good); status != http.StatusMethodNotAllowed {
		t.Errorf("GET kill = %d, want 405", status)
	}

	ctl.close()
	closed = true
	waitFor(t, "the launcher to deregister", 2*time.Second, func() bool { return len(f.reg.Instances("launcher")) == 0 })
}
