package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/controller"
)

// blackholePortal creates a Portal (with its Secret and CA) on a portal that accepts requests
// and never answers.
func blackholePortal(t *testing.T, ns, name string, bh *bitrixtest.Blackhole) *b24v1.Portal {
	t.Helper()
	create(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-webhook", Labels: credentialsLabels}, StringData: map[string]string{"webhookURL": bh.WebhookURL("code" + name)}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-ca"}, Data: map[string]string{"ca.crt": string(bh.CAPEM())}},
	)
	p := &b24v1.Portal{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.PortalSpec{
			URL:      bh.URL,
			Auth:     b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: "bots", SecretRef: b24v1.LocalObjectReference{Name: name + "-webhook"}}},
			CABundle: &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: name + "-ca", Key: "ca.crt"}},
		},
	}
	create(t, p)
	return p
}

// Three portals that accept requests and never answer, one healthy portal, and fewer workers
// than blackholed portals: with the production request timeout (75 s) and retries, each call
// to a blackhole would hold a worker for minutes and the healthy portal would wait behind
// them. The reconcile deadline frees the workers, the per-host circuit then stops calling the
// blackholes at all, and their Portals and bots say PortalUnreachable; the healthy portal's
// objects become Ready and stay serviced, within its rate budget.
func TestBlackholedPortalsDoNotStarveTheOthers(t *testing.T) {
	ns, _, _ := startTest(t, managerOpts{opts: controller.Options{
		MaxConcurrentReconciles: 2,
		ReconcileTimeout:        2 * time.Second,
	}})
	sim := bitrixtest.NewServer() // the real limits: burst 50, 2 per second
	t.Cleanup(sim.Close)

	var holes []*b24v1.Portal
	var holeBots []*b24v1.ChatBot
	for i := range 3 {
		bh := bitrixtest.NewBlackhole()
		t.Cleanup(bh.Close)
		name := fmt.Sprintf("hole%d", i)
		holes = append(holes, blackholePortal(t, ns, name, bh))
		b := chatBot(ns, name+"-bot", name, name+"bot")
		create(t, b)
		holeBots = append(holeBots, b)
	}
	healthy := webhookPortal(t, ns, "healthy", "bots", sim)
	bot := chatBot(ns, "bot", "healthy", "healthybot")
	chat := groupChat(ns, "incidents", "bot", 1)
	create(t, bot, chat)
	created := time.Now()

	// Ready well within the time one unanswered request would take (75 s).
	for _, o := range []controllerObject{healthy, bot, chat} {
		waitReason(t, o, metav1.ConditionTrue, b24v1.ReasonSucceeded, 45*time.Second)
	}
	t.Logf("the healthy portal's Portal, ChatBot and Chat were Ready %s after they were created", time.Since(created).Round(100*time.Millisecond))
	for _, p := range holes {
		waitReason(t, p, metav1.ConditionFalse, b24v1.ReasonPortalUnreachable, 45*time.Second)
	}
	for _, b := range holeBots {
		eventually(t, 30*time.Second, b.Name+" waiting for its unreachable Portal", func() (bool, string) {
			c := condition(t, b, b24v1.ConditionReady)
			if c == nil {
				return false, "no Ready condition"
			}
			return c.Reason == b24v1.ReasonDependencyNotReady && strings.Contains(c.Message, b24v1.ReasonPortalUnreachable), c.Reason + ": " + c.Message
		})
	}

	// While the blackholes are retried in the background, the healthy portal's objects keep
	// being reconciled: each forced reconcile is acknowledged (within waitReconciled's 30 s).
	for range 3 {
		for _, o := range []controllerObject{healthy, bot, chat} {
			forceReconcile(t, o)
		}
	}
	for _, o := range []controllerObject{healthy, bot, chat} {
		waitReason(t, o, metav1.ConditionTrue, b24v1.ReasonSucceeded, 30*time.Second)
	}
	if n := sim.Count503(); n != 0 {
		t.Errorf("the healthy portal refused %d requests with QUERY_LIMIT_EXCEEDED", n)
	}
}
