// Package deploy holds Souk's cluster-mode deployment artifacts and the
// tests that keep them honest; it has no Go API.
//
//	Dockerfile   multi-stage build of ./cmd/souk into a static, distroless,
//	             non-root image (ENTRYPOINT /souk, CMD serve gateway)
//	compose.yaml every service in its own container on one Docker host, with
//	             NATS (JetStream) and PostgreSQL (compose/initdb.sql)
//	k8s/         Kustomize: base (one workload and Service per service),
//	             overlays/dev (one replica, in-cluster NATS and PostgreSQL),
//	             overlays/prod (replicas, autoscalers, disruption budgets,
//	             external NATS cluster with R3 streams, managed PostgreSQL)
//
// The tests decode every Kubernetes manifest strictly into its k8s.io/api
// type (an unknown field or kind fails), render the overlays (resources,
// strategic-merge patches, images, namespace; compared with `kubectl
// kustomize` when kubectl is installed), and check the invariants the
// services rely on: each runs `souk serve <name>`, probes /health/live and
// /health/ready, advertises its pod IP, reads NATS from the ConfigMap and
// its secrets from the Secret, and the environment it is given passes the
// services' own configuration parsing. They also check the compose file,
// the init script (against a real PostgreSQL when SOUK_TEST_POSTGRES is
// set: every service's migrations run as its own non-superuser role) and
// the Dockerfile, and build ./cmd/souk with CGO_ENABLED=0 to prove the
// binary is static. See docs/deploy.md.
package deploy
