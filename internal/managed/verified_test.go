package managed_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
)

// driftAdapter reads the remote object when a check is due (the way the Chat adapter does):
// it records what LastVerified said at each Observe, and fails or reports drift on demand.
type driftAdapter struct {
	seen    []time.Time
	fail    bool
	drifted bool
	updates int
}

func (d *driftAdapter) adapter() *adapter {
	return external(managed.ExternalFns[*thing]{
		ObserveFn: func(ctx context.Context, _ *thing, force bool) (managed.Observation, error) {
			last := managed.LastVerified(ctx)
			d.seen = append(d.seen, last)
			obs := managed.Observation{Exists: true, UpToDate: true, RequeueAfter: time.Minute}
			if !force && !managed.Due(ctx, time.Minute) {
				return obs, nil // trusted: no read
			}
			if d.fail {
				return obs, errors.New("remote read failed")
			}
			obs.Checked, obs.UpToDate = true, !d.drifted
			return obs, nil
		},
		UpdateFn: func(context.Context, *thing) (managed.Applied, error) { d.updates++; return managed.Applied{}, nil },
	})
}

// countWrites wraps c so that every write it sends is counted.
func countWrites(c client.WithWatch, n *atomic.Int32) client.WithWatch {
	return interceptor.NewClient(c, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			n.Add(1)
			return c.Patch(ctx, obj, p, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			n.Add(1)
			return c.Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			n.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			n.Add(1)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
}

func quietHarness(t *testing.T, d *driftAdapter, writes *atomic.Int32) *harness {
	base := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(newThing("a")).
		WithStatusSubresource(&thing{}).Build()
	return newProcess(t, countWrites(base, writes), d.adapter())
}

// TestDriftChecksAtRestWriteNothing pins the quiet resync: a drift check that finds the remote
// object as specified writes nothing; when it was made lives in the loop's memory, which
// Observe reads, which a failure clears and a restart starts empty.
func TestDriftChecksAtRestWriteNothing(t *testing.T) {
	var writes atomic.Int32
	d := &driftAdapter{}
	h := quietHarness(t, d, &writes)

	// First reconcile: finalizer and Ready, nothing verified before.
	res, err := h.reconcile("a")
	if err != nil {
		t.Fatal(err)
	}
	if !d.seen[0].IsZero() {
		t.Fatalf("the first Observe saw a last verification %v", d.seen[0])
	}
	if res.Priority == nil || *res.Priority != handler.LowPriority {
		t.Fatalf("the drift check requeue has priority %v, want LowPriority", res.Priority)
	}
	settled := writes.Load()
	if settled == 0 {
		t.Fatal("the first reconcile wrote nothing")
	}

	t.Run("a resync within the interval trusts the memory and writes nothing", func(t *testing.T) {
		if _, err := h.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		if last := d.seen[len(d.seen)-1]; last.IsZero() || time.Since(last) > time.Minute {
			t.Fatalf("Observe saw last verification %v, want the first reconcile's", last)
		}
		if got := writes.Load(); got != settled {
			t.Fatalf("%d writes, want none", got-settled)
		}
	})

	t.Run("a forced drift check that finds nothing changed writes only the acknowledgement", func(t *testing.T) {
		o := h.get("a")
		o.Annotations = map[string]string{b24v1.ReconcileRequestedAtAnnotation: "r1"}
		if err := h.c.Update(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		before := writes.Load()
		if _, err := h.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		if got := writes.Load() - before; got != 1 {
			t.Fatalf("%d writes, want 1 (status.lastHandledReconcileAt)", got)
		}
		if got := h.get("a").Status.LastHandledReconcileAt; got != "r1" {
			t.Fatalf("lastHandledReconcileAt = %q, want r1", got)
		}
		before = writes.Load()
		if _, err := h.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		if got := writes.Load() - before; got != 0 {
			t.Fatalf("a resync after the acknowledged request wrote %d times", got)
		}
	})

	t.Run("a failure forgets the verification, so the next pass reads again", func(t *testing.T) {
		o := h.get("a")
		o.Annotations[b24v1.ReconcileRequestedAtAnnotation] = "r2"
		if err := h.c.Update(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		d.fail = true
		_, _ = h.reconcile("a")
		d.fail = false
		if _, err := h.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		if last := d.seen[len(d.seen)-1]; !last.IsZero() {
			t.Fatalf("after a failure Observe saw last verification %v, want none", last)
		}
	})

	t.Run("drift found and corrected counts as a verification", func(t *testing.T) {
		p := newProcess(t, h.c, d.adapter())
		d.drifted = true
		if _, err := p.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		d.drifted = false
		if d.updates != 1 {
			t.Fatalf("%d updates, want 1", d.updates)
		}
		if _, err := p.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		if last := d.seen[len(d.seen)-1]; last.IsZero() {
			t.Fatal("the update was not remembered as a verification")
		}
	})

	t.Run("a new process checks every object once", func(t *testing.T) {
		p := newProcess(t, h.c, d.adapter())
		before := writes.Load()
		if _, err := p.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		if last := d.seen[len(d.seen)-1]; !last.IsZero() {
			t.Fatalf("a new process saw last verification %v", last)
		}
		if got := writes.Load() - before; got != 0 {
			t.Fatalf("the check after a restart wrote %d times", got)
		}
	})
}

// TestTheFirstDriftCheckAfterACreateWritesNothing pins Applied.Message: the Ready message a
// Create reports (naming the id it learnt) is the one the next drift check reports, so that
// check finds the status as it would write it.
func TestTheFirstDriftCheckAfterACreateWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		message    string
		wantWrites int32
	}{
		{name: "the create reports the drift check's message: no write", message: "thing 7 is in sync", wantWrites: 0},
		{name: "without it the first check rewrites Ready once", message: "", wantWrites: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var writes atomic.Int32
			created := false
			ext := managed.ExternalFns[*thing]{
				ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) {
					if !created {
						return managed.Observation{}, nil
					}
					return managed.Observation{Exists: true, UpToDate: true, Checked: true, Message: "thing 7 is in sync"}, nil
				},
				CreateFn: func(context.Context, *thing) (managed.Applied, error) {
					created = true
					return managed.Applied{Message: tc.message}, nil
				},
			}
			base := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(newThing("a")).
				WithStatusSubresource(&thing{}).Build()
			h := newProcess(t, countWrites(base, &writes), external(ext))
			if _, err := h.reconcile("a"); err != nil {
				t.Fatal(err)
			}
			before := writes.Load()
			if _, err := h.reconcile("a"); err != nil {
				t.Fatal(err)
			}
			if got := writes.Load() - before; got != tc.wantWrites {
				t.Fatalf("the first drift check wrote %d times, want %d", got, tc.wantWrites)
			}
		})
	}
}
