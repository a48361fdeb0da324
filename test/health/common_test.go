package health

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// repoRoot is the directory holding go.mod.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// crdSchemas reads config/crd/bases and returns a validator for each kind's v1alpha1 schema.
func crdSchemas(t *testing.T) map[string]validation.SchemaValidator {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	out := map[string]validation.SchemaValidator{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != "v1alpha1" || v.Schema == nil {
				continue
			}
			var internal apiextensions.JSONSchemaProps
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
				t.Fatalf("%s: convert schema: %v", f, err)
			}
			validator, _, err := validation.NewSchemaValidator(&internal)
			if err != nil {
				t.Fatalf("%s: schema validator: %v", f, err)
			}
			out[crd.Spec.Names.Kind] = validator
		}
	}
	return out
}

// kinds lists the API's kinds, sorted.
func kinds(schemas map[string]validation.SchemaValidator) []string {
	var out []string
	for k := range schemas {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validateAgainstCRD fails the test when obj does not match its kind's OpenAPI schema (status
// included), so the test objects keep the shape the API server would store.
func validateAgainstCRD(t *testing.T, schemas map[string]validation.SchemaValidator, name string, obj map[string]any) {
	t.Helper()
	kind, _ := obj["kind"].(string)
	v, ok := schemas[kind]
	if !ok {
		t.Fatalf("%s: no CRD for kind %q", name, kind)
	}
	if errs := validation.ValidateCustomResource(field.NewPath(""), obj, v); len(errs) > 0 {
		t.Errorf("%s does not match the %s CRD schema: %v", name, kind, errs.ToAggregate())
	}
}
