//go:build tools

// Package tools pins the node binaries `make e2e` runs: kubelet and kube-proxy of the last
// Kubernetes minor that supports containerd 1.x and cgroup v1 (the e2e node runs Debian's
// containerd 1.6 on a cgroup v1 host), and the CNI plugins that give pods their addresses.
// The control plane (kube-apiserver, etcd, kube-controller-manager, kube-scheduler) is the one
// pinned in hack/tools/envtest; kubelet and kube-proxy may be up to three minors older than it.
package tools

import (
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
