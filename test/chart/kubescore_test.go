package chart

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kubeScoreIgnores reads charts/b24-operator/kube-score-ignores: one check id per line, each
// justified by the comment above it.
func kubeScoreIgnores(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir(), "kube-score-ignores"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	justified := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			justified = false
		case strings.HasPrefix(line, "#"):
			justified = true
		default:
			if !justified {
				t.Errorf("kube-score-ignores: %s has no justification in a comment above it", line)
			}
			ids = append(ids, line)
			justified = false
		}
	}
	return ids
}

// TestKubeScore scores every rendered variant: no CRITICAL and no WARNING finding beyond the
// checks justified in kube-score-ignores.
func TestKubeScore(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	bin := tool(t, "KUBE_SCORE_BIN")
	ignores := kubeScoreIgnores(t)
	known := string(run(t, nil, bin, "list"))
	for _, id := range ignores {
		if !strings.Contains(known, "\n"+id+",") && !strings.HasPrefix(known, id+",") {
			t.Errorf("kube-score-ignores names %q, which kube-score does not know", id)
		}
	}
	minor := strings.Join(strings.Split(kubeVersion(t), ".")[:2], ".")
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			manifests := render(t, helm, v.args()...)
			args := []string{"score", "--output-format", "ci", "--kubernetes-version", "v" + minor}
			for _, id := range ignores {
				args = append(args, "--ignore-test", id)
			}
			out, _ := runErr(manifests, bin, append(args, "-")...) // exits 1 on CRITICAL; the output says which
			var findings []string
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "[CRITICAL]") || strings.HasPrefix(line, "[WARNING]") {
					findings = append(findings, line)
				}
			}
			if len(findings) > 0 {
				t.Errorf("kube-score findings (fix them, or justify the check in kube-score-ignores):\n%s", strings.Join(findings, "\n"))
			}
			if !strings.Contains(string(out), "[OK]") {
				t.Errorf("kube-score scored nothing:\n%s", out)
			}
		})
	}
}
