package chart

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// Offline schemas for kubeconform. Its default location downloads from GitHub; here nothing
// but the Go module proxy is reachable, so the schemas come from three places:
//
//   - the built-in kinds (Deployment, Service, RBAC, PodDisruptionBudget, NetworkPolicy,
//     ValidatingWebhookConfiguration, CustomResourceDefinition...): the OpenAPI v2 document of
//     the project's own envtest kube-apiserver (the pinned Kubernetes version), each kind
//     turned into a standalone strict JSON schema the way openapi2jsonschema --strict does;
//   - the b24ops.io kinds: config/crd/bases, converted like kubeconform's
//     scripts/openapi2jsonschema.py (additionalProperties: false on every nested object with
//     properties, except objects that preserve unknown fields);
//   - cert-manager's Certificate and Issuer and the Prometheus Operator's ServiceMonitor,
//     PodMonitor and PrometheusRule: hand-kept schemas in testdata/schemas covering the fields the chart renders, strict at
//     the levels the chart writes (their CRDs are not available offline).
//
// File names follow kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json, e.g.
// deployment-apps-v1.json, service-v1.json, portal-b24ops-v1alpha1.json.

var (
	schemaOnce sync.Once
	schemaDir  string
	schemaErr  error
)

func kubeconformSchemas(t *testing.T) string {
	t.Helper()
	e := controlPlane(t)
	schemaOnce.Do(func() {
		schemaDir, schemaErr = os.MkdirTemp("", "b24ops-schemas-")
		if schemaErr != nil {
			return
		}
		cs, err := kubernetes.NewForConfig(e.Config)
		if err != nil {
			schemaErr = err
			return
		}
		raw, err := cs.Discovery().RESTClient().Get().AbsPath("/openapi/v2").SetHeader("Accept", "application/json").DoRaw(context.Background())
		if err != nil {
			schemaErr = fmt.Errorf("GET /openapi/v2: %w", err)
			return
		}
		if schemaErr = writeBuiltinSchemas(raw, schemaDir); schemaErr != nil {
			return
		}
		schemaErr = writeCRDSchemas(filepath.Join(repoRoot(), "config", "crd", "bases"), schemaDir)
	})
	if schemaErr != nil {
		t.Fatalf("generate JSON schemas: %v", schemaErr)
	}
	return schemaDir
}

func schemaFileName(group, version, kind string) string {
	name := strings.ToLower(kind)
	if group != "" {
		name += "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return name + "-" + strings.ToLower(version) + ".json"
}

// writeBuiltinSchemas writes one standalone schema per group-version-kind found in an OpenAPI
// v2 document: the kind's definition at the root and the definitions it references (with
// their $refs kept as local JSON pointers) beside it.
func writeBuiltinSchemas(raw []byte, dir string) error {
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("decode OpenAPI v2: %w", err)
	}
	defs := map[string]any{}
	for name, def := range doc.Definitions {
		switch name {
		case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
			defs[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		case "io.k8s.apimachinery.pkg.api.resource.Quantity":
			defs[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
		default:
			defs[name] = strict(def, false)
		}
	}
	written := 0
	for name, def := range doc.Definitions {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		if len(gvks) != 1 || strings.HasPrefix(name, "io.b24ops") {
			continue // lists of several GVKs are meta types (DeleteOptions, WatchEvent)
		}
		gvk := gvks[0].(map[string]any)
		group, _ := gvk["group"].(string)
		version, _ := gvk["version"].(string)
		kind, _ := gvk["kind"].(string)
		root := map[string]any{}
		for k, v := range defs[name].(map[string]any) {
			root[k] = v
		}
		closure := map[string]any{}
		collectRefs(root, defs, closure)
		root["definitions"] = closure
		root["$schema"] = "http://json-schema.org/draft-07/schema#"
		data, err := json.Marshal(root)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, schemaFileName(group, version, kind)), data, 0o644); err != nil {
			return err
		}
		written++
	}
	if written < 50 {
		return fmt.Errorf("only %d kinds in the API server's OpenAPI document", written)
	}
	return nil
}

