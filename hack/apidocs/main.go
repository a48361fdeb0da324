// Command apidocs writes the API reference (docs/api.md) from the Go types in api/v1alpha1:
// every kind with its spec and status fields (JSON names, types, doc comments, validation
// markers) and the CEL rules' messages. It reads the source with go/parser and go/doc only, so
// the output depends on nothing but the types' text.
//
//	go run ./hack/apidocs [-api api/v1alpha1] [-out docs/api.md]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"sort"
	"strings"
)

func main() {
	apiDir := flag.String("api", "api/v1alpha1", "package directory of the API types")
	out := flag.String("out", "docs/api.md", "file to write")
	flag.Parse()
	md, err := Generate(*apiDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, md, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
}

// kindOrder lists the kinds in reading order (dependencies first); kinds not listed follow
// alphabetically.
var kindOrder = []string{"Portal", "ChatBot", "ChatApp", "Chat", "BotCommand", "Metabot", "ScheduledJob"}

// typeInfo is one named type of the package.
type typeInfo struct {
	name    string
	doc     string   // doc comment without markers
	markers []string // "+..." lines of the doc comment
	strct   *ast.StructType
	under   ast.Expr // the underlying type of a non-struct type (e.g. string for an enum)
}

type pkgInfo struct {
	group, version string
	types          map[string]*typeInfo
}

// Generate renders the reference of the API package in dir.
func Generate(dir string) ([]byte, error) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go") && !strings.HasPrefix(fi.Name(), "zz_generated")
	}, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	if len(pkgs) != 1 {
		return nil, fmt.Errorf("want one package in %s, found %d", dir, len(pkgs))
	}
	var files []*ast.File
	for _, p := range pkgs {
		names := make([]string, 0, len(p.Files))
		for n := range p.Files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			files = append(files, p.Files[n])
		}
	}
	dp, err := doc.NewFromFiles(fset, files, "github.com/b24ops/b24-operator/"+dir, doc.PreserveAST)
	if err != nil {
		return nil, err
	}
	pkg := &pkgInfo{types: map[string]*typeInfo{}}
	for _, line := range strings.Split(packageComments(files), "\n") {
		if g, ok := strings.CutPrefix(strings.TrimSpace(line), "+groupName="); ok {
			pkg.group = g
		}
	}
	pkg.version = dp.Name
	for _, t := range dp.Types {
		ti := &typeInfo{name: t.Name}
		ti.doc, ti.markers = splitMarkers(t.Doc)
		for _, spec := range t.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok || ts.Name.Name != t.Name {
				continue
			}
			if ts.Doc != nil && ti.doc == "" {
				ti.doc, ti.markers = splitMarkers(ts.Doc.Text())
			}
			// Markers may sit in a comment group of their own above the declaration.
			ti.markers = append(ti.markers, declMarkers(t.Decl)...)
			ti.markers = uniq(ti.markers)
			if st, ok := ts.Type.(*ast.StructType); ok {
				ti.strct = st
			} else {
				ti.under = ts.Type
			}
		}
		pkg.types[t.Name] = ti
	}
	return pkg.render(), nil
}

func packageComments(files []*ast.File) string {
	var b strings.Builder
	for _, f := range files {
		for _, cg := range f.Comments {
			if cg.End() < f.Package {
				b.WriteString(cg.Text())
			}
		}
	}
	return b.String()
}

func declMarkers(d *ast.GenDecl) []string {
	if d.Doc == nil {
		return nil
	}
	_, m := splitMarkers(d.Doc.Text())
	return m
}

// splitMarkers separates a doc comment's prose from its +marker lines.
func splitMarkers(text string) (string, []string) {
	var prose, markers []string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "+") {
			markers = append(markers, trimmed[1:])
			continue
		}
		prose = append(prose, line)
	}
	return strings.TrimSpace(strings.Join(prose, "\n")), markers
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func hasMarker(markers []string, m string) bool {
	for _, x := range markers {
		if x == m {
			return true
		}
	}
	return false
}

func (p *pkgInfo) kinds() []string {
	var kinds []string
	for name, t := range p.types {
		if hasMarker(t.markers, "kubebuilder:object:root=true") && !strings.HasSuffix(name, "List") {
			kinds = append(kinds, name)
		}
	}
	rank := map[string]int{}
	for i, k := range kindOrder {
		rank[k] = i + 1
	}
	sort.Slice(kinds, func(i, j int) bool {
		ri, rj := rank[kinds[i]], rank[kinds[j]]
		if ri == 0 {
			ri = len(kindOrder) + 1
		}
		if rj == 0 {
			rj = len(kindOrder) + 1
		}
		if ri != rj {
			return ri < rj
		}
		return kinds[i] < kinds[j]
	})
	return kinds
}

