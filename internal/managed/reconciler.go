package managed

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// Event reasons of the loop's Normal events.
const (
	EventCreated   = "Created"
	EventUpdated   = "Updated"
	EventDeleted   = "Deleted"
	EventRecreated = "Recreated"
	EventOrphaned  = "Orphaned"
	EventPaused    = "Paused"
	EventResumed   = "Resumed"
)

const (
	// DefaultResync is the drift check interval when the adapter names none.
	DefaultResync = 10 * time.Minute
	// waitRequeue is the safety net of a wait for another object: watches normally bring the
	// object back first.
	waitRequeue = 2 * time.Minute
	// dependentsRequeue is the safety net of a deletion waiting for its dependents.
	dependentsRequeue = 30 * time.Second
)

// Reconciler is the one reconcile loop every kind runs on.
type Reconciler[T Object] struct {
	// written remembers the resourceVersion of each object's last write by this loop.
	written sync.Map
	// verified remembers when each object was last verified (see LastVerified).
	verified  sync.Map
	trackOnce sync.Once

	Client   client.Client
	Recorder events.EventRecorder
	// Live reads an object from the API server when the cached copy may predate this loop's
	// own last write (see fresh).
	Live    client.Reader
	New     func() T
	Adapter Adapter[T]
	// Kind names the objects in messages.
	Kind string
	// Jitter spreads a requeue; nil means +0..10%.
	Jitter func(time.Duration) time.Duration
	// DefaultDeletionPolicy applies to objects that set no deletion policy, in namespaces
	// without the b24ops.io/default-deletion-policy annotation; empty means Delete.
	DefaultDeletionPolicy b24v1.DeletionPolicy
	// Timeout is the deadline of the work of one reconcile (dependencies, remote calls); zero
	// means none. The outcome is written after it, on the worker's own context, so a
	// reconcile that ran out of time still says so in Ready. A remote endpoint that does not
	// answer then holds a worker for at most this long, and the other objects get their turn.
	Timeout time.Duration
}

// deadline bounds the work of one reconcile (Timeout).
func (r *Reconciler[T]) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.Timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, r.Timeout)
}

// Reconcile implements reconcile.Reconciler: read the object, put the finalizer on first,
// then reconcile it or its deletion; one status patch at the end, when anything changed.
func (r *Reconciler[T]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, err := r.fresh(ctx, req.NamespacedName)
	if err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.written.Delete(req.NamespacedName)
			r.verified.Delete(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}

	if !obj.GetDeletionTimestamp().IsZero() {
		r.verified.Delete(req.NamespacedName)
		return r.reconcileDelete(ctx, obj)
	}

	// A paused object gets no remote call and no finalizer it does not have yet: without one,
	// nothing was ever created for it remotely.
	if Paused(obj) {
		orig := obj.DeepCopyObject().(T)
		r.pause(obj)
		if _, err := r.recordDeletionPolicy(ctx, obj); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, r.patchStatus(ctx, orig, obj)
	}

	// The finalizer goes on before any remote call, so nothing created remotely can be
	// forgotten by a delete that races the first reconcile.
	if err := r.patchFinalizer(ctx, obj, controllerutil.AddFinalizer); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}

	orig := obj.DeepCopyObject().(T)
	ctx = WithLastVerified(ctx, r.lastVerified(req.NamespacedName))
	wctx, cancel := r.deadline(ctx)
	res, v, err := r.reconcileNormal(wctx, &orig, &obj)
	cancel()
	if err != nil {
		v = forget
	}
	// The request is acknowledged whatever the outcome (as Flux does), so a user waiting on
	// status.lastHandledReconcileAt learns the reconcile ran even when it failed; and only in
	// the last write, so a record-before-act write does not acknowledge an action not yet taken.
	obj.CommonStatus().LastHandledReconcileAt = obj.GetAnnotations()[b24v1.ReconcileRequestedAtAnnotation]
	if perr := r.patchStatus(ctx, orig, obj); perr != nil && err == nil {
		r.noteVerification(req.NamespacedName, forget)
		return reconcile.Result{}, perr
	}
	r.noteVerification(req.NamespacedName, v)
	return res, err
}

