// Package health checks what GitOps tools read from the b24ops.io objects' status: the Argo CD
// Lua health checks in config/argocd (run with gopher-lua the way Argo CD runs them) and the
// kstatus result Flux and kpt compute.
package health
