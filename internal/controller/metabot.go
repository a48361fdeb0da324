package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
)

func (s *setup) metabot() error {
	c, mbs := s.mgr.GetClient(), s.metabots
	r := newReconciler(s, "Metabot", func() *b24v1.Metabot { return &b24v1.Metabot{} },
		&metabotAdapter{client: c, metabots: mbs})
	b := ctrl.NewControllerManagedBy(s.mgr).Named("metabot").
		For(&b24v1.Metabot{}, forPredicates()).
		WithOptions(s.controllerOptions()).
		// A Metabot being deleted waits for its ScheduledJobs.
		Watches(&b24v1.ScheduledJob{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.(*b24v1.ScheduledJob).Spec.MetabotRef.Name}}}
		}), builder.WithPredicates(deletedOnly()))
	return watchRefs(b, c, &b24v1.MetabotList{}).Complete(r)
}

// metabotAdapter makes a Metabot usable: it resolves the token and CA and builds the client.
// Metabot has no cheap call to check a token, so Ready means "usable", not "accepted": a
// refused token shows on the ScheduledJobs as AuthFailed.
type metabotAdapter struct {
	client   client.Client
	metabots *Metabots
}

func (a *metabotAdapter) Orphan(*b24v1.Metabot) bool { return false }

// DependedOnBy: a Metabot's deletion waits for the ScheduledJobs that use it.
func (a *metabotAdapter) DependedOnBy(*b24v1.Metabot) []managed.Dependents {
	return []managed.Dependents{{Kind: "ScheduledJob", List: &b24v1.ScheduledJobList{}, Field: refs.IndexMetabotRef}}
}

func (a *metabotAdapter) Connect(context.Context, *b24v1.Metabot) (managed.External[*b24v1.Metabot], error) {
	return &metabotExternal{a}, nil
}

type metabotExternal struct{ *metabotAdapter }

func (e *metabotExternal) Observe(ctx context.Context, mb *b24v1.Metabot, _ bool) (managed.Observation, error) {
	c, err := e.metabots.Client(ctx, mb)
	if err != nil {
		return managed.Observation{}, err
	}
	mb.Status.Endpoint = c.Endpoint()
	return managed.Observation{Exists: true, UpToDate: true, RequeueAfter: managed.DefaultResync,
		Message: "Token resolved; jobs are posted to " + c.Endpoint() + " (Metabot has no auth check: the first job sent tests the token)"}, nil
}

func (e *metabotExternal) Create(context.Context, *b24v1.Metabot) (managed.Applied, error) {
	return managed.Applied{Noop: true}, nil
}

func (e *metabotExternal) Update(context.Context, *b24v1.Metabot) (managed.Applied, error) {
	return managed.Applied{Noop: true}, nil
}

// Delete forgets the client; the loop has waited for the ScheduledJobs. Nothing remote
// belongs to a Metabot.
func (e *metabotExternal) Delete(_ context.Context, mb *b24v1.Metabot) (managed.Applied, error) {
	e.metabots.Forget(client.ObjectKeyFromObject(mb))
	return managed.Applied{}, nil
}

// getMetabot reads the named Metabot (the loop has waited for it to be Ready).
func getMetabot(ctx context.Context, c client.Client, ns, name string) (*b24v1.Metabot, error) {
	var mb b24v1.Metabot
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &mb); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, managed.Waiting(b24v1.ReasonDependencyNotReady, "Metabot %s not found", name)
		}
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "read Metabot %s: %v", name, err)
	}
	return &mb, nil
}
