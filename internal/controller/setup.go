// Package controller holds the operator's one reconcile loop (Reconciler) and the small
// per-kind adapters that know the Bitrix24 and Metabot calls.
package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/metabot"
	"github.com/b24ops/b24-operator/internal/refs"
)

// +kubebuilder:rbac:groups=b24ops.io,resources=portals;chatbots;chatapps;chats;botcommands;metabots;scheduledjobs,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=b24ops.io,resources=portals/status;chatbots/status;chatapps/status;chats/status;botcommands/status;metabots/status;scheduledjobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=b24ops.io,resources=portals/finalizers;chatbots/finalizers;chatapps/finalizers;chats/finalizers;botcommands/finalizers;metabots/finalizers;scheduledjobs/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Options configure every controller.
type Options struct {
	// MaxConcurrentReconciles per kind.
	MaxConcurrentReconciles int
	// HTTPTimeout bounds each remote request. Zero leaves each client its own default, the
	// one place it is declared: bitrix (75 s: Bitrix24 stops a request at 60 s) and metabot
	// (metabot.DefaultTimeout).
	HTTPTimeout time.Duration
	// ReconcileTimeout is the deadline of one reconcile's work (DefaultReconcileTimeout when
	// zero): an endpoint that does not answer holds a worker at most this long.
	ReconcileTimeout time.Duration
	// Circuit configures the per-portal-host circuit breakers (zero: the bitrix defaults).
	Circuit bitrix.CircuitConfig
	// Clock drives ScheduledJob timing; nil means the real clock.
	Clock Clock
	// BaseBackoff and MaxBackoff bound the per-object exponential backoff of retries.
	BaseBackoff, MaxBackoff time.Duration
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
	// AllowUnlabelledSecrets reads referenced Secrets that lack the refs.CredentialsLabel
	// (--require-secret-label=false, for single-team clusters). The cache must then watch
	// every Secret: see CacheByObject.
	AllowUnlabelledSecrets bool
	// DefaultDeletionPolicy applies to ChatBots, ChatApps, Chats and BotCommands that set no
	// spec.deletionPolicy in namespaces without the b24ops.io/default-deletion-policy
	// annotation; empty means Delete.
	DefaultDeletionPolicy b24v1.DeletionPolicy
	// BitrixOptions and MetabotOptions go to every Bitrix24 and Metabot client the controllers
	// build, before their own (the manager's size cap, response budget and outbound policy).
	BitrixOptions  []bitrix.Option
	MetabotOptions []metabot.Option
}

// DefaultReconcileTimeout is the deadline of one reconcile: a whole Bitrix24 call (90 s at
// most, retries included) plus the cluster reads and writes around it.
const DefaultReconcileTimeout = 2 * time.Minute

// Clock tells the time. Tests inject a fake one to drive cron ticks without sleeping.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Shared is what the controllers of one manager share.
type Shared struct {
	Portals *Portals
}

// Setup registers the field indexes and every controller with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	_, err := SetupWithShared(mgr, opts)
	return err
}

// SetupWithShared is Setup that also returns the shared client caches (for tests).
func SetupWithShared(mgr ctrl.Manager, opts Options) (*Shared, error) {
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = 4
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.ReconcileTimeout <= 0 {
		opts.ReconcileTimeout = DefaultReconcileTimeout
	}
	if err := setupIndexes(mgr); err != nil {
		return nil, err
	}
	// Every credential is read through creds, which refuses unlabelled Secrets.
	creds := credentialReader{Reader: mgr.GetAPIReader(), requireLabel: !opts.AllowUnlabelledSecrets}
	shared := &Shared{Portals: &Portals{Reader: creds, Writer: mgr.GetClient(), HTTPTimeout: opts.HTTPTimeout, Options: opts.BitrixOptions, Circuit: opts.Circuit}}
	s := &setup{mgr: mgr, opts: opts, shared: shared, content: newContentReader(creds, mgr.GetCache()),
		// The Metabot and ScheduledJob controllers share one client per Metabot object.
		metabots: &Metabots{Reader: creds, HTTPTimeout: opts.HTTPTimeout, Options: opts.MetabotOptions}}
	for _, k := range Kinds() {
		if err := k.setup(s); err != nil {
			return nil, fmt.Errorf("set up the %s controller: %w", k.Name, err)
		}
	}
	return shared, nil
}

