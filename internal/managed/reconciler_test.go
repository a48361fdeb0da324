package managed_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/errclass"
	"github.com/b24ops/b24-operator/internal/managed"
)

const ns = "default"

// ---- function-based fakes ----

// adapter is an Adapter made of functions.
type adapter struct {
	connect func(ctx context.Context, t *thing) (managed.External[*thing], error)
	orphan  bool
}

func (a *adapter) Connect(ctx context.Context, t *thing) (managed.External[*thing], error) {
	return a.connect(ctx, t)
}

func (a *adapter) Orphan(*thing) bool { return a.orphan }

// external returns an adapter whose Connect hands out ext.
func external(ext managed.External[*thing]) *adapter {
	return &adapter{connect: func(context.Context, *thing) (managed.External[*thing], error) { return ext, nil }}
}

// dependsOn adds the DependsOn capability.
type dependsOn struct {
	*adapter
	deps func(*thing) []managed.Dependency
}

func (d dependsOn) DependsOn(t *thing) []managed.Dependency { return d.deps(t) }

// dependedOnBy adds the DependedOnBy capability.
type dependedOnBy struct{ *adapter }

func (dependedOnBy) DependedOnBy(*thing) []managed.Dependents {
	return []managed.Dependents{{Kind: "Thing", List: &thingList{}, Field: refIndex}}
}

// recording is an External with the RecordsBeforeCreate capability.
type recording struct {
	managed.ExternalFns[*thing]
	record func(*thing) bool
}

func (r recording) RecordBeforeCreate(t *thing) bool { return r.record(t) }

// classified is an error a client classified.
type classified struct{ c errclass.Class }

func (e classified) Error() string         { return "remote: " + e.c.Summary }
func (e classified) Class() errclass.Class { return e.c }

type event struct{ typ, reason, msg string }

type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) Eventf(_ runtime.Object, _ runtime.Object, typ, reason, _, note string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{typ, reason, fmt.Sprintf(note, args...)})
}

func (r *recorder) of(typ string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if e.typ == typ {
			out = append(out, e)
		}
	}
	return out
}

const refIndex = "spec.ref"

// harness is one process running the loop over a fake API server.
type harness struct {
	t   *testing.T
	c   client.Client
	rec *recorder
	r   *managed.Reconciler[*thing]

	mu   sync.Mutex
	logs []string
}

func newHarness(t *testing.T, a managed.Adapter[*thing], objs ...client.Object) *harness {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(objs...).
		WithStatusSubresource(&thing{}).
		WithIndex(&thing{}, refIndex, func(o client.Object) []string { return []string{o.(*thing).Spec.Ref} }).
		Build()
	return newProcess(t, c, a)
}

// newProcess is another process (nothing remembered) on the same API server.
func newProcess(t *testing.T, c client.Client, a managed.Adapter[*thing]) *harness {
	rec := &recorder{}
	return &harness{t: t, c: c, rec: rec, r: &managed.Reconciler[*thing]{
		Client: c, Recorder: rec, Kind: "Thing", Adapter: a,
		New: func() *thing { return &thing{} },
	}}
}

func (h *harness) reconcile(name string) (reconcile.Result, error) {
	ctx := log.IntoContext(context.Background(), funcr.New(func(prefix, args string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.logs = append(h.logs, args)
	}, funcr.Options{Verbosity: 0}))
	return h.r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
}

// failureLogs are the Info lines the loop wrote about failures.
func (h *harness) failureLogs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, l := range h.logs {
		if strings.Contains(l, `"reconcile failed"`) {
			out = append(out, l)
		}
	}
	return out
}

func (h *harness) get(name string) *thing {
	h.t.Helper()
	var t thing
	if err := h.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &t); err != nil {
		h.t.Fatalf("get %s: %v", name, err)
	}
	return &t
}

func (h *harness) gone(name string) bool {
	var t thing
	err := h.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &t)
	return client.IgnoreNotFound(err) == nil && err != nil
}

func (h *harness) delete(name string) {
	h.t.Helper()
	if err := h.c.Delete(context.Background(), h.get(name)); err != nil {
		h.t.Fatal(err)
	}
}

func newThing(name string) *thing {
	return &thing{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1}}
}

