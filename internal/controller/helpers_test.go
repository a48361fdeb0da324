package controller_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/testenv"
)

// Helpers shared by the package's envtest tests and benchmarks.

// ---- managers and namespaces ----

// startTest starts a manager and gives the test a namespace that is emptied when the test
// ends, after the manager stopped: a later test's manager must not keep reconciling these
// objects against a simulator that is closed by then.
func startTest(t *testing.T, mo managerOpts) (ns string, shared *controller.Shared, stop func()) {
	t.Helper()
	shared, stop = startManager(t, mo)
	ns = namespace(t)
	purgeAfter(t, stop, ns)
	return ns, shared, stop
}

// subtests starts one manager for t and returns a runner of subtests, each with its own
// namespace, purged when t ends.
func subtests(t *testing.T, mo managerOpts) (run func(name string, f func(t *testing.T, ns string))) {
	t.Helper()
	_, stop := startManager(t, mo)
	parent := t
	return func(name string, f func(t *testing.T, ns string)) {
		parent.Run(name, func(t *testing.T) {
			f(t, subtestNamespace(t, parent, stop))
		})
	}
}

// subtestNamespace makes a namespace for a subtest and purges it when parent ends, after
// parent's manager stopped.
func subtestNamespace(t, parent *testing.T, stop func()) string {
	t.Helper()
	ns := namespace(t)
	purgeAfter(parent, stop, ns)
	return ns
}

// purgedKinds are the lists purgeAfter empties, dependents first.
func purgedKinds() []client.ObjectList {
	return []client.ObjectList{
		&b24v1.ScheduledJobList{}, &b24v1.MetabotList{},
		&b24v1.BotCommandList{}, &b24v1.ChatAppList{}, &b24v1.ChatList{}, &b24v1.ChatBotList{}, &b24v1.PortalList{},
		&corev1.SecretList{}, &corev1.ConfigMapList{},
	}
}

// purgeAfter stops the manager when t ends, then strips the finalizers of everything the
// tests create in the namespaces (every b24ops kind, Secrets and ConfigMaps), deletes it and
// deletes the namespace right away: left to the namespace controller, an object would linger
// long enough for the next test's manager to put its finalizer back.
func purgeAfter(t testing.TB, stop func(), namespaces ...string) {
	t.Cleanup(func() {
		stop()
		ctx := context.Background()
		for _, ns := range namespaces {
			for _, l := range purgedKinds() {
				if err := env.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
					t.Logf("purge %s: %v", ns, err)
					continue
				}
				items, _ := meta.ExtractList(l)
				// A benchmark leaves a thousand objects behind: a few at a time.
				inParallel(t, len(items), func(i int) error {
					obj := items[i].(client.Object)
					if len(obj.GetFinalizers()) > 0 {
						p := client.MergeFrom(obj.DeepCopyObject().(client.Object))
						obj.SetFinalizers(nil)
						if err := env.Client.Patch(ctx, obj, p); client.IgnoreNotFound(err) != nil {
							t.Logf("purge %s: %T %s: %v", ns, obj, obj.GetName(), err)
						}
					}
					if err := env.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
						t.Logf("purge %s: %T %s: %v", ns, obj, obj.GetName(), err)
					}
					return nil
				})
			}
			_ = env.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	})
}

// inParallel runs f for 0..n-1 on a few goroutines and fails t with the errors f returns.
func inParallel(t testing.TB, n int, f func(i int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// watchless lets interceptor wrap the manager's client (which has no Watch).
type watchless struct{ client.Client }

func (watchless) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("watch not supported")
}

// statusCrash fails every status write (update or patch) of an object of type T that fail
// selects, counting them: the manager behaves as if it crashed between the remote call and
// the status write, and never gets to record what it did.
func statusCrash[T client.Object](fail func(T) bool, failed *atomic.Int32) func(client.Client) client.Client {
	refuse := func(sub string, obj client.Object) error {
		if o, ok := obj.(T); ok && sub == "status" && fail(o) {
			failed.Add(1)
			return errors.New("simulated crash before the status write")
		}
		return nil
	}
	return func(c client.Client) client.Client {
		return interceptor.NewClient(watchless{c}, interceptor.Funcs{
			SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
				if err := refuse(sub, obj); err != nil {
					return err
				}
				return c.SubResource(sub).Update(ctx, obj, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				if err := refuse(sub, obj); err != nil {
					return err
				}
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		})
	}
}

// ---- objects ----

var tokenCounter atomic.Int64

// uniqueToken is a value no other test uses, credential-looking and unlikely to appear
// anywhere by accident.
func uniqueToken() string {
	return fmt.Sprintf("%x%08x", time.Now().UnixNano(), tokenCounter.Add(1)*7919)
}

// reload reads obj again from the API server.
func reload[T client.Object](t *testing.T, obj T) T {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// update re-reads obj, applies change and writes it, retrying on conflicts.
func update(t *testing.T, obj client.Object, change func()) {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatalf("get %s: %v", obj.GetName(), err)
		}
		change()
		err := env.Client.Update(ctx, obj)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) || i > 20 {
			t.Fatalf("update %s: %v", obj.GetName(), err)
		}
	}
}

