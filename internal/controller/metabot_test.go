package controller_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

// ---- helpers for metabot_test.go and scheduledjob_test.go ----

// mbClock is the fake clock of the Metabot tests: frozen at a time the test sets, or, after
// Flow, moving with real time from there.
type mbClock struct {
	mu      sync.Mutex
	t       time.Time
	since   time.Time
	flowing bool
}

func newMBClock(t time.Time) *mbClock { return &mbClock{t: t} }

func (c *mbClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flowing {
		return c.t.Add(time.Since(c.since))
	}
	return c.t
}

// Set freezes the clock at t.
func (c *mbClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t, c.flowing = t, false
}

// Advance moves a frozen clock forward.
func (c *mbClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Flow lets the clock run with real time from t.
func (c *mbClock) Flow(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t, c.since, c.flowing = t, time.Now(), true
}

// mbTest starts a manager with clock and gives the test a namespace that is purged when the
// test ends, after the manager stopped, so no later manager reconciles its objects against a
// closed simulator.
func mbTest(t *testing.T, clock controller.Clock, mo managerOpts) (ns string, stop func()) {
	t.Helper()
	stop = mbManager(t, clock, mo)
	ns = namespace(t)
	t.Cleanup(func() {
		stop()
		mbPurge(ns)
	})
	return ns, stop
}

// mbManager starts a manager with clock until t ends (or stop is called), showing the end of
// its log if t fails.
func mbManager(t *testing.T, clock controller.Clock, mo managerOpts) (stop func()) {
	t.Helper()
	if mo.logs == nil {
		mo.logs = &logBuffer{}
	}
	logs := mo.logs
	mo.opts.Clock = clock
	_, stop = startManager(t, mo)
	t.Cleanup(func() {
		if t.Failed() {
			lines := strings.Split(logs.String(), "\n")
			t.Logf("manager log (last 200 lines):\n%s", strings.Join(lines[max(0, len(lines)-200):], "\n"))
		}
	})
	return stop
}

// mbPurge drops the finalizers of everything in ns and deletes it.
func mbPurge(ns string) {
	ctx := context.Background()
	for _, l := range []client.ObjectList{&b24v1.ScheduledJobList{}, &b24v1.MetabotList{}} {
		if err := env.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
			continue
		}
		_ = meta.EachListItem(l, func(o runtime.Object) error {
			obj := o.(client.Object)
			if len(obj.GetFinalizers()) > 0 {
				p := client.MergeFrom(obj.DeepCopyObject().(client.Object))
				obj.SetFinalizers(nil)
				_ = env.Client.Patch(ctx, obj, p)
			}
			return nil
		})
	}
	_ = env.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
}

var mbTokens atomic.Int64

// mbBot adds a bot to sim and creates its token Secret, a CA ConfigMap with the simulator's
// certificate, and a Metabot for it. The Secret is left out with noSecret.
func mbBot(t *testing.T, ns, name string, sim *metabottest.Server, botID int64, noSecret bool) (*b24v1.Metabot, *corev1.Secret) {
	t.Helper()
	token := fmt.Sprintf("token-%s-%d", name, mbTokens.Add(1))
	sim.AddBot(botID, token)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-token"}, StringData: map[string]string{"token": token + "\n"}}
	if !noSecret {
		create(t, sec)
	}
	url := b24v1.HTTPSURL(sim.URL)
	mb := &b24v1.Metabot{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.MetabotSpec{
			URL:            &url,
			BotID:          botID,
			TokenSecretRef: b24v1.KeyReference{Name: name + "-token", Key: "token"},
			CABundle:       &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: name + "-ca", Key: "ca.crt"}},
			RateLimit:      &b24v1.RateLimit{RequestsPerSecond: 1000, Burst: 1000},
		},
	}
	create(t,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-ca"}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}},
		mb,
	)
	return mb, sec
}

// mbWaitReason waits for Ready=status/reason for the current generation.
func mbWaitReason(t *testing.T, obj controllerObject, status metav1.ConditionStatus, reason string) {
	t.Helper()
	waitReason(t, obj, status, reason, 20*time.Second)
}

// mbAnnotate sets an annotation, retrying on conflicts.
func mbAnnotate(t *testing.T, obj client.Object, key, value string) {
	t.Helper()
	for i := 0; ; i++ {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[key] = value
		obj.SetAnnotations(a)
		err := env.Client.Update(context.Background(), obj)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) || i > 20 {
			t.Fatal(err)
		}
	}
}

var mbRequests atomic.Int64

// mbReconcile asks for a reconcile with a new reconcile-requested-at value and waits until
// the object's status records it.
func mbReconcile(t *testing.T, obj controllerObject) {
	t.Helper()
	v := fmt.Sprintf("r%d", mbRequests.Add(1))
	mbAnnotate(t, obj, b24v1.ReconcileRequestedAtAnnotation, v)
	eventually(t, 20*time.Second, "reconcile "+v+" of "+obj.GetName(), func() (bool, string) {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err.Error()
		}
		return obj.CommonStatus().LastHandledReconcileAt == v, obj.CommonStatus().LastHandledReconcileAt
	})
}

// mbPoke asks for a reconcile that is expected to change nothing (a stalled object does not
// acknowledge it) and gives it time to happen.
func mbPoke(t *testing.T, obj client.Object) {
	t.Helper()
	mbAnnotate(t, obj, b24v1.ReconcileRequestedAtAnnotation, fmt.Sprintf("p%d", mbRequests.Add(1)))
	time.Sleep(time.Second)
}