// held is a thing that already carries the finalizer (reconciled once before).
func held(name string) *thing {
	t := newThing(name)
	t.Finalizers = []string{b24v1.Finalizer}
	return t
}

// readyThing is a dependency that is Ready for its generation.
func readyThing(name string) *thing {
	t := newThing(name)
	t.Status.ObservedGeneration = 1
	t.Status.Conditions = []metav1.Condition{{Type: b24v1.ConditionReady, Status: metav1.ConditionTrue, Reason: b24v1.ReasonSucceeded, ObservedGeneration: 1}}
	return t
}

func ready(t *thing) *metav1.Condition {
	return meta.FindStatusCondition(t.Status.Conditions, b24v1.ConditionReady)
}

func inSync() managed.ExternalFns[*thing] {
	return managed.ExternalFns[*thing]{ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) {
		return managed.Observation{Exists: true, UpToDate: true}, nil
	}}
}

// ---- the behaviours ----

func TestFinalizerFirst(t *testing.T) {
	var h *harness
	var sawFinalizer bool
	h = newHarness(t, &adapter{connect: func(ctx context.Context, obj *thing) (managed.External[*thing], error) {
		// What the API server holds when the adapter is first asked anything.
		sawFinalizer = controllerutil.ContainsFinalizer(h.get(obj.Name), b24v1.Finalizer)
		return inSync(), nil
	}}, newThing("a"))
	if _, err := h.reconcile("a"); err != nil {
		t.Fatal(err)
	}
	if !sawFinalizer {
		t.Fatal("the adapter ran before the finalizer was stored")
	}
}

func TestDeletionPolicy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		orphan     bool
		deleteErr  error
		wantDelete bool
		wantEvent  string
	}{
		{name: "delete calls the adapter's Delete, then drops the finalizer", wantDelete: true, wantEvent: managed.EventDeleted},
		{name: "orphan leaves the remote object alone and drops the finalizer", orphan: true, wantEvent: managed.EventOrphaned},
		{name: "a remote object already gone counts as deleted", wantDelete: true,
			deleteErr: fmt.Errorf("unregister: %w", classified{errclass.Class{Disposition: errclass.Terminal, Reason: errclass.RemoteError, Gone: true}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deleted := false
			a := external(managed.ExternalFns[*thing]{DeleteFn: func(context.Context, *thing) (managed.Applied, error) {
				deleted = true
				return managed.Applied{}, tc.deleteErr
			}})
			a.orphan = tc.orphan
			h := newHarness(t, a, held("a"))
			h.delete("a")
			if _, err := h.reconcile("a"); err != nil {
				t.Fatal(err)
			}
			if deleted != tc.wantDelete {
				t.Fatalf("Delete called: %v, want %v", deleted, tc.wantDelete)
			}
			if !h.gone("a") {
				t.Fatal("the finalizer is still there")
			}
			if tc.wantEvent != "" {
				if ev := h.rec.of(corev1.EventTypeNormal); len(ev) != 1 || ev[0].reason != tc.wantEvent {
					t.Fatalf("events %v, want one %s", ev, tc.wantEvent)
				}
			}
		})
	}
}

