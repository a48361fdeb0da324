package rules_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/rules"
)

func TestLimitHolders(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	portal := func(name, clientID string) *b24v1.Portal {
		return &b24v1.Portal{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name}, Spec: b24v1.PortalSpec{
			URL:  "https://acme.bitrix24.ru",
			Auth: b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: clientID}},
		}}
	}
	bot := func(ns, name, portal string, created int, mods ...func(*b24v1.ChatBot)) *b24v1.ChatBot {
		b := &b24v1.ChatBot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(created) * time.Second))}}
		b.Spec.PortalRef.Name = portal
		for _, m := range mods {
			m(b)
		}
		return b
	}
	deleting := func(b *b24v1.ChatBot) { b.DeletionTimestamp = &metav1.Time{Time: t0} }
	registered := func(key string) func(*b24v1.ChatBot) {
		return func(b *b24v1.ChatBot) { b.Status.BotID, b.Status.ApplicationKey = 7, key }
	}
	observed := func(b *b24v1.ChatBot) {
		p := b24v1.ManagementPolicyObserveOnly
		b.Spec.ManagementPolicy = &p
	}
	portals := map[string]*b24v1.Portal{"p": portal("p", "app"), "q": portal("q", "app"), "other": portal("other", "other")}
	app := rules.ApplicationKey(portals["p"])
	for _, tc := range []struct {
		name string
		bots []*b24v1.ChatBot
		want string
	}{
		{"ordered by creation, then namespace, then name", []*b24v1.ChatBot{
			bot("b", "x", "p", 2), bot("a", "y", "p", 1), bot("a", "x", "p", 2), bot("a", "w", "p", 2)}, "a/y a/w a/x b/x"},
		{"every Portal of the same application counts", []*b24v1.ChatBot{bot("a", "x", "p", 1), bot("a", "y", "q", 2)}, "a/x a/y"},
		{"another application's bots do not", []*b24v1.ChatBot{bot("a", "x", "p", 1), bot("a", "y", "other", 0)}, "a/x"},
		{"a bot being deleted still holds its place while it has a remote bot", []*b24v1.ChatBot{
			bot("a", "x", "p", 1, deleting, registered(app)), bot("a", "y", "p", 2, deleting)}, "a/x"},
		{"an ObserveOnly bot holds its place like any other (the bot it observes counts remotely)", []*b24v1.ChatBot{
			bot("a", "x", "p", 2), bot("a", "y", "p", 1, observed), bot("a", "z", "p", 3, observed, registered(app))}, "a/y a/x a/z"},
		{"a registered bot whose Portal is gone holds its place under the recorded application", []*b24v1.ChatBot{
			bot("a", "x", "gone", 1, registered(app)), bot("a", "y", "gone", 2)}, "a/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rules.LimitHolders(app, tc.bots, func(b *b24v1.ChatBot) *b24v1.Portal {
				return portals[b.Spec.PortalRef.Name]
			})
			var names []string
			for _, b := range got {
				names = append(names, b.Namespace+"/"+b.Name)
			}
			if strings.Join(names, " ") != tc.want {
				t.Fatalf("holders %v, want %s", names, tc.want)
			}
		})
	}
}
