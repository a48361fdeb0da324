package plugin_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

const reconcileObjects = `
apiVersion: b24ops.io/v1alpha1
kind: ChatBot
metadata: {name: support}
spec:
  portalRef: {name: acme}
  code: support
  eventHandler: https://bots.acme.ru/b24/events
  properties: {name: Support}
---
apiVersion: b24ops.io/v1alpha1
kind: ScheduledJob
metadata: {name: monday-digest}
spec:
  metabotRef: {name: sales}
  script: {code: weekly_digest}
`

// operator stands in for the controller: once the object carries annotation=value it writes
// status the way the operator does when it has handled the request. It is a test of the
// plugin's wait, not of the operator.
func operator(t *testing.T, ctx context.Context, kind, ns, name, annotation string, ack func(u *unstructured.Unstructured, value string)) {
	t.Helper()
	want := fixedNow.UTC().Format(time.RFC3339Nano)
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(schema.GroupVersionKind{Group: "b24ops.io", Version: "v1alpha1", Kind: kind})
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err == nil && u.GetAnnotations()[annotation] == want {
				ack(u, want)
				if err := env.Client.Status().Update(ctx, u); err != nil {
					t.Errorf("fake operator: status update: %v", err)
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
}

func setStatus(ready, reason, message string, extra map[string]any) func(u *unstructured.Unstructured, value string) {
	return func(u *unstructured.Unstructured, value string) {
		status := map[string]any{
			"observedGeneration": u.GetGeneration(),
			"conditions": []any{map[string]any{
				"type": "Ready", "status": ready, "reason": reason, "message": message,
				"lastTransitionTime": "2026-12-01T09:00:01Z", "observedGeneration": u.GetGeneration(),
			}},
		}
		for k, v := range extra {
			if v == "VALUE" {
				v = value
			}
			status[k] = v
		}
		u.Object["status"] = status
	}
}

func TestReconcileAndResend(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cases := []struct {
		name string
		args []string
		// ack, when set, runs the fake operator for kind/name and the annotation.
		kind, object, annotation string
		ack                      func(u *unstructured.Unstructured, value string)
		wantCode                 int
	}{
		{
			name: "reconcile_ready", args: []string{"reconcile", "b24bot/support"},
			kind: "ChatBot", object: "support", annotation: b24v1.ReconcileRequestedAtAnnotation,
			ack: setStatus("True", "Succeeded", "Bot 39 is registered", map[string]any{"botId": 39, "lastHandledReconcileAt": "VALUE"}),
		},
		{
			name: "reconcile_not_ready", args: []string{"reconcile", "chatbots.b24ops.io", "support"},
			kind: "ChatBot", object: "support", annotation: b24v1.ReconcileRequestedAtAnnotation,
			ack:      setStatus("False", "CodeTaken", "the code support belongs to another application", map[string]any{"lastHandledReconcileAt": "VALUE"}),
			wantCode: 2,
		},
		{
			// Nobody answers: the wait ends with the not-ready exit code.
			name: "reconcile_timeout", args: []string{"reconcile", "chatbot/support", "--timeout", "300ms"}, wantCode: 2,
		},
		{name: "reconcile_no_wait", args: []string{"reconcile", "chatbot/support", "--wait=false"}},
		{name: "reconcile_unknown_kind", args: []string{"reconcile", "deployment/support"}, wantCode: 1},
		{name: "reconcile_missing_object", args: []string{"reconcile", "chatbot/nope"}, wantCode: 1},
		{
			name: "resend_sent", args: []string{"resend", "mbjob/monday-digest"},
			kind: "ScheduledJob", object: "monday-digest", annotation: b24v1.ResendAnnotation,
			ack: setStatus("True", "Succeeded", "Metabot accepted the job", map[string]any{"phase": "Scheduled", "handledResend": "VALUE"}),
		},
		{name: "resend_wrong_kind", args: []string{"resend", "chatbot/support"}, wantCode: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, ctx, sanitize(tc.name))
			apply(t, ctx, ns, reconcileObjects)
			if tc.ack != nil {
				operator(t, ctx, tc.kind, ns, tc.object, tc.annotation, tc.ack)
			}
			r := kubectlB24(t, ctx, append(tc.args, "-n", ns)...)
			if r.code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; stdout: %s stderr: %s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			golden(t, tc.name, r.stdout+r.stderr)
		})
	}
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}
