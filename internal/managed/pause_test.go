package managed_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
)

// calls counts what the loop asked of an adapter.
type calls struct {
	connect, observe, create, update, delete int
	forced                                   []bool
}

// counting is an adapter that counts every call; Observe reports what obs says.
func counting(c *calls, obs managed.Observation) *adapter {
	ext := managed.ExternalFns[*thing]{
		ObserveFn: func(_ context.Context, _ *thing, force bool) (managed.Observation, error) {
			c.observe++
			c.forced = append(c.forced, force)
			return obs, nil
		},
		CreateFn: func(context.Context, *thing) (managed.Applied, error) { c.create++; return managed.Applied{}, nil },
		UpdateFn: func(context.Context, *thing) (managed.Applied, error) { c.update++; return managed.Applied{}, nil },
		DeleteFn: func(context.Context, *thing) (managed.Applied, error) { c.delete++; return managed.Applied{}, nil },
	}
	return &adapter{connect: func(context.Context, *thing) (managed.External[*thing], error) {
		c.connect++
		return ext, nil
	}}
}

func paused(t *thing) *thing {
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[b24v1.PausedAnnotation] = "true"
	return t
}

// withStatus gives t the conditions a previous reconcile left.
func withStatus(t *thing, conds ...metav1.Condition) *thing {
	t.Status.ObservedGeneration = t.Generation
	for _, c := range conds {
		c.ObservedGeneration = t.Generation
		t.Status.Conditions = append(t.Status.Conditions, c)
	}
	return t
}

func TestPause(t *testing.T) {
	readyTrue := metav1.Condition{Type: b24v1.ConditionReady, Status: metav1.ConditionTrue, Reason: b24v1.ReasonSucceeded, Message: "in sync"}
	stalled := []metav1.Condition{
		{Type: b24v1.ConditionReady, Status: metav1.ConditionFalse, Reason: b24v1.ReasonInvalidSpec, Message: "bad"},
		{Type: b24v1.ConditionStalled, Status: metav1.ConditionTrue, Reason: b24v1.ReasonInvalidSpec, Message: "bad"},
	}
	for _, tc := range []struct {
		name string
		obj  *thing
		// wantStatus is Ready's status while paused.
		wantStatus metav1.ConditionStatus
		// wantFinalizer says the object holds the finalizer after the reconciles.
		wantFinalizer bool
	}{
		{name: "a new paused object makes no call, gets no finalizer and reads Ready=False Paused",
			obj: paused(newThing("a")), wantStatus: metav1.ConditionFalse},
		{name: "a ready object keeps Ready=True with reason Paused",
			obj: paused(withStatus(held("a"), readyTrue)), wantStatus: metav1.ConditionTrue, wantFinalizer: true},
		{name: "a stalled object keeps Ready=False, and Stalled goes (the controller is not working on it)",
			obj: paused(withStatus(held("a"), stalled...)), wantStatus: metav1.ConditionFalse, wantFinalizer: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c calls
			h := newHarness(t, counting(&c, managed.Observation{Exists: true, UpToDate: true}), tc.obj)
			for range 2 {
				res, err := h.reconcile("a")
				if err != nil || res.RequeueAfter != 0 {
					t.Fatalf("result %+v, error %v: want no requeue (removing the annotation brings the object back)", res, err)
				}
			}
			if c.connect+c.observe+c.create+c.update+c.delete != 0 {
				t.Fatalf("adapter calls while paused: %+v", c)
			}
			got := h.get("a")
			if r := ready(got); r == nil || r.Status != tc.wantStatus || r.Reason != b24v1.ReasonPaused || r.ObservedGeneration != 1 {
				t.Fatalf("Ready %+v, want %s Paused for generation 1", r, tc.wantStatus)
			}
			for _, typ := range []string{b24v1.ConditionReconciling, b24v1.ConditionStalled} {
				if meta.FindStatusCondition(got.Status.Conditions, typ) != nil {
					t.Fatalf("%s present while paused", typ)
				}
			}
			if got.Status.ObservedGeneration != 1 {
				t.Fatalf("observedGeneration %d, want 1 (kstatus reads a paused object as current)", got.Status.ObservedGeneration)
			}
			if f := controllerutil.ContainsFinalizer(got, b24v1.Finalizer); f != tc.wantFinalizer {
				t.Fatalf("finalizer %v, want %v", f, tc.wantFinalizer)
			}
			if ev := h.rec.of(corev1.EventTypeNormal); len(ev) != 1 || ev[0].reason != managed.EventPaused {
				t.Fatalf("events %v, want one Paused over two reconciles", ev)
			}
		})
	}
}

func TestPauseHoldsSpecChangesAndResumes(t *testing.T) {
	var c calls
	h := newHarness(t, counting(&c, managed.Observation{Exists: true}), paused(withStatus(held("a"),
		metav1.Condition{Type: b24v1.ConditionReady, Status: metav1.ConditionTrue, Reason: b24v1.ReasonSucceeded, Message: "in sync"})))
	_, _ = h.reconcile("a")

	// A spec change and a reconcile request while paused: acknowledged, not acted on.
	o := h.get("a")
	o.Spec.Ref = "changed"
	o.Generation = 2
	o.Annotations[b24v1.ReconcileRequestedAtAnnotation] = "now"
	if err := h.c.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile("a"); err != nil {
		t.Fatal(err)
	}
	if c.connect+c.update != 0 {
		t.Fatalf("the spec change was acted on while paused: %+v", c)
	}
	if got := h.get("a"); got.Status.LastHandledReconcileAt != "now" || got.Status.ObservedGeneration != got.Generation {
		t.Fatalf("status %+v: want the request acknowledged and the generation observed", got.Status)
	}

	// Removing the annotation resumes: a fresh read, the waiting change applied, one event.
	o = h.get("a")
	delete(o.Annotations, b24v1.PausedAnnotation)
	if err := h.c.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile("a"); err != nil {
		t.Fatal(err)
	}
	if c.observe != 1 || !c.forced[0] || c.update != 1 {
		t.Fatalf("after resume: %+v, want one forced Observe and the update", c)
	}
	if r := ready(h.get("a")); r.Status != metav1.ConditionTrue || r.Reason != b24v1.ReasonSucceeded {
		t.Fatalf("Ready %+v after resume", r)
	}
	if ev := fmt.Sprint(h.rec.of(corev1.EventTypeNormal)); ev != fmt.Sprint([]event{
		{"Normal", managed.EventPaused, "Thing paused: no remote call until the b24ops.io/paused annotation is removed"},
		{"Normal", managed.EventResumed, "Thing resumed: the b24ops.io/paused annotation was removed"},
		{"Normal", managed.EventUpdated, "Thing updated"},
	}) {
		t.Fatalf("events %s", ev)
	}
}

func TestPauseNeverBlocksDeletion(t *testing.T) {
	for _, tc := range []struct {
		name       string
		orphan     bool
		wantDelete int
	}{
		{name: "deletionPolicy Delete removes the remote object although paused", wantDelete: 1},
		{name: "deletionPolicy Orphan keeps it", orphan: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c calls
			a := counting(&c, managed.Observation{Exists: true, UpToDate: true})
			a.orphan = tc.orphan
			h := newHarness(t, a, paused(held("a")))
			h.delete("a")
			if _, err := h.reconcile("a"); err != nil {
				t.Fatal(err)
			}
			if c.delete != tc.wantDelete || !h.gone("a") {
				t.Fatalf("Delete calls %d (want %d), gone %v", c.delete, tc.wantDelete, h.gone("a"))
			}
		})
	}
}
