package launcher

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/souk/souk/platform/registry"
)

// Supervision timings; variables so that tests can shorten them.
var (
	minBackoff  = 200 * time.Millisecond
	maxBackoff  = 10 * time.Second
	stableAfter = 10 * time.Second
	stopGrace   = 4 * time.Second
)

type supervisor struct {
	cfg Config
	env []string
	log *slog.Logger
	out io.Writer
	reg *registry.Registry

	mu       sync.Mutex
	stopping bool
	done     chan struct{} // closed when stopping
	procs    map[string]*proc
	wg       sync.WaitGroup
}

// proc is one supervised instance across its restarts.
type proc struct {
	spec     instanceSpec
	mu       sync.Mutex
	cmd      *exec.Cmd
	pid      int
	running  bool
	restarts int
	started  time.Time
	exited   time.Time // when the last run ended, as the supervisor saw it
	lastExit string
	// held keeps the instance down after a stop request until a start
	// request closes resume.
	held   bool
	resume chan struct{}
}

// ProcInfo describes a supervised instance for the control API.
type ProcInfo struct {
	ID       string    `json:"id"`
	Service  string    `json:"service"`
	PID      int       `json:"pid"`
	Running  bool      `json:"running"`
	Restarts int       `json:"restarts"`
	Started  time.Time `json:"started"`
	Exited   time.Time `json:"exited,omitzero"` // the end of the last run
	LastExit string    `json:"last_exit,omitempty"`
	Held     bool      `json:"held,omitempty"`
}

func (s *supervisor) start(spec instanceSpec) {
	p := &proc{spec: spec}
	s.mu.Lock()
	s.procs[spec.id] = p
	s.mu.Unlock()
	s.wg.Add(1)
	go s.loop(p)
}

// loop runs p until the supervisor stops, restarting it with backoff.
func (s *supervisor) loop(p *proc) {
	defer s.wg.Done()
	backoff := minBackoff
	for {
		if s.isStopping() {
			return
		}
		if resume := p.heldUntil(); resume != nil {
			s.log.Info("instance held down", "instance", p.spec.id)
			select {
			case <-resume:
				backoff = minBackoff
			case <-s.done:
				return
			}
			continue
		}
		started := time.Now()
		err := s.run(p)
		if s.isStopping() {
			return
		}
		ran := time.Since(started)
		if p.heldUntil() != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.reg.Deregister(ctx, p.spec.service, p.spec.id)
			cancel()
			continue
		}
		// It died on its own: take it out of the registry now rather than
		// at the end of its lease.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.reg.Deregister(ctx, p.spec.service, p.spec.id)
		cancel()
		if ran >= stableAfter {
			backoff = minBackoff
		}
		s.log.Warn("instance exited; restarting", "instance", p.spec.id, "err", err, "ran", ran.Round(time.Millisecond), "restart_in", backoff)
		select {
		case <-time.After(backoff):
		case <-s.done: // a stop does not wait out the backoff
			return
		}
		if ran < stableAfter {
			backoff = min(backoff*2, maxBackoff)
		}
		p.mu.Lock()
		p.restarts++
		p.mu.Unlock()
	}
}

// run starts p once and waits for it to exit.
func (s *supervisor) run(p *proc) error {
	env := append(append([]string(nil), s.env...), "SOUK_INSTANCE="+p.spec.id)
	addr := "127.0.0.1:0"
	if p.spec.service == "gateway" {
		addr = s.cfg.Addr
	}
	env = append(env, "SOUK_HTTP_ADDR="+addr)

	cmd := exec.Command(s.cfg.Executable, "serve", p.spec.service)
	cmd.Env = env
	cmd.Dir = s.cfg.DataDir
	// The kernel kills the child when the launcher dies, however it dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw

	logFile, err := os.OpenFile(filepath.Join(s.cfg.DataDir, "logs", p.spec.id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		pr.Close()
		pw.Close()
		return err
	}
	var term io.Writer
	if !s.cfg.Quiet {
		term = prefixed(s.out, p.spec.service+"/"+p.spec.id)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		copyLines(pr, logFile, term)
	}()

	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		pw.Close()
		pr.Close()
		logFile.Close()
		return nil
	}
	err = cmd.Start()
	s.mu.Unlock()
	pw.Close() // the child has its copy
	if err != nil {
		pr.Close()
		<-copied
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.spec.id, err)
	}
	p.mu.Lock()
	p.cmd, p.pid, p.running, p.started = cmd, cmd.Process.Pid, true, time.Now()
	p.mu.Unlock()

	err = cmd.Wait()
	<-copied
	pr.Close()
	logFile.Close()
	p.mu.Lock()
	p.running, p.exited = false, time.Now()
	if err != nil {
		p.lastExit = err.Error()
	} else {
		p.lastExit = "exit status 0"
	}
	p.mu.Unlock()
	return err
}

