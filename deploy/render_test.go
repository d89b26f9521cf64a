package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// This file is a small, strict stand-in for `kustomize build`: it decodes
// every document into its k8s.io/api type with unknown fields rejected, and
// renders a kustomization with the features Souk's use (resources,
// strategic-merge patches, images, namespace). Anything else in a
// kustomization.yaml is an unknown field and fails the decode, so the
// renderer cannot silently ignore a feature it does not implement.

// decoders names every kind the manifests may hold; any other kind fails.
var decoders = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return new(appsv1.Deployment) },
	"apps/v1/StatefulSet":                    func() any { return new(appsv1.StatefulSet) },
	"v1/Service":                             func() any { return new(corev1.Service) },
	"v1/ConfigMap":                           func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                              func() any { return new(corev1.Secret) },
	"v1/Namespace":                           func() any { return new(corev1.Namespace) },
	"v1/PersistentVolumeClaim":               func() any { return new(corev1.PersistentVolumeClaim) },
	"policy/v1/PodDisruptionBudget":          func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"networking.k8s.io/v1/Ingress":           func() any { return new(networkingv1.Ingress) },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return new(networkingv1.NetworkPolicy) },
}

// object is one decoded manifest.
type object struct {
	File       string
	APIVersion string
	Kind       string
	Obj        any // a pointer to the k8s.io/api type
}

func (o object) meta() metav1.Object { return o.Obj.(metav1.Object) }
func (o object) Name() string        { return o.meta().GetName() }
func (o object) key() string         { return o.Kind + "/" + o.Name() }

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocs splits a YAML stream into its documents, dropping documents
// that hold only comments and blank lines.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		empty := true
		for _, line := range strings.Split(d, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// decodeObject decodes one document strictly into the type its apiVersion
// and kind name: an unknown kind, an unknown or duplicate field, or a value
// of the wrong type is an error.
func decodeObject(doc []byte) (object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return object{}, fmt.Errorf("decode: %w", err)
	}
	mk, ok := decoders[head.APIVersion+"/"+head.Kind]
	if !ok {
		return object{}, fmt.Errorf("decode: unknown kind %q of apiVersion %q", head.Kind, head.APIVersion)
	}
	obj := mk()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return object{}, fmt.Errorf("decode %s: %w", head.Kind, err)
	}
	o := object{APIVersion: head.APIVersion, Kind: head.Kind, Obj: obj}
	if o.Name() == "" {
		return object{}, fmt.Errorf("decode %s: no metadata.name", head.Kind)
	}
	return o, nil
}

// decodeFile decodes every document of a manifest file.
func decodeFile(path string) ([]object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var objs []object
	for i, doc := range splitDocs(data) {
		o, err := decodeObject(doc)
		if err != nil {
			return nil, fmt.Errorf("%s, document %d: %w", path, i+1, err)
		}
		o.File = path
		objs = append(objs, o)
	}
	return objs, nil
}