// reconcileNormal observes and acts. orig is the object as stored: a record-before-act write
// moves it forward, and a failed one takes back what was to be recorded.
func (r *Reconciler[T]) reconcileNormal(ctx context.Context, orig, objp *T) (reconcile.Result, verification, error) {
	obj := *objp
	st := obj.CommonStatus()
	requested := obj.GetAnnotations()[b24v1.ReconcileRequestedAtAnnotation]
	force := requested != "" && requested != st.LastHandledReconcileAt
	// The first reconcile after a pause reads the remote side afresh: it may have changed
	// for as long as the object was paused.
	if c := meta.FindStatusCondition(st.Conditions, b24v1.ConditionReady); c != nil && c.Reason == b24v1.ReasonPaused {
		force = true
		r.normal(obj, EventResumed, r.Kind+" resumed: the b24ops.io/paused annotation was removed")
	}

	if _, err := r.recordDeletionPolicy(ctx, obj); err != nil {
		return r.failed(ctx, *orig, obj, err)
	}
	if err := r.waitForDependencies(ctx, obj); err != nil {
		return r.failed(ctx, *orig, obj, Classify("resolve dependencies", err))
	}
	ext, err := r.Adapter.Connect(ctx, obj)
	if err != nil {
		return r.failed(ctx, *orig, obj, Classify("resolve dependencies", err))
	}
	obs, err := ext.Observe(ctx, obj, force)
	for _, e := range obs.Events {
		r.record(obj, e.Type, e.Reason, e.Message)
	}
	if err != nil {
		return r.failed(ctx, *orig, obj, Classify("read remote state", err))
	}
	if observeOnly(obj) {
		res, err := r.observed(ctx, *orig, obj, obs)
		v := keep
		switch {
		case !obs.Exists:
			v = forget
		case obs.Checked:
			v = verifiedNow
		}
		return res, v, err
	}
	v := keep
	if obs.Checked {
		v = verifiedNow
	}
	meta.RemoveStatusCondition(&st.Conditions, b24v1.ConditionSynced)
	switch {
	case !obs.Exists:
		before := obj.DeepCopyObject().(T)
		if rec, ok := ext.(RecordsBeforeCreate[T]); ok && rec.RecordBeforeCreate(obj) {
			if err := r.recordBeforeAct(ctx, *orig, obj); err != nil {
				*objp = before
				return r.failed(ctx, *orig, before, err)
			}
			*orig = obj.DeepCopyObject().(T)
		}
		done, err := ext.Create(ctx, obj)
		if err != nil {
			return r.failed(ctx, *orig, obj, Classify("create", err))
		}
		if done.Message != "" {
			obs.Message = done.Message
		}
		if obs.Missing {
			r.applied(obj, done, EventRecreated, r.Kind+" was missing remotely and was created again")
		} else {
			r.applied(obj, done, EventCreated, r.Kind+" created")
		}
		v = verifiedNow
	case !obs.UpToDate:
		done, err := ext.Update(ctx, obj)
		if err != nil {
			return r.failed(ctx, *orig, obj, Classify("update", err))
		}
		if done.Message != "" {
			obs.Message = done.Message
		}
		r.applied(obj, done, EventUpdated, r.Kind+" updated")
		v = verifiedNow
	}
	return r.succeed(obj, obs), v, nil
}

