package controller

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// Object is what the loop needs of every kind.
type Object interface {
	client.Object
	CommonStatus() *b24v1.CommonStatus
}

// Observation is what an adapter learnt about the remote object.
type Observation struct {
	// Exists is false when there is nothing remote yet: the loop calls Create.
	Exists bool
	// UpToDate is false when the remote object differs from the spec: the loop calls Update.
	UpToDate bool
	// Missing is true when the remote object existed and is gone: Create is reported as
	// Recreated.
	Missing bool
	// Message is the Ready message on success.
	Message string
	// RequeueAfter is when to look again (drift checks, cron ticks). Jitter is added.
	RequeueAfter time.Duration
	// Exact disables the jitter (cron ticks must not fire late).
	Exact bool
	// Reason, when set, replaces Succeeded as the Ready reason of a settled state the user
	// asked for (a suspended schedule): Ready=True, so kstatus, Flux and ArgoCD read the
	// object as current, and the reason says what it is doing.
	Reason string
}

// External acts on the remote object of one Kubernetes object. Implementations record what
// they did in obj's status; the loop writes it.
type External[T Object] interface {
	// Observe reads the remote state. force asks for a fresh read, bypassing shared caches.
	Observe(ctx context.Context, obj T, force bool) (Observation, error)
	Create(ctx context.Context, obj T) error
	Update(ctx context.Context, obj T) error
	// Delete removes the remote object. Something already gone counts as deleted.
	Delete(ctx context.Context, obj T) error
}

// Adapter is the per-kind part of the loop.
type Adapter[T Object] interface {
	// Connect resolves what obj depends on (Portal, client, ChatBot...) and returns the
	// External for it. It makes no write call.
	Connect(ctx context.Context, obj T) (External[T], error)
	// Orphan says the remote object must be left alone on deletion.
	Orphan(obj T) bool
}

// Event reasons.
const (
	EventCreated   = "Created"
	EventUpdated   = "Updated"
	EventDeleted   = "Deleted"
	EventRecreated = "Recreated"
	EventOrphaned  = "Orphaned"
)

const (
	defaultResync = 10 * time.Minute
	waitRequeue   = 2 * time.Minute
)

// Reconciler is the one reconcile loop every kind runs on: finalizer, deletion policy,
// conditions, observedGeneration, requeue and backoff, events. Kinds only write an Adapter.
type Reconciler[T Object] struct {
	// written remembers the resourceVersion of each object's last write by this loop.
	written sync.Map

	Client   client.Client
	Recorder events.EventRecorder
	// Live reads an object from the API server when the cached copy may predate this loop's
	// own last write (see fresh).
	Live    client.Reader
	New     func() T
	Adapter Adapter[T]
	// Kind names the objects in messages.
	Kind string
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler[T]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, err := r.fresh(ctx, req.NamespacedName)
	if err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.written.Delete(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}

	if !obj.GetDeletionTimestamp().IsZero() {
		return r.reconcileDelete(ctx, obj)
	}

	// The finalizer goes on before any remote call, so nothing created remotely can be
	// forgotten by a delete that races the first reconcile.
	if err := r.patchFinalizer(ctx, obj, controllerutil.AddFinalizer); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}

	orig := obj.DeepCopyObject().(T)
	res, err := r.reconcileNormal(ctx, obj)
	if perr := r.patchStatus(ctx, orig, obj); perr != nil && err == nil {
		return reconcile.Result{}, perr
	}
	return res, err
}

func (r *Reconciler[T]) reconcileNormal(ctx context.Context, obj T) (reconcile.Result, error) {
	st := obj.CommonStatus()
	requested := obj.GetAnnotations()[b24v1.ReconcileRequestedAtAnnotation]
	force := requested != "" && requested != st.LastHandledReconcileAt
	// The request is acknowledged whatever the outcome (as Flux does), so a user waiting on
	// status.lastHandledReconcileAt learns the reconcile ran even when it failed.
	st.LastHandledReconcileAt = requested

	ext, err := r.Adapter.Connect(ctx, obj)
	if err != nil {
		return r.fail(ctx, obj, classify("resolve dependencies", err))
	}
	obs, err := ext.Observe(ctx, obj, force)
	if err != nil {
		return r.fail(ctx, obj, classify("read remote state", err))
	}
	switch {
	case !obs.Exists:
		if err := ext.Create(ctx, obj); err != nil {
			return r.fail(ctx, obj, classify("create", err))
		}
		if obs.Missing {
			r.event(obj, "Normal", EventRecreated, r.Kind+" was missing remotely and was created again")
		} else {
			r.event(obj, "Normal", EventCreated, r.Kind+" created")
		}
	case !obs.UpToDate:
		if err := ext.Update(ctx, obj); err != nil {
			return r.fail(ctx, obj, classify("update", err))
		}
		r.event(obj, "Normal", EventUpdated, r.Kind+" updated")
	}
	return r.succeed(obj, obs), nil
}

