package deploy

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// peer is where a connection comes from: a pod (its namespace's labels and
// its own) or, with outside set, a client outside the cluster.
type peer struct {
	name      string
	outside   bool
	namespace string
	nsLabels  map[string]string
	pod       map[string]string
}

func outsider() peer { return peer{name: "a client outside the cluster", outside: true} }

// podIn is a pod with podLabels in namespace ns (labelled as Kubernetes
// labels every namespace, plus extra).
func podIn(name, ns string, podLabels, extra map[string]string) peer {
	nsLabels := map[string]string{"kubernetes.io/metadata.name": ns}
	for k, v := range extra {
		nsLabels[k] = v
	}
	return peer{name: name, namespace: ns, nsLabels: nsLabels, pod: podLabels}
}

// admits reports whether the NetworkPolicies among objs (all in namespace)
// let from open a connection to port (a name or a number) of a pod with
// the template tmpl, as Kubernetes defines it: a pod no ingress policy
// selects takes everything; a selected pod takes what at least one of its
// policies' rules allows.
func admits(t *testing.T, objs []object, from peer, tmpl *corev1.PodTemplateSpec, port string) bool {
	t.Helper()
	isolated := false
	for _, np := range all[networkingv1.NetworkPolicy](objs) {
		if !matches(t, &np.Spec.PodSelector, tmpl.Labels) || !hasIngress(np) {
			continue
		}
		isolated = true
		for _, rule := range np.Spec.Ingress {
			if fromMatches(t, rule.From, from) && portMatches(rule.Ports, tmpl, port) {
				return true
			}
		}
	}
	return !isolated
}

func hasIngress(np *networkingv1.NetworkPolicy) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return true // Ingress is implied
	}
	for _, pt := range np.Spec.PolicyTypes {
		if pt == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

func matches(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return s.Matches(labels.Set(set))
}

func fromMatches(t *testing.T, froms []networkingv1.NetworkPolicyPeer, p peer) bool {
	if len(froms) == 0 {
		return true // from anywhere
	}
	for _, f := range froms {
		switch {
		case f.IPBlock != nil:
			t.Fatalf("ipBlock peers are not modelled by this test: %+v", f.IPBlock)
		case p.outside:
			// Selectors pick pods only.
		case f.NamespaceSelector == nil:
			if p.namespace == namespace && matches(t, f.PodSelector, p.pod) {
				return true
			}
		case f.PodSelector == nil:
			if matches(t, f.NamespaceSelector, p.nsLabels) {
				return true
			}
		default:
			if matches(t, f.NamespaceSelector, p.nsLabels) && matches(t, f.PodSelector, p.pod) {
				return true
			}
		}
	}
	return false
}

// portMatches reports whether ports (of a rule) cover the container port
// named or numbered port of tmpl.
func portMatches(ports []networkingv1.NetworkPolicyPort, tmpl *corev1.PodTemplateSpec, port string) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil {
			return true
		}
		for _, c := range tmpl.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name != port && fmt.Sprint(cp.ContainerPort) != port {
					continue
				}
				if p.Port.String() == cp.Name || p.Port.String() == fmt.Sprint(cp.ContainerPort) {
					return true
				}
			}
		}
	}
	return false
}

// checkNetwork checks who can reach Souk's services in a rendering.
func checkNetwork(t *testing.T, objs []object) {
	t.Helper()
	ws := soukWorkloads(t, objs)
	prometheus := podIn("Prometheus in a namespace labelled souk.dev/metrics=allowed", "monitoring",
		map[string]string{"app": "prometheus"}, map[string]string{"souk.dev/metrics": "allowed"})
	stranger := podIn("a pod of another namespace", "default", map[string]string{"app": "x"}, nil)
	intruder := podIn("a pod of this namespace that is not Souk's", namespace, map[string]string{"app": "debug"}, nil)
	for _, s := range serviceNames() {
		w := ws[s]
		public := s == "gateway"
		cases := []struct {
			from peer
			want bool
		}{
			{podIn("gateway", namespace, ws["gateway"].Template.Labels, nil), true},
			{podIn("order", namespace, ws["order"].Template.Labels, nil), true},
			{prometheus, true},
			{stranger, public},
			{intruder, public},
			{outsider(), public},
		}
		for _, c := range cases {
			if got := admits(t, objs, c.from, w.Template, "http"); got != c.want {
				t.Errorf("%s → %s http: admitted %v, want %v", c.from.name, s, got, c.want)
			}
		}
		if admits(t, objs, outsider(), w.Template, "9999") {
			t.Errorf("outside → %s port 9999 (not a port of the pod): admitted", s)
		}
	}
}

func TestNetworkPolicies(t *testing.T) {
	for _, dir := range []string{baseDir, devDir, prodDir} {
		t.Run(dir, func(t *testing.T) { checkNetwork(t, mustRender(t, dir)) })
	}
}

// TestNetworkPoliciesDev checks the development NATS and PostgreSQL take
// connections from Souk's services and nobody else.
func TestNetworkPoliciesDev(t *testing.T) {
	objs := mustRender(t, devDir)
	ws := soukWorkloads(t, objs)
	backends := map[string]string{"nats": "client", "postgres": "postgres"}
	for name, port := range backends {
		var tmpl *corev1.PodTemplateSpec
		for _, w := range workloadsOf(objs) {
			if w.Name() == name {
				tmpl = w.Template
			}
		}
		if tmpl == nil {
			t.Fatalf("dev has no workload %s", name)
		}
		for s, w := range ws {
			if !admits(t, objs, podIn(s, namespace, w.Template.Labels, nil), tmpl, port) {
				t.Errorf("%s → %s %s: refused, want admitted", s, name, port)
			}
		}
		for _, from := range []peer{outsider(), podIn("a pod of another namespace", "default", map[string]string{"app": "x"}, nil)} {
			if admits(t, objs, from, tmpl, port) {
				t.Errorf("%s → %s %s: admitted, want refused", from.name, name, port)
			}
		}
	}
}
