package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestHelmLint lints the chart strictly with its defaults and every ci/ variant.
func TestHelmLint(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir()}, v.args()...)
			out := run(t, nil, helm, args...)
			if !strings.Contains(string(out), "0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
}

// TestValuesSchemaDescribesEveryValue walks values.yaml and requires a schema entry, with a
// description, for every value down to the objects the schema leaves free (Kubernetes types
// such as affinity or resources lists).
func TestValuesSchemaDescribesEveryValue(t *testing.T) {
	var values map[string]any
	data, err := os.ReadFile(filepath.Join(chartDir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	data, err = os.ReadFile(filepath.Join(chartDir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	if schema["additionalProperties"] != false {
		t.Error("the schema's root must refuse unknown values (additionalProperties: false)")
	}
	var walk func(path string, value any, s map[string]any)
	walk = func(path string, value any, s map[string]any) {
		m, ok := value.(map[string]any)
		if !ok {
			return
		}
		props, _ := s["properties"].(map[string]any)
		if props == nil {
			return // a free-form Kubernetes object: its shape is the API server's to check
		}
		if s["additionalProperties"] != false {
			t.Errorf("%s: the schema must refuse unknown keys (additionalProperties: false)", path)
		}
		for _, k := range sortedKeys(m) {
			p := strings.TrimPrefix(path+"."+k, ".")
			ps, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("%s: no schema", p)
				continue
			}
			if d, _ := ps["description"].(string); d == "" {
				t.Errorf("%s: no description in the schema", p)
			}
			walk(p, m[k], ps)
		}
	}
	walk("", values, schema)
}
