package controller_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/controller"
)

// readyMessage is the Ready condition's message (the object was just read by waitReason).
func readyMessage(obj controllerObject) string {
	if c := meta.FindStatusCondition(obj.CommonStatus().Conditions, b24v1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

func TestPortal(t *testing.T) {
	// Every write of a Secret by the operator, to prove one is never released too early.
	var writesMu sync.Mutex
	secretWrites := map[client.ObjectKey][]bool{} // held (in-use finalizer present) per write
	note := func(obj client.Object) {
		if s, ok := obj.(*corev1.Secret); ok {
			writesMu.Lock()
			key := client.ObjectKeyFromObject(s)
			secretWrites[key] = append(secretWrites[key], slices.Contains(s.Finalizers, controller.InUseFinalizer))
			writesMu.Unlock()
		}
	}
	// Both ways a Secret is written: Update (rotated OAuth tokens) and Patch (the in-use
	// finalizer, put on and taken off).
	record := func(c client.Client) client.Client {
		return interceptor.NewClient(watchless{c}, interceptor.Funcs{
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				note(obj)
				return c.Update(ctx, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				note(obj)
				return c.Patch(ctx, obj, patch, opts...)
			},
		})
	}
	run := subtests(t, managerOpts{newClient: record})

	cases := []struct {
		name string
		run  func(t *testing.T, ns string)
	}{
		{"credentials without the imbot scope stall with MissingScope until it is granted", func(t *testing.T, ns string) {
			sim := bitrixtest.NewServer(bitrixtest.WithScopes("im", "user"))
			defer sim.Close()
			p := webhookPortal(t, ns, "acme", "scope-app", sim)
			assertStalled(t, p, b24v1.ReasonMissingScope)
			if msg := readyMessage(p); !strings.Contains(msg, "imbot") {
				t.Errorf("message %q does not name the missing scope", msg)
			}
			sim.SetScopes("imbot", "im", "user")
			forceReconcile(t, p)
			waitReady(t, p)
			assertKstatus(t, p)
		}},
		{"an OAuth application whose installation is unfinished stalls with InstallNotFinished", func(t *testing.T, ns string) {
			sim := bitrixtest.NewServer()
			defer sim.Close()
			const clientID = "local.half-installed"
			p, _, _, _ := oauthPortal(t, ns, "acme", clientID, sim, func(*b24v1.Portal) { sim.SetInstalled(clientID, false) })
			assertStalled(t, p, b24v1.ReasonInstallNotFinished)
			if msg := readyMessage(p); !strings.Contains(msg, "events") || !strings.Contains(msg, "installFinish") {
				t.Errorf("message %q does not say that no events are delivered until installFinish", msg)
			}
			if sim.CallCount("app.info") == 0 {
				t.Error("app.info was never called")
			}
			sim.SetInstalled(clientID, true)
			forceReconcile(t, p)
			waitReady(t, p)
		}},
		{"a webhook URL on another host than spec.url is InvalidSpec without telling the Secret's host", func(t *testing.T, ns string) {
			sim := bitrixtest.NewServer()
			defer sim.Close()
			u, _ := url.Parse(sim.AddWebhook(1, "elsewhere"))
			other := "localhost:" + u.Port()
			u.Host = other
			create(t,
				&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-webhook", Labels: credentialsLabels}, StringData: map[string]string{"webhookURL": u.String()}},
				&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-ca"}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}},
			)
			p := &b24v1.Portal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"}, Spec: b24v1.PortalSpec{
				URL:      sim.URL,
				Auth:     b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: "host-app", SecretRef: b24v1.LocalObjectReference{Name: "acme-webhook"}}},
				CABundle: &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: "acme-ca", Key: "ca.crt"}},
			}}
			create(t, p)
			assertStalled(t, p, b24v1.ReasonInvalidSpec)
			if msg := readyMessage(p); !strings.Contains(msg, "another host than spec.url") || strings.Contains(msg, "localhost") {
				t.Errorf("message %q does not say the hosts differ, or tells the Secret's host %s", msg, other)
			}
			if n := len(sim.Calls()); n != 0 {
				t.Errorf("%d remote calls with a mismatched webhook, want none", n)
			}
		}},
		{"a missing Secret waits with DependencyNotReady and the Portal gets Ready once it exists", func(t *testing.T, ns string) {
			sim := bitrixtest.NewServer()
			defer sim.Close()
			create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-ca"}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}})
			p := &b24v1.Portal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"}, Spec: b24v1.PortalSpec{
				URL:      sim.URL,
				Auth:     b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: "late-app", SecretRef: b24v1.LocalObjectReference{Name: "late"}}},
				CABundle: &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: "acme-ca", Key: "ca.crt"}},
			}}
			create(t, p)
			waitReason(t, p, metav1.ConditionFalse, b24v1.ReasonDependencyNotReady, 30*time.Second)
			if msg := readyMessage(p); !strings.Contains(msg, "late") {
				t.Errorf("message %q does not name the Secret", msg)
			}
			rec := meta.FindStatusCondition(p.Status.Conditions, b24v1.ConditionReconciling)
			if rec == nil || rec.Status != metav1.ConditionTrue {
				t.Errorf("Reconciling = %+v, want True while waiting", rec)
			}
			if c := meta.FindStatusCondition(p.Status.Conditions, b24v1.ConditionStalled); c != nil {
				t.Errorf("Stalled present while waiting for a Secret: %+v", c)
			}
			create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "late", Labels: credentialsLabels}, StringData: map[string]string{"webhookURL": sim.AddWebhook(1, "late")}})
			// The Secret's creation brings the Portal back: no waiting for the safety-net requeue.
			waitReason(t, p, metav1.ConditionTrue, b24v1.ReasonSucceeded, 10*time.Second)
			assertKstatus(t, p)
		}},
		{"status reports the application key and the bound bots", func(t *testing.T, ns string) {
			sim := bitrixtest.NewServer()
			defer sim.Close()
			p := webhookPortal(t, ns, "acme", "count-app", sim)
			one, two := chatBot(ns, "one", "acme", "one"), chatBot(ns, "two", "acme", "two")
			create(t, one, two)
			waitReady(t, one)
			waitReady(t, two)
			wantKey := strings.TrimPrefix(sim.URL, "https://") + "/count-app"
			waitBound := func(n int32) {
				t.Helper()
				eventually(t, 10*time.Second, fmt.Sprintf("boundBots=%d", n), func() (bool, string) {
					_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(p), p)
					return p.Status.BoundBots == n && p.Status.ApplicationKey == wantKey, fmt.Sprintf("%+v", p.Status)
				})
			}
			waitBound(2)
			assertKstatus(t, p)
			deleteObject(t, one)
			waitBound(1)
		}},
		{"a deleted Portal waits for its ChatBots and then releases its Secret and CA", func(t *testing.T, ns string) {
			sim := bitrixtest.NewServer()
			defer sim.Close()
			p := webhookPortal(t, ns, "acme", "release-app", sim)
			b := chatBot(ns, "one", "acme", "one")
			create(t, b)
			waitReady(t, b)
			waitReady(t, p)
			deleteObject(t, p)
			eventually(t, 10*time.Second, "Portal waiting for its bot", func() (bool, string) {
				c := condition(t, p, b24v1.ConditionReady)
				return c != nil && c.Reason == b24v1.ReasonDeleting && strings.Contains(c.Message, "one"), fmt.Sprintf("%+v", c)
			})
			if _, ok := remoteBot(sim, "one"); !ok {
				t.Fatal("the bot was unregistered while its ChatBot exists")
			}
			deleteObject(t, b)
			waitGone(t, p)
			if len(sim.Bots()) != 0 {
				t.Fatalf("remote bots left: %+v", sim.Bots())
			}
			var s corev1.Secret
			var cm corev1.ConfigMap
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "acme-webhook"}, &s); err != nil {
				t.Fatal(err)
			}
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "acme-ca"}, &cm); err != nil {
				t.Fatal(err)
			}
			if slices.Contains(s.Finalizers, controller.InUseFinalizer) || slices.Contains(cm.Finalizers, controller.InUseFinalizer) {
				t.Fatalf("in-use finalizer left: Secret %v, ConfigMap %v", s.Finalizers, cm.Finalizers)
			}
		}},
		{"a Secret shared by two Portals stays held until the last one that needs it is gone", func(t *testing.T, ns string) {
			sim := bitrixtest.NewServer()
			defer sim.Close()
			// One webhook serves two applications (CLIENT_ID tells them apart).
			pa := webhookPortal(t, ns, "a", "shared-a", sim)
			pb := &b24v1.Portal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b"}, Spec: *pa.Spec.DeepCopy()}
			pb.Spec.Auth.Webhook.ClientID = "shared-b"
			create(t, pb)
			ba, bb := chatBot(ns, "bot-a", "a", "bot-a"), chatBot(ns, "bot-b", "b", "bot-b")
			create(t, ba, bb)
			waitReady(t, ba)
			waitReady(t, bb)
			waitReady(t, pb)

			for _, o := range []client.Object{ba, pa} {
				deleteObject(t, o)
			}
			waitGone(t, pa)
			key := client.ObjectKey{Namespace: ns, Name: "a-webhook"}
			writesMu.Lock()
			writes := slices.Clone(secretWrites[key])
			writesMu.Unlock()
			// The hold itself was a write: an empty record would mean writes go unseen.
			if len(writes) == 0 || !writes[0] {
				t.Fatalf("the Secret was never seen held (writes, true = held: %v)", writes)
			}
			if slices.Contains(writes, false) {
				t.Fatalf("the Secret Portal b still reads was released (writes, true = held: %v)", writes)
			}
			waitReady(t, pb)
			waitReady(t, bb)

			// The last Portal that reads it releases it.
			for _, o := range []client.Object{bb, pb} {
				deleteObject(t, o)
			}
			eventually(t, 15*time.Second, "Secret released", func() (bool, string) {
				var s corev1.Secret
				err := env.Client.Get(context.Background(), key, &s)
				return err == nil && !slices.Contains(s.Finalizers, controller.InUseFinalizer), fmt.Sprint(s.Finalizers, err)
			})
		}},
	}
	for _, tc := range cases {
		run(tc.name, tc.run)
	}
}