func TestFailurePolicy(t *testing.T) {
	class := func(d errclass.Disposition, r errclass.Reason, after time.Duration) error {
		return classified{errclass.Class{Disposition: d, Reason: r, RetryAfter: after, Summary: "answered X"}}
	}
	for _, tc := range []struct {
		name string
		err  error
		// wantReason is the Ready reason; wantStalled says Stalled=True (else Reconciling).
		wantReason  string
		wantStalled bool
		// wantBackoff says the workqueue's backoff decides (an error is returned); else
		// wantAfter bounds the requeue.
		wantBackoff bool
		wantAfter   time.Duration
		// wantObserved says observedGeneration moves to the generation.
		wantObserved bool
	}{
		{name: "a terminal client error stalls with its reason, slow requeue", err: class(errclass.Terminal, errclass.InvalidSpec, 0),
			wantReason: b24v1.ReasonInvalidSpec, wantStalled: true, wantAfter: managed.DefaultResync, wantObserved: true},
		{name: "a retryable client error backs off", err: class(errclass.Retryable, errclass.RemoteError, 0),
			wantReason: b24v1.ReasonRemoteError, wantBackoff: true},
		{name: "a retryable client error with a delay waits that long", err: class(errclass.Retryable, errclass.RateLimited, 7*time.Second),
			wantReason: b24v1.ReasonRateLimited, wantAfter: 7 * time.Second},
		{name: "an ambiguous client error is retried at once, not stalled (the next Observe re-reads)",
			err: class(errclass.Ambiguous, errclass.RemoteError, 0), wantReason: b24v1.ReasonRemoteError, wantBackoff: true},
		{name: "an adapter's wait requeues as a safety net", err: managed.Waiting(b24v1.ReasonDependencyNotReady, "x"),
			wantReason: b24v1.ReasonDependencyNotReady, wantAfter: 2 * time.Minute},
		{name: "an adapter's stall that must wake at a time says when", err: &managed.Error{Reason: b24v1.ReasonOutcomeUnknown, Message: "x", Outcome: managed.Stall, RequeueAfter: time.Hour},
			wantReason: b24v1.ReasonOutcomeUnknown, wantStalled: true, wantAfter: time.Hour, wantObserved: true},
		{name: "an unclassified error (API server) backs off", err: errors.New("etcd is sad"),
			wantReason: b24v1.ReasonRemoteError, wantBackoff: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, external(managed.ExternalFns[*thing]{ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) {
				return managed.Observation{}, tc.err
			}}), newThing("a"))
			res, err := h.reconcile("a")
			if (err != nil) != tc.wantBackoff {
				t.Fatalf("error %v, want backoff %v", err, tc.wantBackoff)
			}
			if !tc.wantBackoff && (res.RequeueAfter < tc.wantAfter || res.RequeueAfter > tc.wantAfter+tc.wantAfter/10) {
				t.Fatalf("requeue after %v, want %v (+10%%)", res.RequeueAfter, tc.wantAfter)
			}
			got := h.get("a")
			if c := ready(got); c == nil || c.Status != metav1.ConditionFalse || c.Reason != tc.wantReason {
				t.Fatalf("Ready %+v, want False %s", c, tc.wantReason)
			}
			if s := meta.IsStatusConditionTrue(got.Status.Conditions, b24v1.ConditionStalled); s != tc.wantStalled {
				t.Fatalf("Stalled %v, want %v", s, tc.wantStalled)
			}
			if r := meta.IsStatusConditionTrue(got.Status.Conditions, b24v1.ConditionReconciling); r == tc.wantStalled {
				t.Fatalf("Reconciling %v with Stalled %v", r, tc.wantStalled)
			}
			if (got.Status.ObservedGeneration == 1) != tc.wantObserved {
				t.Fatalf("observedGeneration %d, want moved: %v", got.Status.ObservedGeneration, tc.wantObserved)
			}
		})
	}
}

func TestOneWarningPerChange(t *testing.T) {
	for _, tc := range []struct {
		name   string
		delete bool
	}{
		{name: "normal path"},
		{name: "delete path (a failing remote delete warns once, not on every retry)", delete: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := "first"
			fail := func() error {
				return classified{errclass.Class{Disposition: errclass.Retryable, Reason: errclass.RemoteError, Summary: msg}}
			}
			h := newHarness(t, external(managed.ExternalFns[*thing]{
				ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) { return managed.Observation{}, fail() },
				DeleteFn:  func(context.Context, *thing) (managed.Applied, error) { return managed.Applied{}, fail() },
			}), held("a"))
			if tc.delete {
				h.delete("a")
			}
			for range 3 {
				_, _ = h.reconcile("a")
			}
			if w := h.rec.of(corev1.EventTypeWarning); len(w) != 1 {
				t.Fatalf("after three equal failures: %d warnings %v, want 1", len(w), w)
			}
			if l := h.failureLogs(); len(l) != 1 || !strings.Contains(l[0], `"object"="default/a"`) || !strings.Contains(l[0], `"reason"="RemoteError"`) || !strings.Contains(l[0], "first") {
				t.Fatalf("after three equal failures: log lines %q, want one with object, reason and message", l)
			}
			msg = "second"
			_, _ = h.reconcile("a")
			_, _ = h.reconcile("a")
			if w := h.rec.of(corev1.EventTypeWarning); len(w) != 2 || !strings.Contains(w[1].msg, "second") {
				t.Fatalf("after a new failure: warnings %v, want a second one", w)
			}
			if l := h.failureLogs(); len(l) != 2 {
				t.Fatalf("after a new failure: log lines %q, want a second one", l)
			}
		})
	}
}

