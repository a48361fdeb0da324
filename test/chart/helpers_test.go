package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/b24ops/b24-operator/internal/testenv"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func chartDir() string { return filepath.Join(repoRoot(), "charts", "b24-operator") }

const (
	releaseName      = "b24-operator"
	releaseNamespace = "b24-operator-system"
)

// tool returns the path of a tool the Makefile exports in env. Without it the test skips,
// except in CI, where a missing tool is a failure rather than a silently skipped check.
func tool(t *testing.T, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the chart checks through `make test`, which builds the tool", env)
		}
		t.Skipf("%s is not set: run through `make test` (or export %s=bin/...) to run this check", env, env)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%s: %v (run `make tools`)", env, path, err)
	}
	return path
}

// run runs a command and returns its combined output, failing the test when it exits non-zero.
func run(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, err := runErr(stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Env = append(os.Environ(), helmEnv()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

var (
	helmHomeOnce sync.Once
	helmHome     string
)

// helmEnv keeps Helm's cache, config and data out of the user's home.
func helmEnv() []string {
	helmHomeOnce.Do(func() {
		helmHome, _ = os.MkdirTemp("", "b24ops-helm-")
	})
	return []string{
		"HELM_CACHE_HOME=" + filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME=" + filepath.Join(helmHome, "data"),
	}
}

// kubeVersion is the Kubernetes version the project pins for its control plane
// (hack/tools/envtest/go.mod). `helm template` needs it: a helm built with `go install` has no
// version ldflags and would otherwise assume Kubernetes v1.20.
func kubeVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "hack", "tools", "envtest", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "k8s.io/kubernetes" {
			return strings.TrimPrefix(f[1], "v")
		}
	}
	t.Fatal("no k8s.io/kubernetes in hack/tools/envtest/go.mod")
	return ""
}

// variant is one set of values the chart is checked with.
type variant struct {
	name   string
	values string // a file under the chart's ci/ directory; empty for the defaults
}

// variants are the defaults plus every file in the chart's ci/ directory.
func variants(t *testing.T) []variant {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir(), "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := []variant{{name: "default"}}
	for _, f := range files {
		out = append(out, variant{name: strings.TrimSuffix(filepath.Base(f), "-values.yaml"), values: f})
	}
	return out
}

func (v variant) args() []string {
	if v.values == "" {
		return nil
	}
	return []string{"-f", v.values}
}

// render runs `helm template` and returns the manifests.
func render(t *testing.T, helm string, args ...string) []byte {
	t.Helper()
	base := []string{"template", releaseName, chartDir(), "--namespace", releaseNamespace, "--kube-version", kubeVersion(t)}
	return run(t, nil, helm, append(base, args...)...)
}

// object is one rendered manifest.
type object map[string]any

func (o object) kind() string { s, _ := o["kind"].(string); return s }
func (o object) name() string { return str(o, "metadata", "name") }
func (o object) namespace() string {
	return str(o, "metadata", "namespace")
}
func (o object) id() string {
	if ns := o.namespace(); ns != "" {
		return o.kind() + " " + ns + "/" + o.name()
	}
	return o.kind() + " " + o.name()
}

// get walks nested maps.
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			if o, isObj := v.(object); isObj {
				m = o
			} else {
				return nil
			}
		}
		v = m[p]
	}
	return v
}

func str(v any, path ...string) string { s, _ := get(v, path...).(string); return s }

// decode splits a YAML stream into objects.
func decode(t *testing.T, manifests []byte) []object {
	t.Helper()
	var out []object
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		var o map[string]any
		err := d.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode rendered manifests: %v", err)
		}
		if len(o) > 0 {
			out = append(out, o)
		}
	}
	return out
}

func find(objs []object, kind, name string) object {
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	return nil
}

func ofKind(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The control plane is shared by the tests that need one and started on first use.
var (
	envOnce sync.Once
	env     *testenv.Env
	envErr  error
)

func controlPlane(t *testing.T) *testenv.Env {
	t.Helper()
	envOnce.Do(func() {
		start := time.Now()
		env, envErr = testenv.Start(testenv.Options{})
		if envErr == nil {
			fmt.Fprintf(os.Stderr, "control plane started in %s\n", time.Since(start).Round(time.Millisecond))
		}
	})
	if envErr != nil {
		t.Fatalf("start the control plane: %v", envErr)
	}
	return env
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		_ = env.Stop()
	}
	if schemaDir != "" {
		_ = os.RemoveAll(schemaDir)
	}
	if helmHome != "" {
		_ = os.RemoveAll(helmHome)
	}
	os.Exit(code)
}
