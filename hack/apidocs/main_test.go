package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	apiDir  = filepath.Join("..", "..", "api", "v1alpha1")
	docPath = filepath.Join("..", "..", "docs", "api.md")
)

// TestAPIDocsUpToDate fails when docs/api.md differs from what the types generate.
func TestAPIDocsUpToDate(t *testing.T) {
	got, err := Generate(apiDir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Generate(apiDir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, again) {
		t.Fatal("the generator is not deterministic")
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("read docs/api.md: %v (run `go run ./hack/apidocs`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/api.md is stale: run `go run ./hack/apidocs` and commit the result")
	}
}

// TestAPIDocsCoverTypes: every kind and every CEL message of the API appear in the reference.
func TestAPIDocsCoverTypes(t *testing.T) {
	md, err := Generate(apiDir)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(apiDir, "*_types.go"))
	kindRe := regexp.MustCompile(`(?m)^type (\w+) struct \{\n\tmetav1\.TypeMeta`)
	msgRe := regexp.MustCompile(`XValidation:.*message="((?:[^"\\]|\\.)*)"`)
	kinds := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range kindRe.FindAllStringSubmatch(string(src), -1) {
			if strings.HasSuffix(m[1], "List") {
				continue
			}
			kinds++
			if !bytes.Contains(md, []byte("\n## "+m[1]+"\n")) {
				t.Errorf("kind %s has no section", m[1])
			}
		}
		for _, m := range msgRe.FindAllStringSubmatch(string(src), -1) {
			msg := strings.ReplaceAll(strings.ReplaceAll(m[1], `\"`, `"`), "|", `\|`)
			if !bytes.Contains(md, []byte(msg)) {
				t.Errorf("CEL message %q is missing", msg)
			}
		}
	}
	if kinds == 0 {
		t.Errorf("found no kinds in %s", apiDir)
	}
}