func TestRecordBeforeAct(t *testing.T) {
	t.Run("the record is stored before the act, and the act sees it", func(t *testing.T) {
		var h *harness
		var stored string
		ext := recording{
			ExternalFns: managed.ExternalFns[*thing]{
				ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) { return managed.Observation{}, nil },
				CreateFn: func(_ context.Context, obj *thing) (managed.Applied, error) {
					stored = h.get(obj.Name).Status.Attempt
					obj.Status.Attempt, obj.Status.RemoteID = "", 7
					return managed.Applied{}, nil
				},
			},
			record: func(obj *thing) bool { obj.Status.Attempt = "send-1"; return true },
		}
		h = newHarness(t, external(ext), newThing("a"))
		if _, err := h.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		if stored != "send-1" {
			t.Fatalf("the API server held attempt %q when the act ran, want send-1", stored)
		}
		if got := h.get("a"); got.Status.Attempt != "" || got.Status.RemoteID != 7 {
			t.Fatalf("the outcome was not recorded: %+v", got.Status)
		}
	})

	t.Run("a reconcile request is acknowledged after the act, not with the record", func(t *testing.T) {
		var h *harness
		var handled string
		ext := recording{
			ExternalFns: managed.ExternalFns[*thing]{
				ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) { return managed.Observation{}, nil },
				CreateFn: func(_ context.Context, obj *thing) (managed.Applied, error) {
					handled = h.get(obj.Name).Status.LastHandledReconcileAt
					obj.Status.Attempt = ""
					return managed.Applied{}, nil
				},
			},
			record: func(obj *thing) bool { obj.Status.Attempt = "send-1"; return true },
		}
		a := held("a")
		a.Annotations = map[string]string{b24v1.ReconcileRequestedAtAnnotation: "now"}
		h = newHarness(t, external(ext), a)
		if _, err := h.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		if handled != "" {
			t.Fatalf("the request was acknowledged (%q) before the act ran", handled)
		}
		if got := h.get("a").Status.LastHandledReconcileAt; got != "now" {
			t.Fatalf("lastHandledReconcileAt %q after the act, want now", got)
		}
	})

	t.Run("a record that cannot be written (the object changed) means no act", func(t *testing.T) {
		var h *harness
		acted := false
		ext := recording{
			ExternalFns: managed.ExternalFns[*thing]{
				ObserveFn: func(ctx context.Context, obj *thing, _ bool) (managed.Observation, error) {
					// Another writer changes the object between the read and the record.
					o := h.get(obj.Name)
					o.Labels = map[string]string{"touched": "yes"}
					if err := h.c.Update(ctx, o); err != nil {
						t.Fatal(err)
					}
					return managed.Observation{}, nil
				},
				CreateFn: func(context.Context, *thing) (managed.Applied, error) { acted = true; return managed.Applied{}, nil },
			},
			record: func(obj *thing) bool { obj.Status.Attempt = "send-1"; return true },
		}
		h = newHarness(t, external(ext), held("a"))
		if _, err := h.reconcile("a"); err == nil {
			t.Fatal("want a retry")
		}
		if acted {
			t.Fatal("the act ran although its record was not stored")
		}
		if got := h.get("a"); got.Status.Attempt != "" {
			t.Fatalf("attempt %q stored", got.Status.Attempt)
		}
	})

	t.Run("a crash between record and act leaves the record for the next process", func(t *testing.T) {
		var seen []string
		ext := func(crash bool) recording {
			return recording{
				ExternalFns: managed.ExternalFns[*thing]{
					ObserveFn: func(_ context.Context, obj *thing, _ bool) (managed.Observation, error) {
						seen = append(seen, obj.Status.Attempt)
						if obj.Status.Attempt != "" {
							return managed.Observation{}, managed.Stalled(b24v1.ReasonOutcomeUnknown, "attempt %s has no outcome", obj.Status.Attempt)
						}
						return managed.Observation{}, nil
					},
					CreateFn: func(context.Context, *thing) (managed.Applied, error) {
						if crash {
							panic("process stopped")
						}
						return managed.Applied{}, nil
					},
				},
				record: func(obj *thing) bool { obj.Status.Attempt = "send-1"; return true },
			}
		}
		h := newHarness(t, external(ext(true)), held("a"))
		func() {
			defer func() { _ = recover() }()
			_, _ = h.reconcile("a")
		}()
		next := newProcess(t, h.c, external(ext(false)))
		if _, err := next.reconcile("a"); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 2 || seen[1] != "send-1" {
			t.Fatalf("Observe saw attempts %q, want the record in the second process", seen)
		}
		if c := ready(next.get("a")); c == nil || c.Reason != b24v1.ReasonOutcomeUnknown {
			t.Fatalf("Ready %+v, want OutcomeUnknown", c)
		}
	})
}