func (r *Reconciler[T]) reconcileDelete(ctx context.Context, obj T) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, b24v1.Finalizer) {
		return reconcile.Result{}, nil
	}
	orig := obj.DeepCopyObject().(T)
	policy, perr := r.recordDeletionPolicy(ctx, obj)
	if perr != nil {
		setDeleting(obj, perr.Reason, perr.Message)
		r.reportChange(ctx, orig, obj, perr)
		res, rerr := r.requeueFor(perr)
		if err := r.patchStatus(ctx, orig, obj); err != nil && rerr == nil {
			return reconcile.Result{}, err
		}
		return res, rerr
	}
	switch {
	case observeOnly(obj):
		r.normal(obj, EventOrphaned, r.Kind+" left in place remotely (managementPolicy ObserveOnly)")
	case r.Adapter.Orphan(obj) || policy == b24v1.DeletionPolicyOrphan:
		r.normal(obj, EventOrphaned, r.Kind+" left in place remotely (deletionPolicy Orphan)")
	default:
		wctx, cancel := r.deadline(ctx)
		done, err := r.deleteExternal(wctx, obj)
		cancel()
		if err != nil {
			e := Classify("delete", err)
			setDeleting(obj, e.Reason, e.Message)
			r.reportChange(ctx, orig, obj, e)
			res, rerr := r.requeueFor(e)
			if perr := r.patchStatus(ctx, orig, obj); perr != nil && rerr == nil {
				return reconcile.Result{}, perr
			}
			return res, rerr
		}
		r.applied(obj, done, EventDeleted, r.Kind+" deleted remotely")
	}
	// The remote object is gone (or left): a conflict on the finalizer is retried here on a
	// fresh copy, never by a new reconcile that would call the remote delete again.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		err := r.patchFinalizer(ctx, obj, controllerutil.RemoveFinalizer)
		if apierrors.IsConflict(err) {
			if gerr := r.reader().Get(ctx, client.ObjectKeyFromObject(obj), obj); gerr != nil {
				return gerr
			}
		}
		return err
	})
	// patchFinalizer remembered the version it wrote: a reconcile queued behind this one on a
	// cache that still holds the object with its finalizer reads live and finds it gone.
	return reconcile.Result{}, client.IgnoreNotFound(err)
}

// reader reads live where the loop has a live reader, else through its client.
func (r *Reconciler[T]) reader() client.Reader {
	if r.Live != nil {
		return r.Live
	}
	return r.Client
}

// recordDeletionPolicy resolves the deletion policy in effect of a kind that has one and
// records it in status: the object's own field, else its namespace's
// b24ops.io/default-deletion-policy annotation, else the manager's default. A namespace
// annotation that is neither Delete nor Orphan is ignored. Kinds without one get "".
func (r *Reconciler[T]) recordDeletionPolicy(ctx context.Context, obj T) (b24v1.DeletionPolicy, *Error) {
	o, ok := any(obj).(DeletionPolicyObject)
	if !ok {
		return "", nil
	}
	policy, err := r.deletionPolicy(ctx, obj.GetNamespace(), o.SpecDeletionPolicy())
	if err != nil {
		return "", err
	}
	if observeOnly(obj) {
		// Nothing observed is ever removed.
		policy = b24v1.DeletionPolicyOrphan
	}
	o.SetEffectiveDeletionPolicy(policy)
	return policy, nil
}

func (r *Reconciler[T]) deletionPolicy(ctx context.Context, namespace string, own *b24v1.DeletionPolicy) (b24v1.DeletionPolicy, *Error) {
	if own != nil && *own != "" {
		return *own, nil
	}
	var ns corev1.Namespace
	if err := r.Client.Get(ctx, types.NamespacedName{Name: namespace}, &ns); client.IgnoreNotFound(err) != nil {
		return "", Retryable(b24v1.ReasonRemoteError, "read namespace %s for its default deletion policy: %v", namespace, err)
	}
	switch p := b24v1.DeletionPolicy(ns.Annotations[b24v1.DefaultDeletionPolicyAnnotation]); p {
	case b24v1.DeletionPolicyDelete, b24v1.DeletionPolicyOrphan:
		return p, nil
	}
	if r.DefaultDeletionPolicy != "" {
		return r.DefaultDeletionPolicy, nil
	}
	return b24v1.DeletionPolicyDelete, nil
}

// deleteExternal waits for the dependents, then deletes the remote object. Something already
// gone counts as deleted.
func (r *Reconciler[T]) deleteExternal(ctx context.Context, obj T) (Applied, error) {
	if err := r.waitForDependents(ctx, obj); err != nil {
		return Applied{}, err
	}
	ext, err := r.Adapter.Connect(ctx, obj)
	if err != nil {
		return Applied{}, err
	}
	done, err := ext.Delete(ctx, obj)
	if err != nil && Classify("delete", err).Gone {
		return Applied{}, nil
	}
	return done, err
}

