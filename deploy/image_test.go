package deploy

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

// parseDockerfile reads the instructions of a Dockerfile; comments (also
// those between continuation lines) are dropped.
func parseDockerfile(data string) []instruction {
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	return out
}

// buildFlags are the go build flags of the image; the Dockerfile must use
// them, and TestStaticBinary builds with them.
var buildFlags = []string{"-trimpath", "-ldflags", "-s -w"}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ins := parseDockerfile(string(data))
	var froms []instruction
	stages := map[string]bool{}
	for _, in := range ins {
		if in.Cmd == "FROM" {
			froms = append(froms, in)
			f := strings.Fields(in.Args)
			if len(f) >= 3 && strings.EqualFold(f[len(f)-2], "AS") {
				stages[f[len(f)-1]] = true
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("%d FROM instructions, want a multi-stage build", len(froms))
	}
	image := func(from instruction) string {
		for _, f := range strings.Fields(from.Args) {
			if !strings.HasPrefix(f, "--") {
				return f
			}
		}
		return ""
	}
	goVersion := goModVersion(t)
	if build := image(froms[0]); !regexp.MustCompile(`^golang:` + regexp.QuoteMeta(goVersion) + `([-@].*)?$`).MatchString(build) {
		t.Errorf("build stage FROM %s, want golang:%s (go.mod's go line)", build, goVersion)
	}
	final := image(froms[len(froms)-1])
	nonrootBase := strings.HasPrefix(final, "gcr.io/distroless/static") && strings.Contains(final, ":nonroot")
	if !nonrootBase && final != "scratch" {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static-debian12:nonroot (or scratch)", final)
	}

	// The final stage's instructions.
	var last []instruction
	for i, in := range ins {
		if in.Cmd == "FROM" {
			last = ins[i+1:]
		}
	}
	buildOut := ""
	for _, in := range ins {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			for _, want := range []string{"CGO_ENABLED=0", "./cmd/souk", buildFlags[0], buildFlags[1] + ` "` + buildFlags[2] + `"`} {
				if !strings.Contains(in.Args, want) {
					t.Errorf("RUN %s: no %s", in.Args, want)
				}
			}
			if m := regexp.MustCompile(`-o (\S+)`).FindStringSubmatch(in.Args); m != nil {
				buildOut = m[1]
			}
		}
	}
	if buildOut == "" {
		t.Fatal("no RUN go build -o <path> ./cmd/souk")
	}
	copied, user := false, ""
	var entrypoint, cmd []string
	exposed := false
	for _, in := range last {
		f := strings.Fields(in.Args)
		switch in.Cmd {
		case "COPY":
			if len(f) == 3 && strings.HasPrefix(f[0], "--from=") && stages[strings.TrimPrefix(f[0], "--from=")] && f[1] == buildOut && f[2] == "/souk" {
				copied = true
			}
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.Args), &entrypoint); err != nil {
				t.Errorf("ENTRYPOINT %s: want the JSON (exec) form: %v", in.Args, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(in.Args), &cmd); err != nil {
				t.Errorf("CMD %s: want the JSON (exec) form: %v", in.Args, err)
			}
		case "EXPOSE":
			exposed = slices.Contains(f, "8080") || slices.Contains(f, "8080/tcp")
		case "HEALTHCHECK":
			t.Errorf("HEALTHCHECK %s: the image has no shell or curl to run it; use the HTTP probes", in.Args)
		}
	}
	if !copied {
		t.Errorf("the final stage does not COPY --from=<build stage> %s /souk", buildOut)
	}
	if !slices.Equal(entrypoint, []string{"/souk"}) {
		t.Errorf("ENTRYPOINT %q, want [/souk]", entrypoint)
	}
	if len(cmd) != 2 || cmd[0] != "serve" || !slices.Contains(serviceNames(), cmd[1]) {
		t.Errorf("CMD %q, want [serve <service>]", cmd)
	}
	if !exposed {
		t.Error("no EXPOSE 8080")
	}
	if user == "" && !nonrootBase || user == "root" || user == "0" || strings.HasPrefix(user, "0:") {
		t.Errorf("USER %q: the image must run as a non-root user", user)
	}
}

// goModVersion is go.mod's go line as major.minor: "1.26".
func goModVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