func TestDependencyWait(t *testing.T) {
	dep := func(extra func(managed.Object) string, then func(managed.Object) []managed.Dependency) func(*thing) []managed.Dependency {
		return func(obj *thing) []managed.Dependency {
			return []managed.Dependency{{Kind: "Thing", Name: obj.Spec.Ref, Object: &thing{}, Ready: extra, Then: then}}
		}
	}
	withRef := func(name, ref string) *thing { t := newThing(name); t.Spec.Ref = ref; return t }
	notReady := newThing("dep")
	for _, tc := range []struct {
		name    string
		objs    []client.Object
		deps    func(*thing) []managed.Dependency
		wantMsg string // "" means the adapter ran
	}{
		{name: "a missing dependency waits", objs: []client.Object{withRef("a", "dep")}, deps: dep(nil, nil), wantMsg: "Thing dep not found"},
		{name: "a dependency not ready for its generation waits", objs: []client.Object{withRef("a", "dep"), notReady}, deps: dep(nil, nil),
			wantMsg: "Thing dep is not ready (not reconciled yet)"},
		{name: "a ready dependency lets the adapter run", objs: []client.Object{withRef("a", "dep"), readyThing("dep")}, deps: dep(nil, nil)},
		{name: "a dependency's own test replaces Ready", objs: []client.Object{withRef("a", "dep"), newThing("dep")},
			deps: dep(func(o managed.Object) string { return "has no id yet" }, nil), wantMsg: "Thing dep has no id yet"},
		{name: "what follows from a dependency is waited for too", objs: []client.Object{withRef("a", "dep"), withRef("dep", "deeper")},
			deps: dep(func(managed.Object) string { return "" }, func(o managed.Object) []managed.Dependency {
				return []managed.Dependency{{Kind: "Thing", Name: o.(*thing).Spec.Ref, Object: &thing{}}}
			}), wantMsg: "Thing deeper not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			connected := false
			a := dependsOn{adapter: &adapter{connect: func(context.Context, *thing) (managed.External[*thing], error) {
				connected = true
				return inSync(), nil
			}}, deps: tc.deps}
			h := newHarness(t, a, tc.objs...)
			res, err := h.reconcile("a")
			if err != nil {
				t.Fatal(err)
			}
			c := ready(h.get("a"))
			if tc.wantMsg == "" {
				if !connected || c.Status != metav1.ConditionTrue {
					t.Fatalf("connected %v, Ready %+v", connected, c)
				}
				return
			}
			if connected {
				t.Fatal("the adapter ran while a dependency was not ready")
			}
			if c.Reason != b24v1.ReasonDependencyNotReady || !strings.Contains(c.Message, tc.wantMsg) || res.RequeueAfter == 0 {
				t.Fatalf("Ready %+v requeue %v, want DependencyNotReady %q", c, res.RequeueAfter, tc.wantMsg)
			}
		})
	}
}

