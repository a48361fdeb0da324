package managed_test

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
)

// A remote side that never answers holds a reconcile only until its deadline; the outcome is
// still written (on the worker's context), and the failure is retried.
func TestReconcileDeadline(t *testing.T) {
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	cases := []struct {
		name   string
		ext    managed.ExternalFns[*thing]
		obj    *thing
		delete bool
	}{
		{name: "an Observe that never returns", obj: newThing("observe"),
			ext: managed.ExternalFns[*thing]{ObserveFn: func(ctx context.Context, _ *thing, _ bool) (managed.Observation, error) {
				return managed.Observation{}, hang(ctx)
			}}},
		{name: "a Create that never returns", obj: newThing("create"),
			ext: managed.ExternalFns[*thing]{
				ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) { return managed.Observation{}, nil },
				CreateFn:  func(ctx context.Context, _ *thing) (managed.Applied, error) { return managed.Applied{}, hang(ctx) },
			}},
		{name: "a Delete that never returns", obj: held("delete"), delete: true,
			ext: managed.ExternalFns[*thing]{DeleteFn: func(ctx context.Context, _ *thing) (managed.Applied, error) {
				return managed.Applied{}, hang(ctx)
			}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, external(tc.ext), tc.obj)
			h.r.Timeout = 100 * time.Millisecond
			if tc.delete {
				h.delete(tc.obj.Name)
			}
			done := make(chan error, 1)
			go func() { _, err := h.reconcile(tc.obj.Name); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the reconcile did not end at its deadline")
			}
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("want the failure handed to the workqueue's backoff, got %v", err)
			}
			c := ready(h.get(tc.obj.Name))
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != b24v1.ReasonRemoteError && c.Reason != b24v1.ReasonDeleting {
				t.Fatalf("Ready after the deadline: %+v", c)
			}
		})
	}
}
