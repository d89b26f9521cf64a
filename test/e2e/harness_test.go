// Package e2e tests Souk as a user meets it: it builds the souk binary,
// runs `souk up` in a temporary folder, and goes through the gateway only.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
)

// binary is the souk executable built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "souk-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "souk")
	build := exec.Command("go", "build", "-o", binary, "github.com/souk/souk/cmd/souk")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build souk:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// system is one running `souk up`.
type system struct {
	t      *testing.T
	URL    string
	Data   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	admin  *client.Client
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	// A port below Linux's ephemeral range (32768-60999): the kernel hands
	// those out to every listener on :0 and every outgoing connection of
	// the systems running in parallel, so a port picked from it can be
	// taken again between this check and souk up binding it.
	for range 50 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err == nil {
			defer ln.Close()
			return ln.Addr().String()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs `souk up` in a new data folder with extra arguments and
// environment, and waits for its ready line.
func start(t *testing.T, args []string, env ...string) *system {
	t.Helper()
	for attempt := 1; attempt < 3; attempt++ {
		if s := launch(t, t.TempDir(), freeAddr(t), args, env, true); s != nil {
			return s
		}
		t.Logf("the gateway address was taken before souk up bound it; again on another (attempt %d)", attempt+1)
	}
	return startIn(t, t.TempDir(), freeAddr(t), args, env...)
}

// startIn is start on a given data folder and gateway address: a restart
// on the same data.
func startIn(t *testing.T, data, addr string, args []string, env ...string) *system {
	t.Helper()
	return launch(t, data, addr, args, env, false)
}

// launch is startIn; with retryBusy it returns nil, instead of failing the
// test, when souk up exits because its gateway address is taken.
func launch(t *testing.T, data, addr string, args, env []string, retryBusy bool) *system {
	t.Helper()
	s := &system{t: t, Data: data, out: &syncBuffer{}, exited: make(chan struct{})}
	s.URL = "http://" + addr
	s.cmd = exec.Command(binary, append([]string{"up", "--addr", addr, "--data", s.Data}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Dir = s.Data
	// Its own process group, as in a terminal, so a test can kill the
	// whole tree at once.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = pw, pw
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.out, line)
			if strings.Contains(line, "souk ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		_ = s.cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("souk up output (last 200 lines):\n%s", tail(s.out.String(), 200))
		}
	})
	select {
	case <-ready:
	case <-s.exited:
		if retryBusy && strings.Contains(s.out.String(), "is not available") {
			return nil
		}
		t.Fatalf("souk up exited before ready:\n%s", tail(s.out.String(), 100))
	case <-time.After(90 * time.Second):
		t.Fatalf("souk up not ready after 90s:\n%s", tail(s.out.String(), 100))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.admin = client.New(s.URL)
	if err := s.admin.LoginAdmin(ctx, os.Getenv); err != nil {
		t.Fatalf("admin login: %v", err)
	}
	return s
}

// stop sends SIGTERM and waits; it reports how long the stop took.
func (s *system) stop() time.Duration {
	select {
	case <-s.exited:
		return 0
	default:
	}
	began := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("souk up did not stop within 15s of SIGTERM")
	}
	return time.Since(began)
}

// killGroup SIGKILLs the launcher and every process of its group at once,
// as a power cut or an OOM kill of the whole tree would.
func (s *system) killGroup() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.t.Fatal("souk up survived SIGKILL of its group")
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// statusInstance is one instance in `souk status --json`.
type statusInstance struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	PID      int    `json:"pid"`
	Healthy  bool   `json:"healthy"`
	Restarts int    `json:"restarts"`
}

type statusDoc struct {
	Services map[string]struct {
		Instances []statusInstance `json:"instances"`
		Breaker   string           `json:"breaker"`
	} `json:"services"`
}

// status runs `souk status --json` against the system.
func (s *system) status() statusDoc {
	s.t.Helper()
	// Exit status 1 means some instance is not healthy; the JSON is
	// printed all the same and the tests check what they need.
	// The admin's token, not a login per call: tests poll the status, and
	// the gateway allows an account five logins a minute.
	cmd := exec.Command(binary, "status", "--gateway", s.URL, "--json")
	cmd.Env = append(os.Environ(), "SOUK_TOKEN="+s.admin.Token())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		s.t.Fatalf("souk status --json: %v\n%s%s", err, out, stderr.String())
	}
	var doc statusDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		s.t.Fatalf("souk status --json printed %q (stderr %q): %v", out, stderr.String(), err)
	}
	return doc
}

// user signs up a new customer and returns a client logged in as them.
func (s *system) user(ctx context.Context, name string) *client.Client {
	s.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", strings.ToLower(name), time.Now().UnixNano())
	c := client.New(s.URL)
	if _, err := c.JSON(ctx, "POST", "/api/v1/auth/signup", map[string]string{"email": email, "password": "correct horse battery", "name": name}, nil); err != nil {
		s.t.Fatalf("signup %s: %v", email, err)
	}
	u, err := c.Login(ctx, email, "correct horse battery")
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// instance asks the launcher, through the gateway, to kill, stop or start
// an instance.
func (s *system) instance(ctx context.Context, id, action string) {
	s.t.Helper()
	if _, err := s.admin.JSON(ctx, "POST", "/api/v1/admin/instances/"+id+"/"+action, nil, nil); err != nil {
		s.t.Fatalf("%s %s: %v", action, id, err)
	}
}

// eventually retries check until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	began := time.Now()
	var err error
	for time.Since(began) < timeout {
		if err = check(); err == nil {
			return time.Since(began)
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, err)
	return 0
}

// pidAlive reports whether pid is a live process (not a zombie).
func pidAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state is the field after the parenthesised command name.
	s := string(data)
	i := strings.LastIndex(s, ")")
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

var httpClient = &http.Client{Timeout: 5 * time.Second}
