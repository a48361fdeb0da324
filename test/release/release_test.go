package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWorkflowsPassActionlint(t *testing.T) {
	bin := os.Getenv("ACTIONLINT_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("ACTIONLINT_BIN is not set: CI must run this through `make test`, which builds actionlint")
		}
		t.Skip("ACTIONLINT_BIN is not set: run through `make test`")
	}
	files, err := filepath.Glob(filepath.Join(repoRoot(), ".github", "workflows", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows found (%v)", err)
	}
	cmd := exec.Command(bin, append([]string{"-no-color"}, files...)...)
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

type chart struct {
	Version     string            `json:"version"`
	AppVersion  string            `json:"appVersion"`
	Annotations map[string]string `json:"annotations"`
}

func readChart(t *testing.T) chart {
	t.Helper()
	var c chart
	if err := yaml.Unmarshal([]byte(read(t, "charts/b24-operator/Chart.yaml")), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOneVersionNamesTheRelease(t *testing.T) {
	c := readChart(t)
	if c.Version != c.AppVersion {
		t.Fatalf("chart version %q and appVersion %q differ: the release workflow refuses such a tag", c.Version, c.AppVersion)
	}
	changelog := read(t, "CHANGELOG.md")
	head := "## [" + c.Version + "]"
	i := strings.Index(changelog, head)
	if i < 0 {
		t.Fatalf("CHANGELOG.md has no section %q: the release would have no notes", head)
	}
	section := changelog[i+len(head):]
	if j := strings.Index(section, "\n## ["); j >= 0 {
		section = section[:j]
	}
	if !strings.Contains(section, "\n- ") {
		t.Errorf("CHANGELOG.md section %q lists no change", head)
	}
}

func TestReadmeInstallNamesWhatTheReleasePublishes(t *testing.T) {
	v := readChart(t).Version
	readme := read(t, "README.md")
	for _, want := range []string{
		"oci://ghcr.io/b24ops/charts/b24-operator --version " + v,
		"ghcr.io/b24ops/b24-operator:" + v,
		"ghcr.io/b24ops/b24sim:" + v,
		"https://github.com/b24ops/b24-operator/releases/download/v" + v + "/install.yaml",
		"make image",
		"ctr -n k8s.io images import",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not mention %q", want)
		}
	}
}

func TestChartHasArtifactHubAnnotations(t *testing.T) {
	a := readChart(t).Annotations
	for _, key := range []string{"artifacthub.io/license", "artifacthub.io/operator", "artifacthub.io/crds",
		"artifacthub.io/crdsExamples", "artifacthub.io/images", "artifacthub.io/links", "artifacthub.io/changes"} {
		if strings.TrimSpace(a[key]) == "" {
			t.Errorf("Chart.yaml has no annotation %s", key)
		}
	}
	v := readChart(t).AppVersion
	if !strings.Contains(a["artifacthub.io/images"], "ghcr.io/b24ops/b24-operator:"+v) {
		t.Errorf("artifacthub.io/images does not name the image of appVersion %s:\n%s", v, a["artifacthub.io/images"])
	}
}

func TestGoreleaserBuildsExistingPackages(t *testing.T) {
	var cfg struct {
		Builds []struct {
			ID   string `json:"id"`
			Main string `json:"main"`
			Skip string `json:"skip"`
		} `json:"builds"`
	}
	if err := yaml.Unmarshal([]byte(read(t, ".goreleaser.yaml")), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Builds) == 0 {
		t.Fatal(".goreleaser.yaml has no builds")
	}
	for _, b := range cfg.Builds {
		_, err := os.Stat(filepath.Join(repoRoot(), b.Main))
		guarded := strings.Contains(b.Skip, "isEnvSet")
		if err != nil && !guarded {
			t.Errorf("build %s: %s does not exist and the build is not guarded: %v", b.ID, b.Main, err)
		}
	}
}