type setup struct {
	mgr    ctrl.Manager
	opts   Options
	shared *Shared
	// content reads the images bots, apps and chats send.
	content *contentReader
	// metabots is shared by the Metabot and ScheduledJob controllers.
	metabots *Metabots
}

// newReconciler puts a kind's adapter on the loop.
func newReconciler[T managed.Object](s *setup, kind string, newObj func() T, a managed.Adapter[T]) *managed.Reconciler[T] {
	return &managed.Reconciler[T]{
		Client: s.mgr.GetClient(), Live: s.mgr.GetAPIReader(), Recorder: s.mgr.GetEventRecorder("b24-operator"),
		Kind: kind, New: newObj, Adapter: a, DefaultDeletionPolicy: s.opts.DefaultDeletionPolicy,
		Timeout: s.opts.ReconcileTimeout,
	}
}

func (s *setup) controllerOptions() controller.Options {
	skip := s.opts.SkipNameValidation
	return controller.Options{
		SkipNameValidation:      &skip,
		MaxConcurrentReconciles: s.opts.MaxConcurrentReconciles,
		RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](s.opts.BaseBackoff, s.opts.MaxBackoff),
	}
}

// forPredicates react to spec changes, annotation changes (reconcile-requested-at, resend)
// and deletion, not to the operator's own status writes.
func forPredicates() builder.Predicates {
	return builder.WithPredicates(predicate.Or(
		predicate.GenerationChangedPredicate{},
		predicate.AnnotationChangedPredicate{},
		predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
			return !e.ObjectNew.GetDeletionTimestamp().IsZero()
		}},
	))
}

// byIndex maps an object to the objects of list's kind in its namespace whose index field
// holds its name.
func byIndex(c client.Client, list client.ObjectList, field string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		return requestsFor(ctx, c, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{field: o.GetName()})
	})
}

// requestsFor lists objects of list's kind and returns a reconcile request for each.
func requestsFor(ctx context.Context, c client.Client, list client.ObjectList, opts ...client.ListOption) []reconcile.Request {
	l := list.DeepCopyObject().(client.ObjectList)
	if err := c.List(ctx, l, opts...); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	_ = meta.EachListItem(l, func(item runtime.Object) error {
		co := item.(client.Object)
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: co.GetNamespace(), Name: co.GetName()}})
		return nil
	})
	return reqs
}

// watchRefs re-reconciles the objects that read a Secret or ConfigMap when it changes. Only
// metadata is watched and cached: the content is read live when needed.
func watchRefs(b *builder.Builder, c client.Client, list client.ObjectList) *builder.Builder {
	return b.
		Watches(&corev1.Secret{}, byIndex(c, list, refs.IndexSecrets), builder.OnlyMetadata, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Watches(&corev1.ConfigMap{}, byIndex(c, list, refs.IndexConfigMaps), builder.OnlyMetadata, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{}))
}

// watchNamespacePolicy re-reconciles a namespace's objects of list's kind when its
// b24ops.io/default-deletion-policy annotation changes, so status.deletionPolicy follows.
func watchNamespacePolicy(b *builder.Builder, c client.Client, list client.ObjectList) *builder.Builder {
	changed := func(o, n client.Object) bool {
		return o.GetAnnotations()[b24v1.DefaultDeletionPolicyAnnotation] != n.GetAnnotations()[b24v1.DefaultDeletionPolicyAnnotation]
	}
	return b.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, ns client.Object) []reconcile.Request {
		return requestsFor(ctx, c, list, client.InNamespace(ns.GetName()))
	}), builder.WithPredicates(predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc:  func(e event.UpdateEvent) bool { return changed(e.ObjectOld, e.ObjectNew) },
	}))
}