func (r *Reconciler[T]) reconcileDelete(ctx context.Context, obj T) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, b24v1.Finalizer) {
		return reconcile.Result{}, nil
	}
	orig := obj.DeepCopyObject().(T)
	if r.Adapter.Orphan(obj) {
		r.event(obj, "Normal", EventOrphaned, r.Kind+" left in place remotely (deletionPolicy Orphan)")
	} else {
		ext, err := r.Adapter.Connect(ctx, obj)
		if err == nil {
			err = ext.Delete(ctx, obj)
		}
		if err != nil {
			e := classify("delete", err)
			setDeleting(obj, e.Reason, e.Message)
			r.warnOnChange(orig, obj, e)
			res, rerr := requeueFor(e)
			if perr := r.patchStatus(ctx, orig, obj); perr != nil && rerr == nil {
				return reconcile.Result{}, perr
			}
			return res, rerr
		}
		r.event(obj, "Normal", EventDeleted, r.Kind+" deleted remotely")
	}
	if err := r.patchFinalizer(ctx, obj, controllerutil.RemoveFinalizer); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	r.written.Delete(client.ObjectKeyFromObject(obj))
	return reconcile.Result{}, nil
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
		after = defaultResync
	}
	if !obs.Exact {
		after = jitter(after)
	}
	return reconcile.Result{RequeueAfter: after}
}

// fail records a failure and decides the requeue.
func (r *Reconciler[T]) fail(ctx context.Context, obj T, e *Error) (reconcile.Result, error) {
	orig := obj.DeepCopyObject().(T)
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
	r.warnOnChange(orig, obj, e)
	if e.Outcome == Retry {
		log.FromContext(ctx).V(1).Info("retrying", "reason", e.Reason, "message", e.Message)
	}
	return requeueFor(e)
}

func requeueFor(e *Error) (reconcile.Result, error) {
	switch e.Outcome {
	case Stall:
		// A stall that must still wake at a known time (the next cron tick) says when.
		if e.RequeueAfter > 0 {
			return reconcile.Result{RequeueAfter: e.RequeueAfter}, nil
		}
		// No hot requeue: a spec, Secret or dependency change brings the object back; the
		// slow requeue notices remote changes (a CODE freed by another application).
		return reconcile.Result{RequeueAfter: jitter(defaultResync)}, nil
	case Wait:
		after := e.RequeueAfter
		if after <= 0 {
			after = waitRequeue
		}
		return reconcile.Result{RequeueAfter: jitter(after)}, nil
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

// warnOnChange emits a Warning event when the Ready condition changed, so a failure that
// repeats on every retry produces one event, not one per attempt.
func (r *Reconciler[T]) warnOnChange(orig, obj T, e *Error) {
	before := meta.FindStatusCondition(orig.CommonStatus().Conditions, b24v1.ConditionReady)
	if before != nil && before.Status == metav1.ConditionFalse && before.Reason == e.Reason && before.Message == e.Message {
		return
	}
	r.event(obj, "Warning", e.Reason, e.Message)
}

// EventWording is optionally implemented by an Adapter to word (or, returning false, to
// leave out) the loop's Normal events for its kind.
type EventWording interface {
	EventMessage(reason string) (message string, emit bool)
}

func (r *Reconciler[T]) event(obj T, typ, reason, msg string) {
	if w, ok := r.Adapter.(EventWording); ok && typ == "Normal" {
		m, emit := w.EventMessage(reason)
		if !emit {
			return
		}
		if m != "" {
			msg = m
		}
	}
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

// jitter spreads drift checks over +0..10% so objects created together do not resync in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

var _ = errors.New