// annotate sets an annotation of obj, retrying on conflicts.
func annotate(t *testing.T, obj client.Object, key, value string) {
	t.Helper()
	update(t, obj, func() {
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[key] = value
		obj.SetAnnotations(a)
	})
}

func deleteObject(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), obj); err != nil {
		t.Fatalf("delete %s: %v", obj.GetName(), err)
	}
}

// waitGone waits until the object no longer exists.
func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	eventually(t, 30*time.Second, obj.GetName()+" gone", func() (bool, string) {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return apierrors.IsNotFound(err), fmt.Sprintf("finalizers %v (%v)", obj.GetFinalizers(), err)
	})
}

// ---- reconciles ----

// requestReconcile sets b24ops.io/reconcile-requested-at to a new value and returns it.
func requestReconcile(t *testing.T, obj client.Object) string {
	t.Helper()
	value := uniqueToken()
	annotate(t, obj, b24v1.ReconcileRequestedAtAnnotation, value)
	return value
}

// waitReconciled waits until the object's status records the reconcile requested with value.
func waitReconciled(t *testing.T, obj controllerObject, value string) {
	t.Helper()
	eventually(t, 30*time.Second, obj.GetName()+" handled reconcile request "+value, func() (bool, string) {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err.Error()
		}
		return obj.CommonStatus().LastHandledReconcileAt == value, obj.CommonStatus().LastHandledReconcileAt
	})
}

// forceReconcile asks for a reconcile and waits until the object's status records it.
func forceReconcile(t *testing.T, obj controllerObject) {
	t.Helper()
	waitReconciled(t, obj, requestReconcile(t, obj))
}

// poke asks for a reconcile that is expected to change nothing and waits until the loop has
// run it: the loop acknowledges every request in status.lastHandledReconcileAt, whatever the
// outcome (a stall too), in the status write that ends the reconcile. No sleep: what the
// caller checks next happened, or did not, in that reconcile.
func poke(t *testing.T, obj controllerObject) {
	t.Helper()
	waitReconciled(t, obj, requestReconcile(t, obj))
}

// ---- status ----

// assertKstatus checks the kstatus polarity of a Ready object as the API server has it now:
// Ready=True for the current generation, observedGeneration equal to generation, no
// Reconciling or Stalled.
func assertKstatus(t *testing.T, obj controllerObject) {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	checkKstatus(t, obj)
}

// assertInSync waits until the object is Ready for its current generation, then checks the
// kstatus polarity of that status.
func assertInSync(t *testing.T, obj controllerObject) {
	t.Helper()
	waitReady(t, obj)
	checkKstatus(t, obj)
}

// checkKstatus checks the kstatus polarity of obj as read last.
func checkKstatus(t *testing.T, obj controllerObject) {
	t.Helper()
	st := obj.CommonStatus()
	if st.ObservedGeneration != obj.GetGeneration() {
		t.Errorf("%s: status.observedGeneration = %d, want generation %d", obj.GetName(), st.ObservedGeneration, obj.GetGeneration())
	}
	ready := meta.FindStatusCondition(st.Conditions, b24v1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != obj.GetGeneration() {
		t.Errorf("%s: Ready = %+v, want True for generation %d", obj.GetName(), ready, obj.GetGeneration())
	}
	for _, typ := range []string{b24v1.ConditionReconciling, b24v1.ConditionStalled} {
		if c := meta.FindStatusCondition(st.Conditions, typ); c != nil {
			t.Errorf("%s: condition %s present while Ready: %+v", obj.GetName(), typ, c)
		}
	}
}

// assertStalled checks Ready=False with the reason and Stalled=True, Reconciling absent.
func assertStalled(t *testing.T, obj controllerObject, reason string) {
	t.Helper()
	waitReason(t, obj, metav1.ConditionFalse, reason, 30*time.Second)
	st := obj.CommonStatus()
	stalled := meta.FindStatusCondition(st.Conditions, b24v1.ConditionStalled)
	if stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != reason {
		t.Errorf("%s: Stalled = %+v, want True with reason %s", obj.GetName(), stalled, reason)
	}
	if c := meta.FindStatusCondition(st.Conditions, b24v1.ConditionReconciling); c != nil {
		t.Errorf("%s: Reconciling present while stalled: %+v", obj.GetName(), c)
	}
}

// ---- events ----

// recordedEvents lists the events.k8s.io/v1 Events about the object.
func recordedEvents(t *testing.T, obj client.Object) []eventsv1.Event {
	t.Helper()
	gvk, err := apiutil.GVKForObject(obj, testenv.Scheme)
	if err != nil {
		t.Fatalf("kind of %T: %v", obj, err)
	}
	var list eventsv1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == obj.GetName() && e.Regarding.Kind == gvk.Kind {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for an Event with the reason about obj.
func waitEvent(t *testing.T, obj client.Object, reason string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	eventually(t, 20*time.Second, fmt.Sprintf("event %s on %T %s", reason, obj, obj.GetName()), func() (bool, string) {
		var reasons []string
		for _, e := range recordedEvents(t, obj) {
			if e.Reason == reason {
				found = e
				return true, ""
			}
			reasons = append(reasons, e.Reason)
		}
		return false, "events: " + strings.Join(reasons, ", ")
	})
	return found
}
