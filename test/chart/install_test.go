package chart

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/b24ops/b24-operator/internal/testenv"
)

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// kubeconfig writes a kubeconfig for a cluster-admin user of the control plane.
func kubeconfig(t *testing.T, e *testenv.Env) string {
	t.Helper()
	user, err := e.AddUser(envtest.User{Name: "helm", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// installableChart returns the chart to install. The envtest kube-apiserver is built from
// source without version ldflags and reports v0.0.0-master, which no kubeVersion constraint
// admits; for such a server the chart is copied without its kubeVersion line.
func installableChart(t *testing.T, e *testenv.Env) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.GitVersion, "v0.") {
		return chartDir()
	}
	t.Logf("the API server reports %s: installing a copy of the chart without kubeVersion", v.GitVersion)
	dir := filepath.Join(t.TempDir(), "b24-operator")
	if err := os.CopyFS(dir, os.DirFS(chartDir())); err != nil {
		t.Fatal(err)
	}
	chartYAML := filepath.Join(dir, "Chart.yaml")
	data, err := os.ReadFile(chartYAML)
	if err != nil {
		t.Fatal(err)
	}
	data = regexp.MustCompile(`(?m)^kubeVersion:.*\n`).ReplaceAll(data, nil)
	if err := os.WriteFile(chartYAML, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func crdNames(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot(), "config", "crd", "bases", "*.yaml"))
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, decode(t, data)[0].name())
	}
	return names
}

// waitFor polls cond; detail, if given, says what was left when it times out.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			for _, d := range detail {
				msg += ": " + d()
			}
			t.Fatalf("timed out after %s waiting for %s%s", timeout, what, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// releaseObjects reads what Helm says it deployed.
func releaseObjects(t *testing.T, helm, kc string) []object {
	t.Helper()
	return decode(t, run(t, nil, helm, "get", "manifest", releaseName, "--namespace", releaseNamespace, "--kubeconfig", kc))
}

func assertDeployed(t *testing.T, helm, kc string, revision int) {
	t.Helper()
	var status struct {
		Version int `json:"version"`
		Info    struct {
			Status string `json:"status"`
		} `json:"info"`
	}
	out := run(t, nil, helm, "status", releaseName, "--namespace", releaseNamespace, "--kubeconfig", kc, "-o", "json")
	if err := json.Unmarshal(out, &status); err != nil {
		t.Fatalf("helm status: %v\n%s", err, out)
	}
	if status.Info.Status != "deployed" || status.Version != revision {
		t.Fatalf("release is %s at revision %d, want deployed at %d", status.Info.Status, status.Version, revision)
	}
}

// assertLive checks that every object of the release exists in the cluster.
func assertLive(ctx context.Context, t *testing.T, c client.Client, objs []object) {
	t.Helper()
	if len(objs) == 0 {
		t.Fatal("the release has no objects")
	}
	for _, o := range objs {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(str(o, "apiVersion"))
		u.SetKind(o.kind())
		if err := c.Get(ctx, client.ObjectKey{Namespace: o.namespace(), Name: o.name()}, u); err != nil {
			t.Errorf("%s: %v", o.id(), err)
		}
	}
}

// TestHelmInstall installs the chart into an API server (CRDs included), upgrades it to
// namespaced mode and uninstalls it. No pod runs
// (envtest has no kubelet): the release must deploy and its objects must exist.
func TestHelmInstall(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	e := controlPlane(t)
	ctx := context.Background()
	c := e.Client
	kc := kubeconfig(t, e)
	chart := installableChart(t, e)

	helmArgs := func(verb string, extra ...string) []string {
		return append([]string{verb, releaseName, chart, "--namespace", releaseNamespace, "--kubeconfig", kc, "--timeout", "60s"}, extra...)
	}
	// testenv has installed the CRDs from config/crd/bases, as `kubectl apply -k config/crd`
	// would have on a real cluster: the release adopts them (--take-ownership) and from then on
	// upgrades them. (Deleting them first to start from an empty cluster races with the API
	// server's CRD cleanup controller on a loaded machine.)
	run(t, nil, helm, helmArgs("install", "--create-namespace", "--take-ownership")...)
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			// The webhook configuration would refuse every ChatBot the next test creates.
			_, _ = runErr(nil, helm, "uninstall", releaseName, "--namespace", releaseNamespace, "--kubeconfig", kc)
		}
	})
	assertDeployed(t, helm, kc, 1)
	objs := releaseObjects(t, helm, kc)
	assertLive(ctx, t, c, objs)

	for _, name := range crdNames(t) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(crdGVK)
		if err := c.Get(ctx, client.ObjectKey{Name: name}, u); err != nil {
			t.Fatalf("CRD %s: %v", name, err)
		}
		if u.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s lacks the keep policy", name)
		}
		waitFor(t, 30*time.Second, "CRD "+name+" to be established", func() bool {
			_ = c.Get(ctx, client.ObjectKey{Name: name}, u)
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cond := range conds {
				if m := cond.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
					return true
				}
			}
			return false
		})
	}

	// The manager fills the certificate Secret; an upgrade must leave what it wrote.
	secret := &unstructured.Unstructured{}
	secret.SetAPIVersion("v1")
	secret.SetKind("Secret")
	if err := c.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "b24-operator-webhook-cert"}, secret); err != nil {
		t.Fatal(err)
	}
	written := base64.StdEncoding.EncodeToString([]byte("written by the manager"))
	if err := unstructured.SetNestedField(secret.Object, map[string]any{"tls.crt": written}, "data"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}

	// Namespaced mode: the watched namespaces must exist before the Roles go into them.
	for _, ns := range []string{"team-a", "team-b"} {
		n := &unstructured.Unstructured{}
		n.SetAPIVersion("v1")
		n.SetKind("Namespace")
		n.SetName(ns)
		if err := c.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	run(t, nil, helm, helmArgs("upgrade", "-f", filepath.Join(chartDir(), "ci", "namespaced-values.yaml"))...)
	assertDeployed(t, helm, kc, 2)
	objs = releaseObjects(t, helm, kc)
	assertLive(ctx, t, c, objs)
	for _, ns := range []string{"team-a", "team-b"} {
		if find(objs, "Role", "b24-operator-manager") == nil {
			t.Fatal("namespaced mode rendered no Role")
		}
		role := &unstructured.Unstructured{}
		role.SetAPIVersion("rbac.authorization.k8s.io/v1")
		role.SetKind("Role")
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "b24-operator-manager"}, role); err != nil {
			t.Errorf("Role in %s: %v", ns, err)
		}
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "b24-operator-webhook-cert"}, secret); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(secret.Object, "data", "tls.crt"); got != written {
		t.Errorf("helm upgrade reset the certificate Secret the manager filled (tls.crt = %q)", got)
	}

	run(t, nil, helm, "uninstall", releaseName, "--namespace", releaseNamespace, "--kubeconfig", kc, "--wait", "--timeout", "60s")
	uninstalled = true
	for _, o := range objs {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(str(o, "apiVersion"))
		u.SetKind(o.kind())
		err := c.Get(ctx, client.ObjectKey{Namespace: o.namespace(), Name: o.name()}, u)
		switch {
		case o.kind() == "CustomResourceDefinition":
			if err != nil {
				t.Errorf("%s was removed despite crds.keep: %v", o.id(), err)
			}
		case err == nil && u.GetDeletionTimestamp() == nil:
			t.Errorf("%s survived helm uninstall", o.id())
		case err != nil && !apierrors.IsNotFound(err):
			t.Errorf("%s: %v", o.id(), err)
		}
	}
}
