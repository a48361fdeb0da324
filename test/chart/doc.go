// Package chart checks the Helm chart in charts/b24-operator: helm lint, the rendered variants
// against offline JSON schemas (kubeconform) and kube-score, the CRDs and webhook definitions
// against the generated ones in config/, the RBAC against the manager's generated role, a real
// `helm install` against an envtest API server, and the samples against the CRDs' defaulting.
//
// The tools come from the Makefile (HELM_BIN, KUBECONFORM_BIN, KUBE_SCORE_BIN, built by `make
// tools`); a test whose tool is not set skips, except in CI (CI=true), where it fails.
package chart