// waitForDependencies reads what the adapter declares obj depends on and waits until each is
// ready.
func (r *Reconciler[T]) waitForDependencies(ctx context.Context, obj T) error {
	d, ok := r.Adapter.(DependsOn[T])
	if !ok {
		return nil
	}
	return r.waitFor(ctx, obj.GetNamespace(), d.DependsOn(obj))
}

func (r *Reconciler[T]) waitFor(ctx context.Context, ns string, deps []Dependency) error {
	for _, dep := range deps {
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: dep.Name}, dep.Object); err != nil {
			if client.IgnoreNotFound(err) == nil {
				return Waiting(b24v1.ReasonDependencyNotReady, "%s %s not found", dep.Kind, dep.Name)
			}
			return Retryable(b24v1.ReasonRemoteError, "read %s %s: %v", dep.Kind, dep.Name, err)
		}
		if !dep.Object.GetDeletionTimestamp().IsZero() {
			return Waiting(b24v1.ReasonDependencyNotReady, "%s %s is being deleted", dep.Kind, dep.Name)
		}
		ready := dep.Ready
		if ready == nil {
			ready = readyForGeneration
		}
		if why := ready(dep.Object); why != "" {
			return Waiting(b24v1.ReasonDependencyNotReady, "%s %s %s", dep.Kind, dep.Name, why)
		}
		if dep.Then != nil {
			if err := r.waitFor(ctx, ns, dep.Then(dep.Object)); err != nil {
				return err
			}
		}
	}
	return nil
}

// readyForGeneration is the default readiness of a dependency: Ready=True for its current
// generation.
func readyForGeneration(o Object) string {
	st := o.CommonStatus()
	ready := meta.FindStatusCondition(st.Conditions, b24v1.ConditionReady)
	if ready != nil && ready.Status == metav1.ConditionTrue && st.ObservedGeneration == o.GetGeneration() {
		return ""
	}
	reason := "not reconciled yet"
	if ready != nil && ready.Status != metav1.ConditionTrue {
		reason = ready.Reason
	}
	return "is not ready (" + reason + ")"
}

