package launcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/registry"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a supervisor on an embedded broker, with children started
// from this test binary.
type fixture struct {
	sup  *supervisor
	reg  *registry.Registry
	kv   jetstream.KeyValue
	out  *syncBuffer
	data string
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	url := brokertest.Embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, js, err := broker.Connect(ctx, url, "launcher-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	reg, err := registry.New(ctx, js, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	t.Cleanup(stopWatch)
	if err := reg.Watch(watchCtx); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, registry.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cfg.Executable, cfg.DataDir, cfg.Stdout = os.Args[0], data, out
	f := &fixture{reg: reg, kv: kv, out: out, data: data}
	f.sup = &supervisor{
		cfg:   cfg,
		env:   childTestEnv(envStableRun + "=2500ms"),
		log:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		out:   &lineWriter{w: out},
		reg:   reg,
		procs: map[string]*proc{},
		done:  make(chan struct{}),
	}
	t.Cleanup(f.sup.stopAll) // before the broker goes, and before t.TempDir is removed
	return f
}

// childTestEnv is the environment of test children. A race-enabled binary
// sleeps a second before exiting with status 0 (GORACE atexit_sleep_ms),
// which would make every graceful stop look slow.
func childTestEnv(extra ...string) []string {
	return append(append(os.Environ(), envChild+"=1", "GORACE=atexit_sleep_ms=0"), extra...)
}

// start supervises the instance <service>-1 and returns its id.
func (f *fixture) start(service string) string {
	id := service + "-1"
	f.sup.start(instanceSpec{service: service, id: id})
	return id
}

func (f *fixture) info(t *testing.T, id string) ProcInfo {
	t.Helper()
	for _, in := range f.sup.list() {
		if in.ID == id {
			return in
		}
	}
	t.Fatalf("no instance %s in %v", id, f.sup.list())
	return ProcInfo{}
}

// logLines returns the lines of the instance's log file.
func (f *fixture) logLines(id string) []string {
	b, _ := os.ReadFile(filepath.Join(f.data, "logs", id+".log"))
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

var startLine = regexp.MustCompile(`^start pid=(\d+) at=(\d+)$`)

// starts returns the pid and start time of each run of the instance, from
// its log.
func (f *fixture) starts(id string) (pids []int, at []time.Time) {
	for _, l := range f.logLines(id) {
		if m := startLine.FindStringSubmatch(l); m != nil {
			pid, _ := strconv.Atoi(m[1])
			ns, _ := strconv.ParseInt(m[2], 10, 64)
			pids = append(pids, pid)
			at = append(at, time.Unix(0, ns))
		}
	}
	return pids, at
}

func (f *fixture) waitStarts(t *testing.T, id string, n int, timeout time.Duration) ([]int, []time.Time) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d starts of %s", n, id), timeout, func() bool {
		pids, _ := f.starts(id)
		return len(pids) >= n
	})
	return f.starts(id)
}

// waitRunning waits until id runs under the pid it last logged.
func (f *fixture) waitRunning(t *testing.T, id string) int {
	t.Helper()
	var pid int
	waitFor(t, id+" to run", 10*time.Second, func() bool {
		pids, _ := f.starts(id)
		in := f.info(t, id)
		if len(pids) == 0 || !in.Running || in.PID != pids[len(pids)-1] {
			return false
		}
		pid = in.PID
		return true
	})
	return pid
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// setVar sets *p to v for the test.
func setVar[T any](t *testing.T, p *T, v T) {
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// alive reports whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	fields := strings.Fields(string(b[i+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// runOf is one run of an instance as the supervisor saw it: when it started
// the process, and when the process was first seen to have exited.
type runOf struct {
	pid         int
	start, exit time.Time
}

// trace polls the supervisor's view of id every millisecond until the
// returned function is called, which returns the runs seen. Timing runs
// from the supervisor's side leaves out the start-up of the child binary,
// which varies by hundreds of milliseconds on a loaded machine.
func (f *fixture) trace(t *testing.T, id string) func() []runOf {
	var (
		mu   sync.Mutex
		runs []runOf
	)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			var in ProcInfo
			for _, p := range f.sup.list() {
				if p.ID == id {
					in = p
				}
			}
			now := time.Now()
			mu.Lock()
			if in.PID != 0 && (len(runs) == 0 || runs[len(runs)-1].pid != in.PID) {
				runs = append(runs, runOf{pid: in.PID, start: in.Started})
			}
			if n := len(runs); n > 0 && !in.Running && runs[n-1].exit.IsZero() {
				// The supervisor's own time of the exit: this poll can
				// come late on a loaded machine (or under -race).
				runs[n-1].exit = now
				if in.Exited.After(runs[n-1].start) {
					runs[n-1].exit = in.Exited
				}
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	var once sync.Once
	get := func() []runOf {
		once.Do(func() { close(stop); <-stopped })
		return runs
	}
	t.Cleanup(func() { get() })
	return get
}

// restartGaps returns the time from each exit to the next start.
func restartGaps(runs []runOf) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(runs); i++ {
		out = append(out, runs[i].start.Sub(runs[i-1].exit))
	}
	return out
}

// slack is how much later than its backoff a restart may come: noticing
// the exit, deregistering and starting the process, on a loaded machine.
// Each test's expected gaps differ from what a broken backoff would give by
// more than this.
const slack = 500 * time.Millisecond

func checkGaps(t *testing.T, got, want []time.Duration) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%d restarts seen, want at least %d", len(got), len(want))
	}
	for i, w := range want {
		// Exit and start are both the supervisor's own times.
		if got[i] < w-2*time.Millisecond || got[i] > w+slack {
			t.Errorf("restart %d came %s after the exit, want %s to %s (all gaps %v)", i+1, got[i].Round(time.Millisecond), w, w+slack, got)
		}
	}
}

