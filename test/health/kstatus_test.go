package health

import (
	"fmt"
	"testing"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// specs holds a minimal valid spec per kind, so every test object matches its CRD.
var specs = map[string]map[string]any{
	"Portal": {
		"url":  "https://acme.bitrix24.ru",
		"auth": map[string]any{"webhook": map[string]any{"clientId": "acme-bots", "secretRef": map[string]any{"name": "acme-webhook"}}},
	},
	"ChatBot": {
		"portalRef":    map[string]any{"name": "acme"},
		"code":         "support",
		"eventHandler": "https://bots.acme.ru/b24/events",
		"properties":   map[string]any{"name": "Support"},
	},
	"ChatApp": {
		"botRef":       map[string]any{"name": "support"},
		"code":         "help",
		"jsCommand":    map[string]any{"method": "Send", "param": "/help"},
		"translations": []any{map[string]any{"language": "en", "title": "Help"}},
	},
	"Chat": {"botRef": map[string]any{"name": "support"}, "title": "Incidents"},
	"BotCommand": {
		"botRef":       map[string]any{"name": "support"},
		"command":      "help",
		"translations": []any{map[string]any{"language": "en", "title": "Help", "params": "[topic]"}},
	},
	"Metabot":      {"botId": int64(1234), "tokenSecretRef": map[string]any{"name": "metabot-token", "key": "token"}},
	"ScheduledJob": {"metabotRef": map[string]any{"name": "sales"}, "script": map[string]any{"code": "weekly_digest"}},
}

func condition(typ, st, reason, message string, observedGeneration int64) map[string]any {
	return map[string]any{
		"type": typ, "status": st, "reason": reason, "message": message,
		"observedGeneration": observedGeneration, "lastTransitionTime": "2026-01-05T10:00:00Z",
	}
}

// object builds a kind's object the way the API server stores it.
func object(kind string, generation int64, st map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "b24ops.io/v1alpha1",
		"kind":       kind,
		"metadata":   map[string]any{"name": "example", "namespace": "team-a", "generation": generation},
		"spec":       specs[kind],
		"status":     st,
	}}
}

// TestKstatus pins what kstatus (Flux, kpt, cli-utils) computes from the operator's status
// conventions: observedGeneration defaulting to -1, Reconciling and Stalled only while True.
func TestKstatus(t *testing.T) {
	schemas := crdSchemas(t)
	cases := []struct {
		name       string
		generation int64
		status     map[string]any
		want       status.Status
	}{
		{
			name:       "a new object with the CRD's default status is in progress",
			generation: 1,
			status:     map[string]any{"observedGeneration": int64(-1)},
			want:       status.InProgressStatus,
		},
		{
			name:       "an object whose latest generation is not observed is in progress",
			generation: 3,
			status: map[string]any{"observedGeneration": int64(2), "conditions": []any{
				condition("Ready", "True", "Succeeded", "Up to date", 2),
			}},
			want: status.InProgressStatus,
		},
		{
			name:       "Reconciling=True is in progress",
			generation: 2,
			status: map[string]any{"observedGeneration": int64(2), "conditions": []any{
				condition("Ready", "False", "Progressing", "Applying the spec", 2),
				condition("Reconciling", "True", "Progressing", "Applying the spec", 2),
			}},
			want: status.InProgressStatus,
		},
		{
			name:       "Ready=True for the current generation is current",
			generation: 2,
			status: map[string]any{"observedGeneration": int64(2), "conditions": []any{
				condition("Ready", "True", "Succeeded", "Up to date", 2),
			}},
			want: status.CurrentStatus,
		},
		{
			name:       "a settled state the spec asks for (Ready=True, reason Suspended) is current",
			generation: 2,
			status: map[string]any{"observedGeneration": int64(2), "conditions": []any{
				condition("Ready", "True", "Suspended", "No job is sent while spec.suspend is true", 2),
			}},
			want: status.CurrentStatus,
		},
		{
			name:       "a paused object (Ready keeps its status, reason Paused, generation observed) is current",
			generation: 3,
			status: map[string]any{"observedGeneration": int64(3), "conditions": []any{
				condition("Ready", "True", "Paused", "paused by the b24ops.io/paused annotation", 3),
			}},
			want: status.CurrentStatus,
		},
		{
			// API.md: Ready keeps its status while paused. kstatus reads Ready=False as in
			// progress, so a paused object that was failing is not reported healthy.
			name:       "a paused object that was not ready (Ready=False, reason Paused) stays in progress",
			generation: 3,
			status: map[string]any{"observedGeneration": int64(3), "conditions": []any{
				condition("Ready", "False", "Paused", "paused by the b24ops.io/paused annotation", 3),
			}},
			want: status.InProgressStatus,
		},
		{
			name:       "Stalled=True for the current generation has failed",
			generation: 2,
			status: map[string]any{"observedGeneration": int64(2), "conditions": []any{
				condition("Ready", "False", "InvalidSpec", "The spec cannot be applied", 2),
				condition("Stalled", "True", "InvalidSpec", "The spec cannot be applied", 2),
			}},
			want: status.FailedStatus,
		},
	}
	for _, kind := range kinds(schemas) {
		if _, ok := specs[kind]; !ok {
			t.Fatalf("no test spec for kind %s", kind)
		}
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				u := object(kind, tc.generation, tc.status)
				validateAgainstCRD(t, schemas, fmt.Sprintf("%s object", kind), u.Object)
				res, err := status.Compute(u)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != tc.want {
					t.Errorf("kstatus = %s (%s), want %s", res.Status, res.Message, tc.want)
				}
			})
		}
	}
}
