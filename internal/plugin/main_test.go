package plugin_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/b24ops/b24-operator/internal/plugin"
	"github.com/b24ops/b24-operator/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files with the current output")

var (
	env        *testenv.Env
	kubeconfig string
	// viewerKubeconfig is a user who may read Portals but not Secrets.
	viewerKubeconfig string
)

// fixedNow is the clock of the annotation values, so the outputs are stable.
var fixedNow = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	env, err = testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	// The plugin runs as a user with a kubeconfig, the way kubectl runs it.
	user, err := env.AddUser(envtest.User{Name: "plugin-user", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kc, err := user.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "kubectl-b24-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if viewerKubeconfig, err = viewer(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// viewer makes a user bound to a ClusterRole that reads the b24ops.io kinds and nothing else.
func viewer(dir string) (string, error) {
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "b24ops-viewer"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"b24ops.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "b24ops-viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "viewer"}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			return "", err
		}
	}
	user, err := env.AddUser(envtest.User{Name: "viewer"}, nil)
	if err != nil {
		return "", err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "viewer-kubeconfig")
	return path, os.WriteFile(path, kc, 0o600)
}

type result struct {
	stdout, stderr string
	code           int
}

// kubectlB24 runs the plugin as `kubectl b24 args...` against the test cluster.
func kubectlB24(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	o := &plugin.Options{
		Streams:      genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		ConfigFlags:  genericclioptions.NewConfigFlags(false),
		Now:          func() time.Time { return fixedNow },
		PollInterval: 20 * time.Millisecond,
	}
	cmd := plugin.NewCommand(o)
	kc := kubeconfig
	if len(args) > 0 && args[0] == "AS-VIEWER" {
		kc, args = viewerKubeconfig, args[1:]
	}
	cmd.SetArgs(append([]string{"--kubeconfig", kc}, args...))
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(&errOut, "error:", err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: plugin.ExitCode(err)}
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// apply creates the objects of a YAML stream in ns ("NS" in the text is replaced by ns), then
// sets the status each document carries.
func apply(t *testing.T, ctx context.Context, ns, docs string) {
	t.Helper()
	for _, doc := range strings.Split(strings.ReplaceAll(docs, "NS", ns), "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("parse %q: %v", doc, err)
		}
		u.SetNamespace(ns)
		status, hasStatus := u.Object["status"]
		delete(u.Object, "status")
		if err := env.Client.Create(ctx, &u); err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		if hasStatus {
			u.Object["status"] = status
			if err := env.Client.Status().Update(ctx, &u); err != nil {
				t.Fatalf("status of %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
	}
}

// namespace creates a namespace with a fixed name, so the golden outputs hold it as it is.
func namespace(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// installBotCommandCRD serves the BotCommand kind, the way a later operator version will,
// with just enough schema for the plugin.
func installBotCommandCRD(t *testing.T) {
	t.Helper()
	preserve := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "botcommands.b24ops.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "b24ops.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Kind: "BotCommand", ListKind: "BotCommandList", Plural: "botcommands", Singular: "botcommand",
				ShortNames: []string{"b24cmd"}, Categories: []string{"b24ops"},
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1alpha1", Served: true, Storage: true,
				Schema:       &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &preserve}},
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
			}},
		},
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{crd}}); err != nil {
		t.Fatalf("install the BotCommand CRD: %v", err)
	}
}