// waitForDependents holds a deletion while objects that depend on obj exist: they need it to
// be removed cleanly (a bot's chat apps need the bot, a Portal's bots need its credentials).
func (r *Reconciler[T]) waitForDependents(ctx context.Context, obj T) error {
	d, ok := r.Adapter.(DependedOnBy[T])
	if !ok {
		return nil
	}
	var kinds, names []string
	all := d.DependedOnBy(obj)
	for _, deps := range all {
		l := deps.List.DeepCopyObject().(client.ObjectList)
		if err := r.Client.List(ctx, l, client.InNamespace(obj.GetNamespace()), client.MatchingFields{deps.Field: obj.GetName()}); err != nil {
			return Retryable(b24v1.ReasonRemoteError, "list %ss: %v", deps.Kind, err)
		}
		found := false
		_ = meta.EachListItem(l, func(item runtime.Object) error {
			name := item.(client.Object).GetName()
			if len(all) > 1 {
				name = deps.Kind + " " + name
			}
			names = append(names, name)
			found = true
			return nil
		})
		if found {
			kinds = append(kinds, deps.Kind+"s")
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return &Error{Reason: b24v1.ReasonDeleting, Outcome: Wait, RequeueAfter: dependentsRequeue,
		Message: "waiting for the " + strings.Join(kinds, " and ") + " that use this " + r.Kind + " to be deleted: " + strings.Join(names, ", ")}
}

// recordBeforeAct writes the status the adapter prepared with an optimistic lock: if the
// object changed since it was read (another reconcile acted on it), nothing is done.
func (r *Reconciler[T]) recordBeforeAct(ctx context.Context, orig, obj T) *Error {
	patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Status().Patch(ctx, obj, patch); err != nil {
		if isConflict(err) {
			return Retryable(b24v1.ReasonProgressing, "the %s changed while the action was being prepared; nothing was done, reading it again", r.Kind)
		}
		return Retryable(b24v1.ReasonRemoteError, "record the action before taking it (nothing was done): %v", err)
	}
	r.remember(obj)
	return nil
}

// patchFinalizer adds or removes the finalizer with a patch of metadata.finalizers alone. An
// Update would send the whole object re-serialized from Go types ("10m" comes back as
// "10m0s", an offset time as UTC), a spec write that GitOps tools show as drift.
func (r *Reconciler[T]) patchFinalizer(ctx context.Context, obj T, change func(client.Object, string) bool) error {
	orig := obj.DeepCopyObject().(T)
	if !change(obj, b24v1.Finalizer) {
		return nil
	}
	if err := r.Client.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	r.remember(obj)
	return nil
}

// fresh reads the object from the cache, or live when the cached copy is not the one this
// loop last wrote: a reconcile queued right behind a status write must not decide on the
// copy from before it (it would look a chat up, or register an app, again; a ScheduledJob
// decides whether to send on the attempt it recorded). Another writer's change also reads
// live once, which is harmless.
func (r *Reconciler[T]) fresh(ctx context.Context, key types.NamespacedName) (T, error) {
	obj := r.New()
	if err := r.Client.Get(ctx, key, obj); err != nil {
		return obj, err
	}
	last, ok := r.written.Load(key)
	if !ok || r.Live == nil || last.(string) == obj.GetResourceVersion() {
		return obj, nil
	}
	live := r.New()
	if err := r.Live.Get(ctx, key, live); err != nil {
		return obj, err
	}
	return live, nil
}

func (r *Reconciler[T]) remember(obj T) {
	r.written.Store(types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}, obj.GetResourceVersion())
}

func observeOnly(obj client.Object) bool {
	o, ok := obj.(ObservedObject)
	return ok && o.ObserveOnly()
}

// observed ends the reconcile of an ObserveOnly object: what Observe found goes to status and
// the Synced condition; nothing is created or updated. A remote object that is not found is
// waited for (Ready=False, DependencyNotReady) and looked for again at the next resync.
func (r *Reconciler[T]) observed(ctx context.Context, orig, obj T, obs Observation) (reconcile.Result, error) {
	if !obs.Exists {
		msg := "no remote " + r.Kind + " was found; managementPolicy ObserveOnly creates nothing"
		if obs.NotFound != "" {
			msg += ": " + obs.NotFound
		}
		setCondition(obj, b24v1.ConditionSynced, metav1.ConditionFalse, b24v1.SyncedReasonNotFound, msg)
		after := obs.RequeueAfter
		if after <= 0 {
			after = DefaultResync
		}
		return r.fail(ctx, orig, obj, &Error{Reason: b24v1.ReasonDependencyNotReady, Outcome: Wait, RequeueAfter: after,
			Message: "waiting for the remote " + r.Kind + " to exist: managementPolicy ObserveOnly creates nothing"})
	}
	if obs.UpToDate {
		setCondition(obj, b24v1.ConditionSynced, metav1.ConditionTrue, b24v1.SyncedReasonInSync, "the remote "+r.Kind+" matches the spec")
	} else {
		msg := "the remote " + r.Kind + " differs from the spec"
		if len(obs.Drift) > 0 {
			msg += ": " + strings.Join(obs.Drift, ", ")
		}
		setCondition(obj, b24v1.ConditionSynced, metav1.ConditionFalse, b24v1.SyncedReasonDrifted, msg)
	}
	obs.Message = r.Kind + " observed, never written (managementPolicy ObserveOnly); condition Synced says whether it matches the spec"
	return r.succeed(obj, obs), nil
}

// Paused says the object carries b24ops.io/paused: "true".
func Paused(obj client.Object) bool {
	return obj.GetAnnotations()[b24v1.PausedAnnotation] == "true"
}

// pausedMessage is the Ready message of a paused object.
const pausedMessage = "paused by the b24ops.io/paused annotation: no remote call is made and spec changes wait until it is removed"

// pause records the paused state: Ready keeps its status (False before any reconcile) with
// reason Paused, for the current generation, and Reconciling and Stalled go, as the
// controller is not working on the object: kstatus reads a paused object that was Ready as
// current (one that was failing stays in progress), Argo CD shows it Suspended. A reconcile
// request is acknowledged, as on every other path. One event when the pause begins.
func (r *Reconciler[T]) pause(obj T) {
	st := obj.CommonStatus()
	st.LastHandledReconcileAt = obj.GetAnnotations()[b24v1.ReconcileRequestedAtAnnotation]
	status := metav1.ConditionFalse
	already := false
	if c := meta.FindStatusCondition(st.Conditions, b24v1.ConditionReady); c != nil {
		status = c.Status
		already = c.Reason == b24v1.ReasonPaused
	}
	setCondition(obj, b24v1.ConditionReady, status, b24v1.ReasonPaused, pausedMessage)
	meta.RemoveStatusCondition(&st.Conditions, b24v1.ConditionReconciling)
	meta.RemoveStatusCondition(&st.Conditions, b24v1.ConditionStalled)
	st.ObservedGeneration = obj.GetGeneration()
	if !already {
		r.normal(obj, EventPaused, r.Kind+" paused: no remote call until the b24ops.io/paused annotation is removed")
	}
}

// succeed records Ready=True for the generation just applied.
func (r *Reconciler[T]) succeed(obj T, obs Observation) reconcile.Result {
	st := obj.CommonStatus()
	msg := obs.Message
	if msg == "" {
		msg = r.Kind + " is in sync"
	}
	reason := b24v1.ReasonSucceeded
	if obs.Reason != "" {
		reason = obs.Reason
	}
	setCondition(obj, b24v1.ConditionReady, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&st.Conditions, b24v1.ConditionReconciling)
	meta.RemoveStatusCondition(&st.Conditions, b24v1.ConditionStalled)
	st.ObservedGeneration = obj.GetGeneration()
	after := obs.RequeueAfter
	if after <= 0 {
		after = DefaultResync
	}
	if !obs.Exact {
		after = r.jitter(after)
	}
	// The next drift check waits behind new and changed objects (whose events come at the
	// default priority) in the controller's priority queue.
	return reconcile.Result{RequeueAfter: after, Priority: ptr.To(handler.LowPriority)}
}

// failed is fail on the normal path: the last verification is forgotten.
func (r *Reconciler[T]) failed(ctx context.Context, orig, obj T, e *Error) (reconcile.Result, verification, error) {
	res, err := r.fail(ctx, orig, obj, e)
	return res, forget, err
}

// fail records a failure and decides the requeue.
func (r *Reconciler[T]) fail(ctx context.Context, orig, obj T, e *Error) (reconcile.Result, error) {
	st := obj.CommonStatus()
	setCondition(obj, b24v1.ConditionReady, metav1.ConditionFalse, e.Reason, e.Message)
	switch e.Outcome {
	case Stall:
		setCondition(obj, b24v1.ConditionStalled, metav1.ConditionTrue, e.Reason, e.Message)
		meta.RemoveStatusCondition(&st.Conditions, b24v1.ConditionReconciling)
		// The controller is done with this generation: it cannot be applied as it is.
		st.ObservedGeneration = obj.GetGeneration()
	default:
		setCondition(obj, b24v1.ConditionReconciling, metav1.ConditionTrue, e.Reason, e.Message)
		meta.RemoveStatusCondition(&st.Conditions, b24v1.ConditionStalled)
	}
	r.reportChange(ctx, orig, obj, e)
	return r.requeueFor(e)
}

func (r *Reconciler[T]) requeueFor(e *Error) (reconcile.Result, error) {
	switch e.Outcome {
	case Stall:
		// A stall that must still wake at a known time (the next cron tick) says when.
		if e.RequeueAfter > 0 {
			return reconcile.Result{RequeueAfter: e.RequeueAfter}, nil
		}
		// No hot requeue: a spec, Secret or dependency change brings the object back; the
		// slow requeue notices remote changes (a CODE freed by another application).
		return reconcile.Result{RequeueAfter: r.jitter(DefaultResync)}, nil
	case Wait:
		after := e.RequeueAfter
		if after <= 0 {
			after = waitRequeue
		}
		return reconcile.Result{RequeueAfter: r.jitter(after)}, nil
	default:
		if e.RequeueAfter > 0 {
			return reconcile.Result{RequeueAfter: e.RequeueAfter}, nil
		}
		// The workqueue's per-object exponential backoff decides when.
		return reconcile.Result{}, errRetry{e}
	}
}

// errRetry hands a retryable failure to the workqueue's backoff without a stack trace.
type errRetry struct{ e *Error }

func (e errRetry) Error() string { return e.e.Reason + ": " + e.e.Message }

// reportChange records one Warning event and one log line when the failure changed the
// conditions, so a failure that repeats on every retry, on the normal and on the delete path
// alike, produces one event and one line, not one per attempt.
func (r *Reconciler[T]) reportChange(ctx context.Context, orig, obj T, e *Error) {
	l := log.FromContext(ctx).WithValues("object", client.ObjectKeyFromObject(obj).String(), "kind", r.Kind)
	if !conditionsChanged(orig.CommonStatus().Conditions, obj.CommonStatus().Conditions) {
		l.V(1).Info("still failing", "outcome", e.Outcome.String(), "reason", e.Reason)
		return
	}
	l.Info("reconcile failed", "outcome", e.Outcome.String(), "reason", e.Reason, "message", e.Message)
	r.record(obj, corev1.EventTypeWarning, e.Reason, e.Message)
}

// conditionsChanged compares the type, status, reason and message of every condition.
func conditionsChanged(before, after []metav1.Condition) bool {
	if len(before) != len(after) {
		return true
	}
	for _, a := range after {
		b := meta.FindStatusCondition(before, a.Type)
		if b == nil || b.Status != a.Status || b.Reason != a.Reason || b.Message != a.Message {
			return true
		}
	}
	return false
}

// applied records the event of a Create, Update or Delete.
func (r *Reconciler[T]) applied(obj T, done Applied, reason, msg string) {
	switch {
	case done.Noop:
	case done.Event != nil:
		r.record(obj, done.Event.Type, done.Event.Reason, done.Event.Message)
	default:
		r.normal(obj, reason, msg)
	}
}

// normal records one of the loop's Normal events, worded by the adapter when it says so.
func (r *Reconciler[T]) normal(obj T, reason, msg string) {
	if w, ok := r.Adapter.(EventWording); ok {
		m, emit := w.EventMessage(reason)
		if !emit {
			return
		}
		if m != "" {
			msg = m
		}
	}
	r.record(obj, corev1.EventTypeNormal, reason, msg)
}

// record is the one place events are recorded.
func (r *Reconciler[T]) record(obj T, typ, reason, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, typ, reason, "Reconcile", "%s", msg)
	}
}

// patchStatus writes the status when it changed.
func (r *Reconciler[T]) patchStatus(ctx context.Context, orig, obj T) error {
	patch := client.MergeFrom(orig)
	data, err := patch.Data(obj)
	if err != nil {
		return err
	}
	if string(data) == "{}" {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, obj, patch); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.remember(obj)
	return nil
}

func (r *Reconciler[T]) jitter(d time.Duration) time.Duration {
	if r.Jitter != nil {
		return r.Jitter(d)
	}
	return Jitter(d)
}

func setDeleting(obj Object, reason, msg string) {
	if reason == "" {
		reason = b24v1.ReasonDeleting
	}
	setCondition(obj, b24v1.ConditionReady, metav1.ConditionFalse, b24v1.ReasonDeleting, msg)
	setCondition(obj, b24v1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
}

func setCondition(obj Object, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&obj.CommonStatus().Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: obj.GetGeneration(),
	})
}

// Jitter spreads drift checks over +0..10% so objects created together do not resync in step.
func Jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}
