package plugin_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/b24ops/b24-operator/internal/testenv"
)

// TestKrewManifest pins plugins/b24.yaml to Krew's format and to the release archive names
// (kubectl-b24_<os>_<arch>.tar.gz of the version the manifest declares).
func TestKrewManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "plugins", "b24.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version          string `json:"version"`
			Homepage         string `json:"homepage"`
			ShortDescription string `json:"shortDescription"`
			Description      string `json:"description"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				SHA256 string `json:"sha256"`
				Bin    string `json:"bin"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(raw, &m); err != nil {
		t.Fatalf("plugins/b24.yaml: %v", err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "b24" {
		t.Fatalf("not a Krew Plugin named b24: %s %s %s", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(m.Spec.Version) || m.Spec.ShortDescription == "" {
		t.Fatalf("spec.version %q must be vX.Y.Z and shortDescription set", m.Spec.Version)
	}
	hex := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := map[string]bool{}
	for _, p := range m.Spec.Platforms {
		osName, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		want := fmt.Sprintf("https://github.com/b24ops/b24-operator/releases/download/%s/kubectl-b24_%s_%s.tar.gz", m.Spec.Version, osName, arch)
		if p.URI != want {
			t.Errorf("%s/%s: uri %s, want %s", osName, arch, p.URI, want)
		}
		wantBin := "kubectl-b24"
		if osName == "windows" {
			wantBin += ".exe"
		}
		if p.Bin != wantBin || !hex.MatchString(p.SHA256) {
			t.Errorf("%s/%s: bin %q (want %q), sha256 %q must be 64 hex digits", osName, arch, p.Bin, wantBin, p.SHA256)
		}
		seen[osName+"/"+arch] = true
	}
	for _, pl := range []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"} {
		if !seen[pl] {
			t.Errorf("no platform %s", pl)
		}
	}
}
