package webhook_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/testenv"
)

// startController runs the operator's controllers, watching only the given namespaces.
func startController(t *testing.T, namespaces ...string) {
	t.Helper()
	nss := map[string]cache.Config{}
	for _, ns := range namespaces {
		nss[ns] = cache.Config{}
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: nss, ByObject: controller.CacheByObject(true)},
		Client: client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controller.Setup(mgr, controller.Options{SkipNameValidation: true, BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("controller manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// simPortal creates a Portal for the simulator's application clientID, with its Secret and CA.
func simPortal(t *testing.T, sim *bitrixtest.Server, ns, name, clientID string, maxBots int32) *b24v1.Portal {
	t.Helper()
	hook := sim.AddWebhook(1, "hook"+strings.ReplaceAll(ns, "-", ""))
	p := portal(ns, name, sim.URL, clientID, maxBots)
	p.Spec.CABundle = &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: name + "-ca", Key: "ca.crt"}}
	mustCreate(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-webhook", Labels: credentialsLabels}, StringData: map[string]string{"webhookURL": hook}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-ca"}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}},
	)
	return p
}

// remoteBots counts the simulator's bots of one webhook application.
func remoteBots(sim *bitrixtest.Server, clientID string) int {
	n := 0
	for _, b := range sim.Bots() {
		if b.App == "custom"+clientID {
			n++
		}
	}
	return n
}

// The webhook and the ChatBot controller together: whatever gets past admission, at most
// maxBots bots are registered on the portal (the simulator itself would allow 100).
func TestChatBotLimitWithController(t *testing.T) {
	const limit = 3
	sim := bitrixtest.NewServer(bitrixtest.WithMaxBotsPerApp(100), bitrixtest.WithoutRateLimit())
	defer sim.Close()

	cases := []struct {
		name string
		// portalFirst: the Portals exist before the bots, so the webhook counts; otherwise
		// they are applied after the bots (GitOps order), the webhook admits every bot and
		// only the controller holds the limit.
		portalFirst  bool
		wantAdmitted int
	}{
		{"through the webhook", true, limit},
		{"Portals applied after their bots", false, 10},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t)
			clientID := fmt.Sprintf("bots%d", i)
			p1, p2 := simPortal(t, sim, a.ns1, "acme", clientID, limit), simPortal(t, sim, a.ns2, "acme", clientID, limit)
			startController(t, a.ns1, a.ns2)
			if tc.portalFirst {
				mustCreate(t, p1, p2)
			}
			errs := createConcurrently(a, 10, "acme")
			if !tc.portalFirst {
				mustCreate(t, p1, p2)
			}
			if n := admitted(t, errs, limit); n != tc.wantAdmitted {
				t.Errorf("admitted %d of 10 concurrent creates, want %d", n, tc.wantAdmitted)
			}

			// Settled: limit bots registered, the others refused by the controller.
			deadline := time.Now().Add(30 * time.Second)
			for {
				registered, refused := 0, 0
				for _, b := range storedBots(t, a) {
					c := meta.FindStatusCondition(b.Status.Conditions, b24v1.ConditionReady)
					switch {
					case b.Status.BotID != 0 && c != nil && c.Status == metav1.ConditionTrue:
						registered++
					case c != nil && c.Reason == b24v1.ReasonBotLimitExceeded:
						refused++
					}
				}
				if remote := remoteBots(sim, clientID); remote > limit {
					t.Fatalf("%d bots registered remotely, limit %d", remote, limit)
				}
				if registered == limit && registered+refused == tc.wantAdmitted {
					break
				}
				if time.Now().After(deadline) {
					for _, b := range storedBots(t, a) {
						t.Logf("%s/%s created %s botId %d conditions %+v", b.Namespace, b.Name, b.CreationTimestamp.Format(time.RFC3339Nano), b.Status.BotID, b.Status.Conditions)
					}
					t.Fatalf("not settled: %d registered, %d refused by the controller, %d admitted", registered, refused, tc.wantAdmitted)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if remote := remoteBots(sim, clientID); remote != limit {
				t.Errorf("%d bots registered remotely, want %d", remote, limit)
			}
		})
	}
}

// credentialsLabels mark a Secret the operator may read.
var credentialsLabels = map[string]string{refs.CredentialsLabel: refs.CredentialsLabelValue}
