package chart

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the generated values tables")

const (
	valuesBegin = "<!-- BEGIN GENERATED: values table (go test ./test/chart -run TestValuesTables -update) -->"
	valuesEnd   = "<!-- END GENERATED: values table -->"
)

type schemaNode struct {
	Type                 any                    `json:"type"`
	Description          string                 `json:"description"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties any                    `json:"additionalProperties"`
	Enum                 []any                  `json:"enum"`
}

// valuesTable renders every leaf value of values.schema.json with its type, its default from
// values.yaml and its description: one source, two documents.
func valuesTable(t *testing.T) string {
	t.Helper()
	var schema schemaNode
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(chartDir(), "values.schema.json"))), &schema); err != nil {
		t.Fatal(err)
	}
	var defaults map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(chartDir(), "values.yaml"))), &defaults); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| Value | Type | Default | Description |\n|---|---|---|---|\n")
	var walk func(path string, n *schemaNode, def any)
	walk = func(path string, n *schemaNode, def any) {
		if len(n.Properties) > 0 && n.AdditionalProperties == false {
			m, _ := def.(map[string]any)
			for _, k := range slices.Sorted(maps.Keys(n.Properties)) {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, n.Properties[k], m[k])
			}
			return
		}
		if path == "global" {
			return
		}
		typ := fmt.Sprint(n.Type)
		if ts, ok := n.Type.([]any); ok {
			parts := make([]string, len(ts))
			for i, x := range ts {
				parts[i] = fmt.Sprint(x)
			}
			typ = strings.Join(parts, " or ")
		}
		if len(n.Enum) > 0 {
			parts := make([]string, len(n.Enum))
			for i, x := range n.Enum {
				parts[i] = fmt.Sprint(x)
			}
			typ += " (" + strings.Join(parts, ", ") + ")"
		}
		d, _ := json.Marshal(def)
		dflt := "`" + strings.ReplaceAll(string(d), "|", "\\|") + "`"
		if def == nil {
			dflt = "unset"
		}
		desc := strings.ReplaceAll(n.Description, "|", "\\|")
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", path, typ, dflt, desc)
	}
	walk("", &schema, defaults)
	return b.String()
}

// TestValuesTables keeps the values tables of the chart README and docs/operations.md equal to
// what values.schema.json and values.yaml say. Run with -update after changing a value.
func TestValuesTables(t *testing.T) {
	want := valuesTable(t)
	for _, path := range []string{
		filepath.Join(chartDir(), "README.md"),
		filepath.Join(repoRoot(), "docs", "operations.md"),
	} {
		s := readFile(t, path)
		i, j := strings.Index(s, valuesBegin), strings.Index(s, valuesEnd)
		if i < 0 || j < i {
			t.Errorf("%s lacks the values table markers", path)
			continue
		}
		got := s[i+len(valuesBegin)+1 : j]
		if got == want {
			continue
		}
		if *update {
			if err := os.WriteFile(path, []byte(s[:i+len(valuesBegin)]+"\n"+want+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("the values table of %s is stale: run go test ./test/chart -run TestValuesTables -update", path)
	}
}

// TestValuesTableCoversValues: every leaf of values.yaml is in the table (the schema is
// strict, so a value missing from the schema could not be set at all).
func TestValuesTableCoversValues(t *testing.T) {
	table := valuesTable(t)
	var defaults map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(chartDir(), "values.yaml"))), &defaults); err != nil {
		t.Fatal(err)
	}
	var leaves func(prefix string, v any)
	leaves = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if ok && len(m) > 0 && !strings.Contains(table, "| `"+prefix+"` |") {
			for k, x := range m {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				leaves(p, x)
			}
			return
		}
		if prefix != "" && !strings.Contains(table, "| `"+prefix+"` |") && !strings.Contains(table, "| `"+prefix+".") {
			t.Errorf("values.yaml has %s, the table does not", prefix)
		}
	}
	leaves("", defaults)
}

// TestREADMEValuesExist: every value the top-level README's Helm table names is a value of the
// chart (a renamed value must not linger in the README), and `go run` lines of the project's
// commands carry a version, so they work outside the repository.
func TestREADMEValuesExist(t *testing.T) {
	table := valuesTable(t)
	readme := readFile(t, filepath.Join(repoRoot(), "README.md"))
	_, helm, ok := strings.Cut(readme, "\n### Chart values\n")
	if !ok {
		t.Fatal("README.md has no Chart values section")
	}
	helm, _, _ = strings.Cut(helm, "\n#")
	n := 0
	for _, line := range strings.Split(helm, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.Split(line, "|")[1]
		for _, key := range strings.Split(cell, " / ") {
			key = strings.Trim(strings.TrimSpace(key), "`")
			n++
			if !strings.Contains(table, "| `"+key+"` |") && !strings.Contains(table, "| `"+key+".") {
				t.Errorf("README.md's Helm table names %q, which is not a chart value", key)
			}
		}
	}
	if n == 0 {
		t.Error("README.md's Helm table lists no values")
	}
	for _, line := range strings.Split(readme, "\n") {
		if strings.Contains(line, "go run github.com/b24ops/b24-operator/") && !strings.Contains(strings.Fields(strings.SplitAfter(line, "go run ")[1])[0], "@") {
			t.Errorf("README.md: %q lacks @version and fails outside the repository", strings.TrimSpace(line))
		}
	}
}