func (s *setup) portal() error {
	c := s.mgr.GetClient()
	r := newReconciler(s, "Portal", func() *b24v1.Portal { return &b24v1.Portal{} },
		&portalAdapter{client: c, reader: s.mgr.GetAPIReader(), portals: s.shared.Portals})
	b := ctrl.NewControllerManagedBy(s.mgr).Named("portal").
		For(&b24v1.Portal{}, forPredicates()).
		WithOptions(s.controllerOptions()).
		// Bound bots and deletion progress follow the Portal's ChatBots.
		Watches(&b24v1.ChatBot{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.(*b24v1.ChatBot).Spec.PortalRef.Name}}}
		}), builder.WithPredicates(botIDOrLifecycleChanged()))
	return watchRefs(b, c, &b24v1.PortalList{}).Complete(r)
}

// botIDOrLifecycleChanged passes creates, deletes, and updates that change the bot id, the
// application key (a bot moved onto a new webhook identity) or the deletion state.
func botIDOrLifecycleChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*b24v1.ChatBot), e.ObjectNew.(*b24v1.ChatBot)
		return o.Status.BotID != n.Status.BotID || o.Status.ApplicationKey != n.Status.ApplicationKey ||
			o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
	}}
}

func (s *setup) chatBot() error {
	c := s.mgr.GetClient()
	r := newReconciler(s, "ChatBot", func() *b24v1.ChatBot { return &b24v1.ChatBot{} },
		&chatBotAdapter{client: c, reader: s.content, portals: s.shared.Portals})
	b := ctrl.NewControllerManagedBy(s.mgr).Named("chatbot").
		For(&b24v1.ChatBot{}, forPredicates()).
		WithOptions(s.controllerOptions()).
		// A Portal becoming ready (or changing) brings its bots along.
		Watches(&b24v1.Portal{}, byIndex(c, &b24v1.ChatBotList{}, refs.IndexPortalRef)).
		// A bot leaving frees a slot of the limit: wake the bots waiting for one.
		Watches(&b24v1.ChatBot{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return waitingForLimit(ctx, c)
		}), builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(event.CreateEvent) bool { return false },
			UpdateFunc: func(e event.UpdateEvent) bool { return !e.ObjectNew.GetDeletionTimestamp().IsZero() },
		})).
		// A bot being deleted waits for its apps, chats and commands.
		Watches(&b24v1.ChatApp{}, enqueueRef(func(a *b24v1.ChatApp) string { return a.Spec.BotRef.Name }), builder.WithPredicates(deletedOnly())).
		Watches(&b24v1.Chat{}, enqueueRef(func(c *b24v1.Chat) string { return c.Spec.BotRef.Name }), builder.WithPredicates(deletedOnly())).
		Watches(&b24v1.BotCommand{}, enqueueRef(func(c *b24v1.BotCommand) string { return c.Spec.BotRef.Name }), builder.WithPredicates(deletedOnly()))
	return watchNamespacePolicy(watchRefs(b, c, &b24v1.ChatBotList{}), c, &b24v1.ChatBotList{}).Complete(r)
}

func deletedOnly() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(event.UpdateEvent) bool { return false },
		DeleteFunc: func(event.DeleteEvent) bool { return true },
	}
}

// enqueueRef maps an object to the object its ref names. Each watch says how to read the
// ref of its own type, so no kind can be forgotten in a type switch.
func enqueueRef[T client.Object](ref func(T) string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		t, ok := o.(T)
		if !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: ref(t)}}}
	})
}

// waitsForAPlace are the Ready reasons of a ChatBot that another ChatBot's deletion may cure.
var waitsForAPlace = map[string]bool{b24v1.ReasonBotLimitExceeded: true, b24v1.ReasonCodeTaken: true, b24v1.ReasonInvalidSpec: true}

func waitingForLimit(ctx context.Context, c client.Client) []reconcile.Request {
	var bots b24v1.ChatBotList
	if err := c.List(ctx, &bots); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, b := range bots.Items {
		// The limit, a code or the application's handlers another bot held may be free now.
		if cond := meta.FindStatusCondition(b.Status.Conditions, b24v1.ConditionReady); cond != nil && waitsForAPlace[cond.Reason] {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&b)})
		}
	}
	return reqs
}