// collectRefs adds every definition reachable from v to closure.
func collectRefs(v any, defs map[string]any, closure map[string]any) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/definitions/")
			if _, seen := closure[name]; !seen {
				if def, ok := defs[name]; ok {
					closure[name] = def
					collectRefs(def, defs, closure)
				}
			}
		}
		for k, item := range x {
			if k != "definitions" {
				collectRefs(item, defs, closure)
			}
		}
	case []any:
		for _, item := range x {
			collectRefs(item, defs, closure)
		}
	}
}

// strict returns a copy of a schema with additionalProperties: false on every object that
// lists properties and says nothing about others (kubectl's and openapi2jsonschema's
// strictness), and int-or-string formats replaced by a oneOf. With skipRoot the root object
// stays open, as openapi2jsonschema leaves a CRD's root.
func strict(v any, skipRoot bool) any {
	switch x := v.(type) {
	case map[string]any:
		if f, _ := x["format"].(string); f == "int-or-string" || x["x-kubernetes-int-or-string"] == true {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		}
		out := make(map[string]any, len(x)+1)
		for k, item := range x {
			if k == "properties" {
				props := map[string]any{}
				for pk, pv := range item.(map[string]any) {
					props[pk] = strict(pv, false)
				}
				out[k] = props
				continue
			}
			out[k] = strict(item, false)
		}
		_, hasProps := x["properties"]
		_, hasAdditional := x["additionalProperties"]
		if hasProps && !hasAdditional && !skipRoot && x["x-kubernetes-preserve-unknown-fields"] != true {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = strict(item, false)
		}
		return out
	}
	return v
}

// writeCRDSchemas converts every CRD version's openAPIV3Schema in dir.
func writeCRDSchemas(crdDir, dir string) error {
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s: %v", crdDir, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd map[string]any
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		group := str(crd, "spec", "group")
		kind := str(crd, "spec", "names", "kind")
		versions, _ := get(crd, "spec", "versions").([]any)
		for _, v := range versions {
			schema := get(v, "schema", "openAPIV3Schema")
			if schema == nil {
				continue
			}
			out := strict(schema, true).(map[string]any)
			out["$schema"] = "http://json-schema.org/draft-07/schema#"
			js, err := json.Marshal(out)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, schemaFileName(group, str(v, "name"), kind)), js, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func kubeconform(t *testing.T, bin string, manifests []byte) string {
	t.Helper()
	dir := kubeconformSchemas(t)
	out := run(t, manifests, bin,
		"-strict", "-summary", "-output", "text",
		"-schema-location", filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
		"-schema-location", filepath.Join(repoRoot(), "test", "chart", "testdata", "schemas", "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
		"-")
	return string(out)
}

// TestKubeconform validates every rendered variant, strictly, against the offline schemas.
func TestKubeconform(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	bin := tool(t, "KUBECONFORM_BIN")
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			out := kubeconform(t, bin, render(t, helm, v.args()...))
			if !strings.Contains(out, "Invalid: 0, Errors: 0, Skipped: 0") {
				t.Errorf("kubeconform:\n%s", out)
			}
			t.Log(strings.TrimSpace(out))
		})
	}
}

// TestKubeconformRejects makes sure the schemas are strict and complete: an unknown field and
// an unknown kind both fail.
func TestKubeconformRejects(t *testing.T) {
	bin := tool(t, "KUBECONFORM_BIN")
	dir := kubeconformSchemas(t)
	for name, manifest := range map[string]string{
		"unknown Deployment field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 1\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}\n",
		"unknown Portal field":     "apiVersion: b24ops.io/v1alpha1\nkind: Portal\nmetadata: {name: x}\nspec:\n  url: https://a.bitrix24.ru\n  auth: {webhook: {clientId: a, secretRef: {name: s}, extra: 1}}\n",
		"unknown kind":             "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n",
	} {
		out, err := runErr([]byte(manifest), bin, "-strict", "-summary",
			"-schema-location", filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json"), "-")
		if err == nil {
			t.Errorf("%s: kubeconform accepted it:\n%s", name, out)
		}
	}
}
