package bitrix_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// TestRequestDurationHistogram pins the latency histogram: one observation per HTTP attempt,
// labelled with the portal, the REST method and the status code, and never a secret.
func TestRequestDurationHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	bitrix.RegisterMetrics(reg)
	// The collectors are package-level and outlive one run (go test -count), so each run
	// uses portal labels of its own.
	run := fmt.Sprint(time.Now().UnixNano())
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
			portal := run + "." + tc.portal
			e := newEnv(t, nil, bitrix.WithPortalLabel(portal))
			tc.run(t, e)
			h := findHistogram(t, reg, "b24ops_bitrix_request_duration_seconds", map[string]string{"portal": portal, "method": tc.method, "code": tc.code})
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

// TestOAuthRefreshMetrics pins what an alert on failing refreshes reads: refreshes by outcome,
// and the token endpoint's latency under method oauth.token (its URL carries the client secret
// and refresh token; none of it becomes a label).
func TestOAuthRefreshMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	bitrix.RegisterMetrics(reg)
	srv := newServer(t)
	tokens := srv.AddOAuthApp(oauthClient, oauthSecret)
	ctx := testContext(t)
	run := fmt.Sprint(time.Now().UnixNano())

	good := oauthClientFor(t, srv, bitrix.Tokens{RefreshToken: tokens.RefreshToken}, nil, bitrix.WithPortalLabel(run+".oauth-ok.example"))
	_, err := good.Scope(ctx)
	mustNoErr(t, err)
	// The refresh token rotated: a second client holding the old one fails its refresh.
	stale := oauthClientFor(t, srv, bitrix.Tokens{RefreshToken: tokens.RefreshToken}, nil, bitrix.WithPortalLabel(run+".oauth-dead.example"))
	_, err = stale.Scope(ctx)
	wantCode(t, err, "invalid_grant")

	for _, tc := range []struct {
		name, portal, outcome string
	}{
		{"a successful refresh counts as success", "oauth-ok.example", "success"},
		{"a refused refresh counts under its error code", "oauth-dead.example", "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			portal := run + "." + tc.portal
			if got := counterValue(t, reg, "b24ops_bitrix_token_refreshes_total", map[string]string{"portal": portal, "outcome": tc.outcome}); got != 1 {
				t.Fatalf("token_refreshes_total{portal=%q,outcome=%q} = %v, want 1", portal, tc.outcome, got)
			}
			if h := findHistogram(t, reg, "b24ops_bitrix_request_duration_seconds", map[string]string{"portal": portal, "method": "oauth.token"}); h == nil || h.GetSampleCount() != 1 {
				t.Fatalf("token endpoint latency for %s: %v", portal, h)
			}
		})
	}
	families, err := reg.Gather()
	mustNoErr(t, err)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), oauthSecret) || strings.Contains(l.GetValue(), tokens.RefreshToken) {
					t.Fatalf("%s carries a credential in label %s", f.GetName(), l.GetName())
				}
			}
		}
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
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
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