func (p *pkgInfo) render() []byte {
	var b bytes.Buffer
	kinds := p.kinds()
	fmt.Fprintf(&b, "<!-- Code generated by hack/apidocs from api/%s. DO NOT EDIT. -->\n\n", p.version)
	fmt.Fprintf(&b, "# API reference: %s/%s\n\n", p.group, p.version)
	b.WriteString("Every kind is namespaced and references other objects by name in its own namespace. ")
	b.WriteString("Fields marked *optional* may be left out; where the operator then uses a default, ")
	b.WriteString("the field's description says so (the CRDs themselves default no optional spec field). ")
	b.WriteString("Rules are enforced by the API server (OpenAPI schema and CEL), so they hold without the webhook too.\n\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "- [%s](#%s)\n", k, anchor(k))
	}
	b.WriteString("- [Other types](#other-types)\n\n")

	seen := map[string]bool{}
	var queue []string // referenced struct types, in order of first reference
	ref := func(name string) {
		if !seen[name] {
			seen[name] = true
			queue = append(queue, name)
		}
	}
	for _, k := range kinds {
		seen[k] = true
		seen[k+"Spec"] = true
		seen[k+"Status"] = true
		seen[k+"List"] = true
	}
	for _, k := range kinds {
		t := p.types[k]
		fmt.Fprintf(&b, "## %s\n\n", k)
		fmt.Fprintf(&b, "`apiVersion: %s/%s`, `kind: %s`", p.group, p.version, k)
		for _, m := range t.markers {
			if args, ok := strings.CutPrefix(m, "kubebuilder:resource:"); ok {
				for _, kv := range strings.Split(args, ",") {
					if v, ok := strings.CutPrefix(kv, "shortName="); ok {
						fmt.Fprintf(&b, ", short name `%s`", v)
					}
					if v, ok := strings.CutPrefix(kv, "categories="); ok {
						fmt.Fprintf(&b, ", category `%s`", v)
					}
				}
			}
		}
		b.WriteString(".\n\n")
		b.WriteString(paragraph(t.doc) + "\n\n")
		for _, part := range []string{"Spec", "Status"} {
			st, ok := p.types[k+part]
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "### %s.%s\n\n", k, strings.ToLower(part))
			if st.doc != "" {
				b.WriteString(paragraph(st.doc) + "\n\n")
			}
			p.fieldsTable(&b, st, ref)
			p.typeRules(&b, st)
		}
	}
	b.WriteString("## Other types\n\n")
	for i := 0; i < len(queue); i++ {
		t := p.types[queue[i]]
		fmt.Fprintf(&b, "### %s\n\n", t.name)
		if t.doc != "" {
			b.WriteString(paragraph(t.doc) + "\n\n")
		}
		p.fieldsTable(&b, t, ref)
		p.typeRules(&b, t)
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n')
}

// field is one documented JSON field.
type field struct {
	name, typ, doc string
	required       bool
	markers        []string
}

// fields lists a struct's JSON fields, flattening inline embedded structs.
func (p *pkgInfo) fields(t *typeInfo, ref func(string)) []field {
	var out []field
	for _, f := range t.strct.Fields.List {
		tag := ""
		if f.Tag != nil {
			tag = strings.Trim(f.Tag.Value, "`")
		}
		jsonTag := regexp.MustCompile(`json:"([^"]*)"`).FindStringSubmatch(tag)
		if jsonTag == nil || jsonTag[1] == "-" {
			continue
		}
		parts := strings.Split(jsonTag[1], ",")
		name := parts[0]
		inline := false
		for _, o := range parts[1:] {
			inline = inline || o == "inline"
		}
		var docText string
		if f.Doc != nil {
			docText = f.Doc.Text()
		}
		prose, markers := splitMarkers(docText)
		if inline {
			if id, ok := f.Type.(*ast.Ident); ok {
				if emb, ok := p.types[id.Name]; ok && emb.strct != nil {
					out = append(out, p.fields(emb, ref)...)
				}
			}
			continue // metav1.TypeMeta
		}
		if name == "metadata" {
			continue
		}
		optional := hasMarker(markers, "optional") || strings.Contains(jsonTag[1], "omitempty") && !hasMarker(markers, "required")
		if hasMarker(markers, "kubebuilder:validation:Required") || hasMarker(markers, "required") {
			optional = false
		}
		out = append(out, field{name: name, typ: p.typeString(f.Type, ref), doc: prose, required: !optional, markers: markers})
	}
	return out
}

func (p *pkgInfo) fieldsTable(b *bytes.Buffer, t *typeInfo, ref func(string)) {
	if t.strct == nil {
		return
	}
	fields := p.fields(t, ref)
	if len(fields) == 0 {
		return
	}
	b.WriteString("| Field | Type | Description |\n|---|---|---|\n")
	for _, f := range fields {
		req := "optional"
		if f.required {
			req = "**required**"
		}
		desc := cell(f.doc)
		for _, v := range p.validations(f) {
			desc += "<br>" + v
		}
		fmt.Fprintf(b, "| `%s` | %s | %s<br>%s |\n", f.name, f.typ, req, desc)
	}
	b.WriteString("\n")
}

// typeRules lists the CEL rules declared on a type (they span several fields).
func (p *pkgInfo) typeRules(b *bytes.Buffer, t *typeInfo) {
	msgs := celMessages(t.markers)
	if len(msgs) == 0 {
		return
	}
	b.WriteString("Rules:\n\n")
	for _, m := range msgs {
		fmt.Fprintf(b, "- %s\n", m)
	}
	b.WriteString("\n")
}

// validations summarizes a field's validation markers, and those of its named type.
func (p *pkgInfo) validations(f field) []string {
	markers := append([]string{}, f.markers...)
	if named := baseName(f.typ); named != "" {
		if t, ok := p.types[named]; ok && t.strct == nil {
			markers = append(markers, t.markers...)
		}
	}
	var out []string
	for _, m := range markers {
		key, val, ok := strings.Cut(m, "=")
		if !ok {
			continue
		}
		switch strings.TrimPrefix(key, "kubebuilder:validation:") {
		case "Enum":
			out = append(out, "One of: "+codeList(strings.Split(val, ";")))
		case "Minimum":
			out = append(out, "Minimum: "+val)
		case "Maximum":
			out = append(out, "Maximum: "+val)
		case "MinLength":
			out = append(out, "Minimum length: "+val)
		case "MaxLength":
			out = append(out, "Maximum length: "+val)
		case "MaxItems":
			out = append(out, "Maximum items: "+val)
		case "Pattern":
			out = append(out, "Pattern: "+code(strings.Trim(val, "`")))
		case "Format":
			out = append(out, "Format: "+val)
		case "kubebuilder:default":
			out = append(out, "Set by the API server when absent: "+code(val))
		case "items:Pattern":
			out = append(out, "Items match: "+code(strings.Trim(val, "`")))
		case "items:MaxLength":
			out = append(out, "Items' maximum length: "+val)
		case "items:Minimum":
			out = append(out, "Items' minimum: "+val)
		}
	}
	for _, msg := range celMessages(markers) {
		out = append(out, "Rule: "+msg)
	}
	return out
}

var messageRe = regexp.MustCompile(`message="((?:[^"\\]|\\.)*)"`)

// celMessages returns the messages of the XValidation (CEL) markers.
func celMessages(markers []string) []string {
	var out []string
	for _, m := range markers {
		if !strings.HasPrefix(m, "kubebuilder:validation:XValidation:") {
			continue
		}
		if sub := messageRe.FindStringSubmatch(m); sub != nil {
			out = append(out, cell(strings.ReplaceAll(sub[1], `\"`, `"`)))
		}
	}
	return out
}

// typeString renders a field's type, linking the package's struct types.
func (p *pkgInfo) typeString(e ast.Expr, ref func(string)) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return p.typeString(x.X, ref)
	case *ast.ArrayType:
		return "[]" + p.typeString(x.Elt, ref)
	case *ast.MapType:
		return "map[" + p.typeString(x.Key, ref) + "]" + p.typeString(x.Value, ref)
	case *ast.Ident:
		switch x.Name {
		case "string":
			return "string"
		case "bool":
			return "boolean"
		case "int", "int32", "int64":
			return "integer"
		}
		t, ok := p.types[x.Name]
		if !ok {
			return x.Name
		}
		if t.strct == nil {
			// A named scalar (an enum, a validated string): show its base type.
			return p.typeString(t.under, ref) + " (" + x.Name + ")"
		}
		ref(x.Name)
		return fmt.Sprintf("[%s](#%s)", x.Name, anchor(x.Name))
	case *ast.SelectorExpr:
		switch x.Sel.Name {
		case "Duration":
			return "string (duration, e.g. `10m`)"
		case "Time":
			return "string (RFC 3339 time)"
		case "JSON":
			return "object (any JSON)"
		case "Condition":
			return "[Condition](https://pkg.go.dev/k8s.io/apimachinery/pkg/apis/meta/v1#Condition)"
		}
		return x.Sel.Name
	}
	return fmt.Sprintf("%T", e)
}

// baseName finds the package type named in a rendered type ("string (BotType)" -> BotType).
func baseName(typ string) string {
	if i := strings.LastIndex(typ, "("); i >= 0 && strings.HasSuffix(typ, ")") {
		return typ[i+1 : len(typ)-1]
	}
	return ""
}

func anchor(s string) string { return strings.ToLower(s) }

func paragraph(s string) string { return strings.Join(strings.Fields(s), " ") }

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(paragraph(s), "|", `\|`)
}

func code(s string) string {
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

func codeList(items []string) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = code(it)
	}
	return strings.Join(out, ", ")
}
