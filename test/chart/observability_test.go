package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestPrometheusRuleUnitTests renders the chart's PrometheusRule and runs promtool's rule checks
// and unit tests (testdata/rules/alerts_test.yaml) on it.
func TestPrometheusRuleUnitTests(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	promtool := tool(t, "PROMTOOL_BIN")
	objs := decode(t, render(t, helm, "--set", "prometheusRule.enabled=true"))
	rule := find(objs, "PrometheusRule", releaseName)
	if rule == nil {
		t.Fatal("prometheusRule.enabled renders no PrometheusRule")
	}
	dir := t.TempDir()
	rules, err := yaml.Marshal(get(rule, "spec"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(repoRoot(), "test", "chart", "testdata", "rules", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, promtool, "check", "rules", filepath.Join(dir, "rules.yaml"))
	t.Log(string(run(t, nil, promtool, "test", "rules", filepath.Join(dir, "alerts_test.yaml"))))

	// Every alert is unit-tested, and links to a runbook section that exists.
	anchors := markdownAnchors(t, filepath.Join(repoRoot(), "docs", "troubleshooting.md"))
	for _, g := range get(rule, "spec", "groups").([]any) {
		for _, r := range get(g, "rules").([]any) {
			name := str(r, "alert")
			if !strings.Contains(string(tests), "alertname: "+name+"\n") {
				t.Errorf("alert %s has no promtool test in alerts_test.yaml", name)
			}
			url := str(r, "annotations", "runbook_url")
			_, anchor, ok := strings.Cut(url, "#")
			if !ok || !strings.HasPrefix(url, "https://github.com/b24ops/b24-operator/blob/main/docs/troubleshooting.md#") {
				t.Errorf("alert %s: runbook_url %q does not point into docs/troubleshooting.md", name, url)
				continue
			}
			if !anchors[anchor] {
				t.Errorf("alert %s: docs/troubleshooting.md has no section #%s", name, anchor)
			}
		}
	}
}

// markdownAnchors lists the GitHub anchors of a Markdown file's headings.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		out[a] = true
	}
	return out
}

var metricName = regexp.MustCompile(`\b(b24ops_[a-z_]+|controller_runtime_[a-z_]+)`)

// TestGrafanaDashboard checks the dashboard ConfigMap: the sidecar label, valid dashboard JSON,
// and queries that name only metrics the operator exports and that promtool can parse.
func TestGrafanaDashboard(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	objs := decode(t, render(t, helm, "--set", "grafanaDashboard.enabled=true"))
	cm := find(objs, "ConfigMap", releaseName+"-dashboard")
	if cm == nil {
		t.Fatal("grafanaDashboard.enabled renders no ConfigMap")
	}
	if str(cm, "metadata", "labels", "grafana_dashboard") != "1" {
		t.Errorf("the ConfigMap lacks the sidecar label grafana_dashboard: %v", get(cm, "metadata", "labels"))
	}
	var dash struct {
		UID, Title string
		Templating struct {
			List []struct{ Name string }
		}
		Panels []struct {
			ID      int
			Title   string
			Type    string
			GridPos *struct{ X, Y, W, H int }
			Targets []struct {
				RefID string
				Expr  string
			}
		}
	}
	raw := str(cm, "data", "b24-operator.json")
	if err := json.Unmarshal([]byte(raw), &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("uid %q title %q, %d panels", dash.UID, dash.Title, len(dash.Panels))
	}
	var vars []string
	for _, v := range dash.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Contains(vars, "datasource") {
		t.Errorf("no datasource variable (templating: %v): the dashboard must not name a data source", vars)
	}

	known := map[string]bool{}
	for _, m := range metricName.FindAllString(readFile(t, filepath.Join(repoRoot(), "docs", "metrics.md")), -1) {
		known[m] = true
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range dash.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d is missing or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" || p.Type == "" || p.GridPos == nil || len(p.Targets) == 0 {
			t.Errorf("panel %d: title %q type %q gridPos %v, %d targets", p.ID, p.Title, p.Type, p.GridPos, len(p.Targets))
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if strings.HasPrefix(m, "b24ops_") && !known[base] {
					t.Errorf("panel %q queries %s, which docs/metrics.md does not list", p.Title, m)
				}
			}
		}
	}

	// promtool parses each query (Grafana's variables replaced by what they stand for).
	promtool := tool(t, "PROMTOOL_BIN")
	vars2 := strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*", "$portal", ".*")
	var rules []map[string]string
	for i, e := range exprs {
		rules = append(rules, map[string]string{"record": "dashboard:query" + string(rune('a'+i)), "expr": vars2.Replace(e)})
	}
	doc, _ := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	f := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, promtool, "check", "rules", f)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMonitorsAndLogLevel pins the scrape objects and the log level.
