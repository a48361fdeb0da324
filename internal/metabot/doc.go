// Package metabot is a client for the Metabot Bot API job scheduling call.
// It speaks HTTP only and knows nothing of Kubernetes or of the operator's CRD types.
package metabot