// maxLine is the longest line copyLines keeps whole; a longer one is split.
const maxLine = 1 << 20

// copyLines copies whole lines from r to file and, if set, term, until r
// ends. It always reads r to the end, so a child is never blocked on its
// output: lines longer than maxLine are split, and a last line without a
// newline gets one. Lines already read are written together, one write per
// read from the pipe rather than one per line: the gateway hands over its
// access log in batches of hundreds of lines, and a write per line cost the
// launcher ~4 µs of CPU per proxied request.
func copyLines(r io.Reader, file io.Writer, term io.Writer) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line, out []byte
	split := false // the last line written was cut at maxLine
	flush := func() {
		if len(out) == 0 {
			return
		}
		_, _ = file.Write(out)
		if term != nil {
			_, _ = term.Write(out)
		}
		out = out[:0]
	}
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		full := err == bufio.ErrBufferFull
		if full && len(line) < maxLine {
			continue
		}
		// The newline that ends a line cut exactly at maxLine is not a
		// line of its own.
		if len(line) > 0 && !(split && len(line) == 1 && line[0] == '\n') {
			if line[len(line)-1] != '\n' {
				line = append(line, '\n')
			}
			out = append(out, line...)
		}
		line, split = line[:0], full
		if err != nil && !full {
			flush()
			return
		}
		// Write when the next line would need another read (which may
		// block), or when enough is gathered.
		if br.Buffered() == 0 || len(out) >= 64<<10 {
			flush()
		}
	}
}

func (s *supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// stopAll sends SIGTERM to every child, waits up to stopGrace, then kills
// what is left, and waits for every supervision loop to end.
func (s *supervisor) stopAll() {
	s.mu.Lock()
	if !s.stopping {
		close(s.done)
	}
	s.stopping = true
	procs := make([]*proc, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(stopGrace):
	}
	for _, p := range procs {
		if p.signal(syscall.SIGKILL) {
			s.log.Warn("killed after grace period", "instance", p.spec.id)
		}
	}
	<-done
}

// signal sends sig to p if it runs; it reports whether it did.
func (p *proc) signal(sig syscall.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running || p.cmd == nil || p.cmd.Process == nil {
		return false
	}
	return p.cmd.Process.Signal(sig) == nil
}

// kill SIGKILLs the instance id, as a crash would.
func (s *supervisor) kill(id string) (ProcInfo, bool) {
	s.mu.Lock()
	p, ok := s.procs[id]
	s.mu.Unlock()
	if !ok {
		return ProcInfo{}, false
	}
	info := p.info()
	if !p.signal(syscall.SIGKILL) {
		return info, false
	}
	s.log.Warn("killed on request", "instance", id, "pid", info.PID)
	return info, true
}

// hold stops the instance id (SIGTERM) and keeps it down until release:
// how a test takes a whole service away.
func (s *supervisor) hold(id string) (ProcInfo, bool) {
	s.mu.Lock()
	p, ok := s.procs[id]
	s.mu.Unlock()
	if !ok {
		return ProcInfo{}, false
	}
	p.mu.Lock()
	if !p.held {
		p.held, p.resume = true, make(chan struct{})
	}
	p.mu.Unlock()
	p.signal(syscall.SIGTERM)
	s.log.Warn("held down on request", "instance", id)
	return p.info(), true
}

// release lets a held instance start again.
func (s *supervisor) release(id string) (ProcInfo, bool) {
	s.mu.Lock()
	p, ok := s.procs[id]
	s.mu.Unlock()
	if !ok {
		return ProcInfo{}, false
	}
	p.mu.Lock()
	if p.held {
		p.held = false
		close(p.resume)
		p.resume = nil
	}
	p.mu.Unlock()
	s.log.Info("released on request", "instance", id)
	return p.info(), true
}

func (p *proc) heldUntil() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.held {
		return nil
	}
	return p.resume
}

func (s *supervisor) list() []ProcInfo {
	s.mu.Lock()
	out := make([]ProcInfo, 0, len(s.procs))
	for _, p := range s.procs {
		out = append(out, p.info())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (p *proc) info() ProcInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProcInfo{ID: p.spec.id, Service: p.spec.service, PID: p.pid, Running: p.running, Restarts: p.restarts, Started: p.started, Exited: p.exited, LastExit: p.lastExit, Held: p.held}
}
