package bitrix_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// TestRequestDurationHistogram pins the latency histogram: one observation per HTTP attempt,
// labelled with the portal, the REST method and the status code, and never a secret.
func TestRequestDurationHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	bitrix.RegisterMetrics(reg)
	cases := []struct {
		name   string
		portal string
		run    func(t *testing.T, e env)
		method string
		code   string
		count  uint64
	}{
		{
			name:   "a successful call is one observation under its method and 200",
			portal: "latency-ok.example",
			run:    func(t *testing.T, e env) { mustRegister(t, e, "support") },
			method: "imbot.register", code: "200", count: 1,
		},
		{
			name:   "each call of a method adds an observation",
			portal: "latency-scope.example",
			run: func(t *testing.T, e env) {
				for range 3 {
					_, err := e.c.Scope(e.ctx)
					mustNoErr(t, err)
				}
			},
			method: "scope", code: "200", count: 3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, bitrix.WithPortalLabel(tc.portal))
			tc.run(t, e)
			h := findHistogram(t, reg, "b24ops_bitrix_request_duration_seconds", map[string]string{"portal": tc.portal, "method": tc.method, "code": tc.code})
			if h == nil || h.GetSampleCount() != tc.count {
				t.Fatalf("want %d observations for %s %s %s, got %v", tc.count, tc.portal, tc.method, tc.code, h)
			}
		})
	}
	families, err := reg.Gather()
	mustNoErr(t, err)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), webhookCode) {
					t.Fatalf("%s carries the webhook code in label %s", f.GetName(), l.GetName())
				}
			}
		}
	}
}

func findHistogram(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) *dto.Histogram {
	t.Helper()
	families, err := reg.Gather()
	mustNoErr(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetHistogram()
		}
	}
	return nil
}
