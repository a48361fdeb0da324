package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The node's network, all inside the test's own network namespace.
const (
	bridgeName  = "b24e2e0"
	nodeIP      = "10.244.0.1" // the bridge's address: the API server, the kubelet, the pods' gateway
	podCIDR     = "10.244.0.0/24"
	serviceCIDR = "10.96.0.0/16"
	apiPort     = "6443"
	nodeName    = "e2e-node"

	cgroupRoot        = "/b24-e2e"
	containerdShimDir = "/run/containerd/s"
)

var imageNames = []string{"b24-operator", "b24sim", "pause"}

// node is the running single-node cluster.
type node struct {
	c          config
	state      string // c.Work/state
	logs       string
	pki        string
	kubeconfig string // admin
	procs      []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (n *node) path(parts ...string) string {
	return filepath.Join(append([]string{n.state}, parts...)...)
}

// start runs a component with its output in logs/<name>.log.
func (n *node) start(name, bin string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(n.logs, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(n.c.NodeBin, "cni")+":"+os.Getenv("PATH"))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	n.procs = append(n.procs, p)
	return p, nil
}

// stop ends the components in reverse order of their start.
func (n *node) stop() {
	for i := len(n.procs) - 1; i >= 0; i-- {
		p := n.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// alive fails when a component has exited.
func (n *node) alive() error {
	for _, p := range n.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v): see %s", p.name, p.err, filepath.Join(n.logs, p.name+".log"))
		default:
		}
	}
	return nil
}

func sh(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// network brings up loopback and the bridge in the (new, empty) network namespace.
func network() error {
	steps := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", bridgeName, "type", "bridge"},
		{"ip", "addr", "add", nodeIP + "/24", "dev", bridgeName},
		{"ip", "link", "set", bridgeName, "up"},
		// Service addresses are routed to the bridge, where kube-proxy's rules rewrite them.
		{"ip", "route", "add", serviceCIDR, "dev", bridgeName, "src", nodeIP},
	}
	for _, s := range steps {
		if err := sh(s[0], s[1:]...); err != nil {
			return err
		}
	}
	for file, value := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                 "1",
		"/proc/sys/net/bridge/bridge-nf-call-iptables":  "1",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables": "1",
	} {
		if err := os.WriteFile(file, []byte(value), 0o644); err != nil && !strings.Contains(file, "ip6") {
			return fmt.Errorf("sysctl %s: %w", file, err)
		}
	}
	return nil
}

// cgroups creates cgroupRoot in every v1 hierarchy (the kubelet refuses a root that does not
// exist), with the parent's cpus and memory nodes for cpuset.
func cgroups() error {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		// cgroup v2 (unified): one hierarchy, the kubelet creates what it needs below the root.
		return os.MkdirAll(filepath.Join("/sys/fs/cgroup", cgroupRoot), 0o755)
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		if fi, err := os.Stat(h); err != nil || !fi.IsDir() || filepath.Base(h) == "unified" {
			continue
		}
		dir := filepath.Join(h, cgroupRoot)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if filepath.Base(h) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// --- PKI ---

type keyPair struct {
	cert *x509.Certificate
	key  any
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func newCA(dir string) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "b24-operator e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	if err := writePEM(filepath.Join(dir, "ca.crt"), "CERTIFICATE", der); err != nil {
		return nil, err
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return &keyPair{cert, key}, writePEM(filepath.Join(dir, "ca.key"), "EC PRIVATE KEY", kd)
}

var serial int64 = 1

// issue writes <name>.crt and <name>.key signed by ca.
func issue(ca *keyPair, dir, name, cn string, orgs []string, dns []string, ips []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:    dns,
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der); err != nil {
		return err
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return writePEM(filepath.Join(dir, name+".key"), "EC PRIVATE KEY", kd)
}

func (n *node) writePKI() error {
	if err := os.MkdirAll(n.pki, 0o700); err != nil {
		return err
	}
	ca, err := newCA(n.pki)
	if err != nil {
		return err
	}
	type id struct {
		name, cn string
		orgs     []string
		dns, ips []string
	}
	for _, i := range []id{
		{"apiserver", "kube-apiserver", nil, []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}, []string{nodeIP, "10.96.0.1", "127.0.0.1"}},
		{"admin", "e2e-admin", []string{"system:masters"}, nil, nil},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil},
		{"controller-manager", "system:kube-controller-manager", nil, nil, nil},
		{"scheduler", "system:kube-scheduler", nil, nil, nil},
		{"kube-proxy", "system:kube-proxy", nil, nil, nil},
		{"kubelet", "system:node:" + nodeName, []string{"system:nodes"}, []string{nodeName}, []string{nodeIP}},
	} {
		if err := issue(ca, n.pki, i.name, i.cn, i.orgs, i.dns, i.ips); err != nil {
			return err
		}
	}
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(n.pki, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa)); err != nil {
		return err
	}
	pub, _ := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err := writePEM(filepath.Join(n.pki, "sa.pub"), "PUBLIC KEY", pub); err != nil {
		return err
	}
	for _, name := range []string{"admin", "controller-manager", "scheduler", "kube-proxy", "kubelet"} {
		if err := n.writeKubeconfig(name); err != nil {
			return err
		}
	}
	n.kubeconfig = n.path(name2kubeconfig("admin"))
	return nil
}