// kustomization is the part of kustomize's Kustomization that Souk uses.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	Patches    []struct {
		// Path is a file of strategic-merge patches, each naming its
		// target by apiVersion, kind and name.
		Path string `json:"path"`
	} `json:"patches,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// readKustomization decodes dir/kustomization.yaml strictly and checks that
// every file or folder it names exists.
func readKustomization(dir string) (kustomization, error) {
	var k kustomization
	path := filepath.Join(dir, "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return k, err
	}
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return k, fmt.Errorf("%s: %w", path, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return k, fmt.Errorf("%s: apiVersion %q kind %q, want kustomize.config.k8s.io/v1beta1 Kustomization", path, k.APIVersion, k.Kind)
	}
	for _, r := range k.Resources {
		st, err := os.Stat(filepath.Join(dir, r))
		if err != nil {
			return k, fmt.Errorf("%s: resource %s: %w", path, r, err)
		}
		if st.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, r, "kustomization.yaml")); err != nil {
				return k, fmt.Errorf("%s: resource folder %s has no kustomization.yaml", path, r)
			}
		}
	}
	for _, p := range k.Patches {
		if p.Path == "" {
			return k, fmt.Errorf("%s: a patch without a path", path)
		}
		if _, err := os.Stat(filepath.Join(dir, p.Path)); err != nil {
			return k, fmt.Errorf("%s: patch %s: %w", path, p.Path, err)
		}
	}
	for _, im := range k.Images {
		if im.Name == "" || (im.NewName == "" && im.NewTag == "" && im.Digest == "") {
			return k, fmt.Errorf("%s: image entry %+v changes nothing", path, im)
		}
	}
	return k, nil
}

// render builds the kustomization in dir.
func render(dir string) ([]object, error) {
	k, err := readKustomization(dir)
	if err != nil {
		return nil, err
	}
	var objs []object
	seen := map[string]string{}
	add := func(o object) error {
		if prev, ok := seen[o.key()]; ok {
			return fmt.Errorf("render %s: %s is in both %s and %s", dir, o.key(), prev, o.File)
		}
		seen[o.key()] = o.File
		objs = append(objs, o)
		return nil
	}
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		var got []object
		if st, _ := os.Stat(p); st.IsDir() {
			got, err = render(p)
		} else {
			got, err = decodeFile(p)
		}
		if err != nil {
			return nil, err
		}
		for _, o := range got {
			if err := add(o); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range k.Patches {
		if err := applyPatchFile(objs, filepath.Join(dir, p.Path)); err != nil {
			return nil, err
		}
	}
	for _, im := range k.Images {
		for _, o := range objs {
			if tpl := podTemplate(o); tpl != nil {
				for i := range tpl.Spec.Containers {
					c := &tpl.Spec.Containers[i]
					c.Image = setImage(c.Image, im.Name, im.NewName, im.NewTag, im.Digest)
				}
				for i := range tpl.Spec.InitContainers {
					c := &tpl.Spec.InitContainers[i]
					c.Image = setImage(c.Image, im.Name, im.NewName, im.NewTag, im.Digest)
				}
			}
		}
	}
	if k.Namespace != "" {
		for _, o := range objs {
			if o.Kind != "Namespace" {
				o.meta().SetNamespace(k.Namespace)
			}
		}
	}
	return objs, nil
}

// applyPatchFile applies each strategic-merge patch of path to the object
// it names, which must exist; a workload patch must name only containers
// the workload has (a new name would silently add a container).
func applyPatchFile(objs []object, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i, doc := range splitDocs(data) {
		p, err := decodeObject(doc)
		if err != nil {
			return fmt.Errorf("patch %s, document %d: %w", path, i+1, err)
		}
		var target *object
		for j := range objs {
			if objs[j].APIVersion == p.APIVersion && objs[j].key() == p.key() {
				target = &objs[j]
			}
		}
		if target == nil {
			return fmt.Errorf("patch %s, document %d: no %s %s to patch", path, i+1, p.APIVersion, p.key())
		}
		if pt := podTemplate(p); pt != nil {
			have := map[string]bool{}
			for _, c := range podTemplate(*target).Spec.Containers {
				have[c.Name] = true
			}
			for _, c := range pt.Spec.Containers {
				if !have[c.Name] {
					return fmt.Errorf("patch %s: %s has no container %q", path, p.key(), c.Name)
				}
			}
		}
		orig, err := json.Marshal(target.Obj)
		if err != nil {
			return err
		}
		patch, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return err
		}
		merged, err := strategicpatch.StrategicMergePatch(orig, patch, decoders[p.APIVersion+"/"+p.Kind]())
		if err != nil {
			return fmt.Errorf("patch %s onto %s: %w", path, p.key(), err)
		}
		fresh := decoders[p.APIVersion+"/"+p.Kind]()
		dec := json.NewDecoder(bytes.NewReader(merged))
		dec.DisallowUnknownFields()
		if err := dec.Decode(fresh); err != nil {
			return fmt.Errorf("patch %s onto %s: %w", path, p.key(), err)
		}
		target.Obj = fresh
	}
	return nil
}

// setImage is kustomize's image transformer for one reference.
func setImage(ref, name, newName, newTag, digest string) string {
	base, rest := ref, ""
	if i := strings.Index(base, "@"); i >= 0 {
		base, rest = base[:i], base[i:]
	}
	if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
		base, rest = base[:i], base[i:]+rest
	}
	if base != name {
		return ref
	}
	if newName != "" {
		base = newName
	}
	switch {
	case digest != "":
		rest = "@" + digest
	case newTag != "":
		rest = ":" + newTag
	}
	return base + rest
}

// podTemplate is the pod template of a workload, or nil.
func podTemplate(o object) *corev1.PodTemplateSpec {
	switch v := o.Obj.(type) {
	case *appsv1.Deployment:
		return &v.Spec.Template
	case *appsv1.StatefulSet:
		return &v.Spec.Template
	}
	return nil
}

// workload is a Deployment or a StatefulSet.
type workload struct {
	object
	Replicas *int32
	Selector *metav1.LabelSelector
	Template *corev1.PodTemplateSpec
	Claims   []corev1.PersistentVolumeClaim
}

func workloadsOf(objs []object) []workload {
	var ws []workload
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			ws = append(ws, workload{o, v.Spec.Replicas, v.Spec.Selector, &v.Spec.Template, nil})
		case *appsv1.StatefulSet:
			ws = append(ws, workload{o, v.Spec.Replicas, v.Spec.Selector, &v.Spec.Template, v.Spec.VolumeClaimTemplates})
		}
	}
	return ws
}

// find returns the object of kind and name, or nil.
func find[T any](objs []object, name string) *T {
	for _, o := range objs {
		if v, ok := o.Obj.(*T); ok && o.Name() == name {
			return v
		}
	}
	return nil
}

// all returns every object of type T.
func all[T any](objs []object) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.Obj.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// selects reports whether selector (matchLabels only, as Souk uses) picks
// pods with labels.
func selects(selector map[string]string, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// pod is what the kubelet fills in for field references.
type pod struct{ Name, Namespace, IP string }

// containerEnv resolves a container's environment the way the kubelet
// does: envFrom first, then env in order, each $(VAR) expanded from the
// variables defined before it (an unknown one stays as written). ConfigMaps
// and Secrets are looked up in objs, then in extra (secrets that live
// outside the manifests); a missing one is an error.
func containerEnv(objs []object, extra []object, c corev1.Container, p pod) (map[string]string, error) {
	lookup := func(kind, name string) (map[string]string, error) {
		for _, set := range [][]object{objs, extra} {
			for _, o := range set {
				if o.Kind != kind || o.Name() != name {
					continue
				}
				return objectData(o), nil
			}
		}
		return nil, fmt.Errorf("container %s: no %s %s", c.Name, kind, name)
	}
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		var data map[string]string
		var err error
		switch {
		case from.ConfigMapRef != nil:
			data, err = lookup("ConfigMap", from.ConfigMapRef.Name)
		case from.SecretRef != nil:
			data, err = lookup("Secret", from.SecretRef.Name)
		}
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envRef.ReplaceAllStringFunc(e.Value, func(m string) string {
				if v, ok := env[m[2:len(m)-1]]; ok {
					return v
				}
				return m
			})
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = p.Name
			case "metadata.namespace":
				env[e.Name] = p.Namespace
			case "status.podIP":
				env[e.Name] = p.IP
			default:
				return nil, fmt.Errorf("container %s: field %s is not modelled", c.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.ConfigMapKeyRef != nil, e.ValueFrom.SecretKeyRef != nil:
			kind, name, key, optional := "ConfigMap", "", "", (*bool)(nil)
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				name, key, optional = r.Name, r.Key, r.Optional
			} else {
				r := e.ValueFrom.SecretKeyRef
				kind, name, key, optional = "Secret", r.Name, r.Key, r.Optional
			}
			data, err := lookup(kind, name)
			if err != nil {
				return nil, err
			}
			v, ok := data[key]
			if !ok && optional != nil && *optional {
				continue // the kubelet leaves the variable unset
			}
			if !ok {
				return nil, fmt.Errorf("container %s: %s %s has no key %s", c.Name, kind, name, key)
			}
			env[e.Name] = v
		default:
			return nil, fmt.Errorf("container %s: env %s: source not modelled", c.Name, e.Name)
		}
	}
	return env, nil
}

func maps(dst, src map[string]string) {
	for k, v := range src {
		dst[k] = v
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
