// Package testenv starts a real control plane for tests: kube-apiserver and etcd through
// controller-runtime's envtest, with the binaries `make` builds into bin/k8s from the Go module
// proxy, the project's CRDs installed, and optionally kube-controller-manager beside them for
// the tests that need namespace deletion or garbage collection.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// Scheme knows the core types and the project's API.
var Scheme = k8sruntime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(b24v1.AddToScheme(Scheme))
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir is where the control-plane binaries live: KUBEBUILDER_ASSETS, else bin/k8s.
func AssetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "k8s")
}

// Options select what runs beside the API server.
type Options struct {
	// ControllerManager runs kube-controller-manager (namespace and garbage-collector
	// controllers) so namespaces finish deleting and owner references are collected.
	ControllerManager bool
	// Webhook installs the webhook configurations found in these paths.
	WebhookPaths []string
	// WebhookInstall overrides the webhook install options wholesale.
	WebhookInstall *envtest.WebhookInstallOptions
}

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	Client client.Client
	kcm    *exec.Cmd
	dir    string
}

// Start starts kube-apiserver and etcd, installs the CRDs and, if asked, kube-controller-manager.
func Start(opts Options) (*Env, error) {
	assets := AssetsDir()
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run the tests through `make test`, which builds it: %w", assets, err)
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme,
		// Two test packages start their control planes at once on a 2-core machine that is
		// also compiling: the default 20 s is not always enough for kube-apiserver.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	if opts.WebhookInstall != nil {
		te.WebhookInstallOptions = *opts.WebhookInstall
	} else if len(opts.WebhookPaths) > 0 {
		te.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: opts.WebhookPaths}
	}
	cfg, err := te.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	c, err := client.New(cfg, client.Options{Scheme: Scheme})
	if err != nil {
		_ = te.Stop()
		return nil, err
	}
	env := &Env{Environment: te, Config: cfg, Client: c}
	if opts.ControllerManager {
		if err := env.startControllerManager(); err != nil {
			_ = env.Stop()
			return nil, err
		}
	}
	return env, nil
}

// startControllerManager runs the namespace and garbage-collector controllers, which envtest
// lacks: without them a deleted namespace never finishes.
func (e *Env) startControllerManager() error {
	user, err := e.AddUser(envtest.User{Name: "kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add controller-manager user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	e.dir, err = os.MkdirTemp("", "b24ops-kcm-")
	if err != nil {
		return err
	}
	path := filepath.Join(e.dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(AssetsDir(), "kube-controller-manager"),
		"--kubeconfig="+path,
		"--authentication-kubeconfig="+path,
		"--authorization-kubeconfig="+path,
		"--controllers=namespace,garbagecollector",
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--concurrent-namespace-syncs=5",
	)
	logFile, err := os.Create(filepath.Join(e.dir, "kcm.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kube-controller-manager: %w", err)
	}
	e.kcm = cmd
	return nil
}

// Stop stops everything Start started.
func (e *Env) Stop() error {
	if e.kcm != nil && e.kcm.Process != nil {
		_ = e.kcm.Process.Kill()
		_ = e.kcm.Wait()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
	return e.Environment.Stop()
}

// CreateNamespace makes a namespace with a unique name for one test.
func (e *Env) CreateNamespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := e.Client.Create(ctx, ns); err != nil {
		return "", err
	}
	return ns.Name, nil
}

// WaitNamespaceGone waits until a namespace is fully deleted (needs ControllerManager).
func (e *Env) WaitNamespaceGone(ctx context.Context, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		err := e.Client.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("namespace " + name + " still exists")
}
