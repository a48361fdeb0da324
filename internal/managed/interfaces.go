// Package managed is the operator's one reconcile loop. It owns all of the policy every kind
// shares: reading the object, the finalizer and the deletion policy, every status write
// (a kind's record-before-act step included), the conditions and observedGeneration, every
// Event, dependency waits before acting and the wait for dependents before deleting,
// requeue, jitter, backoff and exact wake-ups, and the pause (b24ops.io/paused: no adapter
// call at all but a deletion's).
//
// A kind supplies an Adapter: it translates the spec into remote calls and reports what it
// found (Observe) and what it did (Create, Update, Delete). Adapters never write the object,
// never record events and never decide what a failure means; the clients classify their
// errors (internal/errclass) and the loop applies the policy.
//
// The model is crossplane-runtime's pkg/reconciler/managed. The package knows no kind.
package managed

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

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
	// Checked says Observe read the remote object in this reconcile (a drift check), rather
	// than trusting the last verification (LastVerified). When it is found up to date, the
	// loop remembers the time in memory; it writes nothing for it.
	Checked bool
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
	// Drift names what differs between the remote object and the spec when UpToDate is false
	// ("properties.name"), for the Synced condition of an ObserveOnly object.
	Drift []string
	// NotFound, for an ObserveOnly object whose remote object was not found (Exists false),
	// says how to point at it; it is added to the Synced message.
	NotFound string
	// Events are events the loop records for what Observe found (a request acknowledged
	// and ignored, ticks skipped), also when Observe returns an error.
	Events []Event
}

// Event is an event the loop records on the object.
type Event struct {
	// Type is corev1.EventTypeNormal or corev1.EventTypeWarning.
	Type    string
	Reason  string
	Message string
}

// Applied is what a Create, Update or Delete did, for the event the loop records.
type Applied struct {
	// Noop says nothing changed remotely: the loop records no event.
	Noop bool
	// Event replaces the loop's own event (Created, Updated, Deleted...).
	Event *Event
	// Message, when set, replaces the Observation's Ready message after a Create or Update
	// (one that learnt the remote id): the Ready message must be the one the next drift
	// check reports, or that check rewrites the condition for nothing.
	Message string
}

// External acts on the remote object of one Kubernetes object. Implementations record what
// they learnt and did in obj's status in memory; the loop writes it.
type External[T Object] interface {
	// Observe reads the remote state. force asks for a fresh read, bypassing shared caches.
	// It makes no write call, remote or in the cluster.
	Observe(ctx context.Context, obj T, force bool) (Observation, error)
	Create(ctx context.Context, obj T) (Applied, error)
	Update(ctx context.Context, obj T) (Applied, error)
	// Delete removes the remote object. An error whose class says Gone counts as deleted.
	Delete(ctx context.Context, obj T) (Applied, error)
}

// Adapter is the per-kind part of the loop.
type Adapter[T Object] interface {
	// Connect resolves what obj needs to act (a client) and returns the External for it. It
	// makes no write call. The dependencies declared with DependsOn are Ready when it runs.
	Connect(ctx context.Context, obj T) (External[T], error)
	// Orphan says the remote object must be left alone on deletion whatever the deletion
	// policy (a kind with nothing to remove). The loop applies spec.deletionPolicy itself
	// (DeletionPolicyObject).
	Orphan(obj T) bool
}

// DeletionPolicyObject is an optional capability of an Object: a kind with spec.deletionPolicy.
// The loop resolves the policy in effect (the object's field, else its namespace's
// b24ops.io/default-deletion-policy annotation, else the manager's default), records it in
// status and, on deletion, leaves the remote object alone when it is Orphan.
type DeletionPolicyObject interface {
	SpecDeletionPolicy() *b24v1.DeletionPolicy
	SetEffectiveDeletionPolicy(b24v1.DeletionPolicy)
}

// ObservedObject is an optional capability of an Object: a kind with spec.managementPolicy.
// When ObserveOnly says true the loop never calls Create, Update or Delete: a missing remote
// object is reported, drift goes to the Synced condition, deletion leaves the remote object.
type ObservedObject interface {
	ObserveOnly() bool
}

// DependsOn is an optional capability of an Adapter: the objects obj needs before anything is
// done for it. The loop waits (DependencyNotReady) until each exists, is not being deleted
// and is ready; watches bring obj back when they change. Not consulted on deletion, which
// uses whatever is left.
type DependsOn[T Object] interface {
	DependsOn(obj T) []Dependency
}

// Dependency is one object another needs, in the same namespace.
type Dependency struct {
	// Kind names it in messages ("Portal").
	Kind string
	Name string
	// Object is an empty object of its type; the loop reads it into it.
	Object Object
	// Ready, when set, replaces the default test (Ready=True for its current generation): it
	// returns "" when the dependency is usable, or what obj is waiting for.
	Ready func(Object) string
	// Then lists what follows from this dependency once read (the Portal of a ChatBot).
	Then func(Object) []Dependency
}

// DependedOnBy is an optional capability of an Adapter: the objects that must be gone before
// obj's deletion proceeds (a Portal's ChatBots). The loop waits while any is listed.
type DependedOnBy[T Object] interface {
	DependedOnBy(obj T) []Dependents
}

// Dependents are the objects of one kind whose index field names obj, in obj's namespace.
type Dependents struct {
	// Kind names them in messages ("ChatBot").
	Kind string
	// List is an empty list of their type.
	List client.ObjectList
	// Field is the field index holding the name of the object they depend on.
	Field string
}

// RecordsBeforeCreate is an optional capability of an External: a step whose effect cannot be
// read back remotely (a Metabot job sent twice runs twice) records its intent first. The loop
// calls RecordBeforeCreate after Observe; when it returns true the loop writes the status
// with an optimistic lock before calling Create, and does not call Create when that write
// fails. A crash after the write and before the outcome is recorded leaves the record in
// status, where the next Observe finds it.
type RecordsBeforeCreate[T Object] interface {
	RecordBeforeCreate(obj T) bool
}

// EventWording is an optional capability of an Adapter: it words (or, returning false,
// leaves out) the loop's Normal events for its kind.
type EventWording interface {
	EventMessage(reason string) (message string, emit bool)
}

// ExternalFns is an External made of functions; a nil function does nothing.
type ExternalFns[T Object] struct {
	ObserveFn func(ctx context.Context, obj T, force bool) (Observation, error)
	CreateFn  func(ctx context.Context, obj T) (Applied, error)
	UpdateFn  func(ctx context.Context, obj T) (Applied, error)
	DeleteFn  func(ctx context.Context, obj T) (Applied, error)
}

func (e ExternalFns[T]) Observe(ctx context.Context, obj T, force bool) (Observation, error) {
	if e.ObserveFn == nil {
		return Observation{Exists: true, UpToDate: true}, nil
	}
	return e.ObserveFn(ctx, obj, force)
}

func (e ExternalFns[T]) Create(ctx context.Context, obj T) (Applied, error) {
	if e.CreateFn == nil {
		return Applied{Noop: true}, nil
	}
	return e.CreateFn(ctx, obj)
}

func (e ExternalFns[T]) Update(ctx context.Context, obj T) (Applied, error) {
	if e.UpdateFn == nil {
		return Applied{Noop: true}, nil
	}
	return e.UpdateFn(ctx, obj)
}

func (e ExternalFns[T]) Delete(ctx context.Context, obj T) (Applied, error) {
	if e.DeleteFn == nil {
		return Applied{Noop: true}, nil
	}
	return e.DeleteFn(ctx, obj)
}