func TestDependentsWait(t *testing.T) {
	deleted := false
	a := dependedOnBy{external(managed.ExternalFns[*thing]{DeleteFn: func(context.Context, *thing) (managed.Applied, error) {
		deleted = true
		return managed.Applied{}, nil
	}})}
	user := newThing("user")
	user.Spec.Ref = "a"
	h := newHarness(t, a, held("a"), user)
	h.delete("a")
	res, err := h.reconcile("a")
	if err != nil {
		t.Fatal(err)
	}
	if deleted || h.gone("a") {
		t.Fatal("deleted while a dependent exists")
	}
	if c := meta.FindStatusCondition(h.get("a").Status.Conditions, b24v1.ConditionReconciling); c == nil ||
		c.Message != "waiting for the Things that use this Thing to be deleted: user" || res.RequeueAfter == 0 {
		t.Fatalf("Reconciling %+v requeue %v", c, res.RequeueAfter)
	}
	if err := h.c.Delete(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile("a"); err != nil {
		t.Fatal(err)
	}
	if !deleted || !h.gone("a") {
		t.Fatal("not deleted once the dependent was gone")
	}
}

func TestRequeue(t *testing.T) {
	for _, tc := range []struct {
		name     string
		obs      managed.Observation
		min, max time.Duration
	}{
		{name: "the adapter's interval gets up to 10% jitter", obs: managed.Observation{Exists: true, UpToDate: true, RequeueAfter: time.Hour}, min: time.Hour, max: 66 * time.Minute},
		{name: "an exact wake-up gets none (cron ticks)", obs: managed.Observation{Exists: true, UpToDate: true, RequeueAfter: time.Hour, Exact: true}, min: time.Hour, max: time.Hour},
		{name: "no interval means the default resync", obs: managed.Observation{Exists: true, UpToDate: true}, min: managed.DefaultResync, max: managed.DefaultResync * 11 / 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, external(managed.ExternalFns[*thing]{ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) {
				return tc.obs, nil
			}}), newThing("a"))
			res, err := h.reconcile("a")
			if err != nil {
				t.Fatal(err)
			}
			if res.RequeueAfter < tc.min || res.RequeueAfter > tc.max {
				t.Fatalf("requeue after %v, want %v..%v", res.RequeueAfter, tc.min, tc.max)
			}
			got := h.get("a")
			if c := ready(got); c.Status != metav1.ConditionTrue || got.Status.ObservedGeneration != 1 {
				t.Fatalf("Ready %+v observedGeneration %d", c, got.Status.ObservedGeneration)
			}
		})
	}
	t.Run("jitter is spread, not constant", func(t *testing.T) {
		seen := map[time.Duration]bool{}
		for range 20 {
			seen[managed.Jitter(time.Hour)] = true
		}
		if len(seen) < 2 {
			t.Fatal("Jitter returned the same value 20 times")
		}
	})
}

func TestEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		ext  managed.ExternalFns[*thing]
		want []event
	}{
		{name: "a create is reported as Created", ext: managed.ExternalFns[*thing]{
			ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) { return managed.Observation{}, nil },
			CreateFn:  func(context.Context, *thing) (managed.Applied, error) { return managed.Applied{}, nil },
		}, want: []event{{"Normal", managed.EventCreated, "Thing created"}}},
		{name: "a create of something gone is reported as Recreated", ext: managed.ExternalFns[*thing]{
			ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) {
				return managed.Observation{Missing: true}, nil
			},
			CreateFn: func(context.Context, *thing) (managed.Applied, error) { return managed.Applied{}, nil },
		}, want: []event{{"Normal", managed.EventRecreated, "Thing was missing remotely and was created again"}}},
		{name: "an update that changed nothing records nothing", ext: managed.ExternalFns[*thing]{
			ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) {
				return managed.Observation{Exists: true}, nil
			},
			UpdateFn: func(context.Context, *thing) (managed.Applied, error) { return managed.Applied{Noop: true}, nil },
		}},
		{name: "the adapter words what it did", ext: managed.ExternalFns[*thing]{
			ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) {
				return managed.Observation{Exists: true, Events: []managed.Event{{Type: "Normal", Reason: "Ignored", Message: "nothing to do"}}}, nil
			},
			UpdateFn: func(context.Context, *thing) (managed.Applied, error) {
				return managed.Applied{Event: &managed.Event{Type: "Normal", Reason: managed.EventRecreated, Message: "registered again as 2"}}, nil
			},
		}, want: []event{{"Normal", "Ignored", "nothing to do"}, {"Normal", managed.EventRecreated, "registered again as 2"}}},
		{name: "what Observe found is told also when Observe fails (ticks skipped, then a stall)", ext: managed.ExternalFns[*thing]{
			ObserveFn: func(context.Context, *thing, bool) (managed.Observation, error) {
				return managed.Observation{Events: []managed.Event{{Type: "Normal", Reason: "Skipped", Message: "3 ticks"}}},
					managed.Stalled(b24v1.ReasonRemoteError, "the last tick failed")
			},
		}, want: []event{{"Normal", "Skipped", "3 ticks"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, external(tc.ext), newThing("a"))
			if _, err := h.reconcile("a"); err != nil {
				t.Fatal(err)
			}
			if got := h.rec.of("Normal"); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("events %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReconcileRequested(t *testing.T) {
	var forced []bool
	h := newHarness(t, external(managed.ExternalFns[*thing]{ObserveFn: func(_ context.Context, _ *thing, force bool) (managed.Observation, error) {
		forced = append(forced, force)
		return managed.Observation{Exists: true, UpToDate: true}, nil
	}}), newThing("a"))
	_, _ = h.reconcile("a")
	o := h.get("a")
	o.Annotations = map[string]string{b24v1.ReconcileRequestedAtAnnotation: "now"}
	if err := h.c.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	_, _ = h.reconcile("a")
	_, _ = h.reconcile("a")
	if fmt.Sprint(forced) != "[false true false]" || h.get("a").Status.LastHandledReconcileAt != "now" {
		t.Fatalf("forced %v, handled %q", forced, h.get("a").Status.LastHandledReconcileAt)
	}
}

// A conflict when the finalizer comes off (another writer changed the object after the remote
// delete) is retried on a fresh copy: the remote delete is not called a second time.
func TestFinalizerConflictAfterDelete(t *testing.T) {
	deletes := 0
	a := external(managed.ExternalFns[*thing]{DeleteFn: func(context.Context, *thing) (managed.Applied, error) {
		deletes++
		return managed.Applied{}, nil
	}})
	base := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(held("a")).WithStatusSubresource(&thing{}).
		WithIndex(&thing{}, refIndex, func(o client.Object) []string { return []string{o.(*thing).Spec.Ref} }).Build()
	conflicts := 0
	c := interceptor.NewClient(base, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if !obj.GetDeletionTimestamp().IsZero() && conflicts == 0 {
				conflicts++
				return apierrors.NewConflict(schema.GroupResource{Resource: "things"}, obj.GetName(), errors.New("the object has been modified"))
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	})
	h := newProcess(t, c, a)
	h.delete("a")
	if _, err := h.reconcile("a"); err != nil {
		t.Fatal(err)
	}
	if conflicts != 1 {
		t.Fatalf("%d conflicts injected, want 1", conflicts)
	}
	if deletes != 1 {
		t.Fatalf("remote delete called %d times, want 1", deletes)
	}
	if !h.gone("a") {
		t.Fatal("the finalizer is still there")
	}
}

// A reconcile queued behind the finalizer removal reads a cache that still holds the object
// with its finalizer: it must read live and find the object gone, not delete remotely again.
func TestStaleCacheAfterDelete(t *testing.T) {
	deletes := 0
	a := external(managed.ExternalFns[*thing]{DeleteFn: func(context.Context, *thing) (managed.Applied, error) {
		deletes++
		return managed.Applied{}, nil
	}})
	base := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(held("a")).WithStatusSubresource(&thing{}).
		WithIndex(&thing{}, refIndex, func(o client.Object) []string { return []string{o.(*thing).Spec.Ref} }).Build()
	h := newProcess(t, base, a)
	h.delete("a")
	stale := h.get("a")
	cache := interceptor.NewClient(base, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if key.Name == "a" {
				*obj.(*thing) = *stale.DeepCopyObject().(*thing)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	h.r.Client = cache
	h.r.Live = base
	for i := range 2 {
		if _, err := h.reconcile("a"); err != nil {
			t.Fatalf("reconcile %d: %v", i+1, err)
		}
	}
	if deletes != 1 {
		t.Fatalf("remote delete called %d times, want 1", deletes)
	}
	if !h.gone("a") {
		t.Fatal("the finalizer is still there")
	}
}
