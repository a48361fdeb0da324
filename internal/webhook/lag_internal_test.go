package webhook

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/testenv"
)

// A Portal and its bots applied together reach admission before the cache holds any of them:
// the (verified) Portal is read from the API server, and the bots admitted a moment before count,
// whichever Portal they name, so the limit holds while the cache lags.
func TestBotLimitHoldsWhileTheCacheLags(t *testing.T) {
	b := fake.NewClientBuilder().WithScheme(testenv.Scheme)
	for _, i := range indexes() {
		b = b.WithIndex(i.obj, i.field, i.extract)
	}
	lagging := b.Build() // the cache: it holds nothing yet
	maxBots := int32(2)
	portal := &b24v1.Portal{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "acme"}, Spec: b24v1.PortalSpec{
		URL: "https://acme.bitrix24.test", MaxBots: &maxBots,
		Auth: b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: "bots", SecretRef: b24v1.LocalObjectReference{Name: "acme-webhook"}}},
	}}
	// A verified Portal: only its bots hold places (rules.ApplicationOf).
	portal.Status.ApplicationKey = "acme.bitrix24.test/bots"
	portal.Status.VerifiedApplicationKey = portal.Status.ApplicationKey
	live := fake.NewClientBuilder().WithScheme(testenv.Scheme).WithObjects(portal).Build()
	v := NewChatBotValidator(lagging, live)

	var refused []string
	for i := range 3 {
		hook := b24v1.HTTPSURL("https://bots.acme.test/events")
		bot := &b24v1.ChatBot{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: fmt.Sprintf("bot-%d", i)}, Spec: b24v1.ChatBotSpec{
			PortalRef: b24v1.LocalObjectReference{Name: "acme"}, Code: fmt.Sprintf("bot%d", i), EventHandler: &hook,
		}}
		warnings, err := v.ValidateCreate(context.Background(), bot)
		if len(warnings) > 0 {
			t.Fatalf("bot %d: the Portal was not found: %v", i, warnings)
		}
		if err != nil {
			refused = append(refused, err.Error())
		}
	}
	if len(refused) != 1 || !strings.Contains(refused[0], "limit of 2 ChatBots") || !strings.Contains(refused[0], "team/bot-0 (being created)") {
		t.Fatalf("want the third bot refused by the limit of 2, naming the bots being created; refusals: %q", refused)
	}
}
