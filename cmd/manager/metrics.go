package main

import (
	"crypto/tls"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsServerOptions configures the metrics endpoint. With secure, it serves HTTPS and every
// request must carry a bearer token that the API server accepts (TokenReview) and that may GET
// the non-resource URL /metrics (SubjectAccessReview): what the chart's <fullname>-metrics-reader
// ClusterRole grants. Without a token the answer is 401, with a token lacking the grant 403.
func metricsServerOptions(addr string, secure bool, tlsOpts ...func(*tls.Config)) metricsserver.Options {
	o := metricsserver.Options{BindAddress: addr, SecureServing: secure, TLSOpts: tlsOpts}
	if secure {
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return o
}