func TestMonitorsAndLogLevel(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	secure := []string{"--set", "metrics.secure=true", "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.podMonitor.enabled=true"}
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, objs []object)
	}{
		{
			name: "secure monitors present a bearer token from a Secret (authorization), never bearerTokenFile",
			args: secure,
			check: func(t *testing.T, objs []object) {
				for _, m := range []struct{ kind, list string }{{"ServiceMonitor", "endpoints"}, {"PodMonitor", "podMetricsEndpoints"}} {
					o := find(objs, m.kind, releaseName)
					if o == nil {
						t.Fatalf("no %s", m.kind)
					}
					ep := get(o, "spec", m.list).([]any)[0]
					if get(ep, "bearerTokenFile") != nil || str(ep, "scheme") != "https" {
						t.Errorf("%s endpoint: %v", m.kind, ep)
					}
					if str(ep, "authorization", "type") != "Bearer" || str(ep, "authorization", "credentials", "name") != releaseName+"-metrics-scraper-token" || str(ep, "authorization", "credentials", "key") != "token" {
						t.Errorf("%s authorization = %v", m.kind, get(ep, "authorization"))
					}
				}
				s := find(objs, "Secret", releaseName+"-metrics-scraper-token")
				if str(s, "type") != "kubernetes.io/service-account-token" || str(s, "metadata", "annotations", "kubernetes.io/service-account.name") != releaseName+"-metrics-scraper" {
					t.Errorf("token Secret = %v", s)
				}
				b := find(objs, "ClusterRoleBinding", releaseName+"-metrics-scraper")
				if str(b, "roleRef", "name") != releaseName+"-metrics-reader" {
					t.Errorf("the scraper is not bound to metrics-reader: %v", b)
				}
			},
		},
		{
			name: "an existing Secret replaces the chart's scraper account",
			args: append(slices.Clone(secure), "--set", "metrics.scrapeToken.existingSecret=prom-token"),
			check: func(t *testing.T, objs []object) {
				ep := get(find(objs, "ServiceMonitor", releaseName), "spec", "endpoints").([]any)[0]
				if str(ep, "authorization", "credentials", "name") != "prom-token" {
					t.Errorf("authorization = %v", get(ep, "authorization"))
				}
				if find(objs, "Secret", releaseName+"-metrics-scraper-token") != nil || find(objs, "ServiceAccount", releaseName+"-metrics-scraper") != nil {
					t.Error("the chart still creates its scraper account")
				}
			},
		},
		{
			name: "plain metrics scrape over http without credentials",
			args: []string{"--set", "metrics.podMonitor.enabled=true"},
			check: func(t *testing.T, objs []object) {
				ep := get(find(objs, "PodMonitor", releaseName), "spec", "podMetricsEndpoints").([]any)[0]
				if str(ep, "scheme") != "http" || get(ep, "authorization") != nil || str(ep, "port") != "metrics" {
					t.Errorf("endpoint = %v", ep)
				}
			},
		},
		{
			name: "defaults: no monitors, rules or dashboard, log level info",
			check: func(t *testing.T, objs []object) {
				for _, k := range []string{"ServiceMonitor", "PodMonitor", "PrometheusRule"} {
					if len(ofKind(objs, k)) != 0 {
						t.Errorf("defaults render a %s", k)
					}
				}
				if find(objs, "ConfigMap", releaseName+"-dashboard") != nil {
					t.Error("defaults render the dashboard")
				}
				if args := get(container(t, objs), "args").([]any); !slices.Contains(args, any("--zap-log-level=info")) {
					t.Errorf("args %v lack --zap-log-level=info", args)
				}
			},
		},
		{
			name: "logLevel is passed as --zap-log-level",
			args: []string{"--set", "logLevel=debug"},
			check: func(t *testing.T, objs []object) {
				if args := get(container(t, objs), "args").([]any); !slices.Contains(args, any("--zap-log-level=debug")) {
					t.Errorf("args %v lack --zap-log-level=debug", args)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, decode(t, render(t, helm, tc.args...))) })
	}
	if _, err := runErr(nil, helm, "template", releaseName, chartDir(), "--set", "logLevel=verbose"); err == nil {
		t.Error("the schema accepts logLevel=verbose")
	}
}