func name2kubeconfig(name string) string { return name + ".kubeconfig" }

func (n *node) writeKubeconfig(name string) error {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://%s:%s
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: e2e
  context: {cluster: e2e, user: %s}
current-context: e2e
`, nodeIP, apiPort, filepath.Join(n.pki, "ca.crt"), name, filepath.Join(n.pki, name+".crt"), filepath.Join(n.pki, name+".key"), name)
	return os.WriteFile(n.path(name2kubeconfig(name)), []byte(kc), 0o600)
}

// --- components ---

func (n *node) startControlPlane(ctx context.Context) error {
	k8s := func(b string) string { return filepath.Join(n.c.K8sBin, b) }
	pki := func(f string) string { return filepath.Join(n.pki, f) }
	if _, err := n.start("etcd", k8s("etcd"), "--data-dir", n.path("etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level", "warn"); err != nil {
		return err
	}
	if _, err := n.start("kube-apiserver", k8s("kube-apiserver"),
		"--etcd-servers", "http://127.0.0.1:2379",
		"--advertise-address", nodeIP, "--bind-address", "0.0.0.0", "--secure-port", apiPort,
		"--service-cluster-ip-range", serviceCIDR,
		"--tls-cert-file", pki("apiserver.crt"), "--tls-private-key-file", pki("apiserver.key"),
		"--client-ca-file", pki("ca.crt"),
		"--kubelet-client-certificate", pki("apiserver-kubelet-client.crt"), "--kubelet-client-key", pki("apiserver-kubelet-client.key"),
		"--service-account-key-file", pki("sa.pub"), "--service-account-signing-key-file", pki("sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--cert-dir", n.path("apiserver")); err != nil {
		return err
	}
	if err := n.waitAPIServer(ctx); err != nil {
		return err
	}
	if _, err := n.start("kube-controller-manager", k8s("kube-controller-manager"),
		"--kubeconfig", n.path(name2kubeconfig("controller-manager")),
		"--service-account-private-key-file", pki("sa.key"), "--root-ca-file", pki("ca.crt"),
		"--use-service-account-credentials", "--leader-elect=false",
		"--bind-address", "127.0.0.1", "--secure-port", "10257"); err != nil {
		return err
	}
	_, err := n.start("kube-scheduler", filepath.Join(n.c.NodeBin, "kube-scheduler"),
		"--kubeconfig", n.path(name2kubeconfig("scheduler")), "--leader-elect=false",
		"--bind-address", "127.0.0.1", "--secure-port", "10259")
	return err
}

func (n *node) waitAPIServer(ctx context.Context) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(n.pki, "admin.crt"), filepath.Join(n.pki, "admin.key"))
	if err != nil {
		return err
	}
	caPEM, _ := os.ReadFile(filepath.Join(n.pki, "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	return poll(ctx, 3*time.Minute, func() error {
		if err := n.alive(); err != nil {
			return stopPolling(err)
		}
		resp, err := hc.Get("https://" + nodeIP + ":" + apiPort + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

func (n *node) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  netns_mounts_under_state_dir = true
  # This machine grants no CAP_SYS_RESOURCE, so no process may lower its oom_score_adj (the
  # kubelet asks -998 for sandboxes): keep every container at or above containerd's own.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false%s
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, n.path("containerd", "root"), n.path("containerd", "state"), n.containerdSock(), n.path("containerd", "ttrpc.sock"),
		n.path("containerd", "opt"), n.image("pause"), runcBinary(), filepath.Join(n.c.NodeBin, "cni"), n.path("cni", "net.d"))
}

// runcBinary lets E2E_RUNC name another runc (a wrapper that keeps its debug log, say).
func runcBinary() string {
	if b := os.Getenv("E2E_RUNC"); b != "" {
		return fmt.Sprintf("\n        BinaryName = %q", b)
	}
	return ""
}

func (n *node) containerdSock() string { return n.path("containerd", "containerd.sock") }

func (n *node) image(name string) string { return n.c.Registry + "/" + name + ":" + n.c.Version }

func (n *node) cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "b24e2e",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, bridgeName, podCIDR, nodeIP, n.path("cni", "ipam"))
}

func (n *node) startNode(ctx context.Context) error {
	for _, d := range []string{"containerd", "cni/net.d", "cni/ipam", "kubelet"} {
		if err := os.MkdirAll(n.path(d), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		n.path("containerd", "config.toml"):          n.containerdConfig(),
		n.path("cni", "net.d", "10-b24e2e.conflist"): n.cniConfig(),
		n.path("resolv.conf"):                        "",
		n.path("kubelet.yaml"):                       n.kubeletConfig(),
		n.path("kube-proxy.yaml"):                    n.kubeProxyConfig(),
	}
	for f, content := range files {
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			return err
		}
	}
	if _, err := n.start("containerd", "containerd", "--config", n.path("containerd", "config.toml")); err != nil {
		return err
	}
	if err := poll(ctx, time.Minute, func() error {
		if err := n.alive(); err != nil {
			return stopPolling(err)
		}
		return sh("ctr", "--address", n.containerdSock(), "version")
	}); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	for _, name := range imageNames {
		if err := sh("ctr", "--address", n.containerdSock(), "-n", "k8s.io", "images", "import",
			"--platform", "linux/"+goarch(), filepath.Join(n.c.Images, name+".tar")); err != nil {
			return fmt.Errorf("import %s: %w", name, err)
		}
	}
	if _, err := n.start("kubelet", filepath.Join(n.c.NodeBin, "kubelet"),
		"--config", n.path("kubelet.yaml"), "--kubeconfig", n.path(name2kubeconfig("kubelet")),
		"--root-dir", n.path("kubelet"), "--hostname-override", nodeName, "--node-ip", nodeIP, "--v", "2"); err != nil {
		return err
	}
	_, err := n.start("kube-proxy", filepath.Join(n.c.NodeBin, "kube-proxy"), "--config", n.path("kube-proxy.yaml"))
	return err
}

func (n *node) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: %q
tlsPrivateKeyFile: %q
containerRuntimeEndpoint: unix://%s
cgroupDriver: cgroupfs
cgroupRoot: %s
failCgroupV1: false
failSwapOn: false
resolvConf: %q
clusterDomain: cluster.local
evictionHard: {memory.available: 50Mi, nodefs.available: 1%%, imagefs.available: 1%%, nodefs.inodesFree: 1%%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 30
volumePluginDir: %q
`, filepath.Join(n.pki, "ca.crt"), nodeIP, filepath.Join(n.pki, "kubelet.crt"), filepath.Join(n.pki, "kubelet.key"),
		n.containerdSock(), cgroupRoot, n.path("resolv.conf"), n.path("kubelet-plugins"))
}

func (n *node) kubeProxyConfig() string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, n.path(name2kubeconfig("kube-proxy")), podCIDR, nodeName, nodeIP)
}

// errStop ends a poll early.
type errStop struct{ error }

func stopPolling(err error) error { return errStop{err} }

// poll calls f until it returns nil, the timeout passes or f returns stopPolling(err).
func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
