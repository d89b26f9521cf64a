package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/souk/souk/platform/boot"
	"github.com/souk/souk/services"
	"github.com/souk/souk/services/gateway"
)

const (
	k8sDir       = "k8s"
	baseDir      = "k8s/base"
	devDir       = "k8s/overlays/dev"
	prodDir      = "k8s/overlays/prod"
	templateFile = "k8s/base/secret.template.yaml"

	nameLabel   = "app.kubernetes.io/name"
	partOfLabel = "app.kubernetes.io/part-of"
	namespace   = "souk"
	configName  = "souk-config"
	secretName  = "souk-secrets"
	fakePodIP   = "10.1.2.3"
	fakePodIPv6 = "fd00:10:244::5"
)

// serviceNames is every service a deployment runs: the gateway and
// services.All.
func serviceNames() []string {
	return append([]string{services.Gateway}, services.All...)
}

// hasDatabase reports whether service keeps tables (it ships migrations)
// and so needs SOUK_<SERVICE>_DATABASE_URL in cluster mode.
func hasDatabase(service string) bool {
	st, err := os.Stat(filepath.Join("..", "services", service, "migrations"))
	return err == nil && st.IsDir()
}

func databaseVar(service string) string {
	return "SOUK_" + strings.ToUpper(service) + "_DATABASE_URL"
}

