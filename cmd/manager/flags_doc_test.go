package main

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/b24ops/b24-operator/internal/testenv"
)

// TestOperationsDocListsEveryFlag keeps the flags table of docs/operations.md in step with the
// flags main defines (read from its source) and the zap flags it binds.
func TestOperationsDocListsEveryFlag(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasSuffix(sel.Sel.Name, "Var") {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "flag" {
			return true
		}
		if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			name, _ := strconv.Unquote(lit.Value)
			defined[name] = true
		}
		return true
	})
	if len(defined) < 10 {
		t.Fatalf("found only %d flags in main.go: %v", len(defined), defined)
	}
	zapFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	(&zap.Options{}).BindFlags(zapFlags)
	zapFlags.VisitAll(func(fl *flag.Flag) { defined[fl.Name] = true })

	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)`").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	for name := range defined {
		// zap's encoder and time flags are left to controller-runtime's documentation; the
		// ones that matter are listed.
		if strings.HasPrefix(name, "zap-") && !slices.Contains([]string{"zap-log-level", "zap-stacktrace-level"}, name) {
			continue
		}
		if !documented[name] {
			t.Errorf("docs/operations.md does not list --%s", name)
		}
	}
	for name := range documented {
		if !defined[name] {
			t.Errorf("docs/operations.md lists --%s, which the manager does not have", name)
		}
	}
}
