package launcher

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/registry"
)

// The test binary doubles as the supervised child: started with envChild
// set, TestMain runs child instead of the tests. The supervisor starts
// `<executable> serve <service>`, and the service name chooses how the fake
// service behaves.
const (
	envChild      = "SOUK_LAUNCHER_TEST_CHILD"
	envStableRun  = "SOUK_LAUNCHER_TEST_STABLE_RUN" // how long flaky's 4th run lasts
	envParentNATS = "SOUK_LAUNCHER_TEST_NATS"       // the broker of the "parent" mode
	envParentData = "SOUK_LAUNCHER_TEST_DATA"       // the data folder of the "parent" mode
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(child(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// child is a fake service. Every mode first prints
// "start pid=<pid> at=<unix nanoseconds>".
//
//	crash     exits at once with status 3
//	steady    runs until SIGTERM, prints "stopping" and exits 0
//	stubborn  ignores SIGTERM and runs until killed
//	chatty    writes lines to stdout and stderr, runs until SIGTERM, then
//	          writes "last words" without a newline and exits 0
//	bigline   writes a 2 MiB line, then "after", then runs as steady
//	flaky     crashes at once, except on its 4th run (counted in a file in
//	          its working directory), which lasts $SOUK_LAUNCHER_TEST_STABLE_RUN
//	<a service of Services> registers itself in the registry and serves
//	          /health and /env (its SOUK_ settings) until SIGTERM: what Run
//	          needs to become ready
//	parent    (not under serve) a launcher supervising one steady child
func child(args []string) int {
	mode := ""
	switch {
	case len(args) == 2 && args[0] == "serve":
		mode = args[1]
	case len(args) == 1 && args[0] == "parent":
		return parent()
	default:
		fmt.Fprintf(os.Stderr, "launcher test child: unexpected arguments %q\n", args)
		return 2
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if slices.Contains(Services, mode) {
		return fakeService(mode, term)
	}
	fmt.Printf("start pid=%d at=%d\n", os.Getpid(), time.Now().UnixNano())
	steady := func() int {
		<-term
		fmt.Println("stopping")
		return 0
	}
	switch mode {
	case "crash":
		return 3
	case "steady":
		return steady()
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		time.Sleep(time.Hour)
		return 0
	case "chatty":
		for i := range 3 {
			fmt.Printf("out %d\n", i)
			fmt.Fprintf(os.Stderr, "err %d\n", i)
		}
		<-term
		fmt.Fprint(os.Stderr, "last words") // ended by the exit, not a newline
		return 0
	case "bigline":
		fmt.Println(strings.Repeat("x", 2<<20))
		fmt.Println("after")
		return steady()
	case "flaky":
		b, _ := os.ReadFile("runs")
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		n++
		_ = os.WriteFile("runs", []byte(strconv.Itoa(n)), 0o644)
		if n == 4 {
			d, _ := time.ParseDuration(os.Getenv(envStableRun))
			time.Sleep(d)
		}
		return 3
	}
	fmt.Fprintf(os.Stderr, "launcher test child: unknown mode %q\n", mode)
	return 2
}

// parent supervises one steady child, printing its lines on stdout, until
// it is killed: the test of Pdeathsig kills it.
func parent() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, js, err := broker.Connect(ctx, os.Getenv(envParentNATS), "launcher-test-parent", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reg, err := registry.New(ctx, js, registry.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := &lineWriter{w: os.Stdout}
	sup := &supervisor{
		cfg:   Config{Executable: os.Args[0], DataDir: os.Getenv(envParentData)},
		env:   os.Environ(),
		log:   slog.New(slog.NewTextHandler(os.Stderr, nil)),
		out:   out,
		reg:   reg,
		procs: map[string]*proc{},
		done:  make(chan struct{}),
	}
	sup.start(instanceSpec{service: "steady", id: "steady-1"})
	time.Sleep(time.Hour)
	return 0
}

// fakeService stands in for a real service under Run.
func fakeService(service string, term <-chan os.Signal) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "fake %s: %v\n", service, err)
		return 1
	}
	ln, err := net.Listen("tcp", os.Getenv("SOUK_HTTP_ADDR"))
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SOUK_") && !strings.HasPrefix(k, "SOUK_TEST") && !strings.HasPrefix(k, "SOUK_LAUNCHER_TEST") {
				env[k] = v
			}
		}
		env["cwd"], _ = os.Getwd()
		env["GOMAXPROCS"] = os.Getenv("GOMAXPROCS")
		_ = json.NewEncoder(w).Encode(env)
	})
	go func() { _ = http.Serve(ln, mux) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, js, err := broker.Connect(ctx, os.Getenv("SOUK_NATS_URL"), service, nil)
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	reg, err := registry.New(ctx, js, registry.Options{})
	if err != nil {
		return fail(err)
	}
	lease, err := reg.Register(ctx, registry.Instance{ID: os.Getenv("SOUK_INSTANCE"), Service: service, Addr: ln.Addr().String(), PID: os.Getpid()})
	if err != nil {
		return fail(err)
	}
	fmt.Printf("registered %s at %s\n", os.Getenv("SOUK_INSTANCE"), ln.Addr())
	<-term
	_ = lease.Close(context.Background())
	fmt.Println("stopping")
	return 0
}
