package launcher

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReplicas(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]int
		wantErr string
	}{
		{"", map[string]int{}, ""},
		{"   ", map[string]int{}, ""},
		{"order=2", map[string]int{"order": 2}, ""},
		{" order=2 , inventory=3", map[string]int{"order": 2, "inventory": 3}, ""},
		{"gateway=1", map[string]int{"gateway": 1}, ""},
		{"order=16", map[string]int{"order": 16}, ""},
		{"gateway=2", nil, "gateway"},
		{"bogus=2", nil, `unknown service "bogus"`},
		{"launcher=1", nil, "unknown service"},
		{"order", nil, "not service=count"},
		{"order=0", nil, "from 1 to 16"},
		{"order=17", nil, "from 1 to 16"},
		{"order=-1", nil, "from 1 to 16"},
		{"order=two", nil, "from 1 to 16"},
		{"order=2,", nil, "not service=count"},
		{"Order=2", nil, "unknown service"},
	}
	for _, tt := range tests {
		got, err := ParseReplicas(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseReplicas(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseReplicas(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseReplicas(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestInstances(t *testing.T) {
	c := Config{Replicas: map[string]int{"order": 2, "search": 0}}
	var got []string
	for _, s := range c.instances() {
		if !strings.HasPrefix(s.id, s.service+"-") {
			t.Errorf("instance %s of %s: want ids <service>-<n>", s.id, s.service)
		}
		got = append(got, s.id)
	}
	if len(got) != len(Services)+1 {
		t.Errorf("%d instances, want %d (one per service, two orders)", len(got), len(Services)+1)
	}
	if got[len(got)-1] != "gateway-1" {
		t.Errorf("last instance = %s, want gateway-1: the gateway starts last", got[len(got)-1])
	}
	for _, id := range []string{"order-1", "order-2", "search-1", "auth-1"} {
		if !strings.Contains(strings.Join(got, " "), id) {
			t.Errorf("instances %v lack %s", got, id)
		}
	}
}

func TestChildEnv(t *testing.T) {
	base := []string{
		"PATH=/usr/bin",
		"SOUK_INSTANCE=stale-1",
		"SOUK_HTTP_ADDR=127.0.0.1:9999",
		"SOUK_DATA=/old",
		"SOUK_INSTANCEX=kept",
		"HOME=/root",
		"ODD",
	}
	set := map[string]string{"SOUK_DATA": "/new", "SOUK_NATS_URL": "nats://x", "A": "1"}
	got := childEnv(base, set)
	want := []string{"PATH=/usr/bin", "SOUK_INSTANCEX=kept", "HOME=/root", "ODD", "A=1", "SOUK_DATA=/new", "SOUK_NATS_URL=nats://x"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("childEnv (-want +got):\n%s", diff)
	}
	if !hasEnv(base, "HOME") || hasEnv(base, "HOM") || hasEnv(base, "ODD") {
		t.Error("hasEnv matches keys by prefix or without a value")
	}
}

func TestChildProcs(t *testing.T) {
	for ncpu, want := range map[int]int{1: 1, 2: 1, 4: 1, 7: 1, 8: 2, 16: 4, 64: 16} {
		if got := ChildProcs(ncpu); got != want {
			t.Errorf("ChildProcs(%d) = %d, want %d", ncpu, got, want)
		}
	}
}

func TestEnvValue(t *testing.T) {
	env := []string{"A=1", "AB=2", "B=", "A=3"}
	for key, want := range map[string]string{"A": "3", "AB": "2", "B": "", "C": ""} {
		if got := envValue(env, key); got != want {
			t.Errorf("envValue(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestServiceSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "service-secret")

	first, err := serviceSecret(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 64 {
		t.Errorf("secret %q: want 64 hex digits", first)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("secret file mode = %o, want 600", perm)
	}
	again, err := serviceSecret(dir, []string{"SOUK_SERVICE_SECRET="}) // empty: ignored
	if err != nil || again != first {
		t.Errorf("second start = %q, %v; want the kept secret %q", again, err, first)
	}
	fromEnv, err := serviceSecret(dir, []string{"X=1", "SOUK_SERVICE_SECRET=from-the-environment"})
	if err != nil || fromEnv != "from-the-environment" {
		t.Errorf("with the variable set = %q, %v; want it", fromEnv, err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != first {
		t.Errorf("the file changed to %q when the environment gave the secret", b)
	}

	// A damaged (too short) file is replaced.
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh, err := serviceSecret(dir, nil)
	if err != nil || len(fresh) != 64 || fresh == first {
		t.Errorf("after a damaged file = %q, %v; want a new secret", fresh, err)
	}

	if _, err := serviceSecret(filepath.Join(dir, "missing", "dir"), nil); err == nil {
		t.Error("serviceSecret in a folder that does not exist succeeded")
	}
}

func TestPrefixedLines(t *testing.T) {
	var buf bytes.Buffer
	w := prefixed(&lineWriter{w: &buf}, "order/order-1")
	n, err := w.Write([]byte("hello\n"))
	if err != nil || n != 6 {
		t.Errorf("Write = %d, %v; want 6, nil (the caller's bytes, not the prefix's)", n, err)
	}
	if got := buf.String(); got != "order/order-1 | hello\n" {
		t.Errorf("output = %q", got)
	}
	if n, err := (&lineWriter{}).Write([]byte("x")); n != 1 || err != nil {
		t.Errorf("lineWriter without a writer: Write = %d, %v; want 1, nil", n, err)
	}
}

func TestCopyLines(t *testing.T) {
	long := strings.Repeat("y", maxLine+10)
	tests := []struct {
		name, in string
		want     []string
	}{
		{"lines", "a\nb\n", []string{"a", "b"}},
		{"last line without newline", "a\nb", []string{"a", "b"}},
		{"empty lines kept", "a\n\nb\n", []string{"a", "", "b"}},
		{"nothing", "", nil},
		{"a line over the limit is split", long + "\nz\n", []string{long[:maxLine], long[maxLine:], "z"}},
		{"a line at the limit is whole", long[:maxLine] + "\nz\n", []string{long[:maxLine], "z"}},
		{"a line at the limit, then an empty line", long[:maxLine] + "\n\nz", []string{long[:maxLine], "", "z"}},
	}
	for _, tt := range tests {
		var file, term bytes.Buffer
		copyLines(strings.NewReader(tt.in), &file, &term)
		got := strings.Split(strings.TrimSuffix(file.String(), "\n"), "\n")
		if file.Len() == 0 {
			got = nil
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: lines (-want +got):\n%s", tt.name, diff)
		}
		if term.String() != file.String() {
			t.Errorf("%s: terminal got %d bytes, file %d; want the same", tt.name, term.Len(), file.Len())
		}
	}
}

// writeCounter counts the writes it gets.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestCopyLinesWritesWhatWasReadAtOnce(t *testing.T) {
	// The lines arrive in one read (as the gateway's access log does, in
	// batches): they leave in one write to the file and one to the terminal.
	var file, term writeCounter
	copyLines(strings.NewReader("a\nb\nc\n"), &file, prefixed(&term, "gateway/gateway-1"))
	if file.writes != 1 || term.writes != 1 {
		t.Errorf("writes: file %d, terminal %d; want 1 each", file.writes, term.writes)
	}
	if got, want := term.String(), "gateway/gateway-1 | a\ngateway/gateway-1 | b\ngateway/gateway-1 | c\n"; got != want {
		t.Errorf("terminal = %q, want %q (every line prefixed)", got, want)
	}
	// Lines that arrive in separate reads are not held back for later ones.
	pr, pw := io.Pipe()
	var slow writeCounter
	done := make(chan struct{})
	go func() { defer close(done); copyLines(pr, &slow, nil) }()
	for _, l := range []string{"one\n", "two\n"} {
		if _, err := pw.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	pw.Close()
	<-done
	if slow.String() != "one\ntwo\n" || slow.writes != 2 {
		t.Errorf("separate reads: got %q in %d writes; want both lines in 2", slow.String(), slow.writes)
	}
}

func TestPrefixedLastLineWithoutNewline(t *testing.T) {
	var buf bytes.Buffer
	if _, err := prefixed(&buf, "p").Write([]byte("a\nb")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "p | a\np | b" {
		t.Errorf("output = %q", got)
	}
}