// TestDockerignore checks that the build context keeps every file
// `go build ./cmd/souk` reads from this module.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			if strings.HasPrefix(l, "!") {
				t.Fatalf(".dockerignore: exceptions (%s) are not modelled by this test", l)
			}
			patterns = append(patterns, strings.Trim(l, "/"))
		}
	}
	for _, want := range []string{".git", ".souk"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	list := exec.Command(goTool(t), "list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}`, "./cmd/souk")
	list.Dir = ".."
	var stderr bytes.Buffer
	list.Stderr = &stderr
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			continue
		}
		rel, err := filepath.Rel(root, parts[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Split(parts[1]+","+parts[2], ",") {
			if f != "" {
				needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	if len(needed) < 50 {
		t.Fatalf("go list found %d files; the listing is broken", len(needed))
	}
	for _, f := range needed {
		parts := strings.Split(f, "/")
		for i := range parts {
			prefix := strings.Join(parts[:i+1], "/")
			for _, p := range patterns {
				if ok, _ := filepath.Match(p, prefix); ok {
					t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", p, f)
				}
			}
		}
	}
}

func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := "/usr/local/go/bin/go"
	if _, err := os.Stat(p); err != nil {
		t.Fatal("no go command on PATH or in /usr/local/go/bin")
	}
	return p
}

// TestStaticBinary builds ./cmd/souk the way the Dockerfile does and checks
// that the result is static (it must run on distroless/static, which has no
// libc), and that it accepts `serve <name>` for every workload's args.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building ./cmd/souk")
	}
	bin := filepath.Join(t.TempDir(), "souk")
	build := exec.Command(goTool(t), append(append([]string{"build"}, buildFlags...), "-o", bin, "./cmd/souk")...)
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/souk: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary asks for a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("the binary keeps its symbol table: -ldflags -s did not apply")
	}

	run := func(args []string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = []string{} // no SOUK_NATS_URL: the service must stop at its config check
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err == nil {
			t.Errorf("souk %q with an empty environment succeeded; want a config error", args)
		}
		return out.String()
	}
	for _, w := range workloadsOf(mustRender(t, baseDir)) {
		args := w.Template.Spec.Containers[0].Args
		if out := run(args); !strings.Contains(out, "SOUK_NATS_URL") {
			t.Errorf("souk %q: want it to reach the config check (SOUK_NATS_URL is not set), got:\n%s", args, out)
		}
	}
	if out := run([]string{"serve", "no-such-service"}); !strings.Contains(out, "unknown service") {
		t.Errorf("souk serve no-such-service: got %q, want an unknown service error", out)
	}
}

// objectData is the data of a ConfigMap or Secret, else nil.
func objectData(o object) map[string]string {
	data := map[string]string{}
	switch v := o.Obj.(type) {
	case *corev1.ConfigMap:
		maps(data, v.Data)
	case *corev1.Secret:
		for k, b := range v.Data {
			data[k] = string(b)
		}
		maps(data, v.StringData)
	}
	return data
}

var soukName = regexp.MustCompile(`"(SOUK_[A-Z0-9_]+)"`)

// TestEnvNamesAreRead checks that every SOUK_ variable the deployment sets
// is one the code reads: a typo would otherwise be silently ignored.
func TestEnvNamesAreRead(t *testing.T) {
	known := map[string]bool{}
	for _, dir := range []string{"../platform", "../services", "../cmd", "../launcher"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			data, err := os.ReadFile(path)
			for _, m := range soukName.FindAllSubmatch(data, -1) {
				known[string(m[1])] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, sure := range []string{"SOUK_NATS_URL", "SOUK_SERVICE_SECRET", "SOUK_ADVERTISE_ADDR", "SOUK_ADMIN_PASSWORD"} {
		if !known[sure] {
			t.Fatalf("the source scan missed %s; it is broken", sure)
		}
	}
	read := func(name string) bool {
		if known[name] {
			return true
		}
		s, ok := strings.CutSuffix(strings.TrimPrefix(name, "SOUK_"), "_DATABASE_URL")
		return ok && hasDatabase(strings.ToLower(s))
	}

	set := map[string][]string{} // name → where it is set
	note := func(name, where string) {
		if strings.HasPrefix(name, "SOUK_") {
			set[name] = append(set[name], where)
		}
	}
	for _, dir := range []string{baseDir, devDir, prodDir} {
		objs := mustRender(t, dir)
		for _, w := range workloadsOf(objs) {
			for _, c := range w.Template.Spec.Containers {
				for _, e := range c.Env {
					note(e.Name, dir+" "+w.key())
				}
			}
		}
		for _, o := range objs {
			for k := range objectData(o) {
				note(k, dir+" "+o.key())
			}
		}
	}
	for _, o := range secretTemplate(t) {
		for k := range objectData(o) {
			note(k, templateFile)
		}
	}
	c := readCompose(t)
	for name, env := range soukContainers(t, c) {
		for k := range env {
			note(k, "compose "+name)
		}
	}
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range parseDockerfile(string(data)) {
		if in.Cmd == "ENV" {
			for _, kv := range strings.Fields(in.Args) {
				k, _, _ := strings.Cut(kv, "=")
				note(k, "Dockerfile ENV")
			}
		}
	}
	if len(set) < 10 {
		t.Fatalf("found %d variables set; the collection is broken", len(set))
	}
	for _, name := range sortedKeys(set) {
		if !read(name) {
			t.Errorf("%s is set (%s) but no code reads it", name, strings.Join(set[name], ", "))
		}
	}
}
