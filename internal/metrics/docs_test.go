package metrics

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/metabot"
	"github.com/b24ops/b24-operator/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the generated table of docs/metrics.md")

const (
	tableBegin = "<!-- BEGIN GENERATED: go test ./internal/metrics -run TestMetricsReference -update -->"
	tableEnd   = "<!-- END GENERATED -->"
)

// recorder is a Registerer that keeps what the packages register, to document it.
type recorder struct{ cs []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error { r.cs = append(r.cs, c); return nil }
func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	r.cs = append(r.cs, cs...)
}
func (r *recorder) Unregister(prometheus.Collector) bool { return false }

type metricDoc struct {
	name, typ, help string
	labels          []string
}

var descRE = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), unit: "[^"]*", constLabels: \{[^}]*\}, variableLabels: \{([^}]*)\}\}$`)

func parseDesc(t *testing.T, d *prometheus.Desc) (name, help string, labels []string) {
	t.Helper()
	m := descRE.FindStringSubmatch(d.String())
	if m == nil {
		t.Fatalf("cannot read %s", d)
	}
	name, _ = strconv.Unquote(m[1])
	help, _ = strconv.Unquote(m[2])
	if m[3] != "" {
		labels = strings.Split(m[3], ",")
	}
	return name, help, labels
}

func helpOf(d *prometheus.Desc) string {
	m := descRE.FindStringSubmatch(d.String())
	if m == nil {
		return ""
	}
	h, _ := strconv.Unquote(m[2])
	return h
}

// registeredMetrics is every metric the manager registers beyond controller-runtime's own,
// the way cmd/manager registers them.
func registeredMetrics(t *testing.T) []metricDoc {
	t.Helper()
	r := &recorder{}
	bitrix.RegisterMetrics(r)
	metabot.RegisterMetrics(r)
	if err := Register(r, NewStateCollector(nil, nil)); err != nil {
		t.Fatal(err)
	}
	var out []metricDoc
	for _, c := range r.cs {
		var typ string
		switch c.(type) {
		case *prometheus.CounterVec, prometheus.Counter:
			typ = "counter"
		case *prometheus.HistogramVec, prometheus.Histogram:
			typ = "histogram"
		case *prometheus.GaugeVec, prometheus.Gauge, *StateCollector, *FreshnessCollector:
			typ = "gauge"
		default:
			t.Fatalf("document the type of %T", c)
		}
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			name, help, labels := parseDesc(t, d)
			if _, ok := c.(*StateCollector); ok && !slices.Contains(gaugeNames, name) {
				t.Fatalf("%s is not in gaugeNames", name)
			}
			out = append(out, metricDoc{name: name, typ: typ, help: help, labels: labels})
		}
	}
	slices.SortFunc(out, func(a, b metricDoc) int { return strings.Compare(a.name, b.name) })
	return out
}

func referenceTable(ms []metricDoc) string {
	var b strings.Builder
	b.WriteString("| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n")
	for _, m := range ms {
		ls := make([]string, len(m.labels))
		for i, l := range m.labels {
			ls[i] = "`" + l + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", m.name, m.typ, strings.Join(ls, ", "), strings.ReplaceAll(m.help, "|", "\\|"))
	}
	return b.String()
}

// TestMetricsReference keeps docs/metrics.md current: its table is every registered metric
// with its type, labels and help. Run with -update after changing a metric.
func TestMetricsReference(t *testing.T) {
	path := filepath.Join(testenv.RepoRoot(), "docs", "metrics.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, tableBegin), strings.Index(s, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated table markers", path)
	}
	want := referenceTable(registeredMetrics(t))
	got := s[i+len(tableBegin)+1 : j]
	if got == want {
		return
	}
	if *update {
		s = s[:i+len(tableBegin)] + "\n" + want + s[j:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("docs/metrics.md is stale: run go test ./internal/metrics -run TestMetricsReference -update\nwant:\n%s\ngot:\n%s", want, got)
}