func TestCrashLoopBacksOff(t *testing.T) {
	setVar(t, &maxBackoff, 700*time.Millisecond)
	f := newFixture(t, Config{})
	id := f.start("crash")
	runs := f.trace(t, id)
	f.waitStarts(t, id, 6, 20*time.Second)
	ms := time.Millisecond
	// Doubling from 200ms, capped at 700ms (uncapped: 800ms, 1.6s, 3.2s).
	checkGaps(t, restartGaps(runs()), []time.Duration{200 * ms, 400 * ms, 700 * ms, 700 * ms, 700 * ms})
	in := f.info(t, id)
	if in.Restarts < 5 || in.LastExit != "exit status 3" {
		t.Errorf("info = %+v, want at least 5 restarts and last exit \"exit status 3\"", in)
	}
}

// A run longer than stableAfter resets the backoff to its minimum.
func TestStableRunResetsBackoff(t *testing.T) {
	// Long enough that a crash at start-up never counts as stable, even on
	// a loaded machine.
	setVar(t, &stableAfter, 2*time.Second)
	f := newFixture(t, Config{}) // flaky's 4th run lasts 2.5s
	id := f.start("flaky")
	runs := f.trace(t, id)
	f.waitStarts(t, id, 7, 30*time.Second)
	ms := time.Millisecond
	got := runs()
	// 200, 400, 800 while crashing; after the long 4th run the minimum
	// 200ms (not 1.6s), and from there it doubles again.
	checkGaps(t, restartGaps(got), []time.Duration{200 * ms, 400 * ms, 800 * ms, 200 * ms, 200 * ms, 400 * ms})
	if ran := got[3].exit.Sub(got[3].start); ran < stableAfter {
		t.Errorf("the 4th run lasted %s, want over %s", ran, stableAfter)
	}
}

func TestKillRestartsWithNewPID(t *testing.T) {
	f := newFixture(t, Config{})
	id := f.start("steady")
	pid := f.waitRunning(t, id)
	info, ok := f.sup.kill(id)
	if !ok || info.PID != pid {
		t.Fatalf("kill = %+v, %v; want the running pid %d, true", info, ok, pid)
	}
	start := time.Now()
	var newPID int
	waitFor(t, "a new process", 5*time.Second, func() bool {
		newPID = f.waitRunning(t, id)
		return newPID != pid
	})
	t.Logf("restarted %s after the kill", time.Since(start).Round(time.Millisecond))
	if alive(pid) {
		t.Errorf("killed pid %d is still alive", pid)
	}
	in := f.info(t, id)
	if in.Restarts != 1 || in.LastExit != "signal: killed" {
		t.Errorf("info = %+v, want 1 restart and last exit \"signal: killed\"", in)
	}
	if _, ok := f.sup.kill("nobody-1"); ok {
		t.Error("kill of an unknown instance reported success")
	}
}

