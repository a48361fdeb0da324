package bitrix_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// TestNothingCallsEventGet pins that the operator never names imbot.v2.Event.get (or
// im.v2.Event.get): polling acknowledges a bot's events, which belong to the team's own code.
// It scans the string literals of every non-test Go file of the module except the simulator,
// which serves the method.
func TestNothingCallsEventGet(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "bitrixtest", "vendor", "bin", "testdata", ".git", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && namesEventGet(lit.Value) {
				t.Errorf("%s: string literal %s names Event.get", path, lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("scanned only %d files", files)
	}
}

// namesEventGet reports whether a Go string literal names the method: "imbot.v2.Event.get",
// "im.v2.Event.get" (anywhere, as in a batch command) or "Event.get" alone (to be joined to a
// prefix). Prose that merely mentions Event.get calls is fine.
func namesEventGet(lit string) bool {
	v := strings.ToLower(strings.Trim(lit, "`\""))
	return strings.Contains(v, "v2.event.get") || strings.TrimPrefix(v, ".") == "event.get"
}

// TestV2FlowNeverReachesEventGet runs a bot's and its commands' whole life through the client
// and checks the simulator, which counts Event.get calls, saw none.
func TestV2FlowNeverReachesEventGet(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.c.Revision(e.ctx)
	mustNoErr(t, err)
	b := mustRegisterV2(t, e, "support")
	_, err = e.c.UpdateV2(e.ctx, b.ID, bitrix.BotV2Params{EventMode: bitrix.EventModeFetch})
	mustNoErr(t, err)
	_, err = e.c.GetBotByCodeV2(e.ctx, "support")
	mustNoErr(t, err)
	_, err = e.c.ListBotsV2(e.ctx, "")
	mustNoErr(t, err)
	c, err := e.c.CommandRegisterV2(e.ctx, b.ID, bitrix.CommandV2Params{Command: "help", Title: map[string]string{"en": "Help"}})
	mustNoErr(t, err)
	mustNoErr(t, e.c.CommandUpdateV2(e.ctx, b.ID, c.ID, bitrix.CommandV2Params{Title: map[string]string{"en": "Help!"}}, nil))
	_, err = e.c.ListCommandsV2(e.ctx, []int{b.ID, b.ID + 1})
	mustNoErr(t, err)
	mustNoErr(t, e.c.CommandUnregisterV2(e.ctx, b.ID, c.ID))
	mustNoErr(t, e.c.UnregisterV2(e.ctx, b.ID))
	if len(e.srv.Calls()) < 10 {
		t.Fatalf("only %d calls logged", len(e.srv.Calls()))
	}
	if n := e.srv.EventGetCount(); n != 0 {
		t.Fatalf("the client called Event.get %d times", n)
	}
}
