//go:build tools

// Package tools pins the control-plane binaries that envtest and `make run` start.
// It is a separate module so the operator's go.mod stays free of k8s.io/kubernetes.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