func TestHoldAndRelease(t *testing.T) {
	f := newFixture(t, Config{})
	id := f.start("steady")
	pid := f.waitRunning(t, id)
	if _, ok := f.sup.hold(id); !ok {
		t.Fatal("hold failed")
	}
	waitFor(t, "the held instance to stop", 5*time.Second, func() bool { return !f.info(t, id).Running })
	time.Sleep(4 * minBackoff) // it would have restarted by now
	pids, _ := f.starts(id)
	in := f.info(t, id)
	if len(pids) != 1 || in.Running || !in.Held {
		t.Fatalf("held instance: %d starts, info %+v; want 1 start, not running, held", len(pids), in)
	}
	if alive(pid) {
		t.Errorf("held instance's pid %d is still alive", pid)
	}
	if lines := f.logLines(id); lines[len(lines)-1] != "stopping" {
		t.Errorf("held instance's last line = %q, want \"stopping\" (SIGTERM, not SIGKILL)", lines[len(lines)-1])
	}
	if _, ok := f.sup.kill(id); ok {
		t.Error("kill of a held instance reported success")
	}
	if _, ok := f.sup.hold(id); !ok { // holding twice is harmless
		t.Error("second hold failed")
	}

	if _, ok := f.sup.release(id); !ok {
		t.Fatal("release failed")
	}
	var newPID int
	waitFor(t, "a new process", 5*time.Second, func() bool {
		newPID = f.waitRunning(t, id)
		return newPID != pid
	})
	if f.info(t, id).Held {
		t.Errorf("after release: pid %d (was %d), info %+v; want a new pid, not held", newPID, pid, f.info(t, id))
	}
	if _, ok := f.sup.release(id); !ok { // releasing a running instance is harmless
		t.Error("second release failed")
	}
	for _, op := range []func(string) (ProcInfo, bool){f.sup.hold, f.sup.release} {
		if _, ok := op("nobody-1"); ok {
			t.Error("hold or release of an unknown instance reported success")
		}
	}
}

func TestStopAllStopsGracefully(t *testing.T) {
	f := newFixture(t, Config{})
	var ids []string
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("steady-%d", i)
		f.sup.start(instanceSpec{service: "steady", id: id})
		ids = append(ids, id)
	}
	var pids []int
	for _, id := range ids {
		pids = append(pids, f.waitRunning(t, id))
	}
	start := time.Now()
	f.sup.stopAll()
	took := time.Since(start)
	if took >= stopGrace-time.Second {
		t.Errorf("stopAll took %s with children that exit on SIGTERM, want well under the grace %s", took, stopGrace)
	}
	for i, id := range ids {
		if alive(pids[i]) {
			t.Errorf("%s (pid %d) still alive after stopAll", id, pids[i])
		}
		if lines := f.logLines(id); lines[len(lines)-1] != "stopping" {
			t.Errorf("%s's last line = %q, want \"stopping\"", id, lines[len(lines)-1])
		}
		if n, _ := f.starts(id); len(n) != 1 {
			t.Errorf("%s started %d times, want once (no restart while stopping)", id, len(n))
		}
	}
	f.sup.stopAll() // again: harmless
}

func TestStopAllKillsAfterGrace(t *testing.T) {
	setVar(t, &stopGrace, time.Second)
	f := newFixture(t, Config{})
	stubborn, steady := f.start("stubborn"), f.start("steady")
	stubbornPID, steadyPID := f.waitRunning(t, stubborn), f.waitRunning(t, steady)
	waitFor(t, "the stubborn child to ignore SIGTERM", 5*time.Second, func() bool {
		return slices.Contains(f.logLines(stubborn), "ignoring SIGTERM")
	})
	start := time.Now()
	f.sup.stopAll()
	took := time.Since(start)
	if took < stopGrace || took > stopGrace+2*time.Second {
		t.Errorf("stopAll took %s, want the grace %s plus a little", took, stopGrace)
	}
	for _, pid := range []int{stubbornPID, steadyPID} {
		if alive(pid) {
			t.Errorf("pid %d still alive after stopAll", pid)
		}
	}
	if got := f.info(t, stubborn).LastExit; got != "signal: killed" {
		t.Errorf("stubborn last exit = %q, want \"signal: killed\"", got)
	}
	if got := f.info(t, steady).LastExit; got != "exit status 0" {
		t.Errorf("steady last exit = %q, want \"exit status 0\"", got)
	}
}

// A crash-looping instance waiting out a long backoff does not hold up the
// stop.
func TestStopAllDuringBackoff(t *testing.T) {
	setVar(t, &minBackoff, 5*time.Second)
	f := newFixture(t, Config{})
	id := f.start("crash")
	f.waitStarts(t, id, 1, 10*time.Second)
	waitFor(t, "the crash", 5*time.Second, func() bool { return f.info(t, id).LastExit != "" })
	start := time.Now()
	f.sup.stopAll()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stopAll took %s while an instance waited out its 5s backoff, want under 2s", took)
	}
	if pids, _ := f.starts(id); len(pids) != 1 {
		t.Errorf("%d starts, want 1", len(pids))
	}
}

