package managed_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// The loop is the only writer of status and the only recorder of events: an adapter that
// writes status or records an event itself means the loop is missing a capability. This scans
// the operator's sources (tests and simulators aside) for such calls outside this package.
func TestOnlyTheLoopWritesStatusAndRecordsEvents(t *testing.T) {
	// Handing the manager's recorder to the loop is the one use of it allowed elsewhere.
	allowedRecorder := map[string]bool{"internal/controller/setup.go": true}
	for _, file := range sources(t, "../..", "internal/managed") {
		f := parse(t, file.abs)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch name := sel.Sel.Name; {
			case name == "Status" && len(call.Args) == 0:
				// client.Status() is the status writer (Update, Patch).
				t.Errorf("%s: writes status (%s.Status()); only internal/managed may", file.rel, exprString(sel.X))
			case name == "Eventf" || name == "AnnotatedEventf" || name == "Event":
				t.Errorf("%s: records an event (%s); only internal/managed may", file.rel, name)
			case (name == "GetEventRecorder" || name == "GetEventRecorderFor") && !allowedRecorder[file.rel]:
				t.Errorf("%s: takes an event recorder (%s); only the loop records events", file.rel, name)
			}
			return true
		})
	}
}

// The loop knows no kind: it may use the API package's shared status types and constants,
// never a kind's type.
func TestTheLoopKnowsNoKind(t *testing.T) {
	kinds := []string{"Portal", "ChatBot", "ChatApp", "Chat", "Metabot", "ScheduledJob"}
	for _, file := range sources(t, ".", "") {
		f := parse(t, file.abs)
		for _, imp := range f.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); strings.Contains(p, "/internal/controller") || strings.Contains(p, "/internal/bitrix") || strings.Contains(p, "/internal/metabot") {
				t.Errorf("%s imports %s", file.rel, p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok || exprString(sel.X) != "b24v1" {
				return true
			}
			for _, k := range kinds {
				if strings.HasPrefix(sel.Sel.Name, k) && !strings.HasPrefix(sel.Sel.Name, "Condition") {
					t.Errorf("%s uses b24v1.%s", file.rel, sel.Sel.Name)
				}
			}
			return true
		})
	}
}

type source struct{ abs, rel string }

// sources lists the non-test Go files under root (relative to this directory), leaving out
// skip, test helpers and the simulators.
func sources(t *testing.T, root, skip string) []source {
	t.Helper()
	var out []source
	for _, dir := range []string{"internal", "cmd"} {
		base := filepath.Join(root, dir)
		if root == "." {
			base = "."
		}
		err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if (skip != "" && rel == skip) || strings.HasSuffix(rel, "test") || rel == "cmd/b24sim" {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				out = append(out, source{abs: path, rel: rel})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if root == "." {
			break
		}
	}
	if len(out) == 0 {
		t.Fatal("no sources found")
	}
	return out
}

func parse(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.CallExpr:
		return exprString(x.Fun) + "()"
	}
	return "?"
}