func mustRender(t *testing.T, dir string) []object {
	t.Helper()
	objs, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func secretTemplate(t *testing.T) []object {
	t.Helper()
	objs, err := decodeFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Kind != "Secret" || objs[0].Name() != secretName {
		t.Fatalf("%s: want exactly the Secret %s", templateFile, secretName)
	}
	return objs
}

// TestManifestsDecodeStrictly decodes every YAML file under k8s: each
// kustomization into its struct, every other document into its k8s.io/api
// type. Every manifest but the Secret template must be used by a
// kustomization.
func TestManifestsDecodeStrictly(t *testing.T) {
	used := map[string]bool{}
	var manifests []string
	err := filepath.WalkDir(k8sDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch ext := filepath.Ext(path); {
		case d.Name() == "kustomization.yaml":
			k, err := readKustomization(filepath.Dir(path))
			if err != nil {
				t.Error(err)
				return nil
			}
			for _, r := range k.Resources {
				used[filepath.Join(filepath.Dir(path), r)] = true
			}
			for _, p := range k.Patches {
				used[filepath.Join(filepath.Dir(path), p.Path)] = true
			}
		case ext == ".yaml" || ext == ".yml":
			manifests = append(manifests, path)
			objs, err := decodeFile(path)
			if err != nil {
				t.Error(err)
			} else if len(objs) == 0 {
				t.Errorf("%s: no documents", path)
			}
		default:
			t.Errorf("%s: not a YAML file; the tests would not check it", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(manifests) < 10 {
		t.Fatalf("found %d manifests under %s; the walk is broken", len(manifests), k8sDir)
	}
	for _, m := range manifests {
		if !used[m] && m != filepath.Clean(templateFile) {
			t.Errorf("%s is in no kustomization (resources or patches)", m)
		}
	}
}

// TestStrictDecodingRejects shows the decoder and the renderer fail on what
// they must fail on, so the other tests passing means something.
func TestStrictDecodingRejects(t *testing.T) {
	deployment := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: order\nspec:\n"
	docs := []struct {
		name, doc, want string
	}{
		{"unknown field", deployment + "  replica: 3\n", `unknown field "replica"`},
		{"wrong type", deployment + "  replicas: three\n", "cannot unmarshal"},
		{"duplicate key", deployment + "  replicas: 1\n  replicas: 2\n", "already set"},
		{"unknown kind", "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: x\n", "unknown kind"},
		{"wrong apiVersion", "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata:\n  name: x\n", "unknown kind"},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "no metadata.name"},
		{"env typo", deployment + "  template:\n    spec:\n      containers:\n        - name: order\n          env:\n            - name: A\n              valu: b\n", "unknown field"},
	}
	for _, tc := range docs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeObject([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decode: got error %v, want one containing %q", err, tc.want)
			}
		})
	}

	base := deployment + "  selector:\n    matchLabels: {app: order}\n  template:\n    metadata:\n      labels: {app: order}\n    spec:\n      containers:\n        - name: order\n          image: souk\n"
	overlays := []struct {
		name, kustomization, patch, want string
	}{
		{"patch of a missing object", "resources: [base.yaml]\npatches:\n  - path: patch.yaml\n",
			"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders\nspec:\n  replicas: 3\n", "no apps/v1 Deployment/orders"},
		{"patch of a missing container", "resources: [base.yaml]\npatches:\n  - path: patch.yaml\n",
			"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: order\nspec:\n  template:\n    spec:\n      containers:\n        - name: ordr\n          image: x\n", `no container "ordr"`},
		{"missing resource file", "resources: [base.yaml, nats.yaml]\n", "", "nats.yaml"},
		{"field the renderer does not implement", "resources: [base.yaml]\ncommonLabels: {a: b}\n", "", `unknown field "commonLabels"`},
	}
	for _, tc := range overlays {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + tc.kustomization
			for name, data := range map[string]string{"kustomization.yaml": k, "base.yaml": base, "patch.yaml": tc.patch} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := render(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("render: got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestRenderPatches checks the renderer's patching against hand-written
// expectations: lists merge by key, a patch changes only what it names.
func TestRenderPatches(t *testing.T) {
	prod := mustRender(t, prodDir)
	catalog := find[appsv1.Deployment](prod, "catalog")
	if catalog == nil {
		t.Fatal("no catalog Deployment in prod")
	}
	c := catalog.Spec.Template.Spec.Containers[0]
	var got []string
	for _, e := range c.Env {
		got = append(got, e.Name)
	}
	// A strategic merge puts a list item the base lacks first (kustomize
	// does the same): harmless here, and why a patch must never add a
	// variable that refers to $(POD_IP).
	want := []string{"SOUK_CATALOG_SEED", "POD_IP", "SOUK_INSTANCE", "SOUK_HTTP_ADDR", "SOUK_ADVERTISE_HOST", "SOUK_SERVICE_SECRET", "SOUK_SERVICE_SECRET_ACCEPT", "SOUK_CATALOG_DATABASE_URL"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("prod catalog env names (-want +got):\n%s", diff)
	}
	if c.Image != "registry.example.com/souk/souk:1.0.0" || c.LivenessProbe == nil {
		t.Errorf("prod catalog container lost base fields or the image: image %q, liveness %v", c.Image, c.LivenessProbe)
	}
	tests := []struct{ ref, want string }{
		{"souk", "registry.example.com/souk/souk:1.0.0"},
		{"souk:old", "registry.example.com/souk/souk:1.0.0"},
		{"nats:2.10-alpine", "nats:2.10-alpine"},
		{"localhost:5000/souk", "localhost:5000/souk"},
	}
	for _, tc := range tests {
		if got := setImage(tc.ref, "souk", "registry.example.com/souk/souk", "1.0.0", ""); got != tc.want {
			t.Errorf("setImage(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

// TestOverlaysMatchKubectlKustomize renders each overlay with the real
// kustomize (kubectl's) and compares with this package's renderer, so the
// invariants below are checked on what `kubectl apply -k` would send.
func TestOverlaysMatchKubectlKustomize(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed: the overlays are checked with this package's renderer only")
	}
	for _, dir := range []string{baseDir, devDir, prodDir} {
		t.Run(dir, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(kubectl, "kustomize", dir)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
			}
			theirs := map[string]any{}
			for i, doc := range splitDocs(out) {
				o, err := decodeObject(doc)
				if err != nil {
					t.Fatalf("kubectl kustomize output, document %d: %v", i+1, err)
				}
				theirs[o.key()] = asJSON(t, o.Obj)
			}
			ours := map[string]any{}
			for _, o := range mustRender(t, dir) {
				ours[o.key()] = asJSON(t, o.Obj)
			}
			if diff := cmp.Diff(theirs, ours); diff != "" {
				t.Errorf("kubectl kustomize (-) and this renderer (+) differ:\n%s", diff)
			}
		})
	}
}

func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBase checks the invariants on the base alone, and that it leaves
// replicas and the image name to the overlays.
func TestBase(t *testing.T) {
	objs := mustRender(t, baseDir)
	checkSouk(t, objs, secretTemplate(t))
	for _, w := range soukWorkloads(t, objs) {
		if w.Replicas != nil {
			t.Errorf("base %s sets replicas; the overlays own the count", w.key())
		}
		if img := w.Template.Spec.Containers[0].Image; img != "souk" {
			t.Errorf("base %s: image %q, want souk (the overlays name it)", w.key(), img)
		}
	}
	if s := find[corev1.Secret](objs, secretName); s != nil {
		t.Errorf("base applies the Secret %s: a placeholder would overwrite the real one at every apply", secretName)
	}
}

// TestSecretTemplate checks that the template lists exactly the keys the
// workloads need, and the dev Secret has the same keys. Optional keys (the
// second service secret, set only during a rotation) are in neither: a
// placeholder there would be a public secret every service accepts.
func TestSecretTemplate(t *testing.T) {
	refs, optional := map[string]bool{}, map[string]bool{}
	for _, w := range workloadsOf(mustRender(t, baseDir)) {
		for _, c := range w.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == secretName {
					if r := e.ValueFrom.SecretKeyRef; r.Optional != nil && *r.Optional {
						optional[r.Key] = true
					} else {
						refs[r.Key] = true
					}
				}
			}
		}
	}
	if !optional["SOUK_SERVICE_SECRET_ACCEPT"] {
		t.Errorf("no workload reads SOUK_SERVICE_SECRET_ACCEPT (optional) from %s: rotation would need a patch", secretName)
	}
	tpl := secretTemplate(t)[0].Obj.(*corev1.Secret)
	if diff := cmp.Diff(sortedKeys(refs), sortedKeys(tpl.StringData)); diff != "" {
		t.Errorf("keys the workloads read (-) and keys of %s (+):\n%s", templateFile, diff)
	}
	for k := range optional {
		if _, ok := tpl.StringData[k]; ok {
			t.Errorf("%s sets the optional key %s", templateFile, k)
		}
	}
	dev := find[corev1.Secret](mustRender(t, devDir), secretName)
	if dev == nil {
		t.Fatalf("the dev overlay has no Secret %s", secretName)
	}
	if diff := cmp.Diff(sortedKeys(tpl.StringData), sortedKeys(dev.StringData)); diff != "" {
		t.Errorf("template keys (-) and dev Secret keys (+):\n%s", diff)
	}
	for k, v := range tpl.StringData {
		if strings.Contains(k, "PASSWORD") || strings.Contains(k, "SECRET") || strings.HasSuffix(k, "DATABASE_URL") {
			if !strings.Contains(v, "REPLACE") {
				t.Errorf("template %s = %q: a secret value must be an obvious placeholder (REPLACE...)", k, v)
			}
		}
	}
}

func TestDevOverlay(t *testing.T) {
	objs := mustRender(t, devDir)
	checkSouk(t, objs, nil) // self-contained: every reference resolves inside
	for _, w := range soukWorkloads(t, objs) {
		if w.Replicas != nil && *w.Replicas != 1 {
			t.Errorf("dev %s: replicas %d, want 1", w.key(), *w.Replicas)
		}
		if img := w.Template.Spec.Containers[0].Image; img != "souk:dev" {
			t.Errorf("dev %s: image %q, want souk:dev (what the docs build)", w.key(), img)
		}
	}
	if hpas := all[autoscalingv2.HorizontalPodAutoscaler](objs); len(hpas) > 0 {
		t.Errorf("dev has %d autoscalers, want none", len(hpas))
	}

	// NATS: the ConfigMap's URL reaches the in-cluster server, JetStream on.
	cm := find[corev1.ConfigMap](objs, configName)
	u, err := url.Parse(cm.Data["SOUK_NATS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	svc := find[corev1.Service](objs, u.Hostname())
	nats := find[appsv1.StatefulSet](objs, "nats")
	switch {
	case svc == nil:
		t.Errorf("dev SOUK_NATS_URL %s: no Service %s", u, u.Hostname())
	case nats == nil:
		t.Errorf("dev has no nats StatefulSet")
	case !slices.Contains(nats.Spec.Template.Spec.Containers[0].Args, "-js"):
		t.Errorf("dev nats runs without JetStream (-js): %v", nats.Spec.Template.Spec.Containers[0].Args)
	case !servicePort(svc, u.Port()):
		t.Errorf("dev Service %s does not expose port %s", svc.Name, u.Port())
	}

	// PostgreSQL: the init script is compose's, and every DSN in the
	// Secret matches a role, its password and its own database.
	initdb := find[corev1.ConfigMap](objs, "postgres-initdb")
	compose, err := os.ReadFile("compose/initdb.sql")
	if err != nil {
		t.Fatal(err)
	}
	if initdb == nil || initdb.Data["initdb.sql"] != string(compose) {
		t.Fatalf("dev postgres-initdb initdb.sql differs from compose/initdb.sql; copy it over")
	}
	dbs, err := parseInitdb(string(compose))
	if err != nil {
		t.Fatal(err)
	}
	secret := find[corev1.Secret](objs, secretName)
	for _, s := range services.All {
		if !hasDatabase(s) {
			continue
		}
		dsn := secret.StringData[databaseVar(s)]
		if err := checkDSN(dbs, s, dsn); err != nil {
			t.Errorf("dev %s: %v", databaseVar(s), err)
		}
		if u, err := url.Parse(dsn); err == nil && find[corev1.Service](objs, u.Hostname()) == nil {
			t.Errorf("dev %s: no Service %s", databaseVar(s), u.Hostname())
		}
	}
}

func TestProdOverlay(t *testing.T) {
	objs := mustRender(t, prodDir)
	checkSouk(t, objs, secretTemplate(t))
	if find[corev1.Secret](objs, secretName) != nil {
		t.Errorf("prod applies the Secret %s; it must come from a secret manager", secretName)
	}
	ws := soukWorkloads(t, objs)
	for _, w := range workloadsOf(objs) {
		if w.Template.Labels[partOfLabel] != "souk" {
			t.Errorf("prod runs %s, which is not a Souk service (NATS and PostgreSQL are external)", w.key())
		}
	}

	cm := find[corev1.ConfigMap](objs, configName)
	if got := cm.Data["SOUK_STREAM_REPLICAS"]; got != "3" {
		t.Errorf("prod SOUK_STREAM_REPLICAS = %q, want 3 (R3 on the NATS cluster)", got)
	}
	if u, err := url.Parse(cm.Data["SOUK_NATS_URL"]); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || !strings.Contains(u.Hostname(), ".") {
		t.Errorf("prod SOUK_NATS_URL = %q, want a nats:// URL of the external cluster", cm.Data["SOUK_NATS_URL"])
	}

	hpas := map[string]*autoscalingv2.HorizontalPodAutoscaler{}
	for _, h := range all[autoscalingv2.HorizontalPodAutoscaler](objs) {
		hpas[h.Spec.ScaleTargetRef.Name] = h
	}
	for _, s := range []string{"gateway", "order"} {
		h := hpas[s]
		if h == nil {
			t.Errorf("prod: no HorizontalPodAutoscaler for %s", s)
			continue
		}
		cpu := false
		for _, m := range h.Spec.Metrics {
			cpu = cpu || (m.Resource != nil && m.Resource.Name == corev1.ResourceCPU)
		}
		if !cpu {
			t.Errorf("prod %s autoscaler does not scale on CPU", s)
		}
	}
	pdbs := map[string]*policyv1.PodDisruptionBudget{}
	for _, p := range all[policyv1.PodDisruptionBudget](objs) {
		for _, w := range ws {
			if selects(p.Spec.Selector.MatchLabels, w.Template.Labels) {
				pdbs[w.Name()] = p
			}
		}
	}
	for _, s := range []string{"gateway", "order", "inventory", "payment"} {
		n := minReplicas(ws[s], hpas[s])
		if n < 3 {
			t.Errorf("prod %s runs at least %d replicas, want 3", s, n)
		}
		p := pdbs[s]
		if p == nil {
			if s != "gateway" {
				t.Errorf("prod: no PodDisruptionBudget for %s", s)
			}
			continue
		}
		// The budget must let a drain evict one pod, or nodes never drain.
		switch {
		case p.Spec.MaxUnavailable != nil && intOrPercent(*p.Spec.MaxUnavailable, n) < 1:
			t.Errorf("prod %s budget allows no disruption", s)
		case p.Spec.MinAvailable != nil && intOrPercent(*p.Spec.MinAvailable, n) >= int(n):
			t.Errorf("prod %s budget keeps all %d pods", s, n)
		}
	}
	for _, w := range ws {
		img := w.Template.Spec.Containers[0].Image
		if !strings.Contains(img, "@sha256:") && (!strings.Contains(img, ":") || strings.HasSuffix(img, ":latest")) {
			t.Errorf("prod %s: image %q is not pinned", w.key(), img)
		}
	}
	env, err := containerEnv(objs, secretTemplate(t), ws["catalog"].Template.Spec.Containers[0], pod{"catalog-0", namespace, fakePodIP})
	if err != nil || env["SOUK_CATALOG_SEED"] != "false" {
		t.Errorf("prod catalog: SOUK_CATALOG_SEED = %q (%v), want false: no sample products in a real shop", env["SOUK_CATALOG_SEED"], err)
	}
	env, err = containerEnv(objs, secretTemplate(t), ws["inventory"].Template.Spec.Containers[0], pod{"inventory-0", namespace, fakePodIP})
	if err != nil || env["SOUK_INVENTORY_SEED"] != "false" {
		t.Errorf("prod inventory: SOUK_INVENTORY_SEED = %q (%v), want false: no sample stock in a real shop", env["SOUK_INVENTORY_SEED"], err)
	}
}

func intOrPercent(v intstr.IntOrString, total int32) int {
	n, _ := intstr.GetScaledValueFromIntOrPercent(&v, int(total), false)
	return n
}

// minReplicas is the fewest pods w runs: its autoscaler's floor, or its
// replicas (1 when unset).
func minReplicas(w workload, h *autoscalingv2.HorizontalPodAutoscaler) int32 {
	switch {
	case h != nil && h.Spec.MinReplicas != nil:
		return *h.Spec.MinReplicas
	case h != nil:
		return 1
	case w.Replicas != nil:
		return *w.Replicas
	}
	return 1
}

func servicePort(s *corev1.Service, port string) bool {
	for _, p := range s.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == port {
			return true
		}
	}
	return false
}

// soukWorkloads maps each service to its workload (the pods labelled
// part-of souk), failing on a duplicate.
func soukWorkloads(t *testing.T, objs []object) map[string]workload {
	t.Helper()
	ws := map[string]workload{}
	for _, w := range workloadsOf(objs) {
		if w.Template.Labels[partOfLabel] != "souk" {
			continue
		}
		s := w.Template.Labels[nameLabel]
		if prev, ok := ws[s]; ok {
			t.Errorf("service %s has two workloads: %s and %s", s, prev.key(), w.key())
		}
		ws[s] = w
	}
	return ws
}

// checkSouk checks what every rendering must keep. extra holds the objects
// that exist outside the manifests (the Secret from a secret manager).
func checkSouk(t *testing.T, objs, extra []object) {
	t.Helper()
	ws := soukWorkloads(t, objs)
	if diff := cmp.Diff(sortStrings(serviceNames()), sortedKeys(ws)); diff != "" {
		t.Fatalf("services (-) and workloads (+) differ:\n%s", diff)
	}
	cm := find[corev1.ConfigMap](objs, configName)
	if cm == nil {
		t.Fatalf("no ConfigMap %s", configName)
	}
	for _, k := range []string{"SOUK_NATS_URL", "SOUK_STREAM_REPLICAS"} {
		if cm.Data[k] == "" {
			t.Errorf("ConfigMap %s has no %s", configName, k)
		}
	}
	for _, s := range serviceNames() {
		checkWorkload(t, objs, extra, s, ws[s])
	}
	checkSelectors(t, objs)
	if ns := find[corev1.Namespace](objs, namespace); ns == nil {
		t.Errorf("no Namespace %s", namespace)
	}
	for _, o := range objs {
		if o.Kind != "Namespace" && o.meta().GetNamespace() != namespace {
			t.Errorf("%s is in namespace %q, want %s", o.key(), o.meta().GetNamespace(), namespace)
		}
	}
}

// checkWorkload checks one service's workload.
func checkWorkload(t *testing.T, objs, extra []object, service string, w workload) {
	t.Helper()
	errorf := func(format string, args ...any) { t.Helper(); t.Errorf(w.key()+": "+format, args...) }
	if w.Name() != service {
		errorf("named %q, want %q", w.Name(), service)
	}
	if w.Selector == nil || !selects(w.Selector.MatchLabels, w.Template.Labels) || w.Selector.MatchLabels[nameLabel] != service {
		errorf("selector %v does not pick its own pods by %s=%s", w.Selector, nameLabel, service)
	}
	spec := w.Template.Spec
	if len(spec.Containers) != 1 {
		errorf("%d containers, want 1", len(spec.Containers))
		return
	}
	c := spec.Containers[0]
	if len(c.Command) != 0 || !slices.Equal(c.Args, []string{"serve", service}) {
		errorf("command %q args %q, want the image's /souk with args [serve %s]", c.Command, c.Args, service)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != 8080 {
		errorf("no container port http=8080 (ports %v)", ports)
	}
	probe := func(kind string, p *corev1.Probe, path string) {
		switch {
		case p == nil || p.HTTPGet == nil:
			errorf("no HTTP %s probe", kind)
		case p.HTTPGet.Path != path:
			errorf("%s probe path %q, want %q", kind, p.HTTPGet.Path, path)
		case p.HTTPGet.Port.String() != "http" && p.HTTPGet.Port.IntValue() != 8080:
			errorf("%s probe port %s, want http (8080)", kind, p.HTTPGet.Port.String())
		}
	}
	probe("liveness", c.LivenessProbe, "/health/live")
	probe("readiness", c.ReadinessProbe, "/health/ready")
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim || req.IsZero() || lim.Cmp(req) < 0 {
			errorf("%s: request %v and limit %v, want both set, limit >= request", r, req.String(), lim.String())
		}
	}
	checkSecurity(t, w, c)

	// Where each variable comes from.
	source := envSources(objs, c)
	wantSource := map[string]string{
		"SOUK_NATS_URL":        "configmap:" + configName,
		"SOUK_STREAM_REPLICAS": "configmap:" + configName,
		"SOUK_SERVICE_SECRET":  "secret:" + secretName,
		// Optional: set in the Secret only while rotating.
		"SOUK_SERVICE_SECRET_ACCEPT": "secret:" + secretName,
		"SOUK_INSTANCE":              "field:metadata.name",
		"SOUK_HTTP_ADDR":             "value",
		"SOUK_ADVERTISE_HOST":        "value",
	}
	if service == "auth" {
		wantSource["SOUK_ADMIN_EMAIL"] = "secret:" + secretName
		wantSource["SOUK_ADMIN_PASSWORD"] = "secret:" + secretName
	}
	if hasDatabase(service) {
		wantSource[databaseVar(service)] = "secret:" + secretName
	}
	for name, want := range wantSource {
		if got := source[name]; got != want {
			errorf("%s comes from %q, want %q", name, got, want)
		}
	}
	for name := range source {
		if strings.HasSuffix(name, "_DATABASE_URL") && wantSource[name] == "" {
			errorf("reads %s: a database that is not its own", name)
		}
	}

	// The environment the pod gets must pass the service's own parsing.
	p := pod{Name: w.Name() + "-0", Namespace: namespace, IP: fakePodIP}
	env, err := containerEnv(objs, extra, c, p)
	if err != nil {
		errorf("%v", err)
		return
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := boot.ConfigFromEnv(service, getenv)
	if err != nil {
		errorf("its environment does not validate: %v", err)
		return
	}
	if service == services.Gateway {
		if _, err := gateway.ConfigFromEnv(getenv); err != nil {
			errorf("gateway settings do not validate: %v", err)
		}
	}
	if cfg.HTTPAddr != ":8080" {
		errorf("listens on %q, want :8080 (every address, IPv4 and IPv6)", cfg.HTTPAddr)
	}
	if cfg.AdvertiseAddr != fakePodIP+":8080" {
		errorf("advertises %q in a pod whose IP is %s, want %s:8080 (POD_IP from status.podIP, declared first)", cfg.AdvertiseAddr, fakePodIP, fakePodIP)
	}
	// The same pod on an IPv6 cluster registers an address callers can dial.
	p6 := pod{Name: p.Name, Namespace: namespace, IP: fakePodIPv6}
	if env6, err := containerEnv(objs, extra, c, p6); err != nil {
		errorf("%v", err)
	} else if cfg6, err := boot.ConfigFromEnv(service, func(k string) string { return env6[k] }); err != nil {
		errorf("its environment in an IPv6 pod does not validate: %v", err)
	} else if want := "[" + fakePodIPv6 + "]:8080"; cfg6.AdvertiseAddr != want {
		errorf("advertises %q in a pod whose IP is %s, want %s", cfg6.AdvertiseAddr, fakePodIPv6, want)
	}
	if cfg.Instance != p.Name {
		errorf("instance %q, want the pod name %q", cfg.Instance, p.Name)
	}
	if hasDatabase(service) && !strings.HasPrefix(cfg.DatabaseURL, "postgres://") {
		errorf("database %q, want a postgres:// DSN", cfg.DatabaseURL)
	}

	// Disk: the root filesystem is read-only; only search writes, into
	// SOUK_DATA on its own volume.
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	claims := map[string]bool{}
	for _, pvc := range w.Claims {
		claims[pvc.Name] = true
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	for path, name := range mounts {
		if !claims[name] && !volumes[name] {
			errorf("mounts %s at %s, but there is no such volume or claim", name, path)
		}
	}
	if service == "search" {
		if w.Kind != "StatefulSet" || !claims[mounts[cfg.DataDir]] {
			errorf("search keeps its index under SOUK_DATA=%s: want a StatefulSet with a volume claim mounted there (mounts %v)", cfg.DataDir, mounts)
		}
		if spec.SecurityContext.FSGroup == nil {
			errorf("no fsGroup: the non-root user cannot write its volume")
		}
		sts := w.Obj.(*appsv1.StatefulSet)
		if svc := find[corev1.Service](objs, sts.Spec.ServiceName); svc == nil {
			errorf("serviceName %q: no such Service", sts.Spec.ServiceName)
		}
	} else if w.Kind != "Deployment" || len(mounts) != 0 {
		errorf("a stateless service (its state is in PostgreSQL): want a Deployment with no volumes")
	}
}

// checkSecurity checks the pod and container security settings.
func checkSecurity(t *testing.T, w workload, c corev1.Container) {
	t.Helper()
	errorf := func(format string, args ...any) { t.Helper(); t.Errorf(w.key()+": "+format, args...) }
	ps := w.Template.Spec.SecurityContext
	cs := c.SecurityContext
	if ps == nil || cs == nil {
		errorf("no pod or container securityContext")
		return
	}
	nonRoot := (cs.RunAsNonRoot != nil && *cs.RunAsNonRoot) || (cs.RunAsNonRoot == nil && ps.RunAsNonRoot != nil && *ps.RunAsNonRoot)
	if !nonRoot {
		errorf("runAsNonRoot is not true")
	}
	for _, uid := range []*int64{ps.RunAsUser, cs.RunAsUser} {
		if uid != nil && *uid == 0 {
			errorf("runs as uid 0")
		}
	}
	if cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem {
		errorf("root filesystem is writable")
	}
	if cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
		errorf("allowPrivilegeEscalation is not false")
	}
	if cs.Privileged != nil && *cs.Privileged {
		errorf("privileged")
	}
	if cs.Capabilities == nil || !slices.Contains(cs.Capabilities.Drop, "ALL") || len(cs.Capabilities.Add) > 0 {
		errorf("capabilities %v, want drop ALL and add none", cs.Capabilities)
	}
	seccomp := ps.SeccompProfile
	if cs.SeccompProfile != nil {
		seccomp = cs.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		errorf("seccomp profile %v, want RuntimeDefault", seccomp)
	}
	if a := w.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
		errorf("mounts a service account token it never uses")
	}
}

// envSources tells where each variable of c comes from: "value",
// "field:<path>", "configmap:<name>" or "secret:<name>"; env entries
// override envFrom, as in the kubelet.
func envSources(objs []object, c corev1.Container) map[string]string {
	src := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			if cm := find[corev1.ConfigMap](objs, from.ConfigMapRef.Name); cm != nil {
				for k := range cm.Data {
					src[from.Prefix+k] = "configmap:" + cm.Name
				}
			}
		case from.SecretRef != nil:
			src["(secret envFrom "+from.SecretRef.Name+")"] = "secret:" + from.SecretRef.Name
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			src[e.Name] = "value"
		case e.ValueFrom.FieldRef != nil:
			src[e.Name] = "field:" + e.ValueFrom.FieldRef.FieldPath
		case e.ValueFrom.ConfigMapKeyRef != nil:
			src[e.Name] = "configmap:" + e.ValueFrom.ConfigMapKeyRef.Name
		case e.ValueFrom.SecretKeyRef != nil:
			src[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name
		default:
			src[e.Name] = "other"
		}
	}
	return src
}

// checkSelectors checks that every Service, disruption budget and
// autoscaler points at workloads that exist, with ports that exist.
func checkSelectors(t *testing.T, objs []object) {
	t.Helper()
	ws := workloadsOf(objs)
	for _, s := range all[corev1.Service](objs) {
		var picked []workload
		for _, w := range ws {
			if selects(s.Spec.Selector, w.Template.Labels) {
				picked = append(picked, w)
			}
		}
		if len(picked) == 0 {
			t.Errorf("Service %s selects %v: no pods", s.Name, s.Spec.Selector)
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.Type != intstr.String {
				continue
			}
			for _, w := range picked {
				found := false
				for _, c := range w.Template.Spec.Containers {
					for _, cp := range c.Ports {
						found = found || cp.Name == p.TargetPort.StrVal
					}
				}
				if !found {
					t.Errorf("Service %s targets port %q, which %s does not name", s.Name, p.TargetPort.StrVal, w.key())
				}
			}
		}
	}
	for _, w := range ws {
		if w.Template.Labels[partOfLabel] != "souk" {
			continue
		}
		s := find[corev1.Service](objs, w.Name())
		switch {
		case s == nil:
			t.Errorf("%s has no Service of its name", w.key())
		case w.Name() == services.Gateway && s.Spec.Type != corev1.ServiceTypeLoadBalancer:
			t.Errorf("Service gateway is %s, want LoadBalancer (the entry point)", s.Spec.Type)
		case w.Name() != services.Gateway && s.Spec.ClusterIP != corev1.ClusterIPNone:
			t.Errorf("Service %s is not headless: callers balance through the registry", s.Name)
		}
	}
	for _, p := range all[policyv1.PodDisruptionBudget](objs) {
		n := 0
		for _, w := range ws {
			if p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels, w.Template.Labels) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("PodDisruptionBudget %s selects the pods of %d workloads, want 1", p.Name, n)
		}
	}
	for _, h := range all[autoscalingv2.HorizontalPodAutoscaler](objs) {
		ref := h.Spec.ScaleTargetRef
		var target *workload
		for i, w := range ws {
			if w.Kind == ref.Kind && w.Name() == ref.Name && w.APIVersion == ref.APIVersion {
				target = &ws[i]
			}
		}
		if target == nil {
			t.Errorf("HorizontalPodAutoscaler %s scales %s %s/%s: no such workload", h.Name, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		if target.Replicas != nil {
			t.Errorf("%s sets replicas and HorizontalPodAutoscaler %s scales it: every apply would reset the count", target.key(), h.Name)
		}
		for _, m := range h.Spec.Metrics {
			if m.Resource == nil {
				continue
			}
			for _, c := range target.Template.Spec.Containers {
				if _, ok := c.Resources.Requests[m.Resource.Name]; !ok {
					t.Errorf("HorizontalPodAutoscaler %s scales on %s, which container %s does not request", h.Name, m.Resource.Name, c.Name)
				}
			}
		}
	}
}

var (
	initdbRole     = regexp.MustCompile(`^CREATE ROLE (souk_[a-z]+) LOGIN PASSWORD '([^']+)'$`)
	initdbDatabase = regexp.MustCompile(`^CREATE DATABASE "([a-z]+)" OWNER (souk_[a-z]+)$`)
	initdbRevoke   = regexp.MustCompile(`^REVOKE ALL ON DATABASE "([a-z]+)" FROM PUBLIC$`)
)

// database is one database of the init script.
type database struct {
	Name, Owner, Password string
	Private               bool // CONNECT revoked from PUBLIC
}

// parseInitdb reads the init script, which may hold only the three
// statement shapes above (so the integration test can replay it under
// fresh names).
func parseInitdb(sql string) (map[string]*database, error) {
	var lines []string
	for _, l := range strings.Split(sql, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	passwords := map[string]string{}
	dbs := map[string]*database{}
	for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";") {
		stmt = strings.Join(strings.Fields(stmt), " ")
		if stmt == "" {
			continue
		}
		if m := initdbRole.FindStringSubmatch(stmt); m != nil {
			passwords[m[1]] = m[2]
		} else if m := initdbDatabase.FindStringSubmatch(stmt); m != nil {
			pw, ok := passwords[m[2]]
			if !ok {
				return nil, fmt.Errorf("initdb: database %s is owned by role %s, created after it or never", m[1], m[2])
			}
			dbs[m[1]] = &database{Name: m[1], Owner: m[2], Password: pw}
		} else if m := initdbRevoke.FindStringSubmatch(stmt); m != nil && dbs[m[1]] != nil {
			dbs[m[1]].Private = true
		} else {
			return nil, fmt.Errorf("initdb: statement not understood: %s", stmt)
		}
	}
	return dbs, nil
}

// checkDSN checks that dsn reaches service's own database as its owner.
func checkDSN(dbs map[string]*database, service, dsn string) error {
	db := dbs[service]
	if db == nil {
		return fmt.Errorf("the init script creates no database %s", service)
	}
	if !db.Private {
		return fmt.Errorf("database %s is open to every role (no REVOKE ... FROM PUBLIC)", service)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return err
	}
	pw, _ := u.User.Password()
	switch {
	case u.Scheme != "postgres":
		return fmt.Errorf("scheme %s, want postgres", u.Scheme)
	case u.Path != "/"+service:
		return fmt.Errorf("database %s, want %s", strings.TrimPrefix(u.Path, "/"), service)
	case u.User.Username() != db.Owner || pw != db.Password:
		return fmt.Errorf("user %s and its password are not the owner %s and the password the init script gives it", u.User.Username(), db.Owner)
	case u.Hostname() == "":
		return fmt.Errorf("no host")
	}
	return nil
}

func sortStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
