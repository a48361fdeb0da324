package chart

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// samples reads config/samples in kustomization order.
func samples(t *testing.T) []object {
	t.Helper()
	dir := filepath.Join(repoRoot(), "config", "samples")
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &kustomization); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	var out []object
	for _, r := range kustomization.Resources {
		listed[r] = true
		data, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, decode(t, data)...)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !listed[b] {
			t.Errorf("config/samples/%s is not listed in kustomization.yaml", b)
		}
	}
	return out
}

// normalize compares JSON values alike whatever Go number types hold them.
func normalize(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSamplesAreNotDefaulted applies every sample to the API server and requires the stored
// spec to equal the applied one: the CRDs default no optional spec field (Argo CD would show
// such defaults as drift; defaults live in Go). The status starts as the CRDs' default,
// {observedGeneration: -1}, so the object reads as in progress until its first reconcile.
//
// This is the API-server half of the no-drift check; the controller half (the operator never
// writes spec) runs the same comparison with the operator running.
func TestSamplesAreNotDefaulted(t *testing.T) {
	e := controlPlane(t)
	ctx := context.Background()
	c := e.Client
	// TestHelmInstall may have replaced the CRDs with the chart's (kept on uninstall); make sure
	// the current ones are there and no webhook configuration is left to call a missing server.
	if _, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(repoRoot(), "config", "crd", "bases")}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("install CRDs: %v", err)
	}
	vwc := &unstructured.Unstructured{}
	vwc.SetAPIVersion("admissionregistration.k8s.io/v1")
	vwc.SetKind("ValidatingWebhookConfiguration")
	vwc.SetName("b24-operator")
	if err := c.Delete(ctx, vwc); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}

	kinds := map[string]bool{}
	for _, s := range samples(t) {
		u := &unstructured.Unstructured{Object: deepCopy(t, s)}
		err := c.Create(ctx, u)
		if apierrors.IsAlreadyExists(err) && s.kind() == "Namespace" {
			continue
		}
		if err != nil {
			t.Fatalf("create %s: %v", s.id(), err)
		}
		if str(s, "apiVersion") != "b24ops.io/v1alpha1" {
			continue
		}
		kinds[s.kind()] = true
		live := &unstructured.Unstructured{}
		live.SetAPIVersion(str(s, "apiVersion"))
		live.SetKind(s.kind())
		if err := c.Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: s.name()}, live); err != nil {
			t.Fatal(err)
		}
		want, got := normalize(t, s["spec"]), normalize(t, live.Object["spec"])
		if !reflect.DeepEqual(got, want) {
			a, _ := json.MarshalIndent(want, "", "  ")
			b, _ := json.MarshalIndent(got, "", "  ")
			t.Errorf("%s: the API server changed the spec (CRD defaulting?)\napplied: %s\nstored:  %s", s.id(), a, b)
		}
		if got := normalize(t, live.Object["status"]); !reflect.DeepEqual(got, map[string]any{"observedGeneration": float64(-1)}) {
			t.Errorf("%s: a new object's status is %v, want {observedGeneration: -1}", s.id(), got)
		}
	}
	// Every kind has a sample.
	var missing []string
	for _, name := range crdNames(t) {
		kind := ""
		data, _ := os.ReadFile(filepath.Join(repoRoot(), "config", "crd", "bases", "b24ops.io_"+strings.Split(name, ".")[0]+".yaml"))
		if objs := decode(t, data); len(objs) == 1 {
			kind = str(objs[0], "spec", "names", "kind")
		}
		if !kinds[kind] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no sample for %v", missing)
	}
}

// TestSamplesKubeconform validates the samples against the CRDs' schemas, strictly.
func TestSamplesKubeconform(t *testing.T) {
	bin := tool(t, "KUBECONFORM_BIN")
	var all []byte
	dir := filepath.Join(repoRoot(), "config", "samples")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(append(all, "\n---\n"...), data...)
	}
	out := kubeconform(t, bin, all)
	if !strings.Contains(out, "Invalid: 0, Errors: 0, Skipped: 0") {
		t.Errorf("kubeconform:\n%s", out)
	}
}