func TestChildLogs(t *testing.T) {
	f := newFixture(t, Config{})
	a := f.start("chatty")
	f.sup.start(instanceSpec{service: "chatty", id: "chatty-2"})
	f.waitRunning(t, a)
	f.waitRunning(t, "chatty-2")
	waitFor(t, "the lines of both", 5*time.Second, func() bool {
		return len(f.logLines(a)) >= 7 && len(f.logLines("chatty-2")) >= 7
	})
	f.sup.stopAll()

	for _, id := range []string{a, "chatty-2"} {
		lines := f.logLines(id)
		rest := slices.Clone(lines[1:]) // after the start line
		slices.Sort(rest)
		want := []string{"err 0", "err 1", "err 2", "last words", "out 0", "out 1", "out 2"}
		if strings.Join(rest, "|") != strings.Join(want, "|") {
			t.Errorf("%s log lines = %q, want the start line and %q", id, rest, want)
		}
		for _, l := range lines {
			if !strings.Contains(f.out.String(), "chatty/"+id+" | "+l+"\n") {
				t.Errorf("output lacks %q", "chatty/"+id+" | "+l)
			}
		}
	}
	// Lines of different children never mix within a line.
	line := regexp.MustCompile(`^chatty/chatty-[12] \| (start pid=\d+ at=\d+|out \d|err \d|last words)$`)
	for _, l := range strings.Split(strings.TrimSuffix(f.out.String(), "\n"), "\n") {
		if !line.MatchString(l) {
			t.Errorf("output line %q is not one whole prefixed line", l)
		}
	}
}

func TestQuietKeepsLogsInFiles(t *testing.T) {
	f := newFixture(t, Config{Quiet: true})
	id := f.start("chatty")
	f.waitRunning(t, id)
	waitFor(t, "the lines", 5*time.Second, func() bool { return len(f.logLines(id)) >= 7 })
	if got := f.out.String(); got != "" {
		t.Errorf("output = %q, want nothing when quiet", got)
	}
}

// A line longer than the copier keeps whole is split, and the child is
// never blocked on its output.
func TestHugeLineDoesNotBlockTheChild(t *testing.T) {
	f := newFixture(t, Config{Quiet: true})
	id := f.start("bigline")
	waitFor(t, `the line written after a 2 MiB line`, 10*time.Second, func() bool {
		return slices.Contains(f.logLines(id), "after")
	})
	b, err := os.ReadFile(filepath.Join(f.data, "logs", id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("x")); n != 2<<20 {
		t.Errorf("log holds %d of the 2 MiB line's bytes, want all %d", n, 2<<20)
	}
}

// An instance that dies leaves the registry at once, long before its lease
// would end.
func TestDeadChildIsDeregistered(t *testing.T) {
	f := newFixture(t, Config{})
	id := f.start("steady")
	pid := f.waitRunning(t, id)
	inst := registry.Instance{ID: id, Service: "steady", Addr: "127.0.0.1:1", PID: pid, Started: time.Now().UTC(), Heartbeat: time.Now().UTC()}
	b, _ := json.Marshal(inst)
	// Put once, without a heartbeat: as if the child had registered.
	if _, err := f.kv.Put(context.Background(), "steady."+id, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the registration", 5*time.Second, func() bool { return len(f.reg.Instances("steady")) == 1 })
	start := time.Now()
	if _, ok := f.sup.kill(id); !ok {
		t.Fatal("kill failed")
	}
	waitFor(t, "the dead instance to leave the registry", 3*time.Second, func() bool { return len(f.reg.Instances("steady")) == 0 })
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("deregistered %s after the kill, want well within the %s lease", took, registry.DefaultLease)
	} else {
		t.Logf("deregistered %s after the kill", took.Round(time.Millisecond))
	}
}

// Children die with the launcher, however it dies: a helper process
// supervising one child is SIGKILLed, and the kernel kills the child.
func TestChildrenDieWithTheLauncher(t *testing.T) {
	url := brokertest.Embedded(t)
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "parent")
	cmd.Env = childTestEnv(envParentNATS+"="+url, envParentData+"="+data)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	parentPID := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(parentPID, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	childPID := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`^steady/steady-1 \| start pid=(\d+)`).FindStringSubmatch(sc.Text()); m != nil {
				pid, _ := strconv.Atoi(m[1])
				childPID <- pid
			}
		}
	}()
	var pid int
	select {
	case pid = <-childPID:
	case <-time.After(20 * time.Second):
		t.Fatal("the helper launcher's child did not start within 20s")
	}
	t.Cleanup(func() {
		if alive(pid) { // only if the test failed: do not leave it behind
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !alive(pid) {
		t.Fatalf("child %d is not running before the launcher dies", pid)
	}
	if err := syscall.Kill(parentPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	start := time.Now()
	waitFor(t, fmt.Sprintf("child %d to die with its launcher", pid), 2*time.Second, func() bool { return !alive(pid) })
	t.Logf("child gone %s after the launcher was killed", time.Since(start).Round(time.Millisecond))
}
