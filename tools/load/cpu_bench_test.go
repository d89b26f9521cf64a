package load

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startFakeProcess serves a fakeGateway from a child process, so that the
// CPU the generator measures for itself excludes the server's.
func startFakeProcess(tb testing.TB) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fakeGatewayEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("fake gateway process: %v", err)
	}
	return "http://" + strings.TrimSpace(line)
}

// BenchmarkGeneratorCPU runs the generator at 2000 journeys/s against a
// fake gateway in another process and reports the generator's own CPU per
// request (cpu-us/req). b.N is the number of journeys; run it with e.g.
// -benchtime=20000x.
func BenchmarkGeneratorCPU(b *testing.B) {
	url := startFakeProcess(b)
	for _, mix := range []string{DefaultMix, "browse=100", "product=100", "order=100"} {
		b.Run(strings.ReplaceAll(mix, ",", "_"), func(b *testing.B) {
			const rate = 2000
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			rep, err := Run(context.Background(), Config{Gateway: url, Rate: rate, Duration: time.Duration(float64(b.N) / rate * float64(time.Second)),
				Mix: mustMix(b, mix), Users: 20})
			if err != nil {
				b.Fatal(err)
			}
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			if rep.Errors > 0 {
				b.Errorf("%d errors: %v", rep.Errors, rep.ErrorsBy)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(rep.ClientCPUMicros, "cpu-us/req")
			// The split, setup included: user is the generator's code and
			// the runtime, sys the kernel's loopback TCP path.
			n := float64(rep.Completed)
			b.ReportMetric(float64(ru1.Utime.Nano()-ru0.Utime.Nano())/1e3/n, "user-us/req")
			b.ReportMetric(float64(ru1.Stime.Nano()-ru0.Stime.Nano())/1e3/n, "sys-us/req")
			b.ReportMetric(rep.Latency.P99, "p99-ms")
			b.ReportMetric(rep.ThroughputRPS, "req/s")
		})
	}
}