func mbCondition(t *testing.T, obj controllerObject, typ string) *metav1.Condition {
	t.Helper()
	return condition(t, obj, typ)
}

// ---- Metabot ----

func TestMetabot(t *testing.T) {
	sim := metabottest.NewServer()
	t.Cleanup(sim.Close)
	ns, _ := mbTest(t, newMBClock(time.Now()), managerOpts{})

	t.Run("is Ready with the job endpoint in status, without a remote call", func(t *testing.T) {
		mb, _ := mbBot(t, ns, "ready", sim, 11, false)
		waitReady(t, mb)
		want := sim.URL + "/api/v1/bots/11/jobs/schedule"
		if mb.Status.Endpoint != want {
			t.Errorf("endpoint = %q, want %q", mb.Status.Endpoint, want)
		}
		if c := mbCondition(t, mb, b24v1.ConditionReady); !strings.Contains(c.Message, want) {
			t.Errorf("Ready message %q does not name the endpoint", c.Message)
		}
		if n := sim.Requests(); n != 0 {
			t.Errorf("%d requests to Metabot, want none", n)
		}
	})

	t.Run("waits for a missing token Secret and becomes Ready when it appears", func(t *testing.T) {
		mb, sec := mbBot(t, ns, "late-secret", sim, 12, true)
		mbWaitReason(t, mb, metav1.ConditionFalse, b24v1.ReasonDependencyNotReady)
		create(t, sec)
		waitReady(t, mb)
	})

	cases := []struct {
		name   string
		mutate func(mb *b24v1.Metabot, sec *corev1.Secret, ca *corev1.ConfigMap)
	}{
		{"an empty token is an invalid spec", func(_ *b24v1.Metabot, sec *corev1.Secret, _ *corev1.ConfigMap) {
			sec.StringData = map[string]string{"token": "  \n"}
		}},
		{"a token Secret without the key is an invalid spec", func(mb *b24v1.Metabot, _ *corev1.Secret, _ *corev1.ConfigMap) {
			mb.Spec.TokenSecretRef.Key = "other"
		}},
		{"a CA bundle that is not PEM is an invalid spec", func(_ *b24v1.Metabot, _ *corev1.Secret, ca *corev1.ConfigMap) {
			ca.Data = map[string]string{"ca.crt": "not a certificate"}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("invalid-%d", i)
			url := b24v1.HTTPSURL(sim.URL)
			mb := &b24v1.Metabot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: b24v1.MetabotSpec{
				URL: &url, BotID: 13,
				TokenSecretRef: b24v1.KeyReference{Name: name, Key: "token"},
				CABundle:       &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: name, Key: "ca.crt"}},
			}}
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{"token": "secret-token-value"}}
			ca := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}}
			tc.mutate(mb, sec, ca)
			create(t, sec, ca, mb)
			mbWaitReason(t, mb, metav1.ConditionFalse, b24v1.ReasonInvalidSpec)
			if c := mbCondition(t, mb, b24v1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
				t.Errorf("Stalled = %v, want True", c)
			}
			if c := mbCondition(t, mb, b24v1.ConditionReady); strings.Contains(c.Message, "secret-token-value") {
				t.Errorf("the message shows the token: %q", c.Message)
			}
		})
	}

	t.Run("a rotated token is used by the next send, and the jobs that failed with the old one come back", func(t *testing.T) {
		mb, sec := mbBot(t, ns, "rotate", sim, 14, false)
		waitReady(t, mb)
		// The bot's API user gets a new token; the Secret still holds the old one.
		sim.AddBot(14, "rotated-token")
		job := mbOneShot(ns, "after-rotation", "rotate", 1401)
		create(t, job)
		mbWaitReason(t, job, metav1.ConditionFalse, b24v1.ReasonAuthFailed)
		if n := mbJobsFor(sim, 1401); n != 0 {
			t.Fatalf("%d jobs scheduled with a refused token", n)
		}
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(sec), sec); err != nil {
			t.Fatal(err)
		}
		sec.StringData = map[string]string{"token": "rotated-token"}
		if err := env.Client.Update(context.Background(), sec); err != nil {
			t.Fatal(err)
		}
		waitReady(t, job)
		if n := mbJobsFor(sim, 1401); n != 1 {
			t.Fatalf("%d jobs, want 1", n)
		}
	})

	t.Run("deletion waits for the ScheduledJobs that use it", func(t *testing.T) {
		mb, _ := mbBot(t, ns, "in-use", sim, 15, false)
		job := mbOneShot(ns, "user", "in-use", 1501)
		create(t, job)
		waitReady(t, job)
		if err := env.Client.Delete(context.Background(), mb); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the Metabot to report what it waits for", func() (bool, string) {
			c := mbCondition(t, mb, b24v1.ConditionReady)
			return c != nil && c.Reason == b24v1.ReasonDeleting && strings.Contains(c.Message, "user"), fmt.Sprint(c)
		})
		requests := sim.Requests()
		if err := env.Client.Delete(context.Background(), job); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the Metabot to go", func() (bool, string) {
			err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(mb), &b24v1.Metabot{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		if sim.Requests() != requests {
			t.Errorf("deleting a ScheduledJob made %d remote calls, want none (Metabot has no cancel call)", sim.Requests()-requests)
		}
	})
}
