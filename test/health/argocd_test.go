package health

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the per-kind copies of config/argocd/health.lua and config/argocd/argocd-cm-patch.yaml")

// healthTests is Argo CD's health_test.yaml format (resource_customizations).
type healthTests struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

// argoHealth is what a health script may return.
var argoHealth = map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}

func argocdDir() string { return filepath.Join(repoRoot(), "config", "argocd") }

// TestArgoCDHealthChecks runs every kind's health.lua against each testdata object listed in
// its health_test.yaml, the way Argo CD's own resource_customizations tests do.
func TestArgoCDHealthChecks(t *testing.T) {
	schemas := crdSchemas(t)
	for _, kind := range kinds(schemas) {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(argocdDir(), "b24ops.io", kind)
			script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
			if err != nil {
				t.Fatalf("every kind needs a health check: %v", err)
			}
			var tests healthTests
			data, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.UnmarshalStrict(data, &tests); err != nil {
				t.Fatalf("health_test.yaml: %v", err)
			}
			used := map[string]bool{}
			seen := map[string]bool{}
			for _, tc := range tests.Tests {
				used[filepath.Clean(tc.InputPath)] = true
				seen[tc.HealthStatus.Status] = true
				t.Run(strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
					obj := readObject(t, filepath.Join(dir, tc.InputPath))
					if obj["kind"] != kind {
						t.Fatalf("testdata of %s holds a %v", kind, obj["kind"])
					}
					validateAgainstCRD(t, schemas, tc.InputPath, obj)
					status, message, err := runHealth(string(script), obj)
					if err != nil {
						t.Fatal(err)
					}
					if !argoHealth[status] {
						t.Fatalf("health.lua returned %q, which Argo CD does not know", status)
					}
					if status != tc.HealthStatus.Status || message != tc.HealthStatus.Message {
						t.Errorf("got %s %q, want %s %q", status, message, tc.HealthStatus.Status, tc.HealthStatus.Message)
					}
				})
			}
			files, _ := filepath.Glob(filepath.Join(dir, "testdata", "*.yaml"))
			for _, f := range files {
				if rel, _ := filepath.Rel(dir, f); !used[rel] {
					t.Errorf("%s is not listed in health_test.yaml", rel)
				}
			}
			for _, want := range []string{"Healthy", "Progressing", "Degraded"} {
				if !seen[want] {
					t.Errorf("health_test.yaml has no %s case", want)
				}
			}
		})
	}
}

// TestArgoCDFilesInSync keeps one health check body: every kind's folder holds a copy of
// config/argocd/health.lua, and argocd-cm-patch.yaml embeds it for each kind.
func TestArgoCDFilesInSync(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(argocdDir(), "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	kindList := kinds(crdSchemas(t))
	want := map[string][]byte{filepath.Join(argocdDir(), "argocd-cm-patch.yaml"): argocdPatch(string(body), kindList)}
	for _, kind := range kindList {
		want[filepath.Join(argocdDir(), "b24ops.io", kind, "health.lua")] = body
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want[p], 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want[p]) {
			t.Errorf("%s is stale: run `go test ./test/health -run TestArgoCDFilesInSync -update`", p)
		}
	}
}

// argocdPatch renders a patch for the argocd-cm ConfigMap that installs the check for each kind.
func argocdPatch(body string, kinds []string) []byte {
	var b strings.Builder
	b.WriteString("# Health checks for the b24ops.io kinds. Generated from config/argocd/health.lua by\n")
	b.WriteString("# `go test ./test/health -run TestArgoCDFilesInSync -update`; do not edit.\n")
	b.WriteString("# Apply: kubectl -n argocd patch configmap argocd-cm --patch-file config/argocd/argocd-cm-patch.yaml\n")
	b.WriteString("data:\n")
	for _, kind := range kinds {
		fmt.Fprintf(&b, "  resource.customizations.health.b24ops.io_%s: |\n", kind)
		for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line + "\n")
		}
	}
	return []byte(b.String())
}

// readObject reads a YAML manifest into the map Argo CD's unstructured object would hold.
func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

// runHealth runs a health script the way Argo CD's util/lua VM does: only the package, base
// and table libraries are open (no string, io or os library), the object is the global `obj`,
// converted value by value, and the script must finish within a second.
func runHealth(script string, obj map[string]any) (status, message string, err error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return "", "", fmt.Errorf("run health.lua: %w", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("health.lua returned %s, not a table", l.Get(-1).Type())
	}
	s, _ := ret.RawGetString("status").(lua.LString)
	m, _ := ret.RawGetString("message").(lua.LString)
	return string(s), string(m), nil
}

// toLua mirrors Argo CD's decodeValue: numbers, strings and booleans map to Lua values, lists
// to 1-based array tables, objects to hash tables, anything else to nil.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(l, item))
		}
		return tbl
	}
	return lua.LNil
}
